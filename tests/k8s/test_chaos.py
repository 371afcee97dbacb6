"""
A third of all requests fail (409 or 5xx), or lose their answer: every
action is still applied exactly once, or recorded as failed.
"""

from __future__ import annotations

import collections
from typing import Any

import pytest
from kubernetes_asyncio import client

from remediator.config.settings import Settings
from remediator.execution.base import ExecutionReport, Outcome
from remediator.execution.kube import KubernetesExecutor
from remediator.k8s.retrying import RetryPolicy
from tests.fakekube.harness import FakeKube
from tests.fakekube.store import Event
from tests.k8s.helpers import BACKEND, NS, combined, image, patch_config, replicas, scale

IMAGES = ["registry.example/gw:1", "registry.example/gw:2", "registry.example/gw:3"]
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class Effects:
    """Every change the store commits to our targets, to count how often each happened."""

    def __init__(self) -> None:
        self.images: list[str] = []
        self.replicas: dict[str, list[int]] = collections.defaultdict(list)
        self.restarts: dict[str, set[str]] = collections.defaultdict(set)
        self.max_tokens: list[str] = []

    def __call__(self, event: Event) -> None:
        obj: dict[str, Any] = event.obj
        name = obj["metadata"]["name"]
        if event.type != "MODIFIED":
            return
        if obj["kind"] == "Deployment":
            template = obj["spec"]["template"]
            if name == "llm-gateway":
                found = template["spec"]["containers"][0]["image"]
                if not self.images or self.images[-1] != found:
                    self.images.append(found)
            counts = self.replicas[name]
            if not counts or counts[-1] != obj["spec"]["replicas"]:
                counts.append(obj["spec"]["replicas"])
            stamp = (template.get("metadata", {}).get("annotations") or {}).get(RESTARTED_AT)
            if stamp:
                self.restarts[name].add(stamp)
        if obj["kind"] == "ConfigMap":
            value = obj.get("data", {}).get("MAX_TOKENS")
            if not self.max_tokens or self.max_tokens[-1] != value:
                self.max_tokens.append(value)


def seed(fake: FakeKube) -> Effects:
    fake.cluster.add_deployment(NS, "llm-gateway", replicas=3, images=IMAGES)
    fake.cluster.add_deployment(NS, "llm-backend", replicas=2)
    fake.cluster.add_configmap(NS, "llm-config", {"MAX_TOKENS": "2048"})
    effects = Effects()
    fake.cluster.store.add_listener(effects)
    return effects


def check(fake: FakeKube, effects: Effects, reports: list[ExecutionReport]) -> None:
    combined_report, scale_report, patch_report = reports

    # Never twice, whatever the outcome: one undo, one config write, one restart.
    assert effects.images in ([IMAGES[2]], [IMAGES[1]], [IMAGES[2], IMAGES[1]]), effects.images
    assert len(effects.max_tokens) <= 1
    assert len(effects.restarts["llm-backend"]) <= 1
    assert len(effects.restarts["llm-gateway"]) == 0
    for counts in effects.replicas.values():
        assert counts == sorted(counts), f"replicas went down: {counts}"

    # Executed means the whole effect is there.
    if combined_report.outcome is Outcome.EXECUTED:
        assert (image(fake), replicas(fake)) == (IMAGES[1], 6)
    else:
        assert combined_report.outcome is Outcome.FAILED, combined_report
    if scale_report.outcome is Outcome.EXECUTED:
        assert replicas(fake, "llm-backend") == 5
    else:
        assert scale_report.outcome is Outcome.FAILED, scale_report
    if patch_report.outcome is Outcome.EXECUTED:
        configmap = fake.cluster.get("ConfigMap", NS, "llm-config")
        assert configmap is not None and configmap["data"]["MAX_TOKENS"] == "50"
        assert len(effects.restarts["llm-backend"]) == 1
    else:
        assert patch_report.outcome is Outcome.FAILED, patch_report


async def run_plan(executor: KubernetesExecutor) -> list[ExecutionReport]:
    return [
        await executor.run(combined(6)),
        await executor.run(scale(5, BACKEND)),
        await executor.run(patch_config("50", restarts=(BACKEND,))),
    ]


@pytest.mark.parametrize("seed_value", range(6))
async def test_conflicts_and_server_errors_on_a_third_of_requests(
    fake_kube: FakeKube, api_client: client.ApiClient, settings: Settings, seed_value: int
) -> None:
    """With 409s and 5xx on a third of requests, each action lands once or is failed."""
    effects = seed(fake_kube)
    fake_kube.faults.inject("error", status=409, fraction=1 / 6, seed=seed_value)
    fake_kube.faults.inject("error", status=503, fraction=1 / 6, seed=seed_value + 100)
    executor = KubernetesExecutor(
        settings, api_client, retry=RetryPolicy(attempts=6, max_delay=0.01)
    )

    reports = await run_plan(executor)

    check(fake_kube, effects, reports)


@pytest.mark.parametrize("seed_value", range(4))
async def test_lost_answers_on_a_third_of_writes(
    fake_kube: FakeKube, api_client: client.ApiClient, settings: Settings, seed_value: int
) -> None:
    """Writes that land but lose their answer are never repeated into a second effect."""
    effects = seed(fake_kube)
    fake_kube.faults.inject("drop_after", verb=["patch", "update"], fraction=1 / 3,
                            seed=seed_value)
    executor = KubernetesExecutor(
        settings, api_client, retry=RetryPolicy(attempts=6, max_delay=0.01)
    )

    reports = await run_plan(executor)

    check(fake_kube, effects, reports)
    assert [report.outcome for report in reports] == [Outcome.EXECUTED] * 3


@pytest.mark.parametrize("seed_value", range(4))
async def test_with_few_tries_failures_are_recorded_not_hidden(
    fake_kube: FakeKube, api_client: client.ApiClient, settings: Settings, seed_value: int
) -> None:
    """With only two tries per step some actions fail; none is doubled or reported done."""
    effects = seed(fake_kube)
    fake_kube.faults.inject("error", status=409, fraction=1 / 6, seed=seed_value)
    fake_kube.faults.inject("error", status=500, fraction=1 / 6, seed=seed_value + 100)
    executor = KubernetesExecutor(
        settings, api_client, retry=RetryPolicy(attempts=2, max_delay=0.01)
    )

    reports = await run_plan(executor)

    check(fake_kube, effects, reports)


@pytest.mark.parametrize("seed_value", range(3))
async def test_dropped_connections_on_a_third_of_requests(
    fake_kube: FakeKube, api_client: client.ApiClient, settings: Settings, seed_value: int
) -> None:
    """Connections closed before any answer, on reads and writes alike: once, or failed."""
    effects = seed(fake_kube)
    dropped = fake_kube.faults.inject("drop", fraction=1 / 3, seed=seed_value)
    executor = KubernetesExecutor(
        settings, api_client, retry=RetryPolicy(attempts=6, max_delay=0.01)
    )

    reports = await run_plan(executor)

    assert dropped.fired > 0
    check(fake_kube, effects, reports)
