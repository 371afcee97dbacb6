"""
The executor interface and the report every executor returns.

An executor carries out one action that the guard has let through. It reads
the live object first and refuses, with a reason, what would make things
worse (a scale that lowers replicas, an undo with nothing to undo, a restart
of a paused Deployment). A refusal is an outcome like any other, not an error.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Protocol

from remediator.planning.actions import Action


class Outcome(enum.StrEnum):
    EXECUTED = "executed"
    DRY_RUN = "dry_run"
    SKIPPED = "skipped"
    REFUSED = "refused"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class ExecutionReport:
    outcome: Outcome
    reason: str
    """One sentence a person reads in the history: what happened, or why not."""

    command: str | None = None
    """The equivalent kubectl command line(s), one per line, for the record."""

    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Before/after values and warnings (for example `gitops`), JSON-serialisable."""


class Executor(Protocol):
    """Anything that can carry out an action."""

    name: str
    """Short name for logs and the history: `dry-run`, `kubectl`, `kubernetes`."""

    async def run(self, action: Action) -> ExecutionReport:
        """Carry the action out and report; never raise for an API or command failure."""
        ...
