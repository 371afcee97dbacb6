"""Tests of our own results format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from remediator.bench.reading import parse_result
from remediator.errors import ResultError
from tests.bench.support import parse_json, read


def test_full_file_is_read_in_our_units() -> None:
    """Every figure and the finished_at time come through unchanged."""
    result = read("native-full.json")

    assert "native" == result.format
    assert (41.5, 75.0, 120.25) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert 0.02 == result.error_rate
    assert pytest.approx(0.98) == result.success_rate
    assert 250.0 == result.throughput_rps
    assert "all" == result.throughput_basis
    assert datetime(2024, 5, 1, 9, 0, tzinfo=UTC) == result.time
    assert () == result.notes


def test_null_p99_stays_unset_with_a_note() -> None:
    """A null percentile is missing, not 0, and the note names it."""
    result = read("native-p99-null.json")

    assert None is result.p99_ms
    assert 75.0 == result.p95_ms
    assert ["latency_stats.p99_ms: null; left unset"] == list(result.notes)


def test_timestamp_with_offset_is_converted_to_utc() -> None:
    """`timestamp` with a +02:00 offset becomes the same instant in UTC."""
    result = read("native-p99-null.json")

    assert datetime(2024, 5, 1, 8, 30, tzinfo=UTC) == result.time


def test_python_nan_and_infinity_are_missing() -> None:
    """Bare NaN and ±Infinity tokens parse and leave their figures unset."""
    result = read("native-nan.json")

    assert (12.0, None, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert None is result.throughput_rps
    assert 3 == len(result.notes)


def test_c_style_nan_is_rejected_with_its_position() -> None:
    """`-nan` and `inf` are not JSON; the error gives line and column."""
    with pytest.raises(ResultError) as caught:
        read("native-c-nan.json")

    assert "line 1 column 30" in caught.value.message


def test_all_zero_latencies_mean_no_data() -> None:
    """Percentiles that are all 0 come from a run without completed requests."""
    result = read("native-zero-latency.json")

    assert (None, None, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert any("all percentiles are 0" in note for note in result.notes)


def test_missing_p99_is_unset_and_extra_keys_ignored() -> None:
    """Without p99_ms the other figures are exported and unknown keys ignored."""
    result = parse_json(
        {
            "service": "checkout",
            "latency_stats": {"p95_ms": 75.0},
            "error_rate": 0.01,
            "throughput_rps": 1822.8,
            "owner": {"team": "x"},
        }
    )

    assert (None, 75.0, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert 1822.8 == result.throughput_rps


def test_error_rate_percent_is_divided_by_100() -> None:
    """`error_rate_percent` 5 is the fraction 0.05."""
    result = parse_json({"latency_stats": {"p50_ms": 1}, "error_rate_percent": 5})

    assert pytest.approx(0.05) == result.error_rate


@pytest.mark.parametrize("rate", [5, 1.5, -0.1])
def test_error_rate_outside_0_1_is_refused(rate: float) -> None:
    """An error rate of 5 or 1.5 is not silently read as a percentage."""
    with pytest.raises(ResultError) as caught:
        parse_json({"latency_stats": {"p50_ms": 1}, "error_rate": rate})

    assert "error_rate" == caught.value.field
    assert "error_rate_percent" in caught.value.message


def test_error_rate_percent_above_100_is_refused() -> None:
    """A percentage above 100 is an error naming error_rate_percent."""
    with pytest.raises(ResultError) as caught:
        parse_json({"latency_stats": {}, "error_rate_percent": 150})

    assert "error_rate_percent" == caught.value.field


def test_negative_latency_is_refused() -> None:
    """A negative percentile names its dotted key."""
    with pytest.raises(ResultError) as caught:
        parse_json({"latency_stats": {"p50_ms": 1, "p95_ms": -3}})

    assert "latency_stats.p95_ms" == caught.value.field


def test_negative_throughput_is_refused() -> None:
    """A negative throughput is an error, not a gauge."""
    with pytest.raises(ResultError) as caught:
        parse_json({"latency_stats": {"p50_ms": 1}, "throughput_rps": -1})

    assert "throughput_rps" == caught.value.field


def test_string_where_a_number_belongs_is_refused() -> None:
    """A word in a latency field names the field in the error."""
    with pytest.raises(ResultError) as caught:
        parse_json({"latency_stats": {"p50_ms": "fast"}})

    assert "latency_stats.p50_ms" == caught.value.field
    assert "upload: latency_stats.p50_ms: expected a number, got 'fast'" == str(
        caught.value
    )


def test_latency_stats_must_be_an_object() -> None:
    """latency_stats as a list is an error on latency_stats."""
    with pytest.raises(ResultError) as caught:
        parse_json({"latency_stats": [1, 2, 3]})

    assert "latency_stats" == caught.value.field


def test_bad_finished_at_is_refused() -> None:
    """An end time that is not ISO 8601 is an error naming finished_at."""
    with pytest.raises(ResultError) as caught:
        parse_json({"latency_stats": {}, "finished_at": "yesterday"})

    assert "finished_at" == caught.value.field


def test_tool_success_rate_is_kept_when_it_disagrees() -> None:
    """Given both rates, each is kept as written and the mismatch is noted."""
    result = parse_json({"latency_stats": {}, "error_rate": 0.1, "success_rate": 0.5})

    assert (0.1, 0.5) == (result.error_rate, result.success_rate)
    assert any("do not add up" in note for note in result.notes)


def test_throughput_basis_can_be_declared() -> None:
    """`throughput_basis: successful` is carried into the result."""
    doc = {"latency_stats": {}, "throughput_rps": 3, "throughput_basis": "successful"}

    result = parse_json(doc)

    assert "successful" == result.throughput_basis


def test_time_falls_back_to_the_given_mtime() -> None:
    """Without finished_at/timestamp the result's time is the mtime passed in."""
    mtime = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    result = parse_result(b'{"latency_stats": {}}', source="push", mtime=mtime)

    assert mtime == result.time
