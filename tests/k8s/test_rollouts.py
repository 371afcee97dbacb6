"""Waiting, bounded, for the rollouts that restarts and rollbacks start."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from remediator.config.settings import Settings
from remediator.execution.base import Outcome
from remediator.execution.kube import KubernetesExecutor
from remediator.k8s import rollouts
from remediator.k8s.client import Api
from tests.fakekube.harness import FakeKube
from tests.k8s.conftest import FAST
from tests.k8s.helpers import GATEWAY, NS, reasons, restart, restarted_at


@pytest.mark.fake_kube(rollout_delay=0.3)
async def test_restart_reports_after_the_rollout_completed(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """With pods that take a while to be ready, the report waits for the finished rollout."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)

    report = await executor.run(restart())

    assert report.outcome is Outcome.EXECUTED
    assert report.reason.endswith("; rollout of deployment/llm-gateway complete")
    assert [step["status"] for step in report.details["steps"]] == ["applied", "verified"]
    assert fake_kube.cluster.rolled_out(NS, "llm-gateway") is not None
    watches = [entry.path for entry in fake_kube.cluster.access_log
               if "watch=true" in entry.path]
    assert watches and all("fieldSelector=metadata.name%3Dllm-gateway" in p for p in watches)


async def test_a_rollout_that_does_not_finish_in_time_fails_the_action(
    fake_kube: FakeKube, api_client: client.ApiClient
) -> None:
    """Pods that never become ready make the restart fail after the rollout timeout."""
    settings = Settings.model_validate({"execution": {"rollout_timeout_seconds": 0.5}})
    executor = KubernetesExecutor(settings, api_client, retry=FAST)
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=2)
    fake_kube.cluster.hang_rollouts()

    report = await executor.run(restart())

    assert report.outcome is Outcome.FAILED
    assert report.details["code"] == "rollout_failed"
    assert report.reason.startswith("rollout_failed: restarted deployment/llm-gateway; but the")
    assert "did not finish within 0.5s" in report.reason
    assert reasons(fake_kube, "llm-gateway") == ["RemediationApplied", "RemediationFailed"]


async def test_wait_reports_a_progress_deadline_as_failed(
    fake_kube: FakeKube, api_client: client.ApiClient
) -> None:
    """A rollout past its progress deadline ends the wait early, as a failure."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=2, progress_deadline_seconds=1)
    fake_kube.cluster.hang_rollouts()
    fake_kube.cluster.patch("Deployment", NS, "llm-gateway", {"spec": {"template": {
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:2"}]}}}},
        "strategic")

    result = await rollouts.wait(Api(api_client), GATEWAY, limit_seconds=30)

    assert result.failed
    assert "progress deadline" in result.message


async def test_wait_survives_server_errors(
    fake_kube: FakeKube, api_client: client.ApiClient
) -> None:
    """Half the reads failing with 503 only delay the wait; it still sees the rollout end."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=2)
    fake_kube.faults.inject("error", verb=["get", "watch"], resource="apps/deployments",
                            fraction=0.5, seed=3)

    result = await rollouts.wait(Api(api_client), GATEWAY, limit_seconds=20)

    assert result.done


async def test_a_rollout_we_may_not_watch_is_recorded_as_failed(
    fake_kube: FakeKube, settings: Settings
) -> None:
    """Without `watch` on deployments the restart is done, its verification fails, by name."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=2)
    fake_kube.cluster.hang_rollouts()
    fake_kube.add_token("no-watch", user="system:serviceaccount:remediator:remediator")
    fake_kube.cluster.auth.grant("no-watch", ["get", "list", "patch"], "apps/deployments", NS)
    fake_kube.cluster.auth.grant("no-watch", "create", "events", NS)

    async with fake_kube.api_client("no-watch") as api:
        report = await KubernetesExecutor(settings, api, retry=FAST).run(restart())

    assert report.outcome is Outcome.FAILED
    assert report.details["code"] == "rollout_failed"
    assert "cannot watch deployments" in report.reason
    assert restarted_at(fake_kube, "llm-gateway") is not None
    assert reasons(fake_kube, "llm-gateway") == ["RemediationApplied", "RemediationFailed"]
