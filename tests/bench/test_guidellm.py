"""Tests of the GuideLLM benchmarks.json reader."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from remediator.bench.reading import parse_result
from remediator.errors import ResultError
from tests.bench.support import edited, read


def test_last_benchmark_is_read_by_default() -> None:
    """A sweep yields its last benchmark; newer schema with percentiles.p50."""
    result = read("guidellm-sweep.json")

    assert "guidellm" == result.format
    assert (1, 2) == (result.run_index, result.run_count)
    assert pytest.approx((260.0, 400.0, 450.0)) == (
        result.p50_ms,
        result.p95_ms,
        result.p99_ms,
    )


def test_newer_schema_counts_under_metrics() -> None:
    """request_totals under metrics give error rate and successful / duration."""
    result = read("guidellm-sweep.json")

    assert 0.0 == result.error_rate
    assert pytest.approx(100 / 40) == result.throughput_rps
    assert "successful" == result.throughput_basis
    assert datetime.fromtimestamp(1717000140, tz=UTC) == result.time


def test_older_schema_uses_median_and_benchmark_level_totals() -> None:
    """run=0 (0.3 schema): p50 from median, errored / total, incomplete not an error."""
    result = read("guidellm-sweep.json", run=0)

    assert pytest.approx((500.0, 750.0, 900.0)) == (
        result.p50_ms,
        result.p95_ms,
        result.p99_ms,
    )
    assert pytest.approx(8 / 50) == result.error_rate
    assert pytest.approx(40 / 20) == result.throughput_rps
    assert any("incomplete" in note for note in result.notes)


def test_out_of_range_run_is_refused() -> None:
    """run=2 of a two-benchmark file names `run`."""
    with pytest.raises(ResultError) as caught:
        read("guidellm-sweep.json", run=2)

    assert "run" == caught.value.field
    assert "2 runs" in caught.value.message


def test_negative_latency_names_the_benchmark() -> None:
    """The error field includes which benchmark holds the bad value."""
    data = edited(
        "guidellm-sweep.json",
        "benchmarks",
        0,
        "metrics",
        "request_latency",
        "successful",
        "percentiles",
        "p95",
        value=-1,
    )

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up", run=0)

    expected = "benchmarks[0].metrics.request_latency.successful.percentiles.p95"
    assert expected == caught.value.field


def test_errored_above_total_is_refused() -> None:
    """More errored than total requests would be an error rate above 1."""
    data = edited(
        "guidellm-sweep.json", "benchmarks", 0, "request_totals", "errored", value=60
    )

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up", run=0)

    assert "benchmarks[0].request_totals.errored" == caught.value.field


def test_string_count_is_refused() -> None:
    """A word in a request count is refused."""
    data = edited(
        "guidellm-sweep.json", "benchmarks", 0, "request_totals", "total", value="x"
    )

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up", run=0)

    assert "benchmarks[0].request_totals.total" == caught.value.field
