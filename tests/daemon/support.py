"""Test helpers for the daemon: a settable clock, settings, a recording executor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from remediator.config import loading
from remediator.config.settings import Settings
from remediator.execution.base import ExecutionReport, Outcome
from remediator.planning import commands
from remediator.planning.actions import Action, ActionType, Target
from remediator.state.base import DecisionRecord, StateError
from remediator.state.sqlite import SqliteStore

# 2024-05-01T10:00:00Z, the start of the field reports' scenarios.
T0 = 1714557600.0

GATEWAY = Target("Deployment", "default", "llm-gateway")
BACKEND = Target("Deployment", "default", "llm-backend")


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_settings(raw: dict[str, Any] | None = None, /, **dotted: Any) -> Settings:
    """Defaults, then a settings document, then dotted overrides (`guard.rate_limit.actions`)."""
    settings = loading.validate(raw or {}, source="test")
    if not dotted:
        return settings
    document = settings.model_dump(mode="python")
    for key, value in dotted.items():
        node = document
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return loading.validate(_lists(document), source="test")


def _lists(value: Any) -> Any:
    # model_dump gives tuples; the strict models take lists from YAML only.
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    return value


def scale(replicas: int, target: Target = GATEWAY, priority: int = 1) -> Action:
    return Action(ActionType.SCALE, priority, target, "Increase replicas", "test",
                  replicas=replicas)


def rollback(target: Target = GATEWAY) -> Action:
    return Action(ActionType.ROLLBACK, 1, target, "Roll back", "test")


def combined(replicas: int = 6, target: Target = GATEWAY) -> Action:
    return Action(ActionType.COMBINED, 1, target, "Scale and roll back", "test",
                  replicas=replicas)


class RecordingExecutor:
    """Executes nothing, records every action it is asked to carry out."""

    name = "recording"

    def __init__(self, outcome: Outcome = Outcome.EXECUTED) -> None:
        self.outcome = outcome
        self.actions: list[Action] = []

    async def run(self, action: Action) -> ExecutionReport:
        self.actions.append(action)
        return ExecutionReport(self.outcome, f"{self.outcome} {action.key}",
                               commands.as_text(action))


class RefusingDecisions(SqliteStore):
    """
    A store that cannot write batches of decisions (the disk is full): the next
    `refuse` of them fail, each counted in `refused`.
    """

    refuse = 0
    refused = 0

    async def add_decisions(self, decisions: Any) -> list[DecisionRecord]:
        if self.refuse:
            self.refuse -= 1
            self.refused += 1
            raise StateError("disk full")
        return await super().add_decisions(decisions)


async def until(condition: Callable[[], object], what: str = "the condition did not hold",
                *, seconds: float = 10.0) -> None:
    """Poll until `condition()` holds; fail with `what` after `seconds` (bounded, not timed)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)
