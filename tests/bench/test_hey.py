"""Tests of the hey text summary and CSV reader."""

from __future__ import annotations

import pytest

from remediator.bench.reading import parse_result
from remediator.errors import ResultError
from tests.bench.support import fixture, read


def test_text_latency_distribution() -> None:
    """The 50%/95%/99% lines in seconds become milliseconds."""
    result = read("hey-summary.txt")

    assert "hey" == result.format
    assert pytest.approx((35.0, 125.0, 400.0)) == (
        result.p50_ms,
        result.p95_ms,
        result.p99_ms,
    )


def test_text_error_rate_counts_non_2xx_and_errors() -> None:
    """(80 x 502 + 20 errors) / (980 responses + 20 errors)."""
    result = read("hey-summary.txt")

    assert pytest.approx(100 / 1000) == result.error_rate


def test_text_throughput_is_2xx_over_total() -> None:
    """900 responses with 200 in 10 s is 90 successful req/s."""
    result = read("hey-summary.txt")

    assert pytest.approx(90.0) == result.throughput_rps
    assert "successful" == result.throughput_basis


def test_text_missing_percentile_stays_unset() -> None:
    """A summary without the 99% line leaves p99 unset."""
    text = fixture("hey-summary.txt").read_text().replace("  99% in 0.4000 secs\n", "")

    result = parse_result(text.encode(), source="up")

    assert None is result.p99_ms


def test_text_word_as_count_is_refused() -> None:
    """A status count that is not a number names the status line."""
    text = fixture("hey-summary.txt").read_text().replace("[200]\t900", "[200]\tmany")

    with pytest.raises(ResultError) as caught:
        parse_result(text.encode(), source="up")

    assert "Status code distribution.[200]" == caught.value.field


def test_csv_percentiles_are_computed_like_hey() -> None:
    """20 rows: p50 is the 11th fastest, p95 the 20th, p99 needs 100 rows."""
    result = read("hey-requests.csv")

    assert pytest.approx(110.0) == result.p50_ms
    assert pytest.approx(200.0) == result.p95_ms
    assert None is result.p99_ms


def test_csv_has_no_error_rate_and_successful_throughput() -> None:
    """16 rows with 2xx over 2.1 s; errors are not in the CSV at all."""
    result = read("hey-requests.csv")

    assert None is result.error_rate
    assert pytest.approx(16 / 2.1) == result.throughput_rps


def test_csv_negative_time_is_refused() -> None:
    """A negative response time names its line and column."""
    text = fixture("hey-requests.csv").read_text().replace("0.0100,", "-0.0100,", 1)

    with pytest.raises(ResultError) as caught:
        parse_result(text.encode(), source="up")

    assert "line 2.response-time" == caught.value.field
