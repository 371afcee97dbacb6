"""
The Kubernetes executor: actions carried out through the API (kubernetes-asyncio).

No kubectl is needed: every read and write goes through the API client, so
the container image ships none. Each action reads the live objects first
and refuses, with a reason, what they make unsafe (see the `remediator.k8s`
modules). After a restart or rollback it waits, bounded, for the rollout and
records how it ended. Every applied, refused or failed change leaves a
Kubernetes Event on its object.

An action of several steps (a config patch and its restarts, a combined
scale and undo) that got only part of the way is recorded as failed, with a
reason that starts "partially applied" and says what was and was not done.
API failures never raise out of `run`: they become the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from kubernetes_asyncio.client import ApiClient

from remediator.config import names
from remediator.config.settings import Settings
from remediator.execution.base import ExecutionReport, Outcome
from remediator.k8s import (
    client,
    configpatch,
    errors,
    events,
    restarting,
    rollback,
    rollouts,
    scaling,
)
from remediator.k8s.changes import Change, Context, Status, as_int, metadata, parse_time, utc_now
from remediator.k8s.retrying import DEFAULT, RetryPolicy
from remediator.planning import commands, planner
from remediator.planning.actions import Action, ActionType, Target

logger = logging.getLogger("remediator.execution")


@dataclasses.dataclass(frozen=True)
class Failure:
    """A step that could not be done: an API error, or a rollout that did not finish."""

    target: Target
    code: str
    message: str

    def summary(self) -> dict[str, Any]:
        return {"target": str(self.target), "status": "failed", "code": self.code,
                "message": self.message}


@dataclasses.dataclass(frozen=True)
class Verified:
    """A rollout seen to complete after a restart or an undo."""

    target: Target
    message: str

    def summary(self) -> dict[str, Any]:
        return {"target": str(self.target), "status": "verified", "code": "rollout_complete",
                "message": self.message}


Step = Change | Failure | Verified


class KubernetesExecutor:
    name = "kubernetes"

    def __init__(
        self,
        settings: Settings,
        api_client: ApiClient | None = None,
        *,
        dry_run: bool = False,
        retry: RetryPolicy = DEFAULT,
        identity: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """
        `api_client` is used as given (and not closed); without one, each run
        opens a client from `settings.kubernetes` and closes it afterwards.
        `dry_run` sends every write with `dryRun=All`: the server checks RBAC
        and admission and stores nothing, and the report says what would change.
        """
        self.settings = settings
        self.api_client = api_client
        self.dry_run = dry_run
        self.retry = retry
        self.identity = identity or os.environ.get("HOSTNAME") or "remediator"
        self.clock = clock

    # --- the executor interface ---------------------------------------------

    async def run(self, action: Action) -> ExecutionReport:
        """Carry `action` out on the cluster and report; API failures never raise."""
        target = action.target
        if action.type is ActionType.INVESTIGATE or target is None:
            # Recorded like every dry run of it: there is nothing to send.
            outcome = Outcome.DRY_RUN if self.dry_run else Outcome.SKIPPED
            return _report(outcome, "nothing_to_do",
                           "an investigate action changes nothing; look at why the metric"
                           " is missing", None)

        # Names are checked again here, whatever path the action came by.
        problem = _name_problem(action, target)
        if problem is not None:
            return _report(Outcome.REFUSED, "invalid_name", problem, None)
        command = commands.as_text(action)

        try:
            async with self._context() as ctx:
                steps = await self._carry_out(ctx, action, target)
                await self._record_events(ctx, steps)
        except client.ClientConfigError as error:
            return _report(Outcome.FAILED, "client_config", str(error), command)
        return self._summarise(steps, command)

    async def revert_config(self, target: Target | None = None) -> ExecutionReport:
        """
        Put back the values our config patches lowered in `target` (default:
        the configured ConfigMap), then restart the Deployments those patches
        restarted, so they read the old value again.
        """
        configured = self.settings.targets
        target = target or Target("ConfigMap", configured.namespace, configured.config.configmap)
        problem = _target_problem(target, "ConfigMap")
        if problem is not None:
            return _report(Outcome.REFUSED, "invalid_name", problem, None)

        try:
            async with self._context() as ctx:
                steps, records = await self._revert(ctx, target)
                await self._record_events(ctx, steps)
        except client.ClientConfigError as error:
            return _report(Outcome.FAILED, "client_config", str(error), None)
        return self._summarise(steps, _revert_command(target, records))

    # --- carrying actions out ------------------------------------------------

    async def _carry_out(self, ctx: Context, action: Action, target: Target) -> list[Step]:
        if action.type is ActionType.SCALE:
            return [await self._scale(ctx, action, target)]
        if action.type is ActionType.RESTART:
            return await self._with_rollouts(ctx, [
                await _step(target, restarting.restart(ctx, target, ctx.stamp())),
            ])
        if action.type is ActionType.ROLLBACK:
            return await self._with_rollouts(ctx, [await self._roll_back(ctx, target)])
        if action.type is ActionType.COMBINED:
            # Undo first, decided on the state before our scale, so the new
            # replicas start from the good revision.
            undone = await self._roll_back(ctx, target)
            scaled = await self._scale(ctx, action, target)
            return await self._with_rollouts(ctx, [undone, scaled])
        if action.type is ActionType.PATCH_CONFIG:
            return await self._patch_config(ctx, action, target)
        return [Failure(target, "unsupported", f"no way to carry out {action.type}")]

    async def _scale(self, ctx: Context, action: Action, target: Target) -> Step:
        cap = planner.max_replicas(self.settings.targets, target)
        return await _step(target, scaling.scale(ctx, target, action.replicas or 0, cap=cap))

    async def _roll_back(self, ctx: Context, target: Target) -> Step:
        cooldown = self.settings.guard.cooldowns.rollback
        return await _step(target, rollback.roll_back(ctx, target, cooldown_seconds=cooldown))

    async def _patch_config(self, ctx: Context, action: Action, target: Target) -> list[Step]:
        assert action.config_key is not None and action.config_value is not None
        run = secrets.token_hex(4)
        restart_names = [restarted.name for restarted in action.restarts]

        # The value first: restarts only make sense once pods would read a new one.
        try:
            change, record = await configpatch.lower(
                ctx, target, action.config_key, action.config_value,
                restarts=restart_names, run=run,
            )
        except errors.KubeError as error:
            return [Failure(target, error.code, str(error))]
        steps: list[Step] = [change]

        # A value still ours from an earlier, partial run: repeat only the
        # restarts that did not happen since it was set.
        since = None
        if change.status not in (Status.APPLIED, Status.WOULD_APPLY):
            since = parse_time(record.at) if record and change.code == "already_lowered" else None
            if since is None:
                return steps

        stamp = ctx.stamp()
        for restarted in action.restarts:
            steps.append(await _step(
                restarted, restarting.restart(ctx, restarted, stamp, unless_since=since),
            ))
        return await self._with_rollouts(ctx, steps)

    async def _revert(
        self, ctx: Context, target: Target
    ) -> tuple[list[Step], list[configpatch.Record]]:
        try:
            change, records = await configpatch.revert(ctx, target)
        except errors.KubeError as error:
            return [Failure(target, error.code, str(error))], []
        steps: list[Step] = [change]
        if change.status not in (Status.APPLIED, Status.WOULD_APPLY):
            return steps, records

        stamp = ctx.stamp()
        restarted = sorted({name for record in records for name in record.restarts
                            if names.is_object_name(name)})
        for name in restarted:
            deployment = Target("Deployment", target.namespace, name)
            steps.append(await _step(deployment, restarting.restart(ctx, deployment, stamp)))
        return await self._with_rollouts(ctx, steps), records

    async def _with_rollouts(self, ctx: Context, steps: list[Step]) -> list[Step]:
        """Wait for the rollouts that restarts and undos started; add those that failed."""
        if ctx.dry_run:
            return steps
        started = [
            step for step in steps
            if isinstance(step, Change) and step.status is Status.APPLIED
            and step.target.kind == "Deployment" and step.code in ("restarted", "rolled_back")
        ]
        timeout = self.settings.execution.rollout_timeout_seconds
        results = await asyncio.gather(*(
            rollouts.wait(ctx.api, step.target, limit_seconds=timeout,
                          generation=as_int(metadata(step.live or {}).get("generation")) or None)
            for step in started
        ))
        for step, result in zip(started, results, strict=True):
            if result.done:
                steps.append(Verified(step.target, f"rollout of {step.target.ref} complete"))
            else:
                what = step.code.replace("_", " ")
                steps.append(Failure(
                    step.target, "rollout_failed",
                    f"rollout of {step.target.ref} ({what}) was not seen to complete:"
                    f" {result.message}",
                ))
        return steps

    # --- recording -------------------------------------------------------------

    async def _record_events(self, ctx: Context, steps: Sequence[Step]) -> None:
        """One Event per change done, refused or failed; none for a dry run."""
        if ctx.dry_run:
            return
        for step in steps:
            if isinstance(step, Verified):
                continue
            if isinstance(step, Failure):
                reason, message, uid = events.FAILED, step.message, None
            elif step.status is Status.APPLIED:
                reason, message = events.APPLIED, step.message
                uid = _uid(step)
            elif step.status is Status.REFUSED:
                reason, message, uid = events.REFUSED, step.message, _uid(step)
            else:
                continue
            await events.emit(ctx, step.target, reason, message, uid=uid,
                              instance=self.identity)

    def _summarise(self, steps: list[Step], command: str | None) -> ExecutionReport:
        changes = [step for step in steps if isinstance(step, Change)]
        failures = [step for step in steps if isinstance(step, Failure)]
        done = [c for c in changes if c.status in (Status.APPLIED, Status.WOULD_APPLY)]
        refused = [c for c in changes if c.status is Status.REFUSED]
        warnings = [warning for c in changes for warning in c.warnings if warning]
        details: dict[str, Any] = {
            "executor": self.name,
            "dry_run": self.dry_run,
            "steps": [step.summary() for step in steps],
        }
        if warnings:
            details["warnings"] = warnings
        if len(changes) == 1 and not failures:
            details["before"], details["after"] = changes[0].before, changes[0].after
        command = next((c.command for c in changes if c.command), None) or command

        if failures or (refused and done):
            code, text = (failures or refused)[0].code, "; ".join(s.message for s in steps)
            if done and not refused and all(f.code == "rollout_failed" for f in failures):
                # Applied, but the verification failed: that is not "partial".
                text = "; ".join(c.message for c in done) + "; but the " + "; ".join(
                    f.message for f in failures)
            elif done:
                code, text = "partially_applied", _partial(done, [*refused, *failures])
            return _report(Outcome.FAILED, code, text, command, details)
        if refused:
            return _report(Outcome.REFUSED, refused[0].code,
                           "; ".join(c.message for c in changes), command, details)
        if done:
            outcome = Outcome.DRY_RUN if self.dry_run else Outcome.EXECUTED
            verified = [step.message for step in steps if isinstance(step, Verified)]
            text = "; ".join([c.message for c in done] + verified)
            return _report(outcome, done[0].code, _with_warnings(text, warnings), command,
                           details)
        return _report(Outcome.SKIPPED, changes[0].code if changes else "nothing_to_do",
                       "; ".join(c.message for c in changes), command, details)

    @contextlib.asynccontextmanager
    async def _context(self) -> AsyncIterator[Context]:
        if self.api_client is not None:
            yield self._make_context(self.api_client)
            return
        api_client = await client.new_api_client(self.settings.kubernetes)
        try:
            yield self._make_context(api_client)
        finally:
            await api_client.close()

    def _make_context(self, api_client: ApiClient) -> Context:
        return Context(
            api=client.Api(api_client), dry_run=self.dry_run, retry=self.retry,
            gitops=self.settings.execution.gitops, clock=self.clock,
        )


async def _step(target: Target, change: Awaitable[Change]) -> Step:
    """Await one change; an API error becomes a failed step instead of an exception."""
    try:
        result = await change
    except errors.KubeError as error:
        return Failure(target, error.code, str(error))
    return result


def _partial(done: Sequence[Change], missing: Sequence[Step]) -> str:
    return ("partially applied: done: " + "; ".join(c.message for c in done)
            + "; not done: " + "; ".join(step.message for step in missing))


def _with_warnings(text: str, warnings: Sequence[str]) -> str:
    return text + "".join(f" (warning: {warning})" for warning in warnings)


def _report(outcome: Outcome, code: str, text: str, command: str | None,
            details: dict[str, Any] | None = None) -> ExecutionReport:
    details = {**(details or {}), "code": code}
    return ExecutionReport(outcome, f"{code}: {text}", command, details)


def _uid(change: Change) -> str | None:
    live = change.live or {}
    uid = metadata(live).get("uid")
    # The scale subresource answers with a Scale, whose uid is the Deployment's.
    return uid if isinstance(uid, str) else None


def _name_problem(action: Action, target: Target) -> str | None:
    kind = "ConfigMap" if action.type is ActionType.PATCH_CONFIG else "Deployment"
    problem = _target_problem(target, kind)
    if problem is not None:
        return problem
    for restarted in action.restarts:
        problem = _target_problem(restarted, "Deployment")
        if problem is not None:
            return problem
    if action.type is ActionType.PATCH_CONFIG:
        key = action.config_key or ""
        key_problem = names.config_key_problem(key)
        if key_problem or action.config_value is None:
            return f"config key {key!r}: {key_problem or 'no value planned'}"
    return None


def _target_problem(target: Target, kind: str) -> str | None:
    if target.kind != kind:
        return f"{target} is a {target.kind}; this action needs a {kind}"
    try:
        commands.checked(target)
    except commands.UnsafeName as error:
        return str(error)
    return None


def _revert_command(target: Target, records: Sequence[configpatch.Record]) -> str | None:
    if not records:
        return None
    body = {
        "metadata": {"annotations": {
            configpatch.annotation_key(record.key): None for record in records
        }},
        "data": {record.key: record.previous for record in records},
    }
    lines = [shlex.join([
        commands.KUBECTL, "patch", "configmap", target.name, f"--namespace={target.namespace}",
        "--type=merge", "--patch=" + json.dumps(body, separators=(",", ":")),
    ])]
    for name in sorted({name for record in records for name in record.restarts}):
        if names.is_object_name(name):
            restarted = Target("Deployment", target.namespace, name)
            lines.append(shlex.join(commands.rollout("restart", restarted)))
    return "\n".join(lines)
