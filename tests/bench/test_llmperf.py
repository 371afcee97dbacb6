"""Tests of the llmperf summary reader."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from remediator.bench.reading import parse_result
from remediator.errors import ResultError
from tests.bench.support import edited, read


def test_seconds_become_milliseconds() -> None:
    """End-to-end quantiles in seconds are multiplied by 1000."""
    result = read("llmperf-summary.json")

    assert "llmperf" == result.format
    assert (1250.0, 2500.0, 3125.0) == (result.p50_ms, result.p95_ms, result.p99_ms)


def test_error_rate_is_the_fraction_llmperf_gives() -> None:
    """results_error_rate is already a fraction."""
    result = read("llmperf-summary.json")

    assert 0.1 == result.error_rate


def test_throughput_is_completed_per_minute_over_60() -> None:
    """results_num_completed_requests_per_min 72 is 1.2 successful req/s."""
    result = read("llmperf-summary.json")

    assert pytest.approx(1.2) == result.throughput_rps
    assert "successful" == result.throughput_basis


def test_timestamp_is_the_end_time() -> None:
    """The epoch `timestamp` becomes the result's time."""
    result = read("llmperf-summary.json")

    assert datetime(2024, 5, 1, 9, 0, tzinfo=UTC) == result.time


def test_nan_quantiles_of_an_all_failed_run_are_missing() -> None:
    """Bare NaN quantiles parse and stay unset, each with a note."""
    result = read("llmperf-all-failed-nan.json")

    assert (None, None, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert 1.0 == result.error_rate
    assert 3 == sum("not finite" in note for note in result.notes)


def test_error_rate_above_1_is_refused() -> None:
    """results_error_rate 86.7 (a percentage) is refused, naming the key."""
    data = edited("llmperf-summary.json", "results_error_rate", value=86.7)

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "results_error_rate" == caught.value.field


def test_error_rate_derived_from_counts_when_missing() -> None:
    """Without results_error_rate, errors / started is used."""
    data = edited("llmperf-summary.json", "results_error_rate", value=None)

    result = parse_result(data, source="up")

    assert pytest.approx(4 / 40) == result.error_rate


def test_string_quantile_is_refused() -> None:
    """A word in a latency quantile names the flattened key."""
    key = "results_end_to_end_latency_s_quantiles_p95"
    data = edited("llmperf-summary.json", key, value="n/a seconds")

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert key == caught.value.field


def test_negative_quantile_is_refused() -> None:
    """A negative latency quantile is refused."""
    key = "results_end_to_end_latency_s_quantiles_p50"
    data = edited("llmperf-summary.json", key, value=-0.5)

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert key == caught.value.field
