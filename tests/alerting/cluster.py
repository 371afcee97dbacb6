"""
The fake Kubernetes API for the end-to-end chain, on an event loop of its own.

The chain's harness (stack.py) is synchronous: it polls real servers with
blocking HTTP calls. The fake API server (tests/fakekube) is asyncio, so it
runs in a thread with its own loop, and every look at the cluster is made
on that loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from tests.fakekube.harness import FakeKube
from tests.fakekube.rbac import RequestRecord

T = TypeVar("T")
NS = "default"
# Generous: each call is a dictionary look-up or a loopback server starting.
CALL_SECONDS = 60.0


class ClusterThread:
    """A started FakeKube with the demo's Deployments and ConfigMap."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="fakekube")
        self._fake: FakeKube | None = None

    def __enter__(self) -> ClusterThread:
        self._thread.start()
        self._fake = self._call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fake is not None:
            self._call(self._fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CALL_SECONDS)
        self._loop.close()

    @property
    def kubeconfig(self) -> Path:
        return self._on_loop(lambda fake: fake.kubeconfig_path)

    def replicas(self, name: str) -> int:
        """spec.replicas of a Deployment in the fake cluster now."""
        def read(fake: FakeKube) -> int:
            deployment = fake.cluster.get("Deployment", NS, name)
            assert deployment is not None, name
            return int(deployment["spec"]["replicas"])
        return self._on_loop(read)

    def scale_writes(self) -> list[RequestRecord]:
        """Every write to a Deployment's scale subresource, in order."""
        return self._on_loop(lambda fake: [
            record for record in fake.requests
            if record.verb in ("patch", "update") and record.resource == "deployments/scale"
        ])

    async def _start(self) -> FakeKube:
        fake = FakeKube()
        await fake.start()
        fake.cluster.add_deployment(NS, "llm-gateway", replicas=3)
        fake.cluster.add_deployment(NS, "llm-backend", replicas=2)
        fake.cluster.add_configmap(NS, "llm-config", {"MAX_TOKENS": "2048"})
        return fake

    def _on_loop(self, look: Callable[[FakeKube], T]) -> T:
        async def looking() -> T:
            assert self._fake is not None, "the cluster is not started"
            return look(self._fake)
        return self._call(looking())

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(CALL_SECONDS)
