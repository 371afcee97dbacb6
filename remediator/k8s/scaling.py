"""
Scaling a Deployment up, never down, through its `scale` subresource.

The replica count goes to the plan's figure capped at the target's
`max_replicas`, and only when that is above the live count. When a
HorizontalPodAutoscaler manages the Deployment, setting replicas would be
undone at its next sync, so its `minReplicas` is raised instead (capped by
its own `maxReplicas`). Writes carry the resourceVersion they were decided
on: if someone scaled in between, the server answers 409 and we decide
again on the new count, so a race can never make us lower it.
"""

from __future__ import annotations

import json
import shlex

from remediator.config import names
from remediator.k8s import errors, gitops
from remediator.k8s.changes import Change, Context, Status, as_int, metadata, spec
from remediator.k8s.client import DEPLOYMENTS, HPAS, JsonObject
from remediator.k8s.retrying import retrying
from remediator.planning.actions import Target


async def scale(ctx: Context, target: Target, wanted: int, *, cap: int) -> Change:
    """Bring `target` to at least `min(wanted, cap)` replicas."""

    # The Deployment itself says whether a GitOps tool owns it.
    deployment = await retrying(
        lambda: ctx.api.get(DEPLOYMENTS, target.namespace, target.name),
        what=f"read {target.ref}", policy=ctx.retry,
    )
    skip, warnings = gitops.gate(ctx, deployment, target)
    if skip is not None:
        return skip

    goal = min(wanted, cap)
    if wanted > cap:
        warnings += (f"the plan asked for {wanted} replicas; capped at max_replicas {cap}",)

    # An autoscaler would undo a plain scale: raise its floor instead.
    autoscaler, notes = await _autoscaler(ctx, target)
    warnings += notes
    if autoscaler is not None:
        return await _raise_minimum(ctx, target, autoscaler, goal, warnings)
    return await _scale_deployment(ctx, target, goal, warnings)


async def _scale_deployment(
    ctx: Context, target: Target, goal: int, warnings: tuple[str, ...]
) -> Change:
    first: int | None = None
    sent = False

    async def attempt() -> Change:
        nonlocal first, sent
        scale = await ctx.api.get(DEPLOYMENTS, target.namespace, target.name, "scale")
        current = as_int(spec(scale).get("replicas"))
        first = current if first is None else first

        # A try whose answer was lost may have landed: then we are done.
        if sent and not ctx.dry_run and current == goal:
            return _scaled(ctx, target, first, goal, warnings, scale)
        if current > goal:
            return Change(
                Status.UNCHANGED, target, "would_lower_replicas",
                f"{target.ref} has {current} replicas; the plan asks for {goal} and"
                " scaling never lowers replicas",
                before=current, after=current, warnings=warnings, live=scale,
            )
        if current == goal:
            return Change(
                Status.UNCHANGED, target, "already_at_replicas",
                f"{target.ref} already has the {goal} replicas the plan asks for",
                before=current, after=current, warnings=warnings, live=scale,
            )

        body = {
            "metadata": {"resourceVersion": metadata(scale).get("resourceVersion")},
            "spec": {"replicas": goal},
        }
        sent = True
        written = await ctx.api.patch(
            DEPLOYMENTS, target.namespace, target.name, body, patch="merge",
            subresource="scale", dry_run=ctx.dry_run,
        )
        return _scaled(ctx, target, current, goal, warnings, written)

    return await retrying(attempt, what=f"scale {target.ref}", policy=ctx.retry)


def _scaled(ctx: Context, target: Target, before: int, after: int,
            warnings: tuple[str, ...], live: JsonObject) -> Change:
    verb = "would scale" if ctx.dry_run else "scaled"
    return Change(
        ctx.done, target, "scaled", f"{verb} {target.ref} from {before} to {after} replicas",
        before=before, after=after, warnings=warnings, live=live,
    )


async def _autoscaler(ctx: Context, target: Target) -> tuple[JsonObject | None, tuple[str, ...]]:
    """The HPA whose scaleTargetRef is `target`, if any, and warnings."""
    try:
        listing = await retrying(
            lambda: ctx.api.list_objects(HPAS, target.namespace),
            what=f"list autoscalers in {target.namespace}", policy=ctx.retry,
        )
    except errors.PermanentError as error:
        # Not knowing is no reason to leave the capacity problem unanswered.
        return None, (f"could not look for a HorizontalPodAutoscaler ({error});"
                      " scaled the Deployment directly",)
    for item in listing.get("items") or []:
        ref = spec(item).get("scaleTargetRef") or {}
        api_version = str(ref.get("apiVersion") or "apps/v1")
        targets_us = (ref.get("kind"), ref.get("name")) == ("Deployment", target.name)
        name = metadata(item).get("name")
        # Its name goes into a URL and a command line: it must be a valid name.
        if targets_us and api_version.startswith("apps/") and isinstance(name, str) \
                and names.is_object_name(name):
            return item, ()
    return None, ()


async def _raise_minimum(
    ctx: Context, target: Target, autoscaler: JsonObject, goal: int,
    warnings: tuple[str, ...],
) -> Change:
    name = str(metadata(autoscaler).get("name"))
    sent = False

    async def attempt() -> Change:
        nonlocal sent
        hpa = await ctx.api.get(HPAS, target.namespace, name)
        maximum = as_int(spec(hpa).get("maxReplicas"), goal)
        minimum = as_int(spec(hpa).get("minReplicas"), 1)
        floor = min(goal, maximum)
        notes = warnings
        if goal > maximum:
            notes += (f"capped at the maxReplicas {maximum} of HorizontalPodAutoscaler {name}",)
        command = _patch_command(target, name, floor)

        if sent and not ctx.dry_run and minimum == floor:
            return _raised(ctx, target, name, minimum, floor, notes, command, hpa)
        if minimum >= floor:
            return Change(
                Status.UNCHANGED, target, "autoscaler_minimum_already",
                f"HorizontalPodAutoscaler {name} manages {target.ref} and already keeps"
                f" at least {minimum} replicas (the plan asks for {floor})",
                before=minimum, after=minimum, warnings=notes, command=command, live=hpa,
            )

        body = {
            "metadata": {"resourceVersion": metadata(hpa).get("resourceVersion")},
            "spec": {"minReplicas": floor},
        }
        sent = True
        written = await ctx.api.patch(HPAS, target.namespace, name, body, patch="merge",
                                      dry_run=ctx.dry_run)
        return _raised(ctx, target, name, minimum, floor, notes, command, written)

    return await retrying(attempt, what=f"raise minReplicas of hpa/{name}", policy=ctx.retry)


def _raised(ctx: Context, target: Target, name: str, before: int, after: int,
            warnings: tuple[str, ...], command: str, live: JsonObject) -> Change:
    verb = "would raise" if ctx.dry_run else "raised"
    return Change(
        ctx.done, target, "raised_autoscaler_minimum",
        f"{verb} minReplicas of HorizontalPodAutoscaler {name} from {before} to {after}"
        f" instead of scaling {target.ref}, which the autoscaler manages",
        before=before, after=after, warnings=warnings, command=command, live=live,
    )


def _patch_command(target: Target, name: str, floor: int) -> str:
    body = json.dumps({"spec": {"minReplicas": floor}}, separators=(",", ":"))
    return shlex.join(["kubectl", "patch", "horizontalpodautoscaler", name,
                       f"--namespace={target.namespace}", "--type=merge", f"--patch={body}"])
