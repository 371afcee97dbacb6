"""
Is a Deployment's rollout finished? And waiting, bounded, until it is.

"Finished" is what `kubectl rollout status` checks: the controller has seen
the latest spec (observedGeneration), every replica runs the new template
(updated replicas), no old replica is left, and the updated ones are
available. A rollout past its progress deadline has failed, not "still in
progress". Waiting watches the one Deployment (a field selector on its
name), so it reacts as soon as the status changes rather than polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from remediator.k8s import errors
from remediator.k8s.changes import as_int, metadata, spec, status
from remediator.k8s.client import DEPLOYMENTS, Api, JsonObject
from remediator.planning.actions import Target

logger = logging.getLogger("remediator.k8s")

# A watch the server ends after this long is simply opened again.
_WATCH_SECONDS = 60
_PAUSE_AFTER_ERROR = 0.5


@dataclasses.dataclass(frozen=True)
class Progress:
    done: bool
    failed: bool
    message: str

    @property
    def in_progress(self) -> bool:
        return not self.done and not self.failed


def progress(deployment: JsonObject, generation: int | None = None) -> Progress:
    """Where the rollout of `deployment` stands (at least `generation` observed)."""
    wanted = max(as_int(metadata(deployment).get("generation")), generation or 0)
    observed = as_int(status(deployment).get("observedGeneration"))
    if observed < wanted:
        return Progress(False, False,
                        f"waiting for the controller to observe generation {wanted}")

    for condition in status(deployment).get("conditions") or []:
        if condition.get("type") == "Progressing" and \
                condition.get("reason") == "ProgressDeadlineExceeded":
            return Progress(False, True, "the rollout exceeded its progress deadline")

    replicas = as_int(spec(deployment).get("replicas"), 1)
    updated = as_int(status(deployment).get("updatedReplicas"))
    total = as_int(status(deployment).get("replicas"))
    available = as_int(status(deployment).get("availableReplicas"))
    if updated < replicas:
        return Progress(False, False, f"{updated} of {replicas} replicas updated")
    if total > updated:
        return Progress(False, False, f"{total - updated} old replicas pending termination")
    if available < updated:
        return Progress(False, False, f"{available} of {updated} updated replicas available")
    return Progress(True, False, "rollout complete")


async def wait(api: Api, target: Target, *, limit_seconds: float,
               generation: int | None = None) -> Progress:
    """
    Wait until the rollout of `target` finishes or fails, at most `limit_seconds`.

    A rollout that does not finish in time is reported as failed, with the
    last state seen; so is one we may not follow (403 on the watch, 404).
    Temporary errors only pause the wait, which the deadline bounds.
    """
    last = Progress(False, False, "not read yet")
    try:
        async with asyncio.timeout(limit_seconds):
            while True:
                try:
                    last = await _follow(api, target, generation)
                    if not last.in_progress:
                        return last
                except errors.TemporaryError as error:
                    # Keep waiting: the deadline, not the error, ends the wait.
                    logger.info("waiting for %s: %s", target.ref, error)
                    await asyncio.sleep(_PAUSE_AFTER_ERROR)
                except errors.Gone:
                    continue
                except errors.PermanentError as error:
                    # Not allowed to read or watch it, or it is gone: waiting
                    # longer cannot tell us how the rollout ends.
                    return Progress(False, True, f"cannot follow the rollout: {error}")
    except TimeoutError:
        return Progress(False, True,
                        f"the rollout did not finish within {limit_seconds:g}s ({last.message})")


async def _follow(api: Api, target: Target, generation: int | None) -> Progress:
    """Read the Deployment, then watch it until the rollout ends or the stream does."""
    deployment = await api.get(DEPLOYMENTS, target.namespace, target.name)
    state = progress(deployment, generation)
    if not state.in_progress:
        return state

    events = api.watch(
        DEPLOYMENTS, target.namespace, field_selector=f"metadata.name={target.name}",
        resource_version=str(metadata(deployment).get("resourceVersion") or ""),
        timeout_seconds=_WATCH_SECONDS,
    )
    async with contextlib.aclosing(events):
        async for kind, obj in events:
            if kind == "DELETED":
                return Progress(False, True, f"{target.ref} was deleted")
            if kind in ("ADDED", "MODIFIED"):
                state = progress(obj, generation)
                if not state.in_progress:
                    return state
    return state
