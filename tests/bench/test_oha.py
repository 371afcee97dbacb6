"""Tests of the oha JSON reader."""

from __future__ import annotations

import pytest

from remediator.bench.reading import parse_result
from remediator.errors import ResultError
from tests.bench.support import edited, read


def test_seconds_become_milliseconds() -> None:
    """latencyPercentiles in seconds are multiplied by 1000."""
    result = read("oha-report.json")

    assert "oha" == result.format
    assert pytest.approx((40.5, 92.5, 250.0)) == (
        result.p50_ms,
        result.p95_ms,
        result.p99_ms,
    )


def test_error_rate_counts_5xx_and_errors_but_not_deadline_aborts() -> None:
    """(100 x 503 + 50 refused) / (900 responses + 50 refused)."""
    result = read("oha-report.json")

    assert pytest.approx(150 / 950) == result.error_rate
    assert any("aborted due to deadline" in note for note in result.notes)


def test_success_rate_is_oha_own_figure() -> None:
    """oha's successRate (5xx counted as success) is kept as the tool says."""
    result = read("oha-report.json")

    assert 0.9 == result.success_rate
    assert any("do not add up" in note for note in result.notes)


def test_throughput_is_2xx_over_total_time() -> None:
    """800 2xx responses in 20 s is 40 successful req/s."""
    result = read("oha-report.json")

    assert pytest.approx(40.0) == result.throughput_rps
    assert "successful" == result.throughput_basis


def test_null_statistics_when_nothing_completed() -> None:
    """oha's nulls are missing; only errors means error rate 1."""
    result = read("oha-nothing-completed.json")

    assert (None, None, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert 1.0 == result.error_rate
    assert 0.0 == result.success_rate


def test_success_rate_above_1_is_refused() -> None:
    """summary.successRate 90 (a percentage) is refused."""
    data = edited("oha-report.json", "summary", "successRate", value=90)

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "summary.successRate" == caught.value.field


def test_negative_latency_is_refused() -> None:
    """A negative p99 names latencyPercentiles.p99."""
    data = edited("oha-report.json", "latencyPercentiles", "p99", value=-0.1)

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "latencyPercentiles.p99" == caught.value.field


def test_string_count_is_refused() -> None:
    """A word as a status count names the status code key."""
    data = edited("oha-report.json", "statusCodeDistribution", "200", value="lots")

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "statusCodeDistribution.200" == caught.value.field


def test_stdout_envelope_is_unwrapped() -> None:
    """oha JSON under a runner's .stdout.value is read, the envelope noted."""
    inner = edited("oha-report.json", "summary", "total", value=20.0).decode()
    data = (
        '{"stdout": {"type": "json", "value": ' + inner + '}, "exitCode": 0}'
    ).encode()

    result = parse_result(data, source="up")

    assert "oha" == result.format
    assert "read from the .stdout.value envelope" == result.notes[0]
