"""
A Deployment controller, close enough to kube-controller-manager's for rollouts.

On each change of a Deployment or of a ReplicaSet it owns, it:

- finds the ReplicaSet whose pod template equals the Deployment's (ignoring
  ``pod-template-hash``), or creates ``<deployment>-<hash>`` owned by the
  Deployment with revision max+1; an older ReplicaSet whose template comes back
  (a rollback) gets the new revision instead, as the real controller does;
- mirrors the revision onto the Deployment's annotations;
- scales the new ReplicaSet to ``spec.replicas`` and old ones down as new pods
  become available (``Recreate``: at once); a paused Deployment only scales;
- computes status (``observedGeneration``, replica counts, ``Available`` and
  ``Progressing`` conditions, including ``ProgressDeadlineExceeded``);
- trims old ReplicaSets beyond ``revisionHistoryLimit``, and deletes the
  ReplicaSets of a deleted Deployment.

There are no Pod objects: a ReplicaSet's ``status`` is moved to its
``spec.replicas`` after ``RolloutSettings.delay`` seconds, as the kubelet and
ReplicaSet controller would. While a rollout "hangs", pods are created but
never become ready, so a test can watch a rollout in progress.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import copy
import dataclasses
import heapq
import json
import logging
import math
import time
from typing import Any

from tests.fakekube import resources
from tests.fakekube.resources import DEPLOYMENTS, REPLICASETS
from tests.fakekube.store import Event, Store, now

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
# Deployment annotations the controller does not copy onto its ReplicaSets
# (and kubectl rollout undo does not copy back).
ANNOTATIONS_TO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

logger = logging.getLogger(__name__)

Item = tuple[str, str, str]  # ("deployment" | "pods" | "gc", namespace, name or uid)


@dataclasses.dataclass
class RolloutSettings:
    """Knobs for how fast, and whether, pods become ready."""

    delay: float = 0.0
    """Seconds between a ReplicaSet change and its pods being there and ready."""
    hang: bool = False
    """When set, no new pod ever becomes ready: every rollout stays in progress."""
    hung: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    """(namespace, deployment name) pairs whose rollouts hang on their own."""

    def hangs(self, namespace: str, deployment: str | None) -> bool:
        return self.hang or (namespace, deployment or "") in self.hung


# --- helpers shared with seeding -------------------------------------------------------


def template_hash(template: dict[str, Any]) -> str:
    """A pod-template-hash in the style of the real one: FNV-32a, safe-encoded."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(char) % len(_SAFE_ALPHABET)] for char in str(value))


def without_hash(template: dict[str, Any] | None) -> dict[str, Any]:
    stripped = copy.deepcopy(template or {})
    labels = stripped.get("metadata", {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return stripped


def revision_of(obj: dict[str, Any]) -> int:
    value = (obj["metadata"].get("annotations") or {}).get(REVISION, "0")
    return int(value) if value.isdigit() else 0


def controller_uid(obj: dict[str, Any]) -> str | None:
    for reference in obj["metadata"].get("ownerReferences") or []:
        if reference.get("controller"):
            return str(reference.get("uid"))
    return None


def controller_name(obj: dict[str, Any]) -> str | None:
    for reference in obj["metadata"].get("ownerReferences") or []:
        if reference.get("controller") and reference.get("kind") == "Deployment":
            return str(reference.get("name"))
    return None


def _resolve(value: Any, total: int, round_up: bool) -> int:
    """maxSurge / maxUnavailable: an int, or a percentage of ``total``."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        scaled = int(value[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return 0


def surge_and_unavailable(deployment: dict[str, Any]) -> tuple[int, int]:
    spec = deployment["spec"]
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, spec.get("replicas", 1)
    rolling = strategy.get("rollingUpdate") or {}
    desired = spec.get("replicas", 1)
    surge = _resolve(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = _resolve(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # the real controller's guard against a stuck rollout
    return surge, min(unavailable, desired)


def build_replicaset(
    deployment: dict[str, Any], template: dict[str, Any], revision: int, replicas: int
) -> dict[str, Any]:
    """The ReplicaSet the controller creates for a pod template, not yet stored."""
    metadata, spec = deployment["metadata"], deployment["spec"]
    pod_hash = template_hash(without_hash(template))
    rs_template = copy.deepcopy(template)
    rs_template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
    selector = copy.deepcopy(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
    surge, _ = surge_and_unavailable(deployment)
    annotations = {
        key: value
        for key, value in (metadata.get("annotations") or {}).items()
        if key not in ANNOTATIONS_TO_SKIP
    }
    annotations.update(
        {
            DESIRED_REPLICAS: str(spec.get("replicas", 1)),
            MAX_REPLICAS: str(spec.get("replicas", 1) + surge),
            REVISION: str(revision),
        }
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{metadata['name']}-{pod_hash}",
            "namespace": metadata["namespace"],
            "labels": dict(rs_template["metadata"]["labels"]),
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": metadata["name"],
                    "uid": metadata["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": spec.get("minReadySeconds", 0),
            "selector": selector,
            "template": rs_template,
        },
        "status": {"replicas": 0},
    }


def _count(obj: dict[str, Any] | None, field: str) -> int:
    if obj is None:
        return 0
    return int((obj.get("status") or {}).get(field, 0))


def _set_condition(status: dict[str, Any], condition: dict[str, Any]) -> None:
    """SetDeploymentCondition: same status and reason is a no-op; keep transition time."""
    conditions = status.setdefault("conditions", [])
    current = next((c for c in conditions if c["type"] == condition["type"]), None)
    if current is not None:
        if (current["status"], current["reason"]) == (
            condition["status"],
            condition["reason"],
        ):
            return
        if current["status"] == condition["status"]:
            condition["lastTransitionTime"] = current["lastTransitionTime"]
        conditions.remove(current)
    conditions.append(condition)


def _condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
    stamp = now()
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def _epoch(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


# --- the controller --------------------------------------------------------------------


class DeploymentController:
    def __init__(self, store: Store, settings: RolloutSettings) -> None:
        self.store = store
        self.settings = settings
        self._due: list[tuple[float, int, Item]] = []
        self._pending: dict[Item, float] = {}
        self._sequence = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.failures: list[Exception] = []
        store.add_listener(self._on_event)

    # --- scheduling ------------------------------------------------------------

    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="fakekube-controller"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _enqueue(self, item: Item, delay: float = 0.0) -> None:
        due = time.monotonic() + delay
        if item in self._pending and self._pending[item] <= due:
            return
        self._pending[item] = due
        self._sequence += 1
        heapq.heappush(self._due, (due, self._sequence, item))
        if self._wakeup is not None:
            self._wakeup.set()

    def resync(self) -> None:
        """Look at every Deployment and ReplicaSet again (after a knob changed)."""
        for rs in self.store.list(REPLICASETS):
            self._enqueue(("pods", rs["metadata"]["namespace"], rs["metadata"]["name"]))
        for deployment in self.store.list(DEPLOYMENTS):
            metadata = deployment["metadata"]
            self._enqueue(("deployment", metadata["namespace"], metadata["name"]))

    def _on_event(self, event: Event) -> None:
        metadata = event.obj["metadata"]
        namespace = metadata.get("namespace", "")
        if event.rtype is DEPLOYMENTS:
            if event.type == "DELETED":
                self._enqueue(("gc", namespace, metadata["uid"]))
            else:
                self._enqueue(("deployment", namespace, metadata["name"]))
        elif event.rtype is REPLICASETS:
            owner = controller_name(event.obj)
            if owner:
                self._enqueue(("deployment", namespace, owner))
            if event.type != "DELETED" and self._pods_pending(event.obj):
                self._enqueue(("pods", namespace, metadata["name"]), self.settings.delay)

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            while self._due and self._due[0][0] <= time.monotonic():
                due, _, item = heapq.heappop(self._due)
                if self._pending.get(item) != due:
                    continue  # superseded by an earlier schedule
                del self._pending[item]
                try:
                    self.process(item)
                except Exception as exc:
                    # A bug here would otherwise stall every rollout silently; keep
                    # going, and let Cluster.wait_for raise it in the test.
                    logger.exception("fake deployment controller failed on %s", item)
                    self.failures.append(exc)
            self._wakeup.clear()
            timeout = self._due[0][0] - time.monotonic() if self._due else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    def process(self, item: Item) -> None:
        kind, namespace, name = item
        if kind == "deployment":
            self.sync_deployment(namespace, name)
        elif kind == "pods":
            self.sync_pods(namespace, name)
        elif kind == "gc":
            for rs in self.store.list(REPLICASETS, namespace):
                if controller_uid(rs) == name:
                    self.store.delete(REPLICASETS, namespace, rs["metadata"]["name"])

    # --- pods (kubelet + ReplicaSet controller) ------------------------------------

    def _pods_target(self, rs: dict[str, Any]) -> dict[str, Any]:
        desired = rs["spec"].get("replicas", 1)
        namespace = rs["metadata"]["namespace"]
        ready = _count(rs, "readyReplicas")
        if self.settings.hangs(namespace, controller_name(rs)):
            ready = min(ready, desired)
        else:
            ready = desired
        status: dict[str, Any] = {"replicas": desired}
        # Zero counts are omitted, as Go's omitempty does.
        for field, value in (
            ("fullyLabeledReplicas", desired),
            ("readyReplicas", ready),
            ("availableReplicas", ready),
            ("observedGeneration", rs["metadata"].get("generation", 1)),
        ):
            if value:
                status[field] = value
        return status

    def _pods_pending(self, rs: dict[str, Any]) -> bool:
        return (rs.get("status") or {}) != self._pods_target(rs)

    def sync_pods(self, namespace: str, name: str) -> None:
        rs = self.store.get(REPLICASETS, namespace, name)
        if rs is None or not self._pods_pending(rs):
            return
        rs["status"] = self._pods_target(rs)
        self._update(REPLICASETS, rs)

    # --- deployments -------------------------------------------------------------

    def _owned(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        uid = deployment["metadata"]["uid"]
        namespace = deployment["metadata"]["namespace"]
        return [
            rs
            for rs in self.store.list(REPLICASETS, namespace)
            if controller_uid(rs) == uid
        ]

    def _update(
        self, rtype: resources.ResourceType, obj: dict[str, Any]
    ) -> dict[str, Any]:
        """Write a changed object, bumping its generation as the apiserver would."""
        current = self.store.get(
            rtype, obj["metadata"]["namespace"], obj["metadata"]["name"]
        )
        if current is None:
            return obj
        return self.store.update(rtype, self.store.stamp_update(rtype, current, obj))

    def _scale_rs(
        self, rs: dict[str, Any], replicas: int, deployment: dict[str, Any]
    ) -> None:
        surge, _ = surge_and_unavailable(deployment)
        desired = deployment["spec"].get("replicas", 1)
        annotations = rs["metadata"].setdefault("annotations", {})
        wanted_annotations = {
            DESIRED_REPLICAS: str(desired),
            MAX_REPLICAS: str(desired + surge),
        }
        if rs["spec"].get("replicas") == replicas and all(
            annotations.get(key) == value for key, value in wanted_annotations.items()
        ):
            return
        rs["spec"]["replicas"] = replicas
        annotations.update(wanted_annotations)
        self._update(REPLICASETS, rs)

    def _new_replicaset(
        self,
        deployment: dict[str, Any],
        owned: list[dict[str, Any]],
        status: dict[str, Any],
    ) -> dict[str, Any]:
        """Find or create the current template's ReplicaSet, at the newest revision."""
        template = without_hash(deployment["spec"].get("template"))
        top = max((revision_of(rs) for rs in owned), default=0)
        new_rs = next(
            (rs for rs in owned if without_hash(rs["spec"]["template"]) == template), None
        )
        if new_rs is None:
            built = build_replicaset(deployment, template, top + 1, 0)
            new_rs = self.store.create(
                REPLICASETS, self.store.stamp_new(REPLICASETS, built)
            )
            _set_condition(
                status,
                _condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    f'Created new replica set "{new_rs["metadata"]["name"]}"',
                ),
            )
            return new_rs
        if revision_of(new_rs) < top:
            # Rollback: the old ReplicaSet becomes the newest revision.
            annotations = new_rs["metadata"].setdefault("annotations", {})
            history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
            annotations[REVISION_HISTORY] = ",".join([*history, str(revision_of(new_rs))])
            annotations[REVISION] = str(top + 1)
            new_rs = self._update(REPLICASETS, new_rs)
        if not any(c["type"] == "Progressing" for c in status.get("conditions", [])):
            _set_condition(
                status,
                _condition(
                    "Progressing",
                    "True",
                    "FoundNewReplicaSet",
                    f'Found new replica set "{new_rs["metadata"]["name"]}"',
                ),
            )
        return new_rs

    def _scale(
        self,
        deployment: dict[str, Any],
        new_rs: dict[str, Any] | None,
        old: list[dict[str, Any]],
    ) -> None:
        desired = deployment["spec"].get("replicas", 1)
        if deployment["spec"].get("paused") or new_rs is None:
            # Paused: no rollout step, but a lone active ReplicaSet follows scaling.
            every = [*old, new_rs] if new_rs is not None else old
            active = [rs for rs in every if rs["spec"].get("replicas", 0) > 0]
            if len(active) == 1:
                self._scale_rs(active[0], desired, deployment)
            elif not active and new_rs is not None:
                self._scale_rs(new_rs, desired, deployment)
            return
        self._scale_rs(new_rs, desired, deployment)

        # Old pods go as new ones become available (all at once for Recreate).
        recreate = (deployment["spec"].get("strategy") or {}).get("type") == "Recreate"
        allowed = 0 if recreate else max(0, desired - _count(new_rs, "availableReplicas"))
        for rs in sorted(old, key=revision_of, reverse=True):
            keep = min(rs["spec"].get("replicas", 0), allowed)
            allowed -= keep
            self._scale_rs(rs, keep, deployment)

    def _cleanup(self, deployment: dict[str, Any], old: list[dict[str, Any]]) -> None:
        limit = deployment["spec"].get("revisionHistoryLimit", 10)
        idle = [
            rs
            for rs in sorted(old, key=revision_of)
            if rs["spec"].get("replicas", 0) == 0 and _count(rs, "replicas") == 0
        ]
        for rs in idle[: max(0, len(idle) - limit)]:
            self.store.delete(
                REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"]
            )

    def sync_deployment(self, namespace: str, name: str) -> None:
        deployment = self.store.get(DEPLOYMENTS, namespace, name)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return
        before = copy.deepcopy(deployment)
        status = copy.deepcopy(deployment.get("status") or {})
        spec = deployment["spec"]
        paused = bool(spec.get("paused"))
        owned = self._owned(deployment)

        # The ReplicaSet for the current template; a paused Deployment gets none new.
        template = without_hash(spec.get("template"))
        new_rs: dict[str, Any] | None
        if paused:
            new_rs = next(
                (rs for rs in owned if without_hash(rs["spec"]["template"]) == template),
                None,
            )
        else:
            new_rs = self._new_replicaset(deployment, owned, status)
        owned = self._owned(deployment)
        new_name = new_rs["metadata"]["name"] if new_rs else None
        old = [rs for rs in owned if rs["metadata"]["name"] != new_name]
        new_rs = next((rs for rs in owned if rs["metadata"]["name"] == new_name), None)

        self._scale(deployment, new_rs, old)
        owned = self._owned(deployment)
        new_rs = next((rs for rs in owned if rs["metadata"]["name"] == new_name), None)
        old = [rs for rs in owned if rs["metadata"]["name"] != new_name]
        if not paused:
            self._cleanup(deployment, old)

        # Mirror the revision, then compute status as calculateStatus does.
        if new_rs is not None:
            annotations = deployment["metadata"].setdefault("annotations", {})
            annotations[REVISION] = str(revision_of(new_rs))
        self._status(deployment, status, new_rs, owned)
        deployment["status"] = status
        if deployment != before:
            self._update(DEPLOYMENTS, deployment)

    def _status(
        self,
        deployment: dict[str, Any],
        status: dict[str, Any],
        new_rs: dict[str, Any] | None,
        owned: list[dict[str, Any]],
    ) -> None:
        spec = deployment["spec"]
        desired = spec.get("replicas", 1)
        previous = deployment.get("status") or {}
        _, max_unavailable = surge_and_unavailable(deployment)
        available = sum(_count(rs, "availableReplicas") for rs in owned)
        total = sum(rs["spec"].get("replicas", 0) for rs in owned)
        counts = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": sum(_count(rs, "replicas") for rs in owned),
            "updatedReplicas": _count(new_rs, "replicas"),
            "readyReplicas": sum(_count(rs, "readyReplicas") for rs in owned),
            "availableReplicas": available,
            "unavailableReplicas": max(0, total - available),
        }
        for field, value in counts.items():
            if value:
                status[field] = value
            else:
                status.pop(field, None)

        if available >= desired - max_unavailable:
            _set_condition(
                status,
                _condition(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                ),
            )
        else:
            _set_condition(
                status,
                _condition(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                ),
            )
        self._progress(deployment, status, previous, new_rs)

    def _progress(
        self,
        deployment: dict[str, Any],
        status: dict[str, Any],
        previous: dict[str, Any],
        new_rs: dict[str, Any] | None,
    ) -> None:
        """The Progressing condition, as syncRolloutStatus and the pause checks set it."""
        spec = deployment["spec"]
        desired = spec.get("replicas", 1)
        conditions = status.get("conditions", [])
        current = next((c for c in conditions if c["type"] == "Progressing"), None)
        reason = current["reason"] if current else None
        if spec.get("paused"):
            if reason != "DeploymentPaused":
                _set_condition(
                    status,
                    _condition(
                        "Progressing",
                        "Unknown",
                        "DeploymentPaused",
                        "Deployment is paused",
                    ),
                )
            return
        if reason == "DeploymentPaused":
            _set_condition(
                status,
                _condition(
                    "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed"
                ),
            )
            current = next(c for c in status["conditions"] if c["type"] == "Progressing")
            reason = current["reason"]

        deadline = spec.get("progressDeadlineSeconds")
        if deadline is None:
            return
        subject = (
            f'ReplicaSet "{new_rs["metadata"]["name"]}"'
            if new_rs
            else f'Deployment "{deployment["metadata"]["name"]}"'
        )
        updated, replicas = status.get("updatedReplicas", 0), status.get("replicas", 0)
        if replicas == updated and reason == "NewReplicaSetAvailable":
            return
        complete = (
            updated == desired
            and replicas == desired
            and status.get("availableReplicas", 0) == desired
        )
        old_replicas = previous.get("replicas", 0) - previous.get("updatedReplicas", 0)
        progressed = (
            updated > previous.get("updatedReplicas", 0)
            or replicas - updated < old_replicas
            or status.get("readyReplicas", 0) > previous.get("readyReplicas", 0)
            or status.get("availableReplicas", 0) > previous.get("availableReplicas", 0)
        )
        if complete:
            _set_condition(
                status,
                _condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f"{subject} has successfully progressed.",
                ),
            )
        elif progressed:
            condition = _condition(
                "Progressing", "True", "ReplicaSetUpdated", f"{subject} is progressing."
            )
            if current is not None:
                if current["status"] == "True":
                    condition["lastTransitionTime"] = current["lastTransitionTime"]
                status["conditions"].remove(current)
            status.setdefault("conditions", []).append(condition)
        elif current is not None and reason != "ProgressDeadlineExceeded":
            expires = _epoch(current["lastUpdateTime"]) + deadline
            if expires < time.time():
                _set_condition(
                    status,
                    _condition(
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        f"{subject} has timed out progressing.",
                    ),
                )
            else:
                # Look again when the deadline passes.
                metadata = deployment["metadata"]
                self._enqueue(
                    ("deployment", metadata["namespace"], metadata["name"]),
                    expires - time.time() + 0.1,
                )
