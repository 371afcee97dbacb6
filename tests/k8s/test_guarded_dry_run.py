"""
`remediator watch --state-dir` held back: the guarded path dry-runs on the server too.

The stateless watch already sends a held-back action with `dryRun=All`;
with a state directory the daemon's decider carries the plan out, and it
follows the same rules.
"""

from __future__ import annotations

from pathlib import Path

from remediator.config.settings import Settings
from remediator.execution import runner
from tests.fakekube.harness import FakeKube
from tests.k8s.helpers import NS, replicas, rollback, scale, writes

IMAGES = ["registry.example/gw:1", "registry.example/gw:2"]


def guarded_on_the_fake(fake: FakeKube, state: Path, **execution: object) -> Settings:
    return Settings.model_validate({
        "execution": {"auto_execute": True, "rollout_timeout_seconds": 10, **execution},
        "kubernetes": {"kubeconfig": str(fake.kubeconfig_path)},
        "state": {"dir": str(state)},
    })


def image(fake: FakeKube) -> str:
    deployment = fake.cluster.get("Deployment", NS, "llm-gateway")
    assert deployment is not None
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_dry_run_through_the_state_dir_is_server_side(
        fake_kube: FakeKube, tmp_path: Path) -> None:
    """AUTO_EXECUTE with DRY_RUN and a state dir: dryRun=All, the count unchanged."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    settings = guarded_on_the_fake(fake_kube, tmp_path / "state", dry_run=True)

    [(_, outcome, reason)] = await runner.carry_out_once([scale(6)], settings, use_state=True)

    sent = writes(fake_kube, "deployments/scale")
    assert outcome == "dry_run"
    assert "would scale deployment/llm-gateway from 3 to 6" in reason
    assert len(sent) == 1
    assert all("dryRun=All" in e.path for e in fake_kube.cluster.access_log
               if e.method in ("PATCH", "PUT", "POST"))
    assert replicas(fake_kube) == 3


async def test_a_dry_run_mode_through_the_state_dir_asks_the_server(
        fake_kube: FakeKube, tmp_path: Path) -> None:
    """Rollback in dry-run mode while scale executes: the undo is only tried on the server."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3, images=IMAGES)
    settings = guarded_on_the_fake(fake_kube, tmp_path / "state",
                                   modes={"rollback": "dry-run"})

    decided = await runner.carry_out_once([rollback(), scale(6)], settings, use_state=True)

    undo = [e for e in fake_kube.cluster.access_log
            if e.method == "PATCH" and e.path.split("?")[0].endswith("/deployments/llm-gateway")]
    assert [(a.type.value, outcome) for a, outcome, _ in decided] == [
        ("rollback", "dry_run"), ("scale", "executed")]
    assert "would roll back deployment/llm-gateway" in decided[0][2]
    assert undo and all("dryRun=All" in e.path for e in undo)
    assert image(fake_kube) == IMAGES[1]
    assert replicas(fake_kube) == 6
