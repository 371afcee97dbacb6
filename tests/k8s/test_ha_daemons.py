"""
Two `remediator serve` processes on one fake cluster, behind one webhook
stream routed like a Service (to the Ready replica): exactly one acts; after
kill -9 of the leader the other takes over within the lease and repeats
nothing the first one did.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.daemon import payloads
from tests.fakekube.harness import FakeKube
from tests.k8s.helpers import NS, replicas
from tests.k8s.processes import REPO, Server

LEASE = 2.0
RETRY = 0.3
TOKEN = "webhook-secret"
START_SECONDS = 30.0


class Daemon(Server):
    """One replica: a `remediator serve` process with its own service-account token."""

    def __init__(self, fake: FakeKube, tmp: Path, name: str) -> None:
        self.user = f"system:serviceaccount:{NS}:{name}"

        # Exactly the shipped Role's rights, as the pod would have them.
        role = yaml.safe_load((REPO / "k8s/base/role.yaml").read_text())
        fake.add_token(f"sa-{name}", user=self.user, role_rules=role["rules"], namespace=NS)
        kubeconfig = fake.kubeconfig_for(f"sa-{name}", NS)
        (tmp / "webhook-token").write_text(TOKEN)
        super().__init__(tmp, name, {
            "execution": {"auto_execute": True, "rollout_timeout_seconds": 10},
            "state": {"backend": "kubernetes"},
            "server": {"webhook_token_file": str(tmp / "webhook-token")},
            "results": {"path": str(tmp / "no-results.json")},
            "kubernetes": {
                "kubeconfig": str(kubeconfig), "namespace": NS,
                "leader_election": {
                    "enabled": True, "lease_duration_seconds": LEASE,
                    "renew_deadline_seconds": 1.4, "retry_period_seconds": RETRY,
                },
            },
        }, env={"POD_NAME": name})


class Service:
    """The `remediator` Service: sends each webhook to a Ready replica, as kube-proxy would."""

    def __init__(self, daemons: list[Daemon], session: aiohttp.ClientSession) -> None:
        self.daemons = daemons
        self.session = session

    async def leader(self, *, within: float) -> Daemon:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            ready = [d for d in self.daemons if await d.ready(self.session)]
            if len(ready) == 1:
                return ready[0]
            assert len(ready) < 2, "two replicas Ready at once"
            await asyncio.sleep(0.05)
        raise AssertionError(f"no single Ready replica within {within}s:\n{self.logs()}")

    async def post(self, document: dict[str, Any]) -> Daemon:
        """Deliver one notification as Alertmanager does: retried until a replica takes it."""
        body = payloads.body(document)
        while True:
            daemon = await self.leader(within=START_SECONDS)
            with contextlib.suppress(aiohttp.ClientError):
                async with self.session.post(
                    f"{daemon.url}/webhook/alertmanager", data=body,
                    headers={"Authorization": f"Bearer {TOKEN}",
                             "Content-Type": "application/json"},
                ) as response:
                    if response.status == 200:
                        return daemon
            await asyncio.sleep(0.1)

    def logs(self) -> str:
        return "\n".join(d.tail() for d in self.daemons)


@pytest.fixture
async def two_daemons(fake_kube: FakeKube, tmp_path: Path
                      ) -> AsyncIterator[tuple[list[Daemon], Service]]:
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    fake_kube.cluster.add_deployment(NS, "llm-backend", replicas=2)
    fake_kube.cluster.add_configmap(NS, "llm-config", {"MAX_TOKENS": "2048"})
    daemons = [Daemon(fake_kube, tmp_path, name) for name in ("remediator-a", "remediator-b")]
    for daemon in daemons:
        await daemon.start()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield daemons, Service(daemons, session)
        for daemon in daemons:
            await daemon.stop()


def scale_writes(fake: FakeKube, user: str | None = None) -> int:
    return sum(1 for r in fake.requests if r.verb == "patch" and r.resource == "deployments/scale"
               and (user is None or r.user == user))


async def test_one_daemon_acts_and_the_other_takes_over_repeating_nothing(
    fake_kube: FakeKube, two_daemons: tuple[list[Daemon], Service]
) -> None:
    """Of two daemons one acts; killed, it is replaced within the lease, and nothing repeats."""
    daemons, service = two_daemons
    firing = payloads.notification(payloads.alert(
        "LLMLatencyP95Critical", severity="critical", starts_at="2024-05-01T10:00:00Z"))

    # One replica leads and acts on the first notification.
    leader = await service.leader(within=START_SECONDS)
    follower = next(d for d in daemons if d is not leader)
    assert await service.post(firing) is leader
    await fake_kube.cluster.wait_for(lambda: replicas(fake_kube) == 5, timeout_seconds=20,
                                     what="the leader's scale")
    acted = await settled(leader, service.session)
    assert [(a["type"], a["outcome"]) for a in acted] == [("scale", "executed")]

    # kill -9: the follower takes over once the Lease expires.
    leader.kill()
    killed = time.monotonic()
    successor = await service.leader(within=LEASE + 4 * RETRY + 3.0)
    took = time.monotonic() - killed
    assert successor is follower
    assert took <= LEASE + 4 * RETRY + 3.0

    # Alertmanager re-sends the same alert, from both HA peers, then a re-fire.
    await service.post(firing)
    await service.post({**firing, "externalURL": "http://am-1.example.internal:9093"})
    refired = payloads.notification(payloads.alert(
        "LLMLatencyP95Critical", severity="critical", starts_at="2024-05-01T10:20:00Z"))
    await service.post(refired)
    history = await decided(successor, service.session, "2024-05-01T10:20:00")

    refire = next(a for a in history if a["alert"]["startsAt"].startswith("2024-05-01T10:20"))
    assert (refire["outcome"], refire["skip"]) == ("skipped", "cooldown")
    assert [a for a in history if a["outcome"] == "executed"] == acted
    assert scale_writes(fake_kube) == 1
    assert scale_writes(fake_kube, follower.user) == 0
    assert replicas(fake_kube) == 5


async def settled(daemon: Daemon, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
    """The history once no decision in it is pending any more."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        history = await daemon.actions(session, TOKEN)
        if history and all(a["outcome"] != "pending" for a in history):
            return history
        await asyncio.sleep(0.05)
    raise AssertionError("decisions still pending")


async def decided(daemon: Daemon, session: aiohttp.ClientSession, starts_at: str
                  ) -> list[dict[str, Any]]:
    """The history once it holds a decision about the episode that started at `starts_at`."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        history = await daemon.actions(session, TOKEN)
        if any(a["alert"] and a["alert"]["startsAt"].startswith(starts_at) for a in history):
            return history
        await asyncio.sleep(0.05)
    raise AssertionError(f"no decision about the episode of {starts_at}")
