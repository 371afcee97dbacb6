"""
Restarting a Deployment the way `kubectl rollout restart` does.

The pod template gets the `kubectl.kubernetes.io/restartedAt` annotation, so
the Deployment controller rolls every pod. The time written is chosen once
per run: sending it again after a lost answer changes nothing, so a retry
never causes a second rollout. A paused Deployment is refused: the restart
would wait, invisible, until someone resumes it.
"""

from __future__ import annotations

from datetime import datetime

from remediator.k8s import gitops
from remediator.k8s.changes import Change, Context, Status, annotations_of, parse_time, spec
from remediator.k8s.client import DEPLOYMENTS, JsonObject
from remediator.k8s.retrying import retrying
from remediator.planning.actions import Target

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def restarted_at(deployment: JsonObject) -> str | None:
    template = spec(deployment).get("template")
    value = annotations_of(template).get(RESTARTED_AT) if isinstance(template, dict) else None
    return value if isinstance(value, str) else None


async def restart(
    ctx: Context, target: Target, stamp: str, *, unless_since: datetime | None = None
) -> Change:
    """
    Restart `target`, marking it with `stamp`.

    With `unless_since`, a Deployment already restarted at or after that
    time is left alone: a later run only repeats the restarts it missed.
    """

    async def attempt() -> Change:
        deployment = await ctx.api.get(DEPLOYMENTS, target.namespace, target.name)
        previous = restarted_at(deployment)

        if previous == stamp and not ctx.dry_run:
            return _restarted(ctx, target, previous, stamp, deployment)
        if spec(deployment).get("paused") is True:
            return Change(
                Status.REFUSED, target, "paused",
                f"{target.ref} is paused; not restarted (resume it with"
                f" `kubectl rollout resume` first)",
                live=deployment,
            )
        last = parse_time(previous)
        if unless_since is not None and last is not None and last >= unless_since:
            return Change(
                Status.UNCHANGED, target, "already_restarted",
                f"{target.ref} was already restarted at {previous}", before=previous,
                after=previous, live=deployment,
            )
        skip, warnings = gitops.gate(ctx, deployment, target)
        if skip is not None:
            return skip

        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        written = await ctx.api.patch(DEPLOYMENTS, target.namespace, target.name, body,
                                      patch="strategic", dry_run=ctx.dry_run)
        change = _restarted(ctx, target, previous, stamp, written)
        return Change(change.status, target, change.code, change.message, change.before,
                      change.after, warnings, live=written)

    return await retrying(attempt, what=f"restart {target.ref}", policy=ctx.retry)


def _restarted(ctx: Context, target: Target, previous: str | None, stamp: str,
               live: JsonObject) -> Change:
    verb = "would restart" if ctx.dry_run else "restarted"
    return Change(ctx.done, target, "restarted", f"{verb} {target.ref}",
                  before=previous, after=stamp, live=live)
