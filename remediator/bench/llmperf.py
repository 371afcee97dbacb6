"""
ray-project/llmperf `*_summary.json` (`token_benchmark_ray.py`).

A flat object (nested results joined with `_`), schema tag `version`
"2023-08-31". Latencies are seconds; throughput is per minute.

- Latency: `results_end_to_end_latency_s_quantiles_p50/p95/p99` x 1000.
  llmperf writes a bare `NaN` when no request succeeded; that is left unset.
- Error rate: `results_error_rate` (a fraction), else
  `results_number_errors / results_num_requests_started`.
- Throughput: `results_num_completed_requests_per_min / 60`: successful requests.
- Time: `timestamp` (epoch seconds, when the summary was written).
"""

from __future__ import annotations

from datetime import datetime

from remediator.bench.figures import Figures
from remediator.bench.numbers import MS_PER_S, S_PER_MIN
from remediator.bench.protocol import Reader
from remediator.bench.times import from_epoch

SCHEMA_VERSION = "2023-08-31"

_LATENCY = "results_end_to_end_latency_s_quantiles_"


def matches(value: object) -> bool:
    """Whether `value` is an llmperf summary: its schema tag and `results_*` keys."""
    if not isinstance(value, dict) or value.get("version") != SCHEMA_VERSION:
        return False
    return any(isinstance(key, str) and key.startswith("results_") for key in value)


def read(doc: object, fig: Figures) -> None:
    """Read one llmperf summary into `fig`."""
    fig.p50_ms = fig.latency(doc, _LATENCY + "p50", scale=MS_PER_S)
    fig.p95_ms = fig.latency(doc, _LATENCY + "p95", scale=MS_PER_S)
    fig.p99_ms = fig.latency(doc, _LATENCY + "p99", scale=MS_PER_S)

    fig.error_rate = _error_rate(doc, fig)

    per_minute = fig.amount(doc, "results_num_completed_requests_per_min")
    fig.throughput_rps = fig.scaled(
        "results_num_completed_requests_per_min", per_minute, 1.0 / S_PER_MIN
    )
    fig.throughput_basis = "successful"

    if fig.amount(doc, "results_num_completed_requests", noted=False) == 0:
        fig.drop_latencies("results_num_completed_requests is 0")

    fig.end_time = _end_time(doc, fig)


def _error_rate(doc: object, fig: Figures) -> float | None:
    rate = fig.fraction(doc, "results_error_rate", noted=False)
    if rate is not None:
        return rate

    errors = fig.amount(doc, "results_number_errors", noted=False)
    started = fig.amount(doc, "results_num_requests_started", noted=False)
    rate = fig.ratio("results_number_errors", errors, started)
    if rate is None:
        fig.note("results_error_rate: missing and not derivable; left unset")
    return rate


def _end_time(doc: object, fig: Figures) -> datetime | None:
    seconds = fig.amount(doc, "timestamp", noted=False)
    moment = None if seconds is None else from_epoch(seconds)
    if seconds is not None and moment is None:
        fig.note(f"timestamp: {seconds:g} is not a time; file time used")
    return moment


READER = Reader(name="llmperf", matches=matches, read=read)
