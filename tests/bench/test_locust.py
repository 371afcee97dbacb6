"""Tests of the Locust `_stats.csv` reader."""

from __future__ import annotations

import pytest

from remediator.bench.reading import parse_result
from remediator.errors import ResultError
from tests.bench.support import fixture, read


def test_windows_line_ends_and_n_a_rows() -> None:
    """`\\r\\r\\n` line ends and an all-N/A row do not disturb the Aggregated row."""
    result = read("locust-windows-stats.csv")

    assert "locust" == result.format
    assert (12.0, 40.0, 150.0) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert pytest.approx(30 / 300) == result.error_rate


def test_throughput_is_requests_minus_failures_per_second() -> None:
    """Requests/s 10 with Failures/s 1 gives 9 successful req/s."""
    result = read("locust-windows-stats.csv")

    assert pytest.approx(9.0) == result.throughput_rps
    assert "successful" == result.throughput_basis


def test_aggregated_row_of_n_a_is_no_data() -> None:
    """A run without requests: N/A percentiles unset, no error rate."""
    result = read("locust-no-requests-stats.csv")

    assert (None, None, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert None is result.error_rate
    assert any("'N/A'" in note for note in result.notes)


def test_old_quoted_header() -> None:
    """Locust < 1.0: quoted headers, `# requests`, `Requests Failed/s`."""
    result = read("locust-old-stats.csv")

    assert (47.0, 88.0, 150.0) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert pytest.approx(6 / 120) == result.error_rate
    assert pytest.approx(3.8) == result.throughput_rps


def test_custom_percentiles_without_95_and_99() -> None:
    """Columns missing from a custom percentile list stay unset."""
    text = (
        fixture("locust-all-failed-stats.csv")
        .read_text()
        .replace(",1000,1000,", ",1000,0,")
    )
    text = text.replace("25.0,25.0", "25.0,0.0")

    result = parse_result(text.encode(), source="up")

    assert (2200.0, None, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert any("Aggregated.99%: missing" in note for note in result.notes)


def test_all_failed_run_has_no_latencies() -> None:
    """Failure Count = Request Count: latencies dropped, error rate 1."""
    result = read("locust-all-failed-stats.csv")

    assert (None, None, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert 1.0 == result.error_rate
    assert 0.0 == result.throughput_rps


def test_failures_above_requests_are_refused() -> None:
    """More failures than requests is refused, naming the failure count column."""
    text = fixture("locust-old-stats.csv").read_text().replace(",120,6,", ",120,600,")

    with pytest.raises(ResultError) as caught:
        parse_result(text.encode(), source="up")

    assert "Aggregated.# failures" == caught.value.field


def test_word_in_a_percentile_is_refused() -> None:
    """A cell that is neither a number nor N/A names its column."""
    text = (
        fixture("locust-old-stats.csv")
        .read_text()
        .replace(",88,120,150,300,310,310,310\n", ",fast,120,150,300,310,310,310\n")
    )

    with pytest.raises(ResultError) as caught:
        parse_result(text.encode(), source="up")

    assert "Aggregated.95%" == caught.value.field


def test_file_without_aggregated_row_is_refused() -> None:
    """A stats file cut before its total row names the Name column."""
    lines = fixture("locust-old-stats.csv").read_text().splitlines()

    with pytest.raises(ResultError) as caught:
        parse_result("\n".join(lines[:2]).encode(), source="up")

    assert "Name" == caught.value.field


def test_history_file_gets_a_specific_error() -> None:
    """A _stats_history.csv is named as such instead of "unknown format"."""
    data = b"Timestamp,User Count,Type,Name,Requests/s\r\n1,0,,Aggregated,0\r\n"

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "_stats_history.csv" in caught.value.message


def test_json_stats_get_a_specific_error() -> None:
    """Locust --json output (no percentiles) is named as such."""
    data = b'[{"name": "/", "method": "GET", "num_requests": 3, "num_failures": 0}]'

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "Locust --json output" in caught.value.message
