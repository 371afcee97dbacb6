"""Server-side dry run: every check the API makes, and nothing stored."""

from __future__ import annotations

import pytest

from remediator.config.settings import Settings
from remediator.execution import runner
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


def on_the_fake(fake: FakeKube, **execution: object) -> Settings:
    """Execution on, through the fake, with the given execution settings."""
    return Settings.model_validate({
        "execution": {"auto_execute": True, "rollout_timeout_seconds": 10, **execution},
        "kubernetes": {"kubeconfig": str(fake.kubeconfig_path)},
    })


async def test_a_dry_run_mode_asks_the_server_while_other_types_execute(
    fake_kube: FakeKube,
) -> None:
    """With rollback in dry-run mode, `watch --auto-execute` dry-runs the undo on the server."""
    seed(fake_kube)
    settings = on_the_fake(fake_kube, modes={"rollback": "dry-run"})

    decided = await runner.carry_out_once([rollback(), scale(6)], settings)

    outcomes = [(action.type.value, outcome) for action, outcome, _ in decided]
    undo = [e for e in fake_kube.cluster.access_log
            if e.method == "PATCH" and e.path.split("?")[0].endswith("/deployments/llm-gateway")]
    assert outcomes == [("rollback", "dry_run"), ("scale", "executed")]
    assert "would roll back deployment/llm-gateway" in decided[0][2]
    assert undo and all("dryRun=All" in e.path for e in undo)
    assert fake_kube.cluster.get("Deployment", NS, "llm-gateway")["spec"][  # type: ignore[index]
        "template"]["spec"]["containers"][0]["image"] == IMAGES[1]


async def test_an_observed_type_is_only_recorded(fake_kube: FakeKube) -> None:
    """A type in observe mode sends nothing, even with execution on."""
    seed(fake_kube)
    settings = on_the_fake(fake_kube, modes={"scale": "observe"})

    decided = await runner.carry_out_once([scale(6)], settings)

    assert [(outcome, reason.split(":")[0]) for _, outcome, reason in decided] == [
        ("skipped", "observe")]
    assert fake_kube.requests == []


def test_without_execution_the_dry_run_stays_local() -> None:
    """Off (the default) or DRY_RUN alone: no cluster is contacted, the commands are shown."""
    for execution in ({}, {"dry_run": True}, {"auto_execute": True, "executor": "kubectl",
                                              "dry_run": True}):
        settings = Settings.model_validate({"execution": execution})

        assert runner.executor_for(settings).name == "dry-run"
