"""Tests of the vLLM `bench serve` / `benchmark_serving.py` reader."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from remediator.bench import vllm
from remediator.bench.figures import Figures
from remediator.bench.reading import parse_result
from remediator.errors import ResultError
from tests.bench.support import edited, fixture, parse_json, read


def test_single_run_uses_end_to_end_latency() -> None:
    """p50/p95/p99 come from the e2el keys, never from TTFT."""
    result = read("vllm-serve-e2el.json")

    assert "vllm" == result.format
    assert (2000.0, 2700.5, 3100.25) == (result.p50_ms, result.p95_ms, result.p99_ms)


def test_error_rate_uses_failed_count() -> None:
    """With `failed`, error rate is failed / (completed + failed)."""
    result = read("vllm-serve-e2el.json")

    assert pytest.approx(10 / 200) == result.error_rate
    assert pytest.approx(0.95) == result.success_rate


def test_throughput_is_successful_requests() -> None:
    """request_throughput counts completed requests only."""
    result = read("vllm-serve-e2el.json")

    assert 4.75 == result.throughput_rps
    assert "successful" == result.throughput_basis


def test_date_is_the_end_time_read_as_utc() -> None:
    """`date` YYYYMMDD-HHMMSS becomes the result's time, in UTC, with a note."""
    result = read("vllm-serve-e2el.json")

    assert datetime(2025, 3, 1, 12, 0, tzinfo=UTC) == result.time
    assert any("no time zone" in note for note in result.notes)


def test_json_lines_gives_the_last_run_by_default() -> None:
    """A one-run-per-line file yields its last line, with run index and count."""
    result = read("vllm-sweep.jsonl")

    assert (2, 3) == (result.run_index, result.run_count)
    assert (1200.0, None, 2100.0) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert datetime(2025, 4, 10, 8, 20, tzinfo=UTC) == result.time


def test_json_lines_old_schema_derives_error_rate_from_num_prompts() -> None:
    """Without `failed`, error rate is (num_prompts - completed) / num_prompts, noted."""
    result = read("vllm-sweep.jsonl")

    assert pytest.approx(20 / 200) == result.error_rate
    assert any("derived from num_prompts" in note for note in result.notes)


def test_run_option_picks_an_earlier_line() -> None:
    """run=1 reads the second line."""
    result = read("vllm-sweep.jsonl", run=1)

    assert (1, 3) == (result.run_index, result.run_count)
    assert (900.0, 1500.0) == (result.p50_ms, result.p99_ms)
    assert 5.0 == result.throughput_rps


def test_run_without_e2el_has_no_latency_and_no_ttft_fallback() -> None:
    """A default run (TTFT/TPOT/ITL only) leaves all latencies unset."""
    result = read("vllm-sweep.jsonl", run=0)

    assert (None, None, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert 0.0 == result.error_rate
    assert any("--percentile-metrics e2el" in note for note in result.notes)


def test_ttft_policy_is_available_to_callers_who_choose_it() -> None:
    """vllm.read with latency="ttft" maps median/p99 TTFT and says so."""
    fig = Figures("f")
    line = fixture("vllm-sweep.jsonl").read_text().splitlines()[0]
    vllm.read(json.loads(line), fig, latency="ttft")

    assert (38.5, None, 61.0) == (fig.p50_ms, fig.p95_ms, fig.p99_ms)
    assert any("time to first token" in note for note in fig.notes)


def test_all_failed_run_has_no_latencies() -> None:
    """completed 0 makes vLLM's 0.0 latencies missing, error rate 1."""
    result = read("vllm-all-failed.json")

    assert (None, None, None) == (result.p50_ms, result.p95_ms, result.p99_ms)
    assert 1.0 == result.error_rate
    assert 0.0 == result.throughput_rps


def test_broken_line_reports_line_and_column() -> None:
    """A broken second line in JSON Lines names line 2 and its column."""
    with pytest.raises(ResultError) as caught:
        read("vllm-broken-line.jsonl")

    assert "line 2 column 44" in caught.value.message


def test_completed_above_num_prompts_is_refused() -> None:
    """More completed than planned would give a negative error rate: refused."""
    doc = {
        "completed": 12,
        "num_prompts": 10,
        "request_throughput": 1.0,
        "p99_ttft_ms": 5.0,
    }

    with pytest.raises(ResultError) as caught:
        parse_json(doc)

    assert "completed" == caught.value.field


def test_negative_latency_is_refused() -> None:
    """A negative p99_e2el_ms names that key."""
    data = edited("vllm-serve-e2el.json", "p99_e2el_ms", value=-1.0)

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "p99_e2el_ms" == caught.value.field


def test_string_latency_is_refused() -> None:
    """A word in median_e2el_ms names that key."""
    data = edited("vllm-serve-e2el.json", "median_e2el_ms", value="slow")

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "median_e2el_ms" == caught.value.field


def test_line_of_another_format_is_refused() -> None:
    """Every line of JSON Lines must be a vLLM run."""
    data = fixture("vllm-sweep.jsonl").read_bytes() + b'{"latency_stats": {}}\n'

    with pytest.raises(ResultError) as caught:
        parse_result(data, source="up")

    assert "line 4" in caught.value.message
