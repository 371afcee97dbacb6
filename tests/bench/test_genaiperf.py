"""Tests of the GenAI-Perf / AIPerf export reader."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from remediator.bench.reading import parse_result
from remediator.errors import ResultError
from tests.bench.support import edited, read


def test_request_latency_percentiles_in_ms() -> None:
    """request_latency p50/p95/p99 are read as milliseconds."""
    result = read("genai-perf-export.json")

    assert "genai-perf" == result.format
    assert (600.0, 850.0, 990.0) == (result.p50_ms, result.p95_ms, result.p99_ms)


def test_genai_perf_has_no_error_rate() -> None:
    """GenAI-Perf exports no error count, so error and success rate are unset."""
    result = read("genai-perf-export.json")

    assert (None, None) == (result.error_rate, result.success_rate)
    assert any("no error count" in note for note in result.notes)


def test_genai_perf_throughput_is_labelled_all() -> None:
    """request_throughput.avg is taken as is and labelled all requests."""
    result = read("genai-perf-export.json")

    assert 1.5 == result.throughput_rps
    assert "all" == result.throughput_basis


def test_aiperf_error_rate_uses_error_request_count() -> None:
    """AIPerf: errors / (valid + errors), and valid-request throughput."""
    result = read("aiperf-export.json")

    assert pytest.approx(10 / 100) == result.error_rate
    assert 9.0 == result.throughput_rps
    assert "successful" == result.throughput_basis
    assert datetime(2025, 8, 1, 12, 0, 10, 500000, tzinfo=UTC) == result.time


def test_aiperf_null_error_count_means_no_errors() -> None:
    """AIPerf writes error_request_count null when nothing failed."""
    data = edited("aiperf-export.json", "error_request_count", value=None)

    result = parse_result(data, source="up")

    assert 0.0 == result.error_rate


def test_seconds_unit_is_converted() -> None:
    """A request_latency in `s` is converted by its unit, not by magnitude."""
    data = edited("genai-perf-export.json", "request_latency", "unit", value="s")

    result = parse_result(data, source="up")

    assert 600_000.0 == result.p50_ms


def test_unknown_unit_is_refused() -> None:
    """An unknown time unit names request_latency.unit."""
    data = edited(
        "genai-perf-export.json", "request_latency", "unit", value="fortnights"
    )

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "request_latency.unit" == caught.value.field


def test_negative_latency_is_refused() -> None:
    """A negative p95 names request_latency.p95."""
    data = edited("genai-perf-export.json", "request_latency", "p95", value=-2)

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "request_latency.p95" == caught.value.field


def test_string_throughput_is_refused() -> None:
    """A word in request_throughput.avg names it."""
    data = edited("genai-perf-export.json", "request_throughput", "avg", value="many")

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "request_throughput.avg" == caught.value.field
