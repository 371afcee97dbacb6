"""The Kubernetes state store: the Store contract, concurrency, size, failover."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import secrets
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from remediator.config.settings import Settings
from remediator.state.base import StateError, Store, TargetState
from remediator.state.kube import KEY, KubeStore
from tests.fakekube.harness import FakeKube
from tests.state.contract import *  # noqa: F403
from tests.state.contract import Reopen, decision, episode

NS = "remediator"


def new_store(api_client: client.ApiClient, **options: object) -> KubeStore:
    return KubeStore(Settings(), api_client, namespace=NS, **options)  # type: ignore[arg-type]


@pytest.fixture
async def stores(api_client: client.ApiClient) -> AsyncIterator[list[KubeStore]]:
    opened = [new_store(api_client)]
    await opened[0].open()
    yield opened
    await opened[-1].close()


@pytest.fixture
def store(stores: list[KubeStore]) -> Store:
    return stores[0]


@pytest.fixture
def reopen(stores: list[KubeStore], api_client: client.ApiClient) -> Reopen:
    async def again() -> Store:
        await stores[-1].close()
        stores.append(new_store(api_client))
        await stores[-1].open()
        return stores[-1]

    return again


def stored(fake: FakeKube) -> dict[str, object]:
    configmap = fake.cluster.get("ConfigMap", NS, "remediator-state")
    assert configmap is not None
    data: dict[str, object] = json.loads(gzip.decompress(base64.b64decode(
        configmap["binaryData"][KEY])))
    return data


async def test_open_creates_the_configmap(fake_kube: FakeKube, store: Store) -> None:
    """Opening the store on an empty cluster creates our ConfigMap, readable by hand."""
    configmap = fake_kube.cluster.get("ConfigMap", NS, "remediator-state")

    assert configmap is not None
    assert configmap["metadata"]["labels"]["app.kubernetes.io/name"] == "remediator"
    assert stored(fake_kube)["next_id"] == 1


async def test_two_writers_at_once_lose_nothing(
    fake_kube: FakeKube, api_client: client.ApiClient
) -> None:
    """Two replicas adding decisions concurrently: all kept, ids unique, conflicts absorbed."""
    first, second = new_store(api_client), new_store(api_client)
    await first.open()
    await second.open()

    added = await asyncio.gather(*(
        writer.add_decision(decision(1000.0 + n, reason=f"{name} {n}"))
        for n in range(15) for name, writer in (("a", first), ("b", second))
    ))

    kept = await first.decisions_since(0.0)
    assert len(kept) == 30
    assert sorted(d.id for d in kept) == list(range(1, 31))
    assert sorted(d.id for d in added) == list(range(1, 31))
    conflicts = [e for e in fake_kube.cluster.access_log if e.method == "PUT" and e.status == 409]
    assert conflicts


async def test_injected_conflicts_and_errors_are_absorbed(
    fake_kube: FakeKube, store: Store
) -> None:
    """409s and 503s on the ConfigMap are retried; the write lands once."""
    fake_kube.faults.conflict_next_writes(3, "configmaps")
    fake_kube.faults.inject("error", resource="configmaps", every=2, times=3)

    await store.save_target(TargetState("default/deployment/llm-gateway", paused=True))

    assert await store.load_targets() == [TargetState("default/deployment/llm-gateway",
                                                      paused=True)]


async def test_unreachable_state_is_a_state_error(fake_kube: FakeKube, store: Store) -> None:
    """When the API keeps failing, the caller gets StateError, never a silent loss."""
    fake_kube.faults.inject("error", resource="configmaps", status=503)

    with pytest.raises(StateError, match="remediator-state"):
        await store.add_decision(decision(1.0))


async def test_a_new_leader_sees_every_cooldown_and_dedup_key(
    fake_kube: FakeKube, api_client: client.ApiClient
) -> None:
    """What one replica recorded is exactly what another replica loads after failover."""
    leader, follower = new_store(api_client), new_store(api_client)
    await leader.open()
    await follower.open()
    await leader.save_episodes([episode("1111111111111111")])
    acted = await leader.add_decision(decision(5000.0, outcome="executed"))
    await leader.save_target(TargetState("default/deployment/llm-gateway",
                                         breaker_opened_at=4000.0))
    await leader.close()

    episodes = await follower.load_episodes()
    decisions = await follower.decisions_since(0.0)
    targets = await follower.load_targets()

    assert [e.fingerprint for e in episodes] == ["1111111111111111"]
    assert decisions == [acted]
    assert targets[0].breaker_opened_at == 4000.0
    assert (await follower.add_decision(decision(5001.0))).id == acted.id + 1


async def test_an_alert_storm_stays_under_the_size_limit(
    fake_kube: FakeKube, api_client: client.ApiClient
) -> None:
    """3000 episodes with long labels fit, compressed, well under the 1 MiB limit."""
    store = new_store(api_client)
    await store.open()
    storm = [
        episode(f"{n:016x}", labels={"pod": f"checkout-{n}", "description": "x" * 400})
        for n in range(3000)
    ]

    await store.save_episodes(storm)

    configmap = fake_kube.cluster.get("ConfigMap", NS, "remediator-state")
    assert configmap is not None
    assert len(base64.b64decode(configmap["binaryData"][KEY])) < 768 * 1024
    assert len(await store.load_episodes()) == 3000


async def test_over_budget_the_history_goes_before_the_guard_memory(
    fake_kube: FakeKube, api_client: client.ApiClient
) -> None:
    """With a tiny budget, old history-only decisions are dropped, counted ones kept."""
    store = new_store(api_client, budget_bytes=3000)
    await store.open()
    counted = await store.add_decision(decision(100.0, outcome="executed"))
    for n in range(40):
        await store.add_decision(decision(200.0 + n, counted=False, covering=False,
                                          reason=f"skipped: {secrets.token_hex(100)}"))

    kept = await store.decisions_since(0.0)

    assert counted.id in [d.id for d in kept]
    assert len(kept) < 41
    assert kept[-1].time == 239.0


async def test_unreadable_state_refuses_to_start_empty(
    fake_kube: FakeKube, api_client: client.ApiClient
) -> None:
    """A damaged ConfigMap is reported, not silently replaced by empty state."""
    fake_kube.cluster.add_configmap(NS, "remediator-state")
    fake_kube.cluster.patch("ConfigMap", NS, "remediator-state",
                            {"binaryData": {KEY: base64.b64encode(b"not gzip").decode()}})

    with pytest.raises(StateError, match="not readable state"):
        await new_store(api_client).open()
