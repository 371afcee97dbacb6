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
    """The executor the settings ask for; a dry run unless execution is on."""
    if not settings.executing():
        return dry_run_executor_for(settings)
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


def dry_run_executor_for(settings: Settings) -> Executor:
    """
    What carries out a dry run: the API's own (`dryRun=All`) when execution
    is on but held back (AUTO_EXECUTE with DRY_RUN, or a type's `dry-run`
    mode) through the Kubernetes executor, so RBAC and admission are checked
    against the cluster; otherwise the local one, which contacts nothing and
    shows the kubectl commands.
    """
    if settings.execution.auto_execute and settings.execution.executor == "kubernetes":
        from remediator.execution.kube import KubernetesExecutor

        server_side: Executor = KubernetesExecutor(settings, dry_run=True)
        return server_side
    return DryRunExecutor()


async def carry_out_once(
    actions: Sequence[Action], settings: Settings, *, use_state: bool = False
) -> list[Decided]:
    """
    Execute (or dry-run) the eligible actions in plan order and say how each went.

    With `use_state` the actions go through the daemon's guard and join its
    history in the configured store (SQLite in `state.dir`, or the
    Kubernetes ConfigMap), so a CronJob run honours the cooldowns, the rate
    limit and the breakers that earlier runs or the daemon recorded.
    """
    acted_on = [action for action in actions if action.type is not ActionType.INVESTIGATE]
    executor = executor_for(settings)
    if use_state:
        return await _carry_out_guarded(acted_on, settings, executor)

    decided: list[Decided] = []
    held_back: Executor | None = None
    for action in acted_on:
        if action.priority > settings.execution.min_priority:
            decided.append((action, str(Outcome.SKIPPED),
                            f"below_priority: priority {action.priority} is below the "
                            f"execution threshold {settings.execution.min_priority}"))
            continue

        # The per-type modes hold as they do in the daemon's guard.
        mode = settings.execution.modes.of(str(action.type))
        if mode == "observe":
            decided.append((action, str(Outcome.SKIPPED),
                            f"observe: {action.type} actions are in observe mode: recorded only"))
            continue
        runs = executor
        if mode == "dry-run" and settings.executing():
            held_back = held_back or dry_run_executor_for(settings)
            runs = held_back
        report = await runs.run(action)
        decided.append((action, str(report.outcome), report.reason))
    return decided


async def _carry_out_guarded(
    actions: Sequence[Action], settings: Settings, executor: Executor
) -> list[Decided]:
    from remediator.remediation import carry_out
    from remediator.state.backends import make_store

    store = make_store(settings)
    await store.open()
    try:
        decided = await carry_out(actions, store=store, settings=settings, executor=executor)
    finally:
        await store.close()
    return [(action, decision.outcome, decision.reason) for action, decision in decided]
