"""
vLLM's `vllm bench serve` and `benchmarks/benchmark_serving.py` results.

One JSON object per run; `--append-result` puts further runs on further
lines (JSON Lines), and each line is one run.

- Latency: end-to-end request latency in ms, p50 = `median_e2el_ms` (or
  `p50_e2el_ms`), p95 = `p95_e2el_ms`, p99 = `p99_e2el_ms`. vLLM only writes
  these when run with `--percentile-metrics` including `e2el` (and p95 only
  with `--metric-percentiles` including 95); otherwise they stay unset. TTFT
  is never substituted by `read_result`; `read(..., latency="ttft")` exists
  for callers that decide to export TTFT and label it as such.
- Error rate: `failed / (completed + failed)`; files without `failed` (older
  versions, pooling backends) give `(num_prompts - completed) / num_prompts`,
  noted as derived.
- Throughput: `request_throughput` = completed / duration: successful requests.
- Time: `date` (`YYYYMMDD-HHMMSS`, the host's local time without a zone),
  read as UTC and noted.
- vLLM writes latencies of 0.0 when no request succeeded, so a run with
  `completed` 0 has no latencies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from remediator.bench.documents import dig
from remediator.bench.figures import Figures
from remediator.bench.numbers import MISSING
from remediator.bench.protocol import Reader
from remediator.bench.times import from_compact

LatencyMetric = Literal["e2el", "ttft"]


def matches(value: object) -> bool:
    """Whether `value` is one vLLM run: counts, throughput and TTFT or e2el keys."""
    if not isinstance(value, dict):
        return False
    if "completed" not in value or "request_throughput" not in value:
        return False
    return any(
        isinstance(key, str) and key.endswith(("_ttft_ms", "_e2el_ms")) for key in value
    )


def read(doc: object, fig: Figures, *, latency: LatencyMetric = "e2el") -> None:
    """Read one vLLM run into `fig`, using `latency` for the latency figures."""
    _read_latencies(doc, fig, latency)

    completed = fig.amount(doc, "completed", noted=False)
    fig.error_rate = _error_rate(doc, fig, completed)

    fig.throughput_rps = fig.amount(doc, "request_throughput")
    fig.throughput_basis = "successful"

    if completed == 0:
        fig.drop_latencies("completed is 0; vLLM writes 0.0 when no request succeeded")

    fig.end_time = _end_time(doc, fig)


def _read_latencies(doc: object, fig: Figures, metric: LatencyMetric) -> None:
    suffix = f"_{metric}_ms"
    if not isinstance(doc, dict) or not any(
        isinstance(key, str) and key.endswith(suffix) for key in doc
    ):
        fig.note(
            f"no *{suffix} keys (vLLM was run without --percentile-metrics {metric}); "
            "latencies left unset"
        )
        return

    if metric == "ttft":
        fig.note("latencies are time to first token (TTFT), not end-to-end")

    median_key = f"median{suffix}" if f"median{suffix}" in doc else f"p50{suffix}"
    fig.p50_ms = fig.latency(doc, median_key, scale=1.0)
    fig.p95_ms = fig.latency(doc, f"p95{suffix}", scale=1.0)
    fig.p99_ms = fig.latency(doc, f"p99{suffix}", scale=1.0)


def _error_rate(doc: object, fig: Figures, completed: float | None) -> float | None:
    failed = fig.amount(doc, "failed", noted=False)
    if completed is not None and failed is not None:
        return fig.ratio("failed", failed, completed + failed)

    planned = fig.amount(doc, "num_prompts", noted=False)
    if completed is None or planned is None:
        fig.note("error rate: neither failed nor num_prompts with completed; left unset")
        return None

    if completed > planned:
        fig.fail("completed", f"{completed:g} completed of {planned:g} num_prompts")

    rate = fig.ratio("num_prompts", planned - completed, planned)
    if rate is not None:
        fig.note("error rate derived from num_prompts - completed (no failed count)")
    return rate


def _end_time(doc: object, fig: Figures) -> datetime | None:
    stamp = dig(doc, "date")
    if stamp is MISSING:
        return None

    moment = from_compact(stamp) if isinstance(stamp, str) else None
    if moment is None:
        fig.note(f"date: {stamp!r:.40} is not YYYYMMDD-HHMMSS; file time used")
        return None

    fig.note("date has no time zone; read as UTC")
    return moment


READER = Reader(name="vllm", matches=matches, read=read)
