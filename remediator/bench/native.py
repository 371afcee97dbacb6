"""
Our own results format.

    {"latency_stats": {"p50_ms": 41.0, "p95_ms": 75.0, "p99_ms": 120.0},
     "error_rate": 0.005, "throughput_rps": 15.0}

Optional keys:

- `success_rate`: a fraction; otherwise 1 - error_rate.
- `error_rate_percent`: 0..100, read only when `error_rate` is absent, for
  writers that think in percent (an `error_rate` of 5 is refused, not rescaled).
- `throughput_basis`: `"successful"` or `"all"` (default `"all"`): what
  `throughput_rps` counts.
- `finished_at` or `timestamp`: ISO 8601 end time (`finished_at` wins); a time
  without a zone is read as UTC.

Unknown keys are ignored. Percentiles that are all 0 mean no request
completed (a real latency is never exactly 0 ms), so they are left unset.
"""

from __future__ import annotations

from datetime import datetime

from remediator.bench.documents import dig
from remediator.bench.figures import Figures
from remediator.bench.numbers import MISSING
from remediator.bench.protocol import Reader
from remediator.bench.result import ThroughputBasis
from remediator.bench.times import from_iso

_TIME_KEYS = ("finished_at", "timestamp")


def matches(value: object) -> bool:
    """Whether `value` is our format: it has `latency_stats`."""
    return isinstance(value, dict) and "latency_stats" in value


def read(doc: object, fig: Figures) -> None:
    """Read one native document into `fig`."""
    if not isinstance(dig(doc, "latency_stats"), dict):
        fig.fail("latency_stats", "expected an object with p50_ms, p95_ms, p99_ms")

    fig.p50_ms = fig.latency(doc, "latency_stats", "p50_ms", scale=1.0)
    fig.p95_ms = fig.latency(doc, "latency_stats", "p95_ms", scale=1.0)
    fig.p99_ms = fig.latency(doc, "latency_stats", "p99_ms", scale=1.0)
    _drop_zero_latencies(fig)

    fig.error_rate = _error_rate(doc, fig)
    fig.success_rate = fig.fraction(doc, "success_rate", noted=False)

    fig.throughput_rps = fig.amount(doc, "throughput_rps")
    fig.throughput_basis = _basis(doc, fig)

    fig.end_time = _end_time(doc, fig)


def _drop_zero_latencies(fig: Figures) -> None:
    latencies = (fig.p50_ms, fig.p95_ms, fig.p99_ms)
    present = [value for value in latencies if value is not None]
    if present and all(value == 0 for value in present):
        fig.drop_latencies("all percentiles are 0, so no request completed")


def _error_rate(doc: object, fig: Figures) -> float | None:
    has_percent = dig(doc, "error_rate_percent") is not MISSING
    if dig(doc, "error_rate") is MISSING and has_percent:
        percent = fig.number(doc, "error_rate_percent")
        if percent is not None and not 0.0 <= percent <= 100.0:
            fig.fail("error_rate_percent", f"must be between 0 and 100, got {percent:g}")
        return None if percent is None else percent / 100.0

    rate = fig.number(doc, "error_rate")
    if rate is not None and not 0.0 <= rate <= 1.0:
        fig.fail(
            "error_rate",
            f"must be a fraction between 0 and 1, got {rate:g} "
            "(write a percentage as error_rate_percent)",
        )
    return rate


def _basis(doc: object, fig: Figures) -> ThroughputBasis:
    basis = dig(doc, "throughput_basis")
    if basis is MISSING or basis == "all":
        return "all"
    if basis == "successful":
        return "successful"
    fig.fail("throughput_basis", f'must be "successful" or "all", got {basis!r:.40}')


def _end_time(doc: object, fig: Figures) -> datetime | None:
    for key in _TIME_KEYS:
        value = dig(doc, key)
        if value is MISSING or value is None:
            continue

        parsed = from_iso(value) if isinstance(value, str) else None
        if parsed is None:
            fig.fail(key, f"expected an ISO 8601 time, got {value!r:.40}")

        moment, zoned = parsed
        if not zoned:
            fig.note(f"{key}: no time zone; read as UTC")
        return moment

    return None


READER = Reader(name="native", matches=matches, read=read)
