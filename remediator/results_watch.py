"""
Keep the benchmark gauges current: the results file, polled, and pushed results.

The file is polled (its mtime, size and inode) every `results.poll_seconds`
rather than watched with inotify: it works on every filesystem a volume may
be, including network ones, and needs no extra dependency. A file that
fails to parse keeps the last good values, logs one line and counts.

A result that ends more than `FUTURE_TOLERANCE_SECONDS` after now is refused
the same way: it could never become older than `alerts.results_stale_seconds`,
so the stale alert could never fire on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from remediator.bench import reading
from remediator.bench.result import BenchResult
from remediator.errors import ResultError
from remediator.exporting import BenchGauges
from remediator.metrics import SelfMetrics

logger = logging.getLogger("remediator.results")

Signature = tuple[int, int, int]

FUTURE_TOLERANCE_SECONDS = 300.0
"""How far ahead of our clock a result's end time may be (clock skew between hosts)."""


class ResultsWatcher:
    def __init__(self, path: str | Path, *, format: str | None, poll_seconds: float,
                 gauges: BenchGauges, metrics: SelfMetrics) -> None:
        self.path = Path(path)
        self.format = format
        self.poll_seconds = poll_seconds
        self.gauges = gauges
        self.metrics = metrics
        self._seen: Signature | None = None
        self._missing_logged = False

    async def check(self) -> None:
        """Read the file when it changed since the last check; withdraw it when it is gone."""
        signature = _signature(self.path)
        if signature is None:
            if self._seen is not None:
                logger.warning("results file %s disappeared: its figures are withdrawn",
                               self.path, extra={"path": str(self.path)})
                self.gauges.withdraw()
            elif not self._missing_logged:
                logger.info("no results file at %s yet; waiting for it or a push", self.path,
                            extra={"path": str(self.path)})
            self._missing_logged = True
            self._seen = None
            return
        if signature == self._seen:
            return

        # Remember the signature even when parsing fails: one log line per bad version.
        self._seen = signature
        try:
            result = await asyncio.to_thread(reading.read_result, self.path, format=self.format)
            self._refuse_future(result, mtime_ns=signature[0])
        except ResultError as error:
            self.metrics.results_read_failures.inc()
            logger.warning("results not updated, last good values kept: %s", error,
                           extra={"path": str(self.path)})
            return
        self._accept(result)

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await self.check()
            await asyncio.sleep(self.poll_seconds)

    async def push(self, data: bytes, *, format: str | None = None,
                   run: int | None = None) -> BenchResult:
        """A result uploaded through the API; `ResultError` when it is not one."""
        try:
            # Without an end time of its own, a pushed result ends now, by our clock.
            result = await asyncio.to_thread(
                reading.parse_result, data, source="push", format=format, run=run,
                mtime=datetime.fromtimestamp(self.gauges.clock(), UTC),
            )
            self._refuse_future(result)
        except ResultError:
            self.metrics.results_read_failures.inc()
            raise
        self._accept(result)
        return result

    def _refuse_future(self, result: BenchResult, *, mtime_ns: int | None = None) -> None:
        """
        `ResultError` when the run ends beyond the tolerance after now.

        A file timed only by its mtime is left alone: that is when it was
        written, on this host's clock or its volume's.
        """
        ends = result.time.timestamp()
        if mtime_ns is not None and abs(ends - mtime_ns / 1e9) < 1e-3:
            return
        ahead = ends - self.gauges.clock()
        if ahead > FUTURE_TOLERANCE_SECONDS:
            raise ResultError(
                result.source, "time",
                f"the run ends at {result.time.isoformat(timespec='seconds')}, {ahead:.0f}s"
                f" in the future (more than {FUTURE_TOLERANCE_SECONDS:.0f}s ahead); such a"
                " result could never go stale, so it is refused",
            )

    def _accept(self, result: BenchResult) -> None:
        self.gauges.update(result)
        for name, value in result.metrics().items():
            if value is None:
                self.metrics.missing_figures.labels(_figure(name)).inc()
        logger.info(
            "results updated from %s (%s): p95 %s ms, error rate %s, throughput %s req/s",
            result.source, result.format, _shown(result.p95_ms), _shown(result.error_rate),
            _shown(result.throughput_rps),
            extra={"path": result.source, "format": result.format},
        )
        # A figure left unset is not exported: say which and why, once per result.
        for note in result.notes:
            logger.warning("results %s: %s", result.source, note,
                           extra={"path": result.source})


def _signature(path: Path) -> Signature | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _figure(name: str) -> str:
    """`p95_ms` -> `p95`, `throughput_rps` -> `throughput`: the names the rules use."""
    return {"throughput_rps": "throughput"}.get(name, name.removesuffix("_ms"))


def _shown(value: float | None) -> str:
    return "missing" if value is None else f"{value:g}"
