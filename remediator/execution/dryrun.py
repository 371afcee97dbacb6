"""The default executor: changes nothing and records what would have run."""

from __future__ import annotations

from remediator.execution.base import ExecutionReport, Outcome
from remediator.planning import commands
from remediator.planning.actions import Action


class DryRunExecutor:
    name = "dry-run"

    async def run(self, action: Action) -> ExecutionReport:
        command = commands.as_text(action)
        what = "nothing to run" if command is None else "would run: " + "; ".join(
            command.splitlines()
        )
        return ExecutionReport(Outcome.DRY_RUN, what, command)
