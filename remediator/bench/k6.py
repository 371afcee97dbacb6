"""
k6 end-of-test summaries, in the three machine-readable shapes k6 writes.

- `--summary-export` (legacy): `metrics.<name>.<stat>`.
- `handleSummary(data)` written with `JSON.stringify(data)`:
  `metrics.<name>.values.<stat>`.
- `--new-machine-readable-summary` (v1.5+): `results.metrics` is a list of
  `{name, values}`; its rate metrics count `matches` of `total`.

Time values are always milliseconds in the data.

- Latency: `http_req_duration` `med` / `p(95)` / `p(99)`. k6 writes `p(99)`
  only when `--summary-trend-stats` asks for it; otherwise p99 is unset.
- Error rate: `http_req_failed` passes / (passes + fails) (`passes` counts
  failed requests), else its `rate` / `value`. k6 up to v0.29 wrote `value`
  0 for every rate metric, so the counts are preferred. Files older than
  v0.31 have no `http_req_failed`: error rate unset (`checks` are script
  assertions, not requests).
- Throughput: `http_reqs.rate` counts all requests; when the error rate is
  known it is multiplied by (1 - error rate), which is successful requests
  per second over the same duration.
- Time: `metadata.generatedAt` in the new summary; the others have none.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from remediator.bench.documents import dig
from remediator.bench.figures import Figures
from remediator.bench.numbers import MISSING
from remediator.bench.protocol import Reader
from remediator.bench.times import from_iso

Shape = Literal["export", "summary", "machine"]

_VERSION = re.compile(r"\d+\.\d+\.\d+")

# Stats that only the legacy export keeps directly under the metric name.
_TREND_STATS = ("avg", "med", "p(90)", "p(95)", "p(99)", "min", "max")


def shape(value: object) -> Shape | None:
    """Which k6 summary `value` is, if any (FORMATS.md §2 order)."""
    duration = dig(value, "metrics", "http_req_duration")
    if isinstance(duration, dict):
        if "values" in duration and "type" in duration:
            return "summary"
        if any(stat in duration for stat in _TREND_STATS):
            return "export"

    version = dig(value, "version")
    if (
        isinstance(version, str)
        and _VERSION.fullmatch(version)
        and isinstance(dig(value, "results", "metrics"), list)
    ):
        return "machine"

    return None


def is_sample_stream(value: object) -> bool:
    """Whether `value` is one line of `k6 run --out json`: raw samples, no summary."""
    kind = dig(value, "type")
    return kind in ("Point", "Metric") and dig(value, "metric") is not MISSING


def matches(value: object) -> bool:
    """Whether `value` is any of k6's machine-readable summaries."""
    return shape(value) is not None


def read(doc: object, fig: Figures) -> None:
    """Read one k6 summary into `fig`."""
    kind = shape(doc)
    if kind is None:
        fig.fail("metrics.http_req_duration", "missing; not a k6 summary")
    if kind == "machine":
        doc = _index_metrics(doc)

    duration = _values(kind, "http_req_duration")
    fig.p50_ms = fig.latency(doc, *duration, "med", scale=1.0)
    fig.p95_ms = fig.latency(doc, *duration, "p(95)", scale=1.0)
    fig.p99_ms = fig.latency(doc, *duration, "p(99)", scale=1.0)

    fig.error_rate = _error_rate(doc, fig, _values(kind, "http_req_failed"), kind)

    _throughput(doc, fig, _values(kind, "http_reqs"))

    if fig.amount(doc, *_values(kind, "http_reqs"), "count", noted=False) == 0:
        fig.drop_latencies("http_reqs.count is 0")

    fig.end_time = _end_time(doc, fig)


def _values(kind: Shape, metric: str) -> tuple[str, ...]:
    """The key path of a metric's statistics in each shape."""
    if kind == "export":
        return ("metrics", metric)
    if kind == "summary":
        return ("metrics", metric, "values")
    return ("results", "metrics", metric, "values")


def _index_metrics(doc: object) -> dict[str, object]:
    # The new summary lists metrics; key them by name so lookups read alike.
    listed = dig(doc, "results", "metrics")
    by_name: dict[str, object] = {}
    for item in listed if isinstance(listed, list) else []:
        name = dig(item, "name")
        if isinstance(name, str):
            by_name[name] = item
    return {"results": {"metrics": by_name}, "metadata": dig(doc, "metadata")}


def _error_rate(
    doc: object, fig: Figures, failed_path: tuple[str, ...], kind: Shape
) -> float | None:
    if dig(doc, *failed_path) is MISSING:
        fig.note("no http_req_failed metric (k6 before v0.31); error rate left unset")
        return None

    # `passes` are samples where "request failed" was true: the failures.
    failed = fig.amount(doc, *failed_path, "passes", noted=False)
    succeeded = fig.amount(doc, *failed_path, "fails", noted=False)
    if failed is not None and succeeded is not None:
        field = fig.field(*failed_path, "passes")
        return fig.ratio(field, failed, failed + succeeded)

    matched = fig.amount(doc, *failed_path, "matches", noted=False)
    total = fig.amount(doc, *failed_path, "total", noted=False)
    if matched is not None and total is not None:
        return fig.ratio(fig.field(*failed_path, "matches"), matched, total)

    return fig.fraction(doc, *failed_path, "value" if kind == "export" else "rate")


def _throughput(doc: object, fig: Figures, reqs_path: tuple[str, ...]) -> None:
    rate = fig.amount(doc, *reqs_path, "rate")

    if rate is None or fig.error_rate is None:
        fig.throughput_rps, fig.throughput_basis = rate, "all"
        return

    fig.throughput_rps = rate * (1.0 - fig.error_rate)
    fig.throughput_basis = "successful"


def _end_time(doc: object, fig: Figures) -> datetime | None:
    value = dig(doc, "metadata", "generatedAt")
    parsed = from_iso(value) if isinstance(value, str) else None
    if value is not MISSING and parsed is None:
        fig.note(f"metadata.generatedAt: {value!r:.40} is not a time; file time used")
    return None if parsed is None else parsed[0]


READER = Reader(name="k6", matches=matches, read=read)
