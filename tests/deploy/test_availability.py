"""
Two replicas, one leader: webhooks reach the leader, Prometheus reaches both,
and neither a node drain nor a rolling update waits forever on a follower.

Only the leader answers /readyz (remediator/leadership.py), so at any time
exactly one replica is Ready. The two models below are the rules the
eviction API and the Deployment controller apply to Ready counts.
"""

from __future__ import annotations

import math

import pytest

from tests.deploy import manifests
from tests.deploy.manifests import Doc


def scaled(value: int | str, total: int, *, round_up: bool) -> int:
    """An int-or-percent field of Kubernetes, resolved against `total`."""
    if isinstance(value, int):
        return value
    fraction = int(value.rstrip("%")) * total / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


def eviction_allowed(pdb: Doc, *, replicas: int, ready: int, evicted_ready: bool) -> bool:
    """
    The eviction API's rule: "an eviction is allowed if at most maxUnavailable
    pods are unavailable after the eviction"; with unhealthyPodEvictionPolicy
    AlwaysAllow a pod that is not Ready may always go.
    """
    spec = pdb["spec"]
    if not evicted_ready and spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    unavailable_after = replicas - ready + (1 if evicted_ready else 0)
    return unavailable_after <= scaled(spec["maxUnavailable"], replicas, round_up=True)


def old_leader_may_stop(deployment: Doc, *, replicas: int) -> bool:
    """
    The Deployment controller scales an old ReplicaSet down only while
    available pods stay at or above replicas - maxUnavailable (rounded down).
    New pods are never available while the old leader holds the Lease, and the
    old leader is the only available pod: stopping it leaves zero available.
    """
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    max_unavailable = scaled(rolling["maxUnavailable"], replicas, round_up=False)
    return 0 >= replicas - max_unavailable


@pytest.mark.parametrize("replicas", [2, 3])
def test_draining_the_leaders_node_is_allowed(base_docs: list[Doc], replicas: int) -> None:
    """The budget lets the Ready leader and the never-Ready followers be evicted."""
    pdb = manifests.find(base_docs, "PodDisruptionBudget")

    assert eviction_allowed(pdb, replicas=replicas, ready=1, evicted_ready=True)
    assert eviction_allowed(pdb, replicas=replicas, ready=1, evicted_ready=False)


def test_the_budget_covers_the_daemons_pods(base_docs: list[Doc]) -> None:
    """The budget selects exactly the Deployment's pods."""
    pdb = manifests.find(base_docs, "PodDisruptionBudget")
    deployment = manifests.find(base_docs, "Deployment")

    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


@pytest.mark.parametrize("replicas", [2, 3])
def test_a_rolling_update_can_replace_the_leader(base_docs: list[Doc], replicas: int) -> None:
    """The update strategy lets the old leader stop although no new pod is Ready yet."""
    deployment = manifests.find(base_docs, "Deployment")

    assert old_leader_may_stop(deployment, replicas=replicas)


def test_the_deployment_is_not_reported_stuck_for_its_followers(base_docs: list[Doc]) -> None:
    """Two replicas, with no progress deadline: a never-Ready follower is not a failed rollout."""
    spec = manifests.find(base_docs, "Deployment")["spec"]

    assert spec["replicas"] == 2
    assert spec["progressDeadlineSeconds"] == 2**31 - 1


def test_readiness_means_leadership_and_liveness_means_alive(base_docs: list[Doc]) -> None:
    """The readiness probe asks /readyz, liveness and startup ask /healthz, on the http port."""
    container = manifests.container(manifests.find(base_docs, "Deployment"))
    probes = {
        name: (container[name]["httpGet"]["path"], container[name]["httpGet"]["port"])
        for name in ("readinessProbe", "livenessProbe", "startupProbe")
    }

    assert probes == {
        "readinessProbe": ("/readyz", "http"),
        "livenessProbe": ("/healthz", "http"),
        "startupProbe": ("/healthz", "http"),
    }
    assert [port["name"] for port in container["ports"]] == ["http"]


def test_replicas_spread_over_nodes(base_docs: list[Doc]) -> None:
    """One replica per node where possible, so a single drain leaves one running."""
    deployment = manifests.find(base_docs, "Deployment")
    (spread,) = manifests.pod_spec(deployment)["topologySpreadConstraints"]

    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"] == deployment["spec"]["selector"]


def test_webhooks_go_to_the_ready_leader_and_scrapes_to_every_replica(
    base_docs: list[Doc],
) -> None:
    """The webhook Service routes to Ready pods only; the headless one lists every replica."""
    pod_labels = manifests.find(base_docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    webhook = manifests.find(base_docs, "Service", "remediator")["spec"]
    metrics = manifests.find(base_docs, "Service", "remediator-metrics")["spec"]

    assert manifests.selects(webhook["selector"], pod_labels)
    assert not webhook.get("publishNotReadyAddresses", False)
    assert manifests.selects(metrics["selector"], pod_labels)
    assert metrics["clusterIP"] == "None"
    assert metrics["publishNotReadyAddresses"] is True
    for service in (webhook, metrics):
        assert [port["targetPort"] for port in service["ports"]] == ["http"]


def test_prometheus_scrapes_only_the_headless_service(base_docs: list[Doc]) -> None:
    """The ServiceMonitor picks the metrics Service, not the webhook one (no double scrape)."""
    monitor = manifests.find(base_docs, "ServiceMonitor")["spec"]
    services = [doc for doc in base_docs if doc["kind"] == "Service"]
    picked = [
        doc["metadata"]["name"] for doc in services
        if manifests.selects(monitor["selector"]["matchLabels"], doc["metadata"]["labels"])
    ]
    (endpoint,) = monitor["endpoints"]

    assert picked == ["remediator-metrics"]
    assert endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"


def test_only_alertmanager_and_prometheus_may_connect(base_docs: list[Doc]) -> None:
    """The NetworkPolicy covers every remediator pod and admits two peers, on one port."""
    policy = manifests.find(base_docs, "NetworkPolicy")["spec"]
    (rule,) = policy["ingress"]
    peers = sorted(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                   for peer in rule["from"])

    assert policy["policyTypes"] == ["Ingress"]
    for doc in manifests.workloads(base_docs):
        template = doc["spec"]["jobTemplate"]["spec"]["template"] if doc["kind"] == "CronJob" \
            else doc["spec"]["template"]
        assert manifests.selects(policy["podSelector"]["matchLabels"],
                                 template["metadata"]["labels"])
    assert peers == ["alertmanager", "prometheus"]
    assert all("namespaceSelector" in peer for peer in rule["from"])
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
