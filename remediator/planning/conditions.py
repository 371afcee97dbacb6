"""
Conditions: a thresholded metric at a level.

The CLI derives them from a benchmark result and the thresholds; the daemon
derives them from the alerts firing now. Both hand them to the same planner.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable

from remediator.bench.result import BenchResult
from remediator.config.settings import Thresholds


class Metric(enum.StrEnum):
    P95 = "p95"
    P99 = "p99"
    ERROR_RATE = "error_rate"
    THROUGHPUT = "throughput"


# Report order, and the BenchResult field each metric reads.
THRESHOLDED: tuple[Metric, ...] = (
    Metric.P95, Metric.P99, Metric.ERROR_RATE, Metric.THROUGHPUT,
)
FIELD: dict[Metric, str] = {
    Metric.P95: "p95_ms",
    Metric.P99: "p99_ms",
    Metric.ERROR_RATE: "error_rate",
    Metric.THROUGHPUT: "throughput_rps",
}


class Level(enum.IntEnum):
    """How bad a metric is; ordered so that `max` picks the worst."""

    OK = 0
    UNKNOWN = 1
    WARNING = 2
    CRITICAL = 3
    EMERGENCY = 4

    @property
    def status(self) -> str:
        """The status shown to people: an emergency is a kind of CRITICAL."""
        return "CRITICAL" if self is Level.EMERGENCY else self.name


@dataclasses.dataclass(frozen=True, order=True)
class Condition:
    metric: Metric
    level: Level
    value: float | None = dataclasses.field(default=None, compare=False)
    """The figure that was judged, when known (the CLI knows it; alerts may not)."""
    unusable: str | None = dataclasses.field(default=None, compare=False)
    """For UNKNOWN: the reader's note saying why the figure it found was not used."""

    def __str__(self) -> str:
        return f"{self.metric} {self.level.name}"


def level_of(metric: Metric, value: float | None, thresholds: Thresholds) -> Level:
    """Judge one figure. Limits are exceeded only strictly; None is UNKNOWN."""
    if value is None:
        return Level.UNKNOWN

    if metric is Metric.THROUGHPUT:
        floor = thresholds.throughput_rps
        if value < floor.critical:
            return Level.CRITICAL
        if floor.warning is not None and value < floor.warning:
            return Level.WARNING
        return Level.OK

    limit = {
        Metric.P95: thresholds.p95_ms,
        Metric.P99: thresholds.p99_ms,
        Metric.ERROR_RATE: thresholds.error_rate,
    }[metric]
    if metric is Metric.P95 and value > thresholds.p95_ms.emergency:
        return Level.EMERGENCY
    if value > limit.critical:
        return Level.CRITICAL
    if limit.warning is not None and value > limit.warning:
        return Level.WARNING
    return Level.OK


def evaluate(result: BenchResult, thresholds: Thresholds) -> dict[Metric, Condition]:
    """The level of every thresholded metric of one result."""
    judged = {}
    for metric in THRESHOLDED:
        value = getattr(result, FIELD[metric])
        unusable = unusable_note(MENTIONS[metric], result.notes) if value is None else None
        judged[metric] = Condition(metric, level_of(metric, value, thresholds), value,
                                   unusable)
    return judged


# How the readers' notes name each metric ("p95_ms", "95% in", "error rate left unset").
MENTIONS: dict[Metric, tuple[str, ...]] = {
    Metric.P95: ("p95", "95%"),
    Metric.P99: ("p99", "99%"),
    Metric.ERROR_RATE: ("error rate", "error_rate"),
    Metric.THROUGHPUT: ("throughput", "rps"),
}


def unusable_note(mentions: Iterable[str], notes: Iterable[str]) -> str | None:
    """
    The note that explains why a figure the file had was left unset, if any.

    A figure that is simply absent has no such note worth repeating: for it,
    "the benchmark did not report it" is the truth.
    """
    for note in notes:
        lowered = note.lower()
        if ": missing;" in lowered:
            continue
        unset = "left unset" in lowered or "dropped" in lowered or "not derivable" in lowered
        if unset and any(word in lowered for word in mentions):
            return note
    return None


def degraded(conditions: Iterable[Condition]) -> list[Condition]:
    """The conditions that ask for something (everything but OK), sorted."""
    return sorted(c for c in conditions if c.level is not Level.OK)


def worst(conditions: Iterable[Condition]) -> dict[Metric, Level]:
    """The worst level per metric among many conditions (alerts often overlap)."""
    levels: dict[Metric, Level] = {}
    for condition in conditions:
        levels[condition.metric] = max(levels.get(condition.metric, Level.OK), condition.level)
    return levels
