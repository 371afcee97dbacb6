"""
The state of one fake cluster, and what tests use to seed and inspect it.

``Cluster`` owns the store, the write semantics, the Deployment controller,
the permission table, the faults and the request log. The HTTP server is a
thin layer over it; tests call it directly to seed objects and to assert.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from tests.fakekube import controller, defaults, patching, resources
from tests.fakekube.controller import DeploymentController, RolloutSettings
from tests.fakekube.faults import Faults
from tests.fakekube.rbac import Authority, RequestRecord
from tests.fakekube.registry import Registry
from tests.fakekube.selectors import LabelSelector
from tests.fakekube.store import Store

T = TypeVar("T")

PATCH_TYPES = {
    "strategic": patching.STRATEGIC,
    "merge": patching.MERGE,
    "json": patching.JSON_PATCH,
}


@dataclasses.dataclass(frozen=True)
class AccessLogEntry:
    """One HTTP exchange, discovery included, for debugging a failing test."""

    method: str
    path: str  # with the query string
    status: int
    content_type: str
    user_agent: str


class Cluster:
    def __init__(self, *, version: tuple[int, int] = (1, 32)) -> None:
        self.version = version
        """What /version reports; the kubectl dispatcher picks its binary from it."""
        self.store = Store()
        self.registry = Registry(self.store)
        self.auth = Authority()
        self.faults = Faults()
        self.rollout = RolloutSettings()
        self.controller = DeploymentController(self.store, self.rollout)
        self.requests: list[RequestRecord] = []
        """Every authenticated resource request, in order: what RBAC must allow."""
        self.access_log: list[AccessLogEntry] = []
        self.on_request: list[Callable[[RequestRecord], None]] = []

    # --- request log -------------------------------------------------------------

    def record(self, record: RequestRecord) -> None:
        self.requests.append(record)
        for callback in self.on_request:
            callback(record)

    def used_permissions(
        self, *, user: str | None = None
    ) -> set[tuple[str, str, str, str]]:
        """(verb, group, resource, namespace) the requests needed, for a Role review."""
        return {
            (r.verb, r.group, r.resource, r.namespace)
            for r in self.requests
            if user is None or r.user == user
        }

    # --- reading -------------------------------------------------------------------

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """An object by kind (``"Deployment"``, ``"deploy"``, ``"cm"``...), or None."""
        return self.store.get(resources.lookup(kind), namespace, name)

    def list(
        self, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        return self.store.list(
            resources.lookup(kind), namespace, LabelSelector.parse(label_selector)
        )

    def replicasets_of(
        self, namespace: str, deployment: str
    ) -> builtins.list[dict[str, Any]]:
        """The ReplicaSets a Deployment owns, oldest revision first."""
        owner = self.get("Deployment", namespace, deployment)
        if owner is None:
            return []
        uid = owner["metadata"]["uid"]
        owned = [
            rs
            for rs in self.list("ReplicaSet", namespace)
            if controller.controller_uid(rs) == uid
        ]
        return sorted(owned, key=controller.revision_of)

    # --- writing, with the API's semantics (validation, generation, events) ---------

    def create(self, kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        rtype = resources.lookup(kind)
        namespace = (
            obj.get("metadata", {}).get("namespace", "default")
            if rtype.namespaced
            else None
        )
        return self.registry.create(rtype, namespace, copy.deepcopy(dict(obj)))

    def replace(self, kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        rtype = resources.lookup(kind)
        metadata = obj["metadata"]
        return self.registry.update(
            rtype, metadata.get("namespace"), metadata["name"], dict(obj)
        )

    def patch(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: str = "merge",
    ) -> dict[str, Any]:
        """Patch as a client would; ``patch_type`` is strategic, merge or json."""
        body = json.dumps(patch).encode()
        return self.registry.patch(
            resources.lookup(kind), namespace, name, PATCH_TYPES[patch_type], body
        )

    def set_status(
        self, kind: str, namespace: str | None, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Write ``status`` through the /status subresource (e.g. an HPA's metrics)."""
        body = json.dumps({"status": status}).encode()
        return self.registry.patch(
            resources.lookup(kind),
            namespace,
            name,
            patching.MERGE,
            body,
            subresource="status",
        )

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        self.registry.delete(resources.lookup(kind), namespace, name)

    # --- seeding -------------------------------------------------------------------

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 1,
        image: str = "registry.example/app:1.0",
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        paused: bool = False,
        revisions: int = 1,
        images: Sequence[str] | None = None,
        container: str = "app",
        env: Mapping[str, str] | None = None,
        strategy: str = "RollingUpdate",
        progress_deadline_seconds: int = 600,
    ) -> dict[str, Any]:
        """
        A rolled-out Deployment with ``revisions`` ReplicaSets of history.

        Revision k of n runs ``images[k-1]`` if given, else ``f"{image}-rev{k}"``
        for older revisions and ``image`` for the current one, so ``rollout undo``
        has somewhere to go. Pod labels default to ``{"app": name}``; the selector
        matches them. The returned Deployment is already fully available.
        """
        pod_labels = dict(labels or {"app": name})
        history = (
            list(images)
            if images
            else [f"{image}-rev{k}" for k in range(1, revisions)] + [image]
        )

        def template(image_ref: str) -> dict[str, Any]:
            spec: dict[str, Any] = {"name": container, "image": image_ref}
            if env:
                spec["env"] = [
                    {"name": key, "value": value} for key, value in env.items()
                ]
            return {
                "metadata": {"labels": dict(pod_labels)},
                "spec": {"containers": [spec]},
            }

        strategy_spec: dict[str, Any] = {"type": strategy}
        body: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(pod_labels),
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": dict(pod_labels)},
                "template": template(history[-1]),
                "strategy": strategy_spec,
                "progressDeadlineSeconds": progress_deadline_seconds,
                "paused": paused,
            },
        }
        if annotations:
            body["metadata"]["annotations"] = dict(annotations)
        deployment = self.registry.create(resources.DEPLOYMENTS, namespace, body)

        # History: one ReplicaSet per revision; only the newest runs pods, all ready.
        for revision, image_ref in enumerate(history, start=1):
            current = revision == len(history)
            pod_template = self.store.get(resources.DEPLOYMENTS, namespace, name)
            assert pod_template is not None
            rs_template = copy.deepcopy(pod_template["spec"]["template"])
            first = rs_template["spec"]["containers"][0]
            first["image"] = image_ref
            del first["imagePullPolicy"]  # defaulted again for this revision's image
            defaults.pod_template(rs_template)
            rs = controller.build_replicaset(
                deployment,
                controller.without_hash(rs_template),
                revision,
                replicas if current else 0,
            )
            self.store.stamp_new(resources.REPLICASETS, rs)
            if current and replicas:
                rs["status"] = {
                    "replicas": replicas,
                    "fullyLabeledReplicas": replicas,
                    "readyReplicas": replicas,
                    "availableReplicas": replicas,
                    "observedGeneration": 1,
                }
            else:
                rs["status"] = {"replicas": 0, "observedGeneration": 1}
            self.store.create(resources.REPLICASETS, rs)

        # Converge status now, so the test starts from a finished rollout.
        self.controller.sync_deployment(namespace, name)
        result = self.get("Deployment", namespace, name)
        assert result is not None
        return result

    def add_configmap(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, str] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"metadata": {"name": name, "namespace": namespace}}
        if labels:
            body["metadata"]["labels"] = dict(labels)
        if data is not None:
            body["data"] = dict(data)
        return self.registry.create(resources.CONFIGMAPS, namespace, body)

    def add_hpa(
        self,
        namespace: str,
        name: str,
        *,
        target: str,
        min_replicas: int = 1,
        max_replicas: int = 10,
        cpu_utilization: int = 80,
        target_kind: str = "Deployment",
    ) -> dict[str, Any]:
        body = {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": target_kind,
                    "name": target,
                },
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "averageUtilization": cpu_utilization,
                            },
                        },
                    }
                ],
            },
        }
        return self.registry.create(resources.HPAS, namespace, body)

    def add_lease(
        self, namespace: str, name: str, *, holder: str, duration_seconds: int = 15
    ) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        body = {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": duration_seconds,
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
        return self.registry.create(resources.LEASES, namespace, body)

    # --- rollout knobs ------------------------------------------------------------

    def set_rollout_delay(self, seconds: float) -> None:
        """Pods take this long to appear and become ready (default 0)."""
        self.rollout.delay = seconds

    def hang_rollouts(
        self, hang: bool = True, *, namespace: str | None = None, name: str | None = None
    ) -> None:
        """
        Make new pods never become ready, for all Deployments or for one; call
        with ``hang=False`` to let them finish.
        """
        if namespace is not None and name is not None:
            if hang:
                self.rollout.hung.add((namespace, name))
            else:
                self.rollout.hung.discard((namespace, name))
        else:
            self.rollout.hang = hang
            if not hang:
                self.rollout.hung.clear()
        self.controller.resync()

    # --- waiting (with a deadline, never a fixed sleep) --------------------------------

    async def wait_for(
        self,
        probe: Callable[[], T | None],
        *,
        timeout_seconds: float = 10.0,
        what: str = "condition",
    ) -> T:
        """Poll ``probe`` until it returns something truthy; fail after the timeout."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            if self.controller.failures:
                raise RuntimeError(
                    "the fake controller failed"
                ) from self.controller.failures[0]
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"timed out after {timeout_seconds}s waiting for {what}"
                )
            await asyncio.sleep(0.01)

    def rolled_out(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Deployment if kubectl's rollout status would call it done, else None."""
        deployment = self.get("Deployment", namespace, name)
        if deployment is None:
            return None
        status = deployment.get("status") or {}
        desired = deployment["spec"].get("replicas", 1)
        done = (
            deployment["metadata"].get("generation", 1)
            <= status.get("observedGeneration", 0)
            and status.get("updatedReplicas", 0) >= desired
            and status.get("replicas", 0) <= status.get("updatedReplicas", 0)
            and status.get("availableReplicas", 0) >= status.get("updatedReplicas", 0)
        )
        return deployment if done else None

    async def wait_rolled_out(
        self, namespace: str, name: str, *, timeout_seconds: float = 10.0
    ) -> dict[str, Any]:
        return await self.wait_for(
            lambda: self.rolled_out(namespace, name),
            timeout_seconds=timeout_seconds,
            what=f"deployment {namespace}/{name} to roll out",
        )
