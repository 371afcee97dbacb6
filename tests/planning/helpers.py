"""Small builders shared by the planning tests."""

from __future__ import annotations

from datetime import UTC, datetime

from remediator.bench.result import BenchResult
from remediator.config.settings import Settings
from remediator.planning import conditions, planner
from remediator.planning.actions import Action


def result(
    p95: float | None = 50.0,
    p99: float | None = 80.0,
    error_rate: float | None = 0.0,
    throughput: float | None = 20.0,
    p50: float | None = 20.0,
) -> BenchResult:
    success = None if error_rate is None else 1 - error_rate
    return BenchResult(
        source="bench/bench_results.json", format="native",
        time=datetime(2026, 1, 21, 18, 45, 23, tzinfo=UTC),
        p50_ms=p50, p95_ms=p95, p99_ms=p99, error_rate=error_rate,
        throughput_rps=throughput, success_rate=success,
    )


def plan_for(bench: BenchResult, settings: Settings | None = None) -> list[Action]:
    settings = settings or Settings()
    status = conditions.evaluate(bench, settings.thresholds)
    return planner.plan(status.values(), settings)


def summary(actions: list[Action]) -> list[tuple[int, str, str | None, int | None]]:
    return [
        (a.priority, str(a.type), a.target.name if a.target else a.metric, a.replicas)
        for a in actions
    ]
