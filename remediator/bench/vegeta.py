"""
vegeta `report -type=json`.

Durations are nanoseconds. vegeta's latencies cover every result, client
timeouts and error responses included.

- Latency: `latencies.50th/95th/99th` / 1e6. Old versions have no `90th`
  (which we do not use) and no `min`.
- Error rate: 1 - `success`; `success` (a fraction, despite the code comment
  calling it a percentage) is the share of responses with 200 <= code < 400.
- Success rate: `success`.
- Throughput: `throughput` = successful / (duration + wait): successful
  requests. Files before v12.6 have none; it is derived the same way as
  `success x requests / (duration + wait)` and noted.
- Time: `end` (RFC 3339, nanoseconds), else `latest`.
"""

from __future__ import annotations

from datetime import datetime

from remediator.bench.documents import dig
from remediator.bench.figures import Figures
from remediator.bench.numbers import MISSING, MS_PER_NS
from remediator.bench.protocol import Reader
from remediator.bench.times import from_iso

_NS_PER_S = 1e9


def matches(value: object) -> bool:
    """Whether `value` is a vegeta JSON report: 50th/99th latencies and status codes."""
    latencies = dig(value, "latencies")
    return (
        isinstance(latencies, dict)
        and "50th" in latencies
        and "99th" in latencies
        and dig(value, "status_codes") is not MISSING
    )


def read(doc: object, fig: Figures) -> None:
    """Read one vegeta report into `fig`."""
    fig.p50_ms = fig.latency(doc, "latencies", "50th", scale=MS_PER_NS)
    fig.p95_ms = fig.latency(doc, "latencies", "95th", scale=MS_PER_NS)
    fig.p99_ms = fig.latency(doc, "latencies", "99th", scale=MS_PER_NS)

    success = fig.fraction(doc, "success")
    fig.success_rate = success
    fig.error_rate = None if success is None else 1.0 - success

    fig.throughput_rps = _throughput(doc, fig, success)
    fig.throughput_basis = "successful"

    if fig.amount(doc, "requests", noted=False) == 0:
        fig.drop_latencies("requests is 0")

    fig.end_time = _end_time(doc, fig)


def _throughput(doc: object, fig: Figures, success: float | None) -> float | None:
    if dig(doc, "throughput") is not MISSING:
        return fig.amount(doc, "throughput")

    requests = fig.amount(doc, "requests", noted=False)
    duration = fig.amount(doc, "duration", noted=False)
    wait = fig.amount(doc, "wait", noted=False) or 0.0
    if success is None or requests is None or duration is None:
        fig.note("throughput: missing and not derivable (no success/requests/duration)")
        return None

    fig.note("throughput derived: success x requests / (duration + wait) (vegeta < 12.6)")
    seconds = (duration + wait) / _NS_PER_S
    return fig.per_second("throughput", success * requests, seconds)


def _end_time(doc: object, fig: Figures) -> datetime | None:
    for key in ("end", "latest"):
        value = dig(doc, key)
        if value is MISSING:
            continue

        parsed = from_iso(value) if isinstance(value, str) else None
        if parsed is not None:
            return parsed[0]
        fig.note(f"{key}: {value!r:.40} is not an RFC 3339 time")

    return None


READER = Reader(name="vegeta", matches=matches, read=read)
