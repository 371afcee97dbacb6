"""Tests of the k6 summary reader (export, handleSummary, machine-readable)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from remediator.bench.reading import parse_result
from remediator.errors import ResultError
from tests.bench.support import edited, parse_json, read


def test_handle_summary_values() -> None:
    """handleSummary data: med/p(95)/p(99) and http_req_failed.rate."""
    result = read("k6-handlesummary.json")

    assert "k6" == result.format
    assert (10.0, 25.5, 60.0) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert pytest.approx(0.1) == result.error_rate


def test_throughput_is_successful_when_failures_are_known() -> None:
    """http_reqs.rate 50 with 10% failed gives 45 successful req/s."""
    result = read("k6-handlesummary.json")

    assert pytest.approx(45.0) == result.throughput_rps
    assert "successful" == result.throughput_basis


def test_export_without_p99_leaves_it_unset() -> None:
    """--summary-export without p(99) gives p99 None, never max or p(95)."""
    result = read("k6-export-no-p99.json")

    assert (38.0, 75.0, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert any("p(99): missing" in note for note in result.notes)


def test_export_error_rate_from_counts() -> None:
    """http_req_failed passes (= failed requests) / (passes + fails)."""
    result = read("k6-export-no-p99.json")

    assert pytest.approx(37 / 3699) == result.error_rate


def test_old_export_without_http_req_failed() -> None:
    """k6 < 0.31: error rate unset (checks are not requests), throughput all."""
    result = read("k6-export-v029.json")

    assert None is result.error_rate
    assert 1.0 == result.throughput_rps
    assert "all" == result.throughput_basis


def test_v029_value_quirk_is_ignored_in_favour_of_counts() -> None:
    """`value` 0 beside 5 passes of 10 gives 0.5 from the counts."""
    doc = {
        "metrics": {
            "http_req_duration": {"med": 1.0, "p(95)": 2.0},
            "http_req_failed": {"passes": 5, "fails": 5, "value": 0},
            "http_reqs": {"count": 10, "rate": 2.0},
        }
    }

    result = parse_json(doc)

    assert 0.5 == result.error_rate


def test_machine_readable_summary() -> None:
    """The new summary: metrics as a list, matches/total, generatedAt as time."""
    result = read("k6-machine-summary.json")

    assert (7.5, 14.0, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert 0.25 == result.error_rate
    assert 15.0 == result.throughput_rps
    assert datetime(2025, 7, 1, 8, 30, tzinfo=UTC) == result.time


def test_summary_export_field_envelope_is_unwrapped() -> None:
    """A runner's .summaryExportField.value envelope is unwrapped and noted."""
    result = read("k6-export-wrapped.json")

    assert (2.5, 6.0) == (result.p50_ms, result.p95_ms)
    assert 0.0 == result.error_rate
    assert "read from the .summaryExportField.value envelope" == result.notes[0]


def test_all_requests_failed_drops_latencies() -> None:
    """Every request failed: durations of failures are not latencies."""
    doc = {
        "metrics": {
            "http_req_duration": {"med": 1.0, "p(95)": 2.0},
            "http_req_failed": {"passes": 10, "fails": 0},
            "http_reqs": {"count": 10, "rate": 2.0},
        }
    }

    result = parse_json(doc)

    assert (None, None) == (result.p50_ms, result.p95_ms)
    assert 0.0 == result.throughput_rps


def test_rate_above_1_is_refused() -> None:
    """http_req_failed.values.rate 39.7 is refused, naming the key."""
    data = edited(
        "k6-handlesummary.json",
        "metrics",
        "http_req_failed",
        "values",
        value={"rate": 39.7},
    )

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "metrics.http_req_failed.values.rate" == caught.value.field


def test_negative_duration_is_refused() -> None:
    """A negative p(95) names metrics.http_req_duration.values.p(95)."""
    data = edited(
        "k6-handlesummary.json",
        "metrics",
        "http_req_duration",
        "values",
        "p(95)",
        value=-4,
    )

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "metrics.http_req_duration.values.p(95)" == caught.value.field


def test_string_rate_is_refused() -> None:
    """A word in http_reqs.rate names it."""
    data = edited("k6-export-no-p99.json", "metrics", "http_reqs", "rate", value="fast")

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "metrics.http_reqs.rate" == caught.value.field


def test_out_json_sample_stream_gets_a_specific_error() -> None:
    """`k6 run --out json` lines are raw samples; the error says so."""
    data = (
        b'{"type":"Metric","data":{"name":"http_reqs","type":"counter"},'
        b'"metric":"http_reqs"}\n'
        b'{"type":"Point","data":{"time":"2024-01-01T00:00:00Z","value":1},'
        b'"metric":"http_reqs"}\n'
    )

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "--out json sample stream" in caught.value.message
