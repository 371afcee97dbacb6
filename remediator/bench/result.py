"""
The normalised figures of one benchmark run.

Every reader produces this one shape: latencies in milliseconds, error rate
as a fraction 0..1, throughput in requests per second. A figure the tool did
not report (or reported as NaN, null, "N/A", or from a run where nothing
succeeded) is `None`, never a substitute such as max or mean.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from typing import Literal

ThroughputBasis = Literal["successful", "all"]

# The figures a result may carry, in report order.
METRICS: tuple[str, ...] = (
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "error_rate",
    "throughput_rps",
    "success_rate",
)


@dataclasses.dataclass(frozen=True)
class BenchResult:
    """One benchmark run, in our units."""

    source: str
    """The file it was read from, or a label such as `push` for API uploads."""

    format: str
    """The reader that understood it: `native`, `vllm`, `llmperf`, ..."""

    time: datetime
    """When the run ended (the tool's own end time, else the file's mtime); UTC-aware."""

    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    error_rate: float | None = None
    """Failed requests / requests attempted, 0..1."""

    throughput_rps: float | None = None
    success_rate: float | None = None
    """1 - error_rate unless the tool reports it separately."""

    throughput_basis: ThroughputBasis = "all"
    """Whether `throughput_rps` counts successful requests only or all of them."""

    run_index: int = 0
    """Which run of a multi-run file this is (0-based)."""

    run_count: int = 1
    """How many runs the file held."""

    notes: tuple[str, ...] = ()
    """Warnings worth a log line: fields missing or dropped as not-a-number."""

    def __post_init__(self) -> None:
        for name in METRICS:
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be finite or None, got {value!r}")

    def metrics(self) -> dict[str, float | None]:
        """The figures by name, missing ones as None."""
        return {name: getattr(self, name) for name in METRICS}
