"""
Kubernetes Events on the objects we change, so `kubectl describe` tells the story.

Reasons: `RemediationApplied` (Normal), `RemediationRefused` and
`RemediationFailed` (Warning). A temporary failure is retried like any step;
the Event's name is chosen once, so a retry after a lost answer finds it
there (409 AlreadyExists) instead of writing it twice. An Event that still
cannot be written is logged and forgotten: it must never turn a done action
into a failed one.
"""

from __future__ import annotations

import contextlib
import logging
import time

from remediator.k8s import errors
from remediator.k8s.changes import Context
from remediator.k8s.client import EVENTS
from remediator.k8s.retrying import retrying
from remediator.planning.actions import Target

logger = logging.getLogger("remediator.k8s")

APPLIED = "RemediationApplied"
REFUSED = "RemediationRefused"
FAILED = "RemediationFailed"
COMPONENT = "remediator"

_API_VERSIONS = {"Deployment": "apps/v1", "ConfigMap": "v1"}
# The apiserver rejects longer messages; keep the start, which says the most.
_MAX_MESSAGE = 1024


async def emit(ctx: Context, target: Target, reason: str, message: str, *,
               uid: str | None = None, instance: str = COMPONENT) -> None:
    """Record one Event on `target`; never raises for an API failure."""
    now = ctx.event_time()
    involved = {
        "apiVersion": _API_VERSIONS.get(target.kind, "v1"), "kind": target.kind,
        "namespace": target.namespace, "name": target.name,
    }
    if uid:
        involved["uid"] = uid
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            # client-go's naming: the object's name and a nanosecond stamp.
            "name": f"{target.name[:200]}.{time.time_ns():x}",
            "namespace": target.namespace,
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message[:_MAX_MESSAGE],
        "type": "Normal" if reason == APPLIED else "Warning",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }

    async def create() -> None:
        # AlreadyExists: an earlier try landed and lost its answer.
        with contextlib.suppress(errors.AlreadyExists):
            await ctx.api.create(EVENTS, target.namespace, body)

    try:
        await retrying(create, what=f"record event {reason} on {target}", policy=ctx.retry)
    except errors.KubeError as error:
        logger.warning("could not record event %s on %s: %s", reason, target, error)
