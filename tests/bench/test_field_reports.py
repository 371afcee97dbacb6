"""
The benchmark inputs of the field reports (FIELD-REPORTS.md, entries 24, 25
and 27), written in formats the readers accept: what a tool leaks into its
output (NaN, sentinels, a 0 for a percentile it never computed, a percent
where a fraction belongs) never becomes a figure we export.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediator.bench.reading import parse_result, read_result
from remediator.cli import main
from remediator.errors import ResultError
from tests.bench.support import parse_json, read

LOCUST_HEADER = ("Type,Name,Request Count,Failure Count,Median Response Time,"
                 "Average Response Time,Min Response Time,Max Response Time,"
                 "Average Content Size,Requests/s,Failures/s,50%,95%,99%,100%\n")


def locust(requests: int, failures: int) -> bytes:
    """A Locust stats CSV whose Aggregated row counts these requests and failures."""
    latencies = "40,60,80,90" if requests else "N/A,N/A,N/A,N/A"
    row = f"{requests},{failures},40,45.0,10,90,0.0,5.0,{failures / 20:g},{latencies}"
    return (LOCUST_HEADER + f"POST,/v1/completions,{row}\n,Aggregated,{row}\n").encode()


def test_non_finite_numbers_are_missing_with_a_note() -> None:
    """Field report 24 a: NaN and ±Infinity parse, and each such figure is left unset."""
    result = parse_json({"service": "checkout", "requests": 10,
                         "latency_stats": {"p95_ms": float("nan"), "p99_ms": float("inf")},
                         "error_rate": 0.0, "throughput_rps": float("-inf")})

    assert (result.p95_ms, result.p99_ms, result.throughput_rps) == (None, None, None)
    assert result.error_rate == 0.0
    assert len(result.notes) >= 3


def test_c_style_nan_is_refused_with_its_position() -> None:
    """Field report 24 b: `-nan` and `inf` are not JSON; the error says where."""
    with pytest.raises(ResultError) as caught:
        read("native-c-nan.json")

    assert "line 1 column" in caught.value.message


def test_a_number_past_the_digit_limit_is_refused_in_our_words(tmp_path: Path) -> None:
    """A 5,000-digit integer is not a result: the error names the line, not Python's limit."""
    path = tmp_path / "huge.json"
    path.write_text('{"latency_stats": {"p95_ms": 1' + "0" * 5000 + "}}\n")

    with pytest.raises(ResultError) as caught:
        read_result(path)

    assert caught.value.message == (
        "not valid JSON near line 1: a number too long to read (more than 4300 digits)")


@pytest.mark.parametrize("document", [
    # Our format with memtier's garbage: an INT64_MAX-like value and zeros.
    {"latency_stats": {"p50_ms": 9223372036854776.0, "p95_ms": 0.0, "p99_ms": 0.0},
     "throughput_rps": 5.0},
    # k6 with a trend that saw no sample: min above max, zeros for the percentiles.
    {"metrics": {"http_req_duration": {"avg": 0, "min": 9223372036854776.0, "max": 0,
                                       "med": 0, "p(90)": 0, "p(95)": 0, "p(99)": 0},
                 "http_reqs": {"count": 10, "rate": 5.0}}},
])
def test_sentinels_that_parse_give_no_latency(document: object) -> None:
    """Field report 24 b, parsed: a sentinel or a 0 ms percentile is no latency at all."""
    result = parse_json(document)

    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (None, None, None)
    assert result.notes


def test_no_request_is_no_data() -> None:
    """Field report 24 c: a run of 0 requests is "no data", not 0 ms and 0 errors."""
    result = parse_json({"latency_stats": {"p95_ms": 0, "p99_ms": 0}, "error_rate": 0,
                         "throughput_rps": 0})
    empty = parse_result(locust(0, 0), source="locust")

    assert (result.p95_ms, result.p99_ms) == (None, None)
    assert (empty.p95_ms, empty.p99_ms, empty.error_rate) == (None, None, None)


def test_percentiles_out_of_order_are_not_trusted() -> None:
    """Field report 24: figures that cannot be one run's (p95 above p99) are all dropped."""
    result = parse_json({"latency_stats": {"p50_ms": 40, "p95_ms": 480, "p99_ms": 120},
                         "error_rate": 0.01, "throughput_rps": 20})

    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (None, None, None)
    assert result.error_rate == 0.01
    assert any("never decrease" in note for note in result.notes)


@pytest.mark.parametrize("document", [
    {"service": "checkout", "latency_stats": {"p95_ms": 75.0}, "error_rate": 0.01,
     "throughput_rps": 1822.8},
    {"metrics": {"http_req_duration": {"avg": 41.2, "p(90)": 66.8, "p(95)": 75.0},
                 "http_reqs": {"count": 3699, "rate": 1822.8}}},
    {"service": "checkout", "latency_stats": {"p95_ms": 75.0, "p99_ms": None},
     "error_rate": 0.01, "throughput_rps": 1822.8},
    # envoyproxy/gateway#8614: a key that did not match, written as 0.
    {"service": "checkout", "latency_stats": {"p95_ms": 75.0, "p99_ms": 0},
     "error_rate": 0.01, "throughput_rps": 1822.8, "extra": {"unknown": True}},
])
def test_missing_p99_stays_missing(document: object) -> None:
    """Field report 25: no p99 (absent, null or 0) is unset and noted; the rest is read."""
    result = parse_json(document)

    assert result.p99_ms is None
    assert result.p95_ms == 75.0
    assert result.throughput_rps is not None
    assert any("p99" in note or "p(99)" in note for note in result.notes)


@pytest.mark.parametrize(("data", "expected"), [
    (locust(10, 10), 1.0),      # a: every request failed, not 50 %
    (locust(100, 23), 0.23),    # b: failures are part of the requests
    (b'{"latency_stats": {"p95_ms": 80}, "error_rate": 0.05}', 0.05),            # c
    (b'{"latency_stats": {"p95_ms": 80}, "error_rate_percent": 5}', 0.05),       # d
    (locust(0, 0), None),       # g: no requests, no error rate
])
def test_error_ratio_is_a_fraction_of_all_requests(data: bytes, expected: float | None
                                                   ) -> None:
    """Field report 27: the error ratio is failures / all requests, 0..1, or unknown."""
    result = parse_result(data, source="run")

    assert result.error_rate == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize("rate", [5, 1.5])
def test_error_rate_that_is_not_a_fraction_is_refused(rate: float) -> None:
    """Field report 27 e, f: 5 and 1.5 are refused, pointing at error_rate_percent."""
    with pytest.raises(ResultError) as caught:
        parse_json({"service": "checkout", "latency_stats": {"p95_ms": 80},
                    "error_rate": rate})

    assert caught.value.field == "error_rate"
    assert "error_rate_percent" in caught.value.message


def _no_constant(token: str) -> object:
    raise AssertionError(f"{token} in JSON the product wrote")


def test_watch_json_report_of_a_non_finite_result_has_no_nan(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Field report 24 a through `watch --output json`: missing figures are null, never NaN."""
    path = tmp_path / "bench_results.json"
    path.write_text('{"service": "checkout", "requests": 10, "latency_stats":'
                    ' {"p95_ms": NaN, "p99_ms": Infinity}, "error_rate": 0.0,'
                    ' "throughput_rps": -Infinity}')

    code = main(["watch", "--results", str(path), "--output", "json"])

    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out, parse_constant=_no_constant)
    assert "NaN" not in out and "Infinity" not in out
