"""
Benchmark results as Prometheus gauges, in base units.

A collector of ours builds the families at each scrape from the last good
result, so a figure the benchmark did not report is simply absent from the
exposition: never 0, never NaN. The label is `percentile`, not `quantile`,
because `quantile` belongs to summaries and `promtool check metrics` rejects
it on a gauge.

Freshness: the timestamp gauge is always exported once a result was seen;
the figures are dropped when the result is older than
`alerts.results_stale_seconds` or its file was deleted, so that no rule (and
no remediation) acts on old numbers. The stale alert rule watches the
timestamp.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from remediator.bench.result import BenchResult

logger = logging.getLogger("remediator.results")

PERCENTILES: tuple[tuple[str, str], ...] = (("50", "p50_ms"), ("95", "p95_ms"), ("99", "p99_ms"))


class BenchGauges(Collector):
    """The `llm_bench_*` gauges of the last good result."""

    def __init__(self, registry: CollectorRegistry, *, max_age_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_age_seconds = max_age_seconds
        self.clock = clock
        self.result: BenchResult | None = None
        self.withdrawn = False
        """True once the results file disappeared: figures go, the timestamp stays."""

        self._told_stale = False
        registry.register(self)

    def update(self, result: BenchResult) -> None:
        """Export a new result (the caller has parsed it successfully)."""
        self.result = result
        self.withdrawn = False
        self._told_stale = False
        self.stale()

    def stale(self) -> bool:
        """Whether the result is too old to export its figures; said once per result."""
        result = self.result
        if result is None:
            return False
        age = self.clock() - result.time.timestamp()
        if age <= self.max_age_seconds:
            return False
        if not self._told_stale:
            # Without this line a user sees "results updated" and no figures on /metrics.
            logger.warning(
                "result %s finished %s, %.0fs ago: older than alerts.results_stale_seconds"
                " (%.0fs), so only its timestamp is exported", result.source,
                result.time.isoformat(timespec="seconds"), age, self.max_age_seconds,
                extra={"path": result.source},
            )
            self._told_stale = True
        return True

    def withdraw(self) -> None:
        """The results file is gone: stop exporting its figures."""
        self.withdrawn = True

    def collect(self) -> Iterator[GaugeMetricFamily]:
        result = self.result
        if result is None:
            return
        finished = result.time.timestamp()
        yield GaugeMetricFamily(
            "llm_bench_last_result_timestamp_seconds",
            "When the last benchmark result was produced (Unix time).",
            value=finished,
        )
        if self.withdrawn or self.stale():
            return

        latency = GaugeMetricFamily(
            "llm_bench_latency_seconds", "Request latency at a percentile, from the benchmark.",
            labels=["percentile"],
        )
        for percentile, field in PERCENTILES:
            value = getattr(result, field)
            if value is not None:
                latency.add_metric([percentile], value / 1000.0)
        if latency.samples:
            yield latency

        singles = (
            ("llm_bench_error_ratio", "Failed requests / requests attempted (0..1).",
             result.error_rate),
            ("llm_bench_throughput_requests_per_second",
             "Benchmark throughput in requests per second.", result.throughput_rps),
            ("llm_bench_success_ratio", "Successful requests / requests attempted (0..1).",
             result.success_rate),
        )
        for name, documentation, value in singles:
            if value is not None:
                yield GaugeMetricFamily(name, documentation, value=value)
