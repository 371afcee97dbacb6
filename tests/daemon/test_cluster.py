"""
The daemon acting on a cluster: the fake Kubernetes API behind the real executor.

The webhook, the worker, the guard and the Kubernetes executor run as in
production; only the API server is the fake one from tests/fakekube, which
answers with the errors and objects a real apiserver gives.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from remediator.execution.kube import KubernetesExecutor
from remediator.k8s.retrying import RetryPolicy
from tests.daemon.conftest import Daemon, MakeDaemon
from tests.daemon.payloads import alert, notification
from tests.daemon.support import make_settings
from tests.fakekube.harness import FakeKube
from tests.k8s.helpers import patch_config, replicas, restarted_at

NS = "default"
EXECUTING = {"execution.auto_execute": True, "server.allow_insecure": True}
# Realistic tries, no real back-off waits.
QUICK = RetryPolicy(attempts=3, max_delay=0.01)
# What Kubernetes accepts as an annotation key: an optional DNS-subdomain prefix, then a name.
QUALIFIED_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


@pytest.fixture
async def on_cluster(make_daemon: MakeDaemon, fake_kube: FakeKube, tmp_path: Path
                     ) -> AsyncIterator[Any]:
    """Make a daemon whose executor talks to `fake_kube` with the given token."""
    clients: list[Any] = []

    async def make(token: str | None = None, **dotted: Any) -> Daemon:
        settings = make_settings(**{
            **EXECUTING, "state.dir": str(tmp_path / "state"),
            "results.path": str(tmp_path / "bench_results.json"), **dotted})
        api = fake_kube.api_client(token)
        clients.append(api)
        executor = KubernetesExecutor(settings, api, retry=QUICK, identity="remediator-test")
        return await make_daemon(settings, executor=executor)

    yield make
    for api in clients:
        await api.close()


def seed(fake: FakeKube) -> None:
    fake.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    fake.cluster.add_deployment(NS, "llm-backend", replicas=2)
    fake.cluster.add_configmap(NS, "llm-config", {"MAX_TOKENS": "2048"})


def scale_writes(fake: FakeKube) -> list[Any]:
    return [r for r in fake.requests if r.verb in ("patch", "update")
            and r.resource == "deployments/scale"]


async def test_forbidden_scale_is_tried_once_recorded_failed_and_answered_2xx(
        on_cluster: Any, fake_kube: FakeKube) -> None:
    """
    Field report 15: a Role without `deployments/scale` patch gets one attempt.

    The webhook still answers 200 (so Alertmanager does not retry), the
    decision is `failed` naming Forbidden, the failure is counted and leaves
    an Event, and repeats of the alert do not try again inside the cooldown.
    """
    seed(fake_kube)
    fake_kube.add_token("limited", user="system:serviceaccount:remediator:remediator")
    auth = fake_kube.cluster.auth
    auth.grant("limited", ["get", "list", "patch"], "apps/deployments", NS)
    auth.grant("limited", "get", "apps/deployments/scale", NS)
    auth.grant("limited", ["get", "list"], "autoscaling/horizontalpodautoscalers")
    auth.grant("limited", "create", "events", NS)
    daemon = await on_cluster("limited")

    status, _ = await daemon.post(notification(alert("LLMLatencyP95Critical")))
    await daemon.settle()
    daemon.clock.advance(60)
    repeat, _ = await daemon.post(notification(alert("LLMLatencyP95Critical")))
    daemon.services.remediation.wake()
    await daemon.settle()

    decision, later = await daemon.decisions()
    assert (status, repeat) == (200, 200)
    assert (later.outcome, later.skip) == ("skipped", "cooldown")
    assert (decision.type, decision.outcome) == ("scale", "failed")
    assert "forbidden" in decision.reason.lower()
    assert "deployments/scale" in decision.reason
    assert len(scale_writes(fake_kube)) == 1
    assert replicas(fake_kube) == 3
    assert daemon.sample("remediator_actions_total", type="scale", outcome="failed") == 1
    assert daemon.sample("remediator_action_failures_total", type="scale",
                         target=f"{NS}/deployment/llm-gateway") == 1
    assert "RemediationFailed" in [e["reason"] for e in fake_kube.cluster.list("Event", NS)]


async def test_partly_applied_config_patch_is_retried_after_its_cooldown(
        on_cluster: Any, fake_kube: FakeKube) -> None:
    """
    Field report 17: a config patch whose restart failed says "partially applied".

    The daemon comes back by itself when the cooldown ends (the alert still
    firing), and the retry does only what is missing: the backend's restart.
    """
    seed(fake_kube)
    broken = fake_kube.faults.inject("error", verb="patch", resource="apps/deployments",
                                     name="llm-backend", status=500)
    daemon = await on_cluster(**{"execution.min_priority": 2})

    await daemon.post(notification(alert("LLMErrorRateWarning")))
    await daemon.settle()
    gateway_restart = restarted_at(fake_kube, "llm-gateway")
    retry_at = daemon.services.remediation.decider.next_retry
    fake_kube.faults.remove(broken)
    daemon.clock.advance(15 * 60)
    daemon.services.remediation.wake()
    await daemon.settle()

    first, second = await daemon.decisions()
    assert (first.outcome, second.outcome) == ("failed", "executed")
    assert "partially applied" in first.reason
    assert retry_at == first.time + 15 * 60
    assert fake_kube.cluster.get("ConfigMap", NS, "llm-config")["data"]["MAX_TOKENS"] == "50"
    assert restarted_at(fake_kube, "llm-gateway") == gateway_restart
    assert restarted_at(fake_kube, "llm-backend") is not None


async def test_conflicts_on_the_scale_are_absorbed_into_one_change(
        on_cluster: Any, fake_kube: FakeKube) -> None:
    """Field report 17: two 409s on the scale, then success: one executed decision, 5 replicas."""
    seed(fake_kube)
    fake_kube.faults.conflict_next_writes(2, "apps/deployments/scale")
    daemon = await on_cluster()

    await daemon.post(notification(alert("LLMLatencyP95Critical")))
    await daemon.settle()

    [decision] = await daemon.decisions()
    assert decision.outcome == "executed"
    assert replicas(fake_kube) == 5


async def test_group_key_never_reaches_the_cluster(on_cluster: Any, fake_kube: FakeKube) -> None:
    """
    Field report 7: a groupKey of braces, quotes and regex, and a non-ASCII label.

    The scale lands; every annotation key we leave on the cluster is a valid
    Kubernetes qualified name, and the groupKey is written into no object.
    """
    seed(fake_kube)
    group_key = ('{}/{severity=~"^(?:page)$"}:{alertname="LLMLatencyP95Critical",'
                 ' namespace="shop"}')
    daemon = await on_cluster()

    status, _ = await daemon.post(notification(
        alert("LLMLatencyP95Critical", team="équipe-paiement"), group_key=group_key))
    await daemon.settle()

    objects = [obj for kind in ("Deployment", "ConfigMap", "Event", "ReplicaSet")
               for obj in fake_kube.cluster.list(kind, NS)]
    keys = {key for obj in objects
            for key in (obj["metadata"].get("annotations") or {})}
    assert status == 200
    assert replicas(fake_kube) == 5
    assert keys and all(QUALIFIED_NAME.match(key) for key in keys), keys
    assert all(group_key not in repr(obj) and "severity=~" not in repr(obj)
               for obj in objects)


def snapshot(fake: FakeKube) -> list[tuple[str, str, str]]:
    """Every object we might touch, with its resourceVersion: any stored write shows."""
    return sorted(
        (kind, obj["metadata"]["name"], obj["metadata"]["resourceVersion"])
        for kind in ("Deployment", "ConfigMap", "ReplicaSet", "Event")
        for obj in fake.cluster.list(kind, NS)
    )


async def test_dry_run_with_execution_on_asks_the_api_server(
        make_daemon: MakeDaemon, fake_kube: FakeKube, tmp_path: Path) -> None:
    """
    AUTO_EXECUTE=true with DRY_RUN=true: the daemon's dry run is the server's.

    The scale goes to the API with `dryRun=All` (so RBAC and admission are
    checked), nothing is stored, and the decision is a dry run that says
    what would change, from the live count.
    """
    seed(fake_kube)
    before = snapshot(fake_kube)
    settings = make_settings(**{
        **EXECUTING, "execution.dry_run": True, "state.dir": str(tmp_path / "state"),
        "results.path": str(tmp_path / "bench_results.json"),
        "kubernetes.kubeconfig": str(fake_kube.kubeconfig_path)})
    daemon = await make_daemon(settings)

    await daemon.post(notification(alert("LLMLatencyP95Critical")))
    await daemon.settle()

    [decision] = await daemon.decisions()
    sent = [e.path for e in fake_kube.cluster.access_log if e.method in ("PATCH", "PUT", "POST")]
    assert (decision.type, decision.outcome, decision.skip) == ("scale", "dry_run", "dry_run")
    assert "would scale deployment/llm-gateway from 3 to 5" in decision.reason
    assert (decision.details["before"], decision.details["after"]) == (3, 5)
    assert decision.executor == "kubernetes"
    assert len(scale_writes(fake_kube)) == 1
    assert sent and all("dryRun=All" in path for path in sent)
    assert snapshot(fake_kube) == before


async def test_revert_with_execution_held_back_is_a_server_side_dry_run(
        make_daemon: MakeDaemon, fake_kube: FakeKube, tmp_path: Path) -> None:
    """
    DRY_RUN=true: `revert-config` asks the API what the revert would restore
    (`dryRun=All`) and leaves our lowered value and its annotation in place.
    """
    seed(fake_kube)
    settings = make_settings(**{
        **EXECUTING, "execution.dry_run": True, "execution.min_priority": 2,
        "state.dir": str(tmp_path / "state"),
        "results.path": str(tmp_path / "bench_results.json"),
        "kubernetes.kubeconfig": str(fake_kube.kubeconfig_path)})
    daemon = await make_daemon(settings)
    await daemon.post(notification(alert("LLMErrorRateWarning")))
    await daemon.settle()
    async with fake_kube.api_client() as api:
        # Then someone executing (a CronJob run, say) lowered MAX_TOKENS for real.
        await KubernetesExecutor(settings, api, retry=QUICK).run(patch_config())
    lowered = fake_kube.cluster.get("ConfigMap", NS, "llm-config")
    before = snapshot(fake_kube)
    fake_kube.cluster.access_log.clear()

    status, decision = await daemon.api("POST", "/api/v1/config/revert")

    sent = [e.path for e in fake_kube.cluster.access_log if e.method in ("PATCH", "PUT", "POST")]
    assert status == 200
    assert (decision["type"], decision["outcome"]) == ("revert_config", "dry_run")
    assert decision["executor"] == "kubernetes"
    assert "would restore MAX_TOKENS to 2048 (from 50)" in decision["reason"]
    assert sent and all("dryRun=All" in path for path in sent)
    assert snapshot(fake_kube) == before
    assert lowered is not None and lowered["data"]["MAX_TOKENS"] == "50"
