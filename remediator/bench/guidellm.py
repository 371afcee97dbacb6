"""
GuideLLM `benchmarks.json` (`guidellm benchmark --output-path`).

`benchmarks` holds one entry per strategy of a sweep; each is one run. Every
metric is split into successful / errored / incomplete / total.

- Latency: `metrics.request_latency.successful`, in seconds, x 1000:
  p50 = `percentiles.p50` (newer releases) or `median`; p95/p99 =
  `percentiles.p95/p99`. (`p01` is the 1st percentile, `p001` the 0.1th.)
- Error rate: `request_totals.errored / request_totals.total`
  (`request_totals` sits under `metrics` in newer releases). Incomplete
  requests, cut off by the end of the window, are not counted as errors.
- Throughput: `request_totals.successful / duration`: successful requests
  (falling back to `metrics.requests_per_second.successful.mean`).
- Time: the benchmark's `end_time` (epoch seconds).
"""

from __future__ import annotations

from datetime import datetime

from remediator.bench.documents import dig
from remediator.bench.figures import Figures
from remediator.bench.numbers import MISSING, MS_PER_S
from remediator.bench.protocol import Reader, RunDoc
from remediator.bench.times import from_epoch
from remediator.errors import ResultError

_LATENCY = ("metrics", "request_latency", "successful")


def matches(value: object) -> bool:
    """Whether `value` is a GuideLLM report: benchmarks with status-split latency."""
    benchmarks = dig(value, "benchmarks")
    return (
        isinstance(benchmarks, list)
        and len(benchmarks) > 0
        and isinstance(dig(benchmarks[0], *_LATENCY), dict)
    )


def runs(value: object, source: str) -> list[RunDoc]:
    """One run per entry of `benchmarks`, in file order."""
    benchmarks = dig(value, "benchmarks")
    if not isinstance(benchmarks, list):
        raise ResultError(source, "benchmarks", "expected a list")
    return [
        RunDoc(item, prefix=f"benchmarks[{index}].")
        for index, item in enumerate(benchmarks)
    ]


def read(bench: object, fig: Figures) -> None:
    """Read one GuideLLM benchmark into `fig`."""
    if not isinstance(dig(bench, *_LATENCY), dict):
        fig.fail(fig.field(*_LATENCY), "expected an object")

    # Older releases have no p50 percentile, only the median.
    median: tuple[str, ...] = ("median",)
    if dig(bench, *_LATENCY, "percentiles", "p50") is not MISSING:
        median = ("percentiles", "p50")
    fig.p50_ms = fig.latency(bench, *_LATENCY, *median, scale=MS_PER_S)
    fig.p95_ms = fig.latency(bench, *_LATENCY, "percentiles", "p95", scale=MS_PER_S)
    fig.p99_ms = fig.latency(bench, *_LATENCY, "percentiles", "p99", scale=MS_PER_S)

    totals = _totals_path(bench)
    successful = fig.amount(bench, *totals, "successful", noted=False)
    fig.error_rate = _error_rate(bench, fig, totals)

    fig.throughput_rps = _throughput(bench, fig, successful)
    fig.throughput_basis = "successful"

    if successful == 0:
        fig.drop_latencies("request_totals.successful is 0")

    fig.end_time = _end_time(bench, fig)


def _totals_path(bench: object) -> tuple[str, ...]:
    # 0.2/0.3 keep the counts beside `metrics`; newer releases inside it.
    if dig(bench, "request_totals") is MISSING:
        return ("metrics", "request_totals")
    return ("request_totals",)


def _error_rate(bench: object, fig: Figures, totals: tuple[str, ...]) -> float | None:
    errored = fig.amount(bench, *totals, "errored", noted=False)
    total = fig.amount(bench, *totals, "total", noted=False)
    incomplete = fig.amount(bench, *totals, "incomplete", noted=False)

    if incomplete:
        fig.note(f"{incomplete:g} incomplete requests (cut off at the end) not errors")

    rate = fig.ratio(fig.field(*totals, "errored"), errored, total)
    if rate is None:
        fig.note(f"{fig.field(*totals)}: no errored/total counts; error rate left unset")
    return rate


def _throughput(bench: object, fig: Figures, successful: float | None) -> float | None:
    duration = fig.amount(bench, "duration", noted=False)
    if duration is None:
        start = fig.amount(bench, "start_time", noted=False)
        end = fig.amount(bench, "end_time", noted=False)
        duration = None if start is None or end is None else end - start

    rate = fig.per_second(fig.field("duration"), successful, duration)
    if rate is not None:
        return rate

    return fig.amount(bench, "metrics", "requests_per_second", "successful", "mean")


def _end_time(bench: object, fig: Figures) -> datetime | None:
    seconds = fig.amount(bench, "end_time", noted=False)
    moment = None if seconds is None else from_epoch(seconds)
    if seconds is not None and moment is None:
        fig.note(f"{fig.field('end_time')}: {seconds:g} is not a time; file time used")
    return moment


READER = Reader(name="guidellm", matches=matches, read=read, runs=runs)
