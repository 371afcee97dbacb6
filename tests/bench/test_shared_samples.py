"""
Expected figures for the real tool outputs in `../shared/samples/bench`.

The values are those of FORMATS.md §5. Where §5 gives two throughputs we
assert the successful one (our basis, see `remediator.bench.reading`); where
§5 gives only all-request throughput for a format that lets us derive the
successful one (k6 handleSummary, Locust), the test checks both: ours
directly, §5's through the relation between them. Latencies of a run in
which every request failed are unset by our rules; §5 lists them for the
old vegeta report, so the test finds them in the note that says they were dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediator.bench import vllm
from remediator.bench.figures import Figures
from remediator.bench.reading import read_result
from remediator.bench.result import BenchResult
from remediator.errors import ResultError

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "bench"

pytestmark = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"the shared samples folder {SAMPLES} is absent"
)

# file: (p50, p95, p99, error rate, throughput), from FORMATS.md §5.
EXPECTED: dict[str, tuple[float | None, ...]] = {
    "vllm-llmd-sweep-jsonl.json":  # line 1, e2el policy
        (None, None, None, 0.0, 8.3694),
    "llmperf-leaderboard-groq-70b-summary.json":
        (805.184, 941.519, 992.271, 0.0, 2.9456),
    "llmperf-leaderboard-lepton-13b-summary.json":
        (3504.557, 3859.609, 3999.064, 0.866667, 0.3927),
    "genai-perf-k8sdev-flatconfig.json":
        (3102.672, 4739.338, 4895.852, None, 0.31455),
    "genai-perf-k8sdev-telemetry.json":
        (2196.924, 2621.607, 2645.884, None, 0.47010),
    "guidellm-benchmarks-stripped.json":
        (642.457, 656.729, 689.185, 0.0, 1.5335),
    # §5: 35.9463 all requests; x (1 - 0.39749) = 21.6579 successful.
    "k6-reporter-handlesummary.json":
        (20.091, 30.026, 39.577, 0.39749, 21.6579),
    "k6-htmlreporter-summary-export-legacy.json":
        (45.697, 60.262, None, None, 2.6542),
    "k6-crushtest-summary-export-wrapped.json":
        (2.969, 11.388, None, 0.0, 531.6527),
    # §5: 319.429 all / 317.429 responses; all responses were 2xx.
    "oha-crushtest-wrapped.json":
        (11.042, 21.092, 43.480, 0.0, 317.429),
    "locust-llm-platform-stats.csv":
        (6, 310, 540, 0.0, 6.2668),
    # §5: 37.3049 all requests; minus Failures/s 27.1262 = 10.1787 successful.
    "locust-bitcoin-api-stats.csv":
        (3, 8, 2000, 0.727149, 10.1787),
    "locust-loadtestinghub-grpc-stats.csv":
        (5100, 7800, 8200, 0.0, 67.3846),
    "vegeta-ratelimiter-report.json":
        (30001.427, 30005.398, 30008.856, 0.986667, 0.08899),
    # §5 lists 0.383 / 0.550 / 1.375 ms; every request failed, so they are
    # dropped (see the test of the note below). 0.0 successful req/s.
    "vegeta-cloudenterprise-report-legacy.json":
        (None, None, None, 1.0, 0.0),
}

# The samples whose throughput counts all requests; the rest count successful ones.
ALL_REQUESTS = {
    "genai-perf-k8sdev-flatconfig.json",
    "genai-perf-k8sdev-telemetry.json",
    "k6-htmlreporter-summary-export-legacy.json",
}

# §5 gives line 1 of the vLLM sweep; the others hold one run.
RUN = {"vllm-llmd-sweep-jsonl.json": 0}


def close(expected: float | None, actual: float | None) -> bool:
    """Equal within §5's rounding: 3 decimals for ms, 5 significant digits otherwise."""
    if expected is None or actual is None:
        return expected is actual
    return actual == pytest.approx(expected, rel=5e-5, abs=5e-4)


def figures(result: BenchResult) -> tuple[float | None, ...]:
    """The five gauges of a result, in table order."""
    return (result.p50_ms, result.p95_ms, result.p99_ms, result.error_rate,
            result.throughput_rps)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_matches_formats_md(name: str) -> None:
    """Each stored sample gives the gauges FORMATS.md §5 lists for it."""
    result = read_result(SAMPLES / name, run=RUN.get(name))

    expected = EXPECTED[name]
    assert all(map(close, expected, figures(result))), (expected, figures(result))
    basis = "all" if name in ALL_REQUESTS else "successful"
    assert basis == result.throughput_basis


def test_vllm_ttft_policy_row() -> None:
    """§5's TTFT-policy row for line 1: 52.869 / unset / 98.698."""
    fig = Figures("sample")
    first_line = (SAMPLES / "vllm-llmd-sweep-jsonl.json").read_text().splitlines()[0]

    vllm.read(json.loads(first_line), fig, latency="ttft")

    assert close(52.869, fig.p50_ms)
    assert None is fig.p95_ms
    assert close(98.698, fig.p99_ms)


def test_vllm_sample_holds_nine_runs_and_gives_the_last() -> None:
    """The sweep file has 9 JSON Lines runs; the default is the last."""
    result = read_result(SAMPLES / "vllm-llmd-sweep-jsonl.json")

    assert (8, 9) == (result.run_index, result.run_count)
    assert close(41.2172, result.throughput_rps)


def test_k6_handlesummary_all_request_rate_is_formats_md_value() -> None:
    """Our successful throughput / (1 - error rate) is §5's 35.9463 (all)."""
    result = read_result(SAMPLES / "k6-reporter-handlesummary.json")

    assert result.throughput_rps is not None and result.error_rate is not None
    assert close(35.9463, result.throughput_rps / (1 - result.error_rate))


def test_oha_responses_rate_is_used_not_requests_per_sec() -> None:
    """oha: 317.429 (2xx responses / total), not 319.429 (deadline aborts too)."""
    result = read_result(SAMPLES / "oha-crushtest-wrapped.json")

    assert 1.0 == result.success_rate
    assert not close(319.429, result.throughput_rps)


def test_vegeta_legacy_latencies_are_in_the_dropped_note() -> None:
    """All 5000 requests got 404: §5's 0.383/0.550/1.375 ms are noted, not exported."""
    result = read_result(SAMPLES / "vegeta-cloudenterprise-report-legacy.json")

    dropped = [note for note in result.notes if note.startswith("latencies dropped")]
    assert ["latencies dropped (p50_ms=0.382508, p95_ms=0.549695, p99_ms=1.37527): "
            "every request failed"] == dropped


def test_other_locust_files_are_named() -> None:
    """The history and failures CSVs are refused with what they are."""
    for name, kind in [("locust-bitcoin-api-stats-history.csv", "_stats_history.csv"),
                       ("locust-bitcoin-api-failures.csv", "_failures.csv")]:
        with pytest.raises(ResultError, match=kind):
            read_result(SAMPLES / name)
