"""
The shipped Role is exactly enough: every API call our code makes is granted,
and every grant is used.

A workload drives every kind of request the remediator sends, through the
clients production builds (`new_api_client` from a kubeconfig holding a
service-account token bound to exactly k8s/base/role.yaml): every action type,
an HPA, a GitOps-managed Deployment, a server-side dry run, Events, a config
revert, rollout waits that watch, the state ConfigMap and the leader Lease.
The audit then compares the Role with what the fake API servers recorded in
the whole session (tests/fakekube/plugin.py); it carries the `rbac_audit`
marker, which the root conftest moves to the end of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediator.config import loading
from remediator.config.settings import Settings
from remediator.execution import election
from remediator.execution.base import Outcome
from remediator.execution.kube import KubernetesExecutor
from remediator.leadership import Leadership
from remediator.planning.actions import Target
from remediator.state.backends import make_store
from tests.fakekube.harness import FakeKube
from tests.fakekube.plugin import session_requests
from tests.fakekube.rbac import RequestRecord
from tests.k8s.conftest import FAST
from tests.k8s.helpers import BACKEND, GATEWAY, NS, combined, patch_config, restart, rollback, scale
from tests.state.contract import decision

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "k8s" / "base" / "role.yaml"
CONFIG = REPO / "k8s" / "base" / "config" / "remediator.yaml"
TOKEN = "remediator-service-account"
USER = f"system:serviceaccount:{NS}:remediator"
ROUTER = Target("Deployment", NS, "llm-router")
# What our code calls itself: `new_api_client` sets it, and so does the
# client the other Kubernetes tests hand to our code (tests/k8s/conftest.py).
OUR_CLIENT = "remediator"


@dataclasses.dataclass(frozen=True)
class Grant:
    """One (verb, group, resource, name) a Role allows; `name` None for any name."""

    verb: str
    group: str
    resource: str
    name: str | None

    def __str__(self) -> str:
        group = self.group or '""'
        return f"{self.verb} {group}/{self.resource}" + (f" {self.name}" if self.name else "")


def role_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = yaml.safe_load(ROLE.read_text(encoding="utf-8"))["rules"]
    return rules


def grants(rules: Iterable[Mapping[str, Any]]) -> set[Grant]:
    """Every combination the rules spell out (the Role has no wildcards to expand)."""
    return {
        Grant(verb, group, resource, name)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in (rule.get("resourceNames") or [None])
    }


def granted(record: RequestRecord, allowed: set[Grant]) -> bool:
    """
    Whether the Role, bound in the request's namespace, lets it through.

    A rule with resourceNames matches only requests naming one of them. Those
    names are the config's (targets.config, state.configmap, the lease name);
    a request naming an object the Role does not list at all comes from a test
    that configured another name, and the Role for that config would list it
    in the same rule: so it passes when some name-limited rule grants the verb.
    """
    if not record.namespace:
        return False  # a Role grants nothing cluster-wide
    same = [g for g in allowed if (g.group, g.resource) == (record.group, record.resource)]
    listed = {g.name for g in same if g.name}
    for grant in same:
        if grant.verb != record.verb:
            continue
        if grant.name is None or grant.name == record.name:
            return True
        if record.name and record.name not in listed:
            return True
    return False


def uses(records: Iterable[RequestRecord], grant: Grant) -> bool:
    return any(
        (r.verb, r.group, r.resource) == (grant.verb, grant.group, grant.resource)
        and (grant.name is None or r.name == grant.name)
        for r in records
    )


def ours(records: Iterable[RequestRecord]) -> set[RequestRecord]:
    return {record for record in records if record.client == OUR_CLIENT}


# --- the workload ----------------------------------------------------------------


def shipped_settings(fake: FakeKube) -> Settings:
    """k8s/base's config, as a pod in NS loads it, reaching the fake with the Role's token."""
    kubeconfig = fake.kubeconfig_for(TOKEN, NS)
    return loading.load_settings(
        CONFIG,
        environ={"REMEDIATOR_TARGET_NAMESPACE": NS},
        overrides={
            "kubernetes.kubeconfig": str(kubeconfig),
            "execution.rollout_timeout_seconds": 10.0,
            "kubernetes.leader_election.lease_duration_seconds": 1.0,
            "kubernetes.leader_election.renew_deadline_seconds": 0.7,
            "kubernetes.leader_election.retry_period_seconds": 0.2,
        },
    )


def seed(fake: FakeKube, settings: Settings) -> None:
    """Two Deployments with history, one behind an HPA, one Argo CD tracks; the config."""
    fake.add_token(TOKEN, user=USER, role_rules=role_rules(), namespace=NS)
    fake.cluster.add_deployment(NS, GATEWAY.name, replicas=3, revisions=3)
    fake.cluster.add_deployment(NS, BACKEND.name, replicas=2, revisions=2)
    fake.cluster.add_deployment(NS, ROUTER.name, replicas=2, annotations={
        "argocd.argoproj.io/tracking-id": "llm:apps/Deployment:default/llm-router",
    })
    fake.cluster.add_hpa(NS, "backend", target=BACKEND.name, max_replicas=6)
    fake.cluster.add_configmap(NS, settings.targets.config.configmap, {"MAX_TOKENS": "2048"})


def snapshot(fake: FakeKube) -> list[tuple[str, str, str]]:
    return sorted(
        (kind, obj["metadata"]["name"], obj["metadata"]["resourceVersion"])
        for kind in ("Deployment", "ConfigMap", "ReplicaSet", "HorizontalPodAutoscaler", "Event")
        for obj in fake.cluster.list(kind, NS)
    )


@dataclasses.dataclass
class Ran:
    """What the workload saw, for the tests to judge."""

    dry_run: dict[str, Outcome] = dataclasses.field(default_factory=dict)
    dry_run_unchanged: bool = False
    dry_run_writes: list[str] = dataclasses.field(default_factory=list)
    executed: dict[str, tuple[Outcome, str]] = dataclasses.field(default_factory=dict)
    skipped_by_gitops: str = ""
    stored_decisions: int = 0
    led: bool = False


async def dry_run_everything(fake: FakeKube, settings: Settings, ran: Ran) -> None:
    """Every writing action with dryRun=All: RBAC and admission run, nothing is stored."""
    executor = KubernetesExecutor(settings, dry_run=True, retry=FAST)
    before = snapshot(fake)
    seen = len(fake.cluster.access_log)

    for name, action in (("combined", combined(5)), ("scale-hpa", scale(5, BACKEND)),
                         ("patch-config", patch_config("50")), ("restart", restart(BACKEND))):
        ran.dry_run[name] = (await executor.run(action)).outcome

    ran.dry_run_unchanged = snapshot(fake) == before
    ran.dry_run_writes = [entry.path for entry in fake.cluster.access_log[seen:]
                          if entry.method in ("PATCH", "PUT", "POST")]


async def execute_everything(settings: Settings, ran: Ran) -> None:
    """Each action type for real, the GitOps cases, then the config revert."""
    executor = KubernetesExecutor(settings, retry=FAST, identity="pod-a")
    for name, action in (("combined", combined(5)), ("scale-hpa", scale(5, BACKEND)),
                         ("patch-config", patch_config("50")), ("rollback", rollback(BACKEND)),
                         ("restart", restart(BACKEND)), ("scale-argo", scale(3, ROUTER))):
        report = await executor.run(action)
        ran.executed[name] = (report.outcome, report.reason)
    report = await executor.revert_config()
    ran.executed["revert-config"] = (report.outcome, report.reason)

    skipping = settings.model_copy(update={"execution": settings.execution.model_copy(
        update={"gitops": "skip"})})
    report = await KubernetesExecutor(skipping, retry=FAST).run(scale(4, ROUTER))
    ran.skipped_by_gitops = str(report.details.get("steps", [{}])[0].get("code"))


async def keep_state(settings: Settings, ran: Ran) -> None:
    """The state ConfigMap: created on the first open, read and written after."""
    for _ in range(2):
        store = make_store(settings)
        await store.open()
        try:
            await store.add_decision(decision(1.0))
            ran.stored_decisions = len(await store.decisions(limit=10))
        finally:
            await store.close()


async def lead(settings: Settings, ran: Ran) -> None:
    """Create the Lease, renew it, release it on shutdown."""
    leadership = Leadership(leader=False)
    renewals = asyncio.Event()
    leadership.subscribe(lambda leader: renewals.set() if leader else None)
    task = asyncio.create_task(election.run(settings, leadership))
    try:
        await asyncio.wait_for(renewals.wait(), 10)
        # Stay long enough for a renewal, which is an update of the held Lease.
        await asyncio.sleep(3 * settings.kubernetes.leader_election.retry_period_seconds)
        ran.led = leadership.leader
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def workload(fake: FakeKube) -> Ran:
    settings = shipped_settings(fake)
    seed(fake, settings)
    ran = Ran()
    await dry_run_everything(fake, settings, ran)
    await execute_everything(settings, ran)
    await keep_state(settings, ran)
    await lead(settings, ran)
    return ran


def forbidden(fake: FakeKube) -> list[str]:
    return [f"{entry.method} {entry.path}" for entry in fake.cluster.access_log
            if entry.status == 403]


# --- the tests -------------------------------------------------------------------


@pytest.mark.fake_kube(rollout_delay=0.2)
async def test_everything_the_remediator_does_works_under_the_role(fake_kube: FakeKube) -> None:
    """Under exactly the shipped Role every call succeeds: nothing answers 403."""
    ran = await workload(fake_kube)

    assert forbidden(fake_kube) == []
    assert ran.dry_run == dict.fromkeys(ran.dry_run, Outcome.DRY_RUN)
    assert ran.dry_run_unchanged
    assert ran.dry_run_writes and all("dryRun=All" in path for path in ran.dry_run_writes)
    assert {name: outcome for name, (outcome, _) in ran.executed.items()} == dict.fromkeys(
        ran.executed, Outcome.EXECUTED
    )
    assert "Argo CD" in ran.executed["scale-argo"][1]
    assert ran.skipped_by_gitops == "gitops_managed"
    assert ran.stored_decisions == 2
    assert ran.led


@pytest.mark.fake_kube(rollout_delay=0.2)
async def test_the_workload_reaches_every_kind_of_object(fake_kube: FakeKube) -> None:
    """The cluster shows each effect: HPA floor, rollback, restarts, Events, state, Lease."""
    await workload(fake_kube)
    settings = shipped_settings(fake_kube)
    cluster = fake_kube.cluster
    hpa = cluster.get("HorizontalPodAutoscaler", NS, "backend")
    config = cluster.get("ConfigMap", NS, settings.targets.config.configmap)
    lease = cluster.get("Lease", NS, settings.kubernetes.leader_election.lease_name)
    reasons = {event["reason"] for event in cluster.list("Event", NS)}
    watched = [entry.path for entry in cluster.access_log if "watch=true" in entry.path]
    assert hpa is not None and config is not None and lease is not None

    assert hpa["spec"]["minReplicas"] == 5
    assert config["data"]["MAX_TOKENS"] == "2048"  # lowered, then reverted
    assert cluster.get("ConfigMap", NS, settings.state.configmap) is not None
    assert lease["spec"].get("holderIdentity") in (None, "")  # released on shutdown
    assert reasons == {"RemediationApplied"}
    assert watched, "no rollout wait watched its Deployment"


@pytest.mark.rbac_audit
@pytest.mark.fake_kube(rollout_delay=0.2)
async def test_the_role_grants_exactly_what_our_code_asks_for(fake_kube: FakeKube) -> None:
    """
    (a) Every request our code made in this session is granted by the Role;
    (b) every (verb, group, resource, resourceName) the Role grants was used.

    "Our code" is whatever sends the remediator's User-Agent, `remediator/<version>`:
    the clients `new_api_client` builds (daemons and CronJob runs in subprocesses,
    in-process executors, the state store and the elector) and the client
    tests/k8s/conftest.py hands to our code. Left out, because no pod with this
    Role sends them: kubectl, which runs the generated script and the kubectl
    executor with the user's own credentials (the image has no kubectl); the
    fake's own tests; and the plain kubernetes-asyncio clients tests use to set
    up or to probe a deliberately smaller Role.

    The workload runs here too, so (b) holds however the tests are selected;
    in a full run this test comes last, so (a) sees every other test's requests.
    """
    await workload(fake_kube)
    allowed = grants(role_rules())
    recorded = ours(session_requests())
    assert any(record.user == USER for record in recorded), "the workload was not recorded"

    not_granted = sorted(
        f"{Grant(r.verb, r.group, r.resource, None)} {r.namespace}/{r.name} ({r.user})"
        for r in recorded if not granted(r, allowed)
    )
    unused = sorted(str(grant) for grant in allowed if not uses(recorded, grant))

    assert not_granted == [], "requests of our code the Role does not grant"
    assert unused == [], "grants of the Role no request used"


def test_the_audit_rejects_what_the_role_does_not_grant() -> None:
    """The check is not a no-op: a delete, a cluster-wide list, a patch of the state fail."""
    allowed = grants(role_rules())

    def request(verb: str, group: str, resource: str, namespace: str, name: str) -> bool:
        return granted(RequestRecord(verb, group, resource, namespace, name), allowed)

    assert request("patch", "apps", "deployments/scale", NS, "any-deployment")
    assert request("patch", "", "configmaps", NS, "llm-config")
    assert request("get", "", "configmaps", NS, "a-state-renamed-by-config")
    assert not request("delete", "apps", "deployments", NS, "llm-gateway")
    assert not request("list", "apps", "deployments", "", "")
    assert not request("update", "", "configmaps", NS, "llm-config")
    assert not request("patch", "", "configmaps", NS, "remediator-state")
    assert not request("get", "", "secrets", NS, "remediator-webhook")
    assert not uses([RequestRecord("get", "", "configmaps", NS, "other")],
                    Grant("get", "", "configmaps", "llm-config"))
