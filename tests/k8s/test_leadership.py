"""Leader election on a Lease: one leader, prompt takeover, never two at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from remediator.config.settings import Settings
from remediator.execution import election
from remediator.k8s.client import Api
from remediator.k8s.leadership import LeaseElector, LeaseSettings
from remediator.leadership import Leadership
from tests.fakekube.harness import FakeKube

NS = "remediator"
LEASE = 1.0
RENEW = 0.7
RETRY = 0.2
TAKEOVER_BOUND = LEASE + 2 * RETRY + 1.0
"""Lease duration after the last renewal seen, plus a follower's polling, plus slack."""


class Replica:
    """One elector with its own client and token, as one pod would have."""

    def __init__(self, fake: FakeKube, name: str, timeline: list[tuple[float, str, bool]]
                 ) -> None:
        self.name = name
        self.token = f"token-{name}"
        fake.cluster.auth.add_token(self.token, f"system:serviceaccount:{NS}:{name}")
        self.api_client = fake.api_client(self.token)
        lease = LeaseSettings(NS, "remediator-leader", name, LEASE, RENEW, RETRY)
        self.elector = LeaseElector(
            Api(self.api_client, timeout_seconds=0.5), lease,
            on_change=lambda leader: timeline.append((time.monotonic(), name, leader)),
        )
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.elector.run())

    async def stop(self) -> None:
        """A clean shutdown: the leader releases the Lease."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def crash(self) -> None:
        """kill -9: no release, the Lease is left to expire."""
        async def nothing() -> None:
            return None

        self.elector._release = nothing  # type: ignore[method-assign]
        await self.stop()

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            await self.stop()
        await self.api_client.close()


Timeline = list[tuple[float, str, bool]]
Cluster = tuple[FakeKube, Timeline, list[Replica]]


@pytest.fixture
async def cluster(fake_kube: FakeKube) -> AsyncIterator[Cluster]:
    timeline: Timeline = []
    replicas = [Replica(fake_kube, name, timeline) for name in ("pod-a", "pod-b", "pod-c")]
    yield fake_kube, timeline, replicas
    for replica in replicas:
        await replica.close()


def leaders(replicas: list[Replica]) -> list[str]:
    return [r.name for r in replicas if r.elector.leader]


def assert_never_two_leaders(timeline: list[tuple[float, str, bool]]) -> None:
    """Replaying every change in time order, at most one replica leads at any moment."""
    leading: set[str] = set()
    for _, name, leader in sorted(timeline):
        if leader:
            leading.add(name)
        else:
            leading.discard(name)
        assert len(leading) <= 1, f"two leaders at once: {timeline}"


def lease_writes(fake: FakeKube, by: str | None = None) -> int:
    """Lease updates (acquisitions and renewals) that reached the fake, by one replica or any."""
    return sum(
        1 for record in fake.requests
        if record.resource == "leases" and record.verb == "update"
        and (by is None or record.user == f"system:serviceaccount:{NS}:{by}")
    )


async def lease_writes_seen(fake: FakeKube, count: int, *, by: str | None = None) -> None:
    """Wait until `count` more Lease updates have been sent (renewals happen every RETRY)."""
    wanted = lease_writes(fake, by) + count
    await fake.cluster.wait_for(lambda: lease_writes(fake, by) >= wanted,
                                timeout_seconds=5 * TAKEOVER_BOUND,
                                what=f"{count} Lease updates by {by or 'any replica'}")


async def wait_for_leader(replicas: list[Replica], *, within: float) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = leaders(replicas)
        if len(found) == 1:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no single leader within {within}s: {leaders(replicas)}")


async def test_exactly_one_of_three_replicas_leads(cluster: Cluster) -> None:
    """
    Three replicas started together settle on one leader, which holds the Lease
    and keeps it: three renewals later nobody else has led and it never stepped down.
    """
    fake, timeline, replicas = cluster
    for replica in replicas:
        replica.start()

    leader = await wait_for_leader(replicas, within=TAKEOVER_BOUND)
    await lease_writes_seen(fake, 3, by=leader)

    lease = fake.cluster.get("Lease", NS, "remediator-leader")
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == leader
    assert leaders(replicas) == [leader]
    assert [(name, leading) for _, name, leading in timeline] == [(leader, True)]
    assert_never_two_leaders(timeline)


async def test_a_crashed_leader_is_replaced_within_the_lease_duration(cluster: Cluster) -> None:
    """After kill -9 of the leader, another replica leads once the Lease has expired."""
    fake, timeline, replicas = cluster
    for replica in replicas:
        replica.start()
    first = await wait_for_leader(replicas, within=TAKEOVER_BOUND)
    old = next(r for r in replicas if r.name == first)

    await old.crash()
    crashed = time.monotonic()
    second = await wait_for_leader([r for r in replicas if r is not old], within=TAKEOVER_BOUND)

    took = next(t for t, name, leader in timeline if name == second and leader) - crashed
    lease = fake.cluster.get("Lease", NS, "remediator-leader")
    assert second != first
    assert took <= TAKEOVER_BOUND
    assert lease is not None and lease["spec"]["leaseTransitions"] == 1
    assert_never_two_leaders(timeline)


async def test_a_clean_shutdown_hands_over_at_once(cluster: Cluster) -> None:
    """A leader that stops cleanly releases the Lease: the successor need not wait it out."""
    _, timeline, replicas = cluster
    for replica in replicas[:2]:
        replica.start()
    first = await wait_for_leader(replicas, within=TAKEOVER_BOUND)
    old = next(r for r in replicas if r.name == first)

    stopped = time.monotonic()
    await old.stop()
    second = await wait_for_leader(replicas, within=TAKEOVER_BOUND)

    took = next(t for t, name, leader in timeline if name == second and leader) - stopped
    assert took < LEASE
    assert_never_two_leaders(timeline)


async def test_a_cut_off_leader_steps_down_before_anyone_takes_over(cluster: Cluster) -> None:
    """A leader whose API access fails stops acting before its Lease can be taken."""
    fake, timeline, replicas = cluster
    for replica in replicas[:2]:
        replica.start()
    first = await wait_for_leader(replicas, within=TAKEOVER_BOUND)
    old = next(r for r in replicas if r.name == first)

    fake.cluster.auth.accounts.pop(old.token)  # its requests now answer 401
    second = await wait_for_leader([r for r in replicas[:2] if r is not old],
                                   within=TAKEOVER_BOUND + RENEW)

    stepped_down = next(t for t, name, leader in timeline if name == first and not leader)
    took_over = next(t for t, name, leader in timeline if name == second and leader)
    assert stepped_down < took_over
    assert not old.elector.leader
    assert_never_two_leaders(timeline)


async def test_a_flaky_api_never_yields_two_leaders(cluster: Cluster) -> None:
    """With a third of Lease requests failing or dropped, leadership stays single."""
    fake, timeline, replicas = cluster
    fake.faults.inject("error", resource="coordination.k8s.io/leases", fraction=0.2, seed=1)
    fake.faults.inject("drop", resource="coordination.k8s.io/leases", fraction=0.15, seed=2)
    for replica in replicas:
        replica.start()

    await wait_for_leader(replicas, within=5 * TAKEOVER_BOUND)
    await lease_writes_seen(fake, 10)

    assert all(r.task is not None and not r.task.done() for r in replicas)
    assert_never_two_leaders(timeline)


async def test_the_daemon_elector_uses_the_configured_lease(
    fake_kube: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lease name, namespace and timings come from the settings; leading flips readiness."""
    monkeypatch.setenv("POD_NAME", "remediator-7d9f")
    settings = Settings.model_validate({"kubernetes": {
        "kubeconfig": str(fake_kube.kubeconfig_path), "namespace": "ops",
        "leader_election": {
            "enabled": True, "lease_name": "llm-remediator", "lease_duration_seconds": 7,
            "renew_deadline_seconds": 5, "retry_period_seconds": 0.2,
        },
    }})
    leadership = Leadership(leader=True)
    configured = election.lease_settings(settings)

    task = asyncio.create_task(election.run(settings, leadership))
    try:
        await asyncio.sleep(0)
        at_start = leadership.leader
        await fake_kube.cluster.wait_for(lambda: leadership.leader, what="leadership")
        held = fake_kube.cluster.get("Lease", "ops", "llm-remediator")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    released = fake_kube.cluster.get("Lease", "ops", "llm-remediator")

    assert not at_start
    assert (configured.renew_deadline_seconds, configured.retry_seconds) == (5, 0.2)
    assert held is not None and released is not None
    assert held["spec"]["leaseDurationSeconds"] == 7
    assert held["spec"]["holderIdentity"].startswith("remediator-7d9f_")
    assert released["spec"].get("holderIdentity") is None
    assert not leadership.leader
