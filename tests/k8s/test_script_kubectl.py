"""The generated script, run for real by bash and /usr/bin/kubectl against the fake."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from remediator.alerting import mapping
from remediator.config.settings import Settings
from remediator.planning import planner, script
from remediator.planning.actions import Action, ActionType
from tests.fakekube.harness import FakeKube
from tests.k8s.helpers import NS, image, replicas, restarted_at
from tests.planning.helpers import plan_for, result

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
IMAGES = ["registry.example/gw:1", "registry.example/gw:2", "registry.example/gw:3"]
KUBECTL_DIR = "/usr/bin"


def seed(fake: FakeKube, *, gateway_replicas: int = 3, max_tokens: str = "2048") -> None:
    fake.cluster.add_deployment(NS, "llm-gateway", replicas=gateway_replicas, images=IMAGES)
    fake.cluster.add_deployment(NS, "llm-backend", replicas=2)
    fake.cluster.add_configmap(NS, "llm-config", {"MAX_TOKENS": max_tokens})


async def run_script(fake: FakeKube, tmp_path: Path, actions: list[Action]) -> str:
    """Write the plan's script, run it with bash; its stdout, after asserting exit 0."""
    path = tmp_path / "remediate.sh"
    path.write_text(script.generate(actions, result(), now=NOW, rollout_timeout_seconds=60))
    env = {
        "PATH": f"{KUBECTL_DIR}:/bin", "HOME": str(tmp_path),
        "KUBECONFIG": str(fake.kubeconfig_path),
    }
    process = await asyncio.create_subprocess_exec(
        "bash", str(path), cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, f"script failed:\n{out.decode()}\n{err.decode()}"
    return out.decode()


def files(directory: Path) -> set[str]:
    """Every name under `directory`, however deep: a PWNED file anywhere is a failure."""
    return {path.name for path in directory.rglob("*")}


def max_tokens(fake: FakeKube) -> str:
    configmap = fake.cluster.get("ConfigMap", NS, "llm-config")
    assert configmap is not None
    return str(configmap["data"]["MAX_TOKENS"])


async def test_script_of_the_combined_example_ends_in_the_planned_state(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """p95 140 / p99 180 / 2% / 8 req/s: gateway at 6 on its previous revision, MAX_TOKENS 50."""
    seed(fake_kube)
    actions = plan_for(result(p95=140, p99=180, error_rate=0.02, throughput=8))
    assert [a.type for a in actions] == [ActionType.COMBINED, ActionType.PATCH_CONFIG]

    out = await run_script(fake_kube, tmp_path, actions)

    assert replicas(fake_kube) == 6
    assert image(fake_kube) == IMAGES[1]
    assert max_tokens(fake_kube) == "50"
    assert restarted_at(fake_kube, "llm-backend") is not None
    assert restarted_at(fake_kube, "llm-gateway") is None
    assert fake_kube.cluster.rolled_out(NS, "llm-gateway") is not None
    assert "remediation script finished" in out
    clients = {r.client for r in fake_kube.requests}
    assert clients == {"kubectl"}


async def test_script_never_lowers_replicas_nor_raises_max_tokens(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """Live values beyond the plan are left alone, and the script says so."""
    seed(fake_kube, gateway_replicas=8, max_tokens="32")
    actions = plan_for(result(p95=165, p99=100, error_rate=0.02, throughput=20))

    out = await run_script(fake_kube, tmp_path, actions)

    assert replicas(fake_kube) == 8
    assert max_tokens(fake_kube) == "32"
    assert restarted_at(fake_kube, "llm-gateway") is None
    assert "scaling never lowers replicas" in out
    assert "only ever lowered" in out


async def test_script_of_a_plan_whose_injection_attempts_were_refused(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """Hostile alert labels never reach the plan; the rest of it runs, and no PWNED appears."""
    seed(fake_kube)
    settings = Settings.model_validate({"alerts": {"custom": [
        {"alertname": "PodCrashLooping", "action": "restart", "priority": 1},
    ]}})
    hostile = [
        "checkout'; touch PWNED; echo '", "$(touch PWNED)", "llm-backend\nkubectl delete ns prod",
        "Checkout_Service", "`touch PWNED`",
    ]
    mapped = [mapping.map_alert({"alertname": "PodCrashLooping", "deployment": name}, settings)
              for name in [*hostile, "llm-backend"]]
    requested = [m.action for m in mapped if isinstance(m, mapping.Mapped) and m.action]
    actions = planner.plan([], settings, requested=requested)

    out = await run_script(fake_kube, tmp_path, actions)

    assert sum(isinstance(m, mapping.Rejected) for m in mapped) == len(hostile)
    assert [(a.type, a.target.name if a.target else None) for a in actions] == [
        (ActionType.RESTART, "llm-backend")]
    assert restarted_at(fake_kube, "llm-backend") is not None
    assert "PWNED" not in files(tmp_path)
    assert "PWNED" not in (tmp_path / "remediate.sh").read_text()
    assert "remediation script finished" in out
