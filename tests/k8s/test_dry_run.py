"""Server-side dry run: every check the API makes, and nothing stored."""

from __future__ import annotations

import pytest

from remediator.config.settings import Settings
from remediator.execution.base import Outcome
from remediator.execution.kube import KubernetesExecutor
from remediator.planning.actions import Action
from tests.fakekube.harness import FakeKube
from tests.k8s.conftest import FAST
from tests.k8s.helpers import NS, combined, patch_config, restart, rollback, scale

IMAGES = ["registry.example/gw:1", "registry.example/gw:2"]


def seed(fake: FakeKube) -> None:
    fake.cluster.add_deployment(NS, "llm-gateway", replicas=3, images=IMAGES)
    fake.cluster.add_deployment(NS, "llm-backend", replicas=2)
    fake.cluster.add_configmap(NS, "llm-config", {"MAX_TOKENS": "2048"})


def snapshot(fake: FakeKube) -> list[tuple[str, str, str]]:
    return sorted(
        (kind, obj["metadata"]["name"], obj["metadata"]["resourceVersion"])
        for kind in ("Deployment", "ConfigMap", "ReplicaSet", "Event")
        for obj in fake.cluster.list(kind, NS)
    )


@pytest.mark.parametrize("action", [
    scale(6), rollback(), restart(), combined(6), patch_config("50"),
], ids=["scale", "rollback", "restart", "combined", "patch_config"])
async def test_dry_run_reports_the_change_and_leaves_the_cluster_untouched(
    fake_kube: FakeKube, dry_executor: KubernetesExecutor, action: Action
) -> None:
    """Each action type, dry-run: outcome dry_run, "would ..." reasons, no object changed."""
    seed(fake_kube)
    before = snapshot(fake_kube)

    report = await dry_executor.run(action)

    assert report.outcome is Outcome.DRY_RUN
    assert "would " in report.reason
    assert report.details["dry_run"] is True
    assert snapshot(fake_kube) == before
    writes = [e for e in fake_kube.cluster.access_log if e.method in ("PATCH", "PUT", "POST")]
    assert writes and all("dryRun=All" in e.path for e in writes)


async def test_dry_run_scale_says_from_what_to_what(
    fake_kube: FakeKube, dry_executor: KubernetesExecutor
) -> None:
    """The dry-run record carries the live and the intended replica counts."""
    seed(fake_kube)

    report = await dry_executor.run(scale(6))

    assert (report.details["before"], report.details["after"]) == (3, 6)
    assert "would scale deployment/llm-gateway from 3 to 6" in report.reason


async def test_dry_run_still_meets_rbac(fake_kube: FakeKube, settings: Settings) -> None:
    """A dry run under a Role without deployments/scale patch is reported as forbidden."""
    seed(fake_kube)
    fake_kube.add_token("viewer", user="viewer")
    fake_kube.cluster.auth.grant("viewer", ["get", "list"], [
        "apps/deployments", "apps/deployments/scale", "autoscaling/horizontalpodautoscalers",
    ])

    async with fake_kube.api_client("viewer") as api:
        executor = KubernetesExecutor(settings, api, retry=FAST, dry_run=True)
        report = await executor.run(scale(6))

    assert report.outcome is Outcome.FAILED
    assert "cannot patch deployments/scale" in report.reason
