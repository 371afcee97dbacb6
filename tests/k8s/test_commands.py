"""
The commands a user runs, against the fake cluster: `remediator watch
--auto-execute` carries its plan out through the Kubernetes executor, the
`--kubeconfig` and `--context` flags of `watch` and `serve` choose the
cluster, and `remediator revert-config` undoes the daemon's config patch.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.daemon import payloads
from tests.fakekube.harness import FakeKube
from tests.k8s.helpers import NS, image, kubeconfig_with_a_dead_default, restarted_at
from tests.k8s.processes import Server, free_port, remediator

# error rate 8%: CRITICAL, so both Deployments are rolled back; the scale is WARNING only.
ERRORS = {"latency_stats": {"p95_ms": 80.0, "p99_ms": 100.0}, "error_rate": 0.08,
          "throughput_rps": 12.0}
GATEWAY_IMAGES = ["registry.example/gw:1", "registry.example/gw:2", "registry.example/gw:3"]
BACKEND_IMAGES = ["registry.example/be:1", "registry.example/be:2", "registry.example/be:3"]
TOKEN = "operator-token"


def seed(fake: FakeKube) -> None:
    fake.cluster.add_deployment(NS, "llm-gateway", replicas=3, images=GATEWAY_IMAGES)
    fake.cluster.add_deployment(NS, "llm-backend", replicas=2, images=BACKEND_IMAGES)
    fake.cluster.add_configmap(NS, "llm-config", {"MAX_TOKENS": "2048"})


def results(tmp_path: Path) -> str:
    path = tmp_path / "bench_results.json"
    path.write_text(json.dumps(ERRORS))
    return str(path)


def deployment_writes(fake: FakeKube) -> int:
    return sum(1 for r in fake.requests
               if r.verb in ("patch", "update") and r.resource.startswith("deployments"))


def config_value(fake: FakeKube) -> str:
    configmap = fake.cluster.get("ConfigMap", NS, "llm-config")
    assert configmap is not None
    return str(configmap["data"]["MAX_TOKENS"])


async def test_watch_auto_execute_rolls_back_and_a_second_run_waits_for_the_cooldown(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """A CronJob-style run rolls both Deployments back; the next run with its state skips."""
    seed(fake_kube)
    env = {"KUBECONFIG": str(fake_kube.kubeconfig_path), "HOME": str(tmp_path)}
    args = ("watch", "--results", results(tmp_path), "--auto-execute",
            "--state-dir", str(tmp_path / "state"))

    first = await remediator(*args, cwd=tmp_path, env=env)
    after_first = deployment_writes(fake_kube)
    second = await remediator(*args, cwd=tmp_path, env=env)

    assert first.returncode == 0, first.stderr
    assert ("rollback deployment/llm-gateway: executed - rolled_back: rolled back"
            " deployment/llm-gateway from revision 3 to revision 2") in first.stdout
    assert "scale deployment/llm-gateway: skipped - below_priority" in first.stdout
    assert (image(fake_kube), image(fake_kube, "llm-backend")) == (
        GATEWAY_IMAGES[1], BACKEND_IMAGES[1])
    assert {r.client for r in fake_kube.requests} == {"remediator"}
    assert second.returncode == 0, second.stderr
    assert "rollback deployment/llm-gateway: skipped - cooldown" in second.stdout
    assert "rollback deployment/llm-backend: skipped - cooldown" in second.stdout
    assert deployment_writes(fake_kube) == after_first
    assert image(fake_kube) == GATEWAY_IMAGES[1]


async def test_watch_without_state_still_never_undoes_twice(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """Without --state-dir the guard forgets, but the Deployment remembers our undo."""
    seed(fake_kube)
    env = {"KUBECONFIG": str(fake_kube.kubeconfig_path), "HOME": str(tmp_path)}
    args = ("watch", "--results", results(tmp_path), "--auto-execute")

    await remediator(*args, cwd=tmp_path, env=env)
    again = await remediator(*args, cwd=tmp_path, env=env)

    assert again.returncode == 0, again.stderr
    assert "rollback deployment/llm-gateway: refused - rolled_back_recently" in again.stdout
    assert image(fake_kube) == GATEWAY_IMAGES[1]


async def test_watch_auto_execute_with_dry_run_asks_the_server_and_changes_nothing(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """--auto-execute --dry-run sends each undo with dryRun=All: checked, reported, not stored."""
    seed(fake_kube)
    before = {kind: [obj["metadata"]["resourceVersion"] for obj in fake_kube.cluster.list(kind, NS)]
              for kind in ("Deployment", "ConfigMap", "ReplicaSet")}
    env = {"KUBECONFIG": str(fake_kube.kubeconfig_path), "HOME": str(tmp_path)}

    done = await remediator("watch", "--results", results(tmp_path), "--auto-execute",
                            "--dry-run", cwd=tmp_path, env=env)

    writes = [e for e in fake_kube.cluster.access_log if e.method in ("PATCH", "PUT", "POST")]
    assert done.returncode == 0, done.stderr
    assert ("rollback deployment/llm-gateway: dry_run - rolled_back: would roll back"
            " deployment/llm-gateway from revision 3 to revision 2") in done.stdout
    assert "rollback deployment/llm-backend: dry_run - rolled_back: would roll back" in done.stdout
    assert writes and all("dryRun=All" in e.path for e in writes)
    assert {kind: [obj["metadata"]["resourceVersion"] for obj in fake_kube.cluster.list(kind, NS)]
            for kind in before} == before
    assert fake_kube.cluster.list("Event", NS) == []


async def test_watch_kubeconfig_and_context_flags_choose_the_cluster(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """--kubeconfig and --context win over $KUBECONFIG and the file's current context."""
    seed(fake_kube)
    kubeconfig = kubeconfig_with_a_dead_default(fake_kube, tmp_path / "kubeconfig")
    env = {"KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path)}

    done = await remediator(
        "watch", "--results", results(tmp_path), "--auto-execute",
        "--kubeconfig", str(kubeconfig), "--context", "fakekube", cwd=tmp_path, env=env)

    assert done.returncode == 0, done.stderr
    assert "rollback deployment/llm-gateway: executed" in done.stdout
    assert image(fake_kube) == GATEWAY_IMAGES[1]


async def test_serve_flags_choose_the_cluster_and_revert_config_undoes_the_patch(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """A daemon started with --kubeconfig/--context lowers MAX_TOKENS; one command puts it back."""
    seed(fake_kube)
    kubeconfig = kubeconfig_with_a_dead_default(fake_kube, tmp_path / "kubeconfig")
    (tmp_path / "token").write_text(TOKEN)
    server = Server(tmp_path, "remediator", {
        "execution": {"auto_execute": True, "min_priority": 2, "rollout_timeout_seconds": 10},
        "state": {"backend": "kubernetes"},
        "server": {"webhook_token_file": str(tmp_path / "token")},
        "results": {"path": str(tmp_path / "no-results.json")},
        "kubernetes": {"namespace": NS},
    }, args=["--kubeconfig", str(kubeconfig), "--context", "fakekube"],
        env={"KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path)})
    await server.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            await ready(server, session)
            warning = payloads.notification(payloads.alert("LLMErrorRateWarning",
                                                           severity="warning"))
            await post_notification(server, session, warning)
            await fake_kube.cluster.wait_for(lambda: config_value(fake_kube) == "50",
                                             timeout_seconds=20, what="the config patch")
            patched = await settled(server, session)
            restarted = restarted_at(fake_kube, "llm-backend")

            reverted = await remediator(
                "revert-config", "--url", server.url, cwd=tmp_path,
                env={"REMEDIATOR_WEBHOOK_TOKEN": TOKEN})
    finally:
        await server.stop()

    configmap = fake_kube.cluster.get("ConfigMap", NS, "llm-config")
    assert configmap is not None
    assert [(a["type"], a["outcome"]) for a in patched] == [("patch_config", "executed")]
    assert fake_kube.cluster.get("ConfigMap", NS, "remediator-state") is not None
    assert reverted.returncode == 0, reverted.stderr + server.tail()
    assert reverted.stdout.startswith("executed")
    assert configmap["data"]["MAX_TOKENS"] == "2048"
    assert not any(key.startswith("remediator.io/")
                   for key in configmap["metadata"].get("annotations") or {})
    assert restarted is not None and restarted_at(fake_kube, "llm-backend") != restarted


async def post_notification(server: Server, session: aiohttp.ClientSession,
                            document: dict[str, Any]) -> None:
    """Send it as Alertmanager does, with the token; the daemon must take it."""
    async with session.post(
        f"{server.url}/webhook/alertmanager", data=payloads.body(document),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    ) as response:
        assert response.status == 200, await response.text()


async def ready(server: Server, session: aiohttp.ClientSession) -> None:
    deadline = time.monotonic() + 30
    while not await server.ready(session):
        assert server.alive and time.monotonic() < deadline, server.tail()
        await asyncio.sleep(0.05)


async def settled(server: Server, session: aiohttp.ClientSession) -> list[dict[str, object]]:
    """The history once it holds a decision and none is pending."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        history = await server.actions(session, TOKEN)
        if history and all(a["outcome"] != "pending" for a in history):
            return history
        await asyncio.sleep(0.05)
    raise AssertionError(f"decisions still pending\n{server.tail()}")


async def test_watch_auto_execute_without_any_kubeconfig_names_the_file_and_the_remedy(
    tmp_path: Path,
) -> None:
    """Not in a pod, no KUBECONFIG, no ~/.kube/config: each action fails saying where we looked."""
    env = {"HOME": str(tmp_path)}

    done = await remediator("watch", "--results", results(tmp_path), "--auto-execute",
                            cwd=tmp_path, env=env)

    assert done.returncode == 3, done.stderr
    failed = [line for line in done.stdout.splitlines() if ": failed - " in line]
    assert len(failed) == 2, done.stdout
    assert len([line for line in done.stderr.splitlines() if " failed: " in line]) == 2
    for line in failed:
        assert f"no kubeconfig file at {tmp_path}/.kube/config" in line
        assert "set --kubeconfig or KUBECONFIG" in line
    assert "current-context" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


async def test_an_empty_token_is_refused_by_serve_and_the_control_commands(
    tmp_path: Path,
) -> None:
    """REMEDIATOR_WEBHOOK_TOKEN= (an unfilled Secret) stops start-up instead of dropping auth."""
    empty = tmp_path / "empty-token"
    empty.write_text("\n")

    served = await remediator("serve", "--listen", f"127.0.0.1:{free_port()}", cwd=tmp_path,
                              env={"REMEDIATOR_WEBHOOK_TOKEN": ""}, timeout_seconds=60)
    listed = await remediator("decisions", "--url", "http://127.0.0.1:9", cwd=tmp_path,
                              env={"REMEDIATOR_WEBHOOK_TOKEN": " "})
    from_file = await remediator("decisions", "--url", "http://127.0.0.1:9",
                                 "--token-file", str(empty), cwd=tmp_path)

    for done in (served, listed):
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines()[-1].endswith(
            "REMEDIATOR_WEBHOOK_TOKEN: is set but empty: give the token, or unset the variable")
    assert from_file.returncode == 2, from_file.stderr
    assert f"{empty}: the token file is empty" in from_file.stderr


async def test_the_daemon_with_a_broken_kubeconfig_records_one_line_reasons(
    tmp_path: Path,
) -> None:
    """serve --kubeconfig naming half-edited YAML: the failed decision names the file, no trace."""
    kubeconfig = tmp_path / "bad.yaml"
    kubeconfig.write_text("apiVersion: v1\nclusters: [\n  - name: x\n    cluster: {server:\n")
    (tmp_path / "token").write_text(TOKEN)
    server = Server(tmp_path, "remediator", {
        "execution": {"auto_execute": True},
        "state": {"dir": str(tmp_path / "state")},
        "server": {"webhook_token_file": str(tmp_path / "token")},
        "results": {"path": str(tmp_path / "no-results.json")},
    }, args=["--kubeconfig", str(kubeconfig)], env={"HOME": str(tmp_path)})
    await server.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            await ready(server, session)
            critical = payloads.notification(payloads.alert("LLMLatencyP95Critical"))
            await post_notification(server, session, critical)
            decided = await settled(server, session)
    finally:
        await server.stop()

    assert [(a["type"], a["outcome"]) for a in decided] == [("scale", "failed")], server.tail()
    reason = str(decided[0]["reason"])
    assert f"kubeconfig {kubeconfig}: not valid YAML" in reason
    assert "\n" not in reason
    assert "Traceback" not in server.log.read_text()
