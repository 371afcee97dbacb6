"""
Rolling a Deployment back to its previous revision, as `kubectl rollout undo`.

Done client-side, like kubectl: the ReplicaSets the Deployment controls
(owner reference with its uid) are ordered by their
`deployment.kubernetes.io/revision`, and the template of the one before the
current revision is copied into the Deployment.

Refused, with the reason, when the Deployment is paused, when its rollout is
still in progress, when there is no previous revision, or when we rolled it
back ourselves within the rollback cooldown and it still runs the template
we put back: after an undo the bad revision *is* the previous one, so a
second undo would bring it back. That last check reads our
`remediator.io/rolled-back-*` annotations on the Deployment, so it holds
across restarts and failovers; once a new rollout replaced our template,
the previous revision is ours again and undoing is safe.

The decision is taken once, on the first read. Retries (after a 409 or a
lost answer) compare the live template with the intended one: already there
means the earlier try landed, and nothing is undone twice.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from datetime import timedelta

from remediator.k8s import gitops, rollouts
from remediator.k8s.changes import (
    Change,
    Context,
    Status,
    annotations_of,
    as_int,
    labels,
    metadata,
    parse_time,
    spec,
)
from remediator.k8s.client import DEPLOYMENTS, REPLICASETS, JsonObject
from remediator.k8s.retrying import retrying
from remediator.planning.actions import Target

REVISION = "deployment.kubernetes.io/revision"
ROLLED_BACK_AT = "remediator.io/rolled-back-at"
ROLLED_BACK_FROM = "remediator.io/rolled-back-from-revision"
ROLLED_BACK_TO = "remediator.io/rolled-back-to-revision"
ROLLED_BACK_TEMPLATE = "remediator.io/rolled-back-template"
"""A digest of the pod template our undo put back."""
POD_TEMPLATE_HASH = "pod-template-hash"
# Annotations kubectl does not copy from the ReplicaSet onto the Deployment.
_NOT_COPIED = frozenset({
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "kubectl.kubernetes.io/last-applied-configuration",
})


@dataclasses.dataclass(frozen=True)
class Undo:
    """The decision: from which template and revision to which."""

    from_template: JsonObject
    to_template: JsonObject
    from_revision: int
    to_revision: int
    copied_annotations: dict[str, str]


async def roll_back(ctx: Context, target: Target, *, cooldown_seconds: float) -> Change:
    """Roll `target` back to its previous revision, or say why not."""

    # Decide on one consistent read of the Deployment and its ReplicaSets.
    deployment = await retrying(
        lambda: ctx.api.get(DEPLOYMENTS, target.namespace, target.name),
        what=f"read {target.ref}", policy=ctx.retry,
    )
    refusal = _refusal(ctx, target, deployment, cooldown_seconds)
    if refusal is not None:
        return refusal
    skip, warnings = gitops.gate(ctx, deployment, target)
    if skip is not None:
        return skip
    replicasets = await retrying(
        lambda: ctx.api.list_objects(REPLICASETS, target.namespace,
                             label_selector=_selector(deployment)),
        what=f"list the ReplicaSets of {target.ref}", policy=ctx.retry,
    )
    undo = _choose(target, deployment, replicasets.get("items") or [])
    if isinstance(undo, Change):
        return undo

    change = await _apply(ctx, target, undo)
    return dataclasses.replace(change, warnings=warnings)


def _refusal(ctx: Context, target: Target, deployment: JsonObject,
             cooldown_seconds: float) -> Change | None:
    if spec(deployment).get("paused") is True:
        return Change(Status.REFUSED, target, "paused",
                      f"{target.ref} is paused; not rolled back (resume it first)",
                      live=deployment)

    # After our undo the bad revision is the previous one: never undo twice.
    ours = annotations_of(deployment)
    at = parse_time(ours.get(ROLLED_BACK_AT))
    # Without the digest (an older record) the template is taken to be ours.
    replaced = ours.get(ROLLED_BACK_TEMPLATE) not in (None, digest(_template(deployment)))
    if at is not None and not replaced \
            and ctx.clock() - at < timedelta(seconds=cooldown_seconds):
        source = annotations_of(deployment).get(ROLLED_BACK_FROM, "?")
        return Change(
            Status.REFUSED, target, "rolled_back_recently",
            f"{target.ref} was rolled back at {at.isoformat()} (from revision {source});"
            f" another undo within the {cooldown_seconds:g}s rollback cooldown would"
            " bring the bad revision back",
            live=deployment,
        )

    state = rollouts.progress(deployment)
    if state.in_progress:
        return Change(Status.REFUSED, target, "rollout_in_progress",
                      f"a rollout of {target.ref} is still in progress ({state.message});"
                      " not rolled back", live=deployment)
    return None


def _choose(target: Target, deployment: JsonObject,
            items: list[JsonObject]) -> Undo | Change:
    """The revision before the current one, among the ReplicaSets it controls."""
    uid = metadata(deployment).get("uid")
    owned: dict[int, JsonObject] = {}
    for replicaset in items:
        revision = _revision(replicaset)
        if revision is not None and _controlled_by(replicaset, uid):
            owned[revision] = replicaset

    current = _revision(deployment) or max(owned, default=0)
    earlier = [revision for revision in owned if revision < current]
    if not earlier:
        return Change(Status.REFUSED, target, "no_previous_revision",
                      f"{target.ref} has no previous revision to roll back to"
                      f" (current revision {current})", live=deployment)

    previous = owned[max(earlier)]
    live_template = _template(deployment)
    to_template = _template(previous)
    if _same(live_template, to_template):
        return Change(Status.UNCHANGED, target, "already_at_previous_revision",
                      f"{target.ref} already runs the template of revision {max(earlier)}",
                      live=deployment)
    copied = {key: value for key, value in annotations_of(previous).items()
              if key not in _NOT_COPIED and not key.startswith("remediator.io/")}
    return Undo(live_template, to_template, current, max(earlier), copied)


async def _apply(ctx: Context, target: Target, undo: Undo) -> Change:
    sent = False
    stamp = ctx.stamp()

    async def attempt() -> Change:
        nonlocal sent
        deployment = await ctx.api.get(DEPLOYMENTS, target.namespace, target.name)
        live = _template(deployment)

        # An earlier try that lost its answer may have landed: compare first.
        if _same(live, undo.to_template) and sent and not ctx.dry_run:
            return _rolled_back(ctx, target, undo, deployment)
        if not _same(live, undo.from_template):
            return Change(Status.REFUSED, target, "changed_meanwhile",
                          f"the pod template of {target.ref} changed while rolling back;"
                          " not rolled back", live=deployment)

        merged = {**annotations_of(deployment), **undo.copied_annotations,
                  ROLLED_BACK_AT: stamp, ROLLED_BACK_FROM: str(undo.from_revision),
                  ROLLED_BACK_TO: str(undo.to_revision),
                  ROLLED_BACK_TEMPLATE: digest(undo.to_template)}
        body: list[JsonObject] = [
            # The resourceVersion we decided on: a concurrent write answers 409.
            {"op": "replace", "path": "/metadata/resourceVersion",
             "value": metadata(deployment).get("resourceVersion")},
            {"op": "replace", "path": "/spec/template", "value": undo.to_template},
            {"op": "add", "path": "/metadata/annotations", "value": merged},
        ]
        sent = True
        written = await ctx.api.patch(DEPLOYMENTS, target.namespace, target.name, body,
                                      patch="json", dry_run=ctx.dry_run)
        return _rolled_back(ctx, target, undo, written)

    return await retrying(attempt, what=f"roll back {target.ref}", policy=ctx.retry)


def _rolled_back(ctx: Context, target: Target, undo: Undo, live: JsonObject) -> Change:
    verb = "would roll back" if ctx.dry_run else "rolled back"
    return Change(
        ctx.done, target, "rolled_back",
        f"{verb} {target.ref} from revision {undo.from_revision} to revision"
        f" {undo.to_revision}",
        before=undo.from_revision, after=undo.to_revision, live=live,
    )


def _revision(obj: JsonObject) -> int | None:
    revision = as_int(annotations_of(obj).get(REVISION), -1)
    return revision if revision >= 0 else None


def _controlled_by(replicaset: JsonObject, uid: object) -> bool:
    return any(
        isinstance(owner, dict) and owner.get("controller") is True and owner.get("uid") == uid
        for owner in metadata(replicaset).get("ownerReferences") or []
    )


def _template(obj: JsonObject) -> JsonObject:
    """The pod template without the hash label the controller adds to ReplicaSets."""
    template = copy.deepcopy(spec(obj).get("template") or {})
    template_labels = labels(template)
    template_labels.pop(POD_TEMPLATE_HASH, None)
    if "metadata" in template and not template_labels and "labels" in template["metadata"]:
        template["metadata"].pop("labels")
    return template


def _same(left: JsonObject, right: JsonObject) -> bool:
    return left == right


def digest(template: JsonObject) -> str:
    """A short, stable digest of a pod template (as `_template` gives it)."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _selector(deployment: JsonObject) -> str:
    """The Deployment's selector in query form, as kubectl lists its ReplicaSets."""
    selector = spec(deployment).get("selector") or {}
    terms = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(sorted(expression.get("values") or []))
        if operator == "In":
            terms.append(f"{key} in ({values})")
        elif operator == "NotIn":
            terms.append(f"{key} notin ({values})")
        elif operator == "Exists":
            terms.append(str(key))
        elif operator == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)
