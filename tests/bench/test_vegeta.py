"""Tests of the vegeta JSON report reader."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from remediator.bench.reading import parse_result
from remediator.errors import ResultError
from tests.bench.support import edited, read


def test_nanoseconds_become_milliseconds() -> None:
    """50th/95th/99th in ns are divided by 1e6."""
    result = read("vegeta-report.json")

    assert "vegeta" == result.format
    assert pytest.approx((45.0, 95.5, 150.25)) == (
        result.p50_ms,
        result.p95_ms,
        result.p99_ms,
    )


def test_success_is_a_fraction() -> None:
    """success 0.95 gives error rate 0.05 and success rate 0.95."""
    result = read("vegeta-report.json")

    assert pytest.approx(0.05) == result.error_rate
    assert 0.95 == result.success_rate


def test_throughput_field_is_successful() -> None:
    """`throughput` (successful per second) is used, not `rate`."""
    result = read("vegeta-report.json")

    assert 95.0 == result.throughput_rps
    assert "successful" == result.throughput_basis


def test_end_with_nanoseconds_and_offset_is_the_time() -> None:
    """`end` in RFC 3339 with an offset becomes UTC."""
    result = read("vegeta-report.json")

    assert datetime(2024, 3, 1, 11, 0, 10, 50000, tzinfo=UTC) == result.time


def test_legacy_report_derives_throughput() -> None:
    """Without `throughput`: success x requests / (duration + wait), noted."""
    result = read("vegeta-legacy.json")

    assert pytest.approx(0.8 * 1000 / 10.0) == result.throughput_rps
    assert any("derived" in note for note in result.notes)


def test_all_failed_report_drops_latencies() -> None:
    """success 0: latencies of failures are dropped, the note keeps them."""
    data = edited("vegeta-legacy.json", "success", value=0)

    result = parse_result(data, source="up")

    assert (None, None, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert 1.0 == result.error_rate
    assert any("p50_ms=1.5" in note for note in result.notes)


def test_success_above_1_is_refused() -> None:
    """success 95 (a percentage) is refused."""
    data = edited("vegeta-report.json", "success", value=95)

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "success" == caught.value.field


def test_negative_latency_is_refused() -> None:
    """A negative 95th names latencies.95th."""
    data = edited("vegeta-report.json", "latencies", "95th", value=-1)

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "latencies.95th" == caught.value.field


def test_string_latency_is_refused() -> None:
    """A duration string like "45ms" is not a number of nanoseconds."""
    data = edited("vegeta-report.json", "latencies", "50th", value="45ms")

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "latencies.50th" == caught.value.field
