"""
NVIDIA GenAI-Perf `profile_export_genai_perf.json`, and AIPerf's
`profile_export_aiperf.json`, which has the same shape.

Each metric is an object `{"unit": ..., "avg": ..., "p50": ..., ...}`; the
settings of the run are under `input_config`.

- Latency: `request_latency.p50/p95/p99`, converted by `request_latency.unit`
  (`ms` in every file seen).
- Error rate: GenAI-Perf has no error count, so it stays unset. AIPerf adds
  `error_request_count` (null when there were none): error rate =
  errors / (`request_count` + errors), since its `request_count` counts
  valid requests only.
- Throughput: `request_throughput.avg`. For AIPerf that is valid requests per
  second (successful); GenAI-Perf does not say whether failed requests count,
  so we label it all requests.
- Time: AIPerf's `end_time` (ISO 8601); GenAI-Perf has none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from remediator.bench.documents import dig
from remediator.bench.figures import Figures
from remediator.bench.numbers import MISSING, MS_PER_NS, MS_PER_S, MS_PER_US
from remediator.bench.protocol import Reader
from remediator.bench.times import from_iso

_TO_MS: Final = {
    "ms": 1.0,
    "s": MS_PER_S,
    "sec": MS_PER_S,
    "us": MS_PER_US,
    "ns": MS_PER_NS,
}


def matches(value: object) -> bool:
    """Whether `value` is a GenAI-Perf export: metric objects plus `input_config`."""
    latency = dig(value, "request_latency")
    return (
        isinstance(latency, dict)
        and "unit" in latency
        and "avg" in latency
        and dig(value, "input_config") is not MISSING
    )


def read(doc: object, fig: Figures) -> None:
    """Read one GenAI-Perf or AIPerf export into `fig`."""
    scale = _latency_scale(doc, fig)
    fig.p50_ms = fig.latency(doc, "request_latency", "p50", scale=scale)
    fig.p95_ms = fig.latency(doc, "request_latency", "p95", scale=scale)
    fig.p99_ms = fig.latency(doc, "request_latency", "p99", scale=scale)

    aiperf = dig(doc, "error_request_count") is not MISSING
    valid = fig.amount(doc, "request_count", "avg", noted=False)
    fig.error_rate = _error_rate(doc, fig, valid) if aiperf else None
    if not aiperf:
        fig.note("GenAI-Perf reports no error count; error rate left unset")

    fig.throughput_rps = fig.amount(doc, "request_throughput", "avg")
    fig.throughput_basis = "successful" if aiperf else "all"

    if valid == 0:
        fig.drop_latencies("request_count is 0")

    fig.end_time = _end_time(doc, fig)


def _latency_scale(doc: object, fig: Figures) -> float:
    unit = dig(doc, "request_latency", "unit")
    if not isinstance(unit, str) or unit not in _TO_MS:
        fig.fail("request_latency.unit", f"unknown time unit {unit!r:.40}")
    return _TO_MS[unit]


def _error_rate(doc: object, fig: Figures, valid: float | None) -> float | None:
    # AIPerf writes null, not 0, when no request failed.
    errors_value = dig(doc, "error_request_count")
    errors = 0.0 if errors_value is None else fig.amount(
        doc, "error_request_count", "avg", noted=False
    )

    if valid is None or errors is None:
        fig.note("error_request_count or request_count missing; error rate left unset")
        return None

    return fig.ratio("error_request_count.avg", errors, valid + errors)


def _end_time(doc: object, fig: Figures) -> datetime | None:
    value = dig(doc, "end_time")
    parsed = from_iso(value) if isinstance(value, str) else None
    if value is not MISSING and parsed is None:
        fig.note(f"end_time: {value!r:.40} is not an ISO 8601 time; file time used")
    return None if parsed is None else parsed[0]


READER = Reader(name="genai-perf", matches=matches, read=read)
