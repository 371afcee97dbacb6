"""Scaling through the API: up only, capped, through an HPA when there is one."""

from __future__ import annotations

import pytest

from remediator.config.settings import Settings
from remediator.execution.base import Outcome
from remediator.execution.kube import KubernetesExecutor
from tests.fakekube.harness import FakeKube
from tests.k8s.conftest import FAST
from tests.k8s.helpers import GATEWAY, NS, reasons, replicas, scale, writes


async def test_scale_up_changes_replicas_and_leaves_an_event(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A scale from 3 to 5 replicas is done through the scale subresource and announced."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)

    report = await executor.run(scale(5))

    assert report.outcome is Outcome.EXECUTED
    assert "from 3 to 5" in report.reason
    assert (report.details["before"], report.details["after"]) == (3, 5)
    assert replicas(fake_kube) == 5
    assert len(writes(fake_kube, "deployments/scale")) == 1
    assert reasons(fake_kube, "llm-gateway") == ["RemediationApplied"]


async def test_scale_that_would_lower_replicas_is_skipped(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A Deployment with 7 replicas is left at 7 when the plan asks for 5."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=7)

    report = await executor.run(scale(5))

    assert report.outcome is Outcome.SKIPPED
    assert report.reason.startswith("would_lower_replicas:")
    assert report.details["code"] == "would_lower_replicas"
    assert replicas(fake_kube) == 7
    assert writes(fake_kube, "deployments/scale") == []
    assert reasons(fake_kube) == []


async def test_scale_to_the_live_count_is_skipped_as_already_there(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A repeat of a scale that already happened says the target holds the count."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=5)

    report = await executor.run(scale(5))

    assert report.outcome is Outcome.SKIPPED
    assert report.details["code"] == "already_at_replicas"


async def test_scale_is_capped_at_max_replicas(
    fake_kube: FakeKube, api_client: object
) -> None:
    """A plan asking for 12 replicas gets the target's max_replicas (4 here), with a warning."""
    settings = Settings.model_validate(
        {"targets": {"gateway": {"deployment": "llm-gateway", "max_replicas": 4}}}
    )
    executor = KubernetesExecutor(settings, api_client, retry=FAST)  # type: ignore[arg-type]
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=2)

    report = await executor.run(scale(12))

    assert report.outcome is Outcome.EXECUTED
    assert replicas(fake_kube) == 4
    assert any("capped at max_replicas 4" in w for w in report.details["warnings"])


def gateway_with_hpa(fake: FakeKube, *, replicas: int, min_replicas: int,
                     max_replicas: int) -> None:
    """The gateway Deployment with an HPA, `gateway-hpa`, that targets it."""
    fake.cluster.add_deployment(NS, "llm-gateway", replicas=replicas)
    fake.cluster.add_hpa(NS, "gateway-hpa", target="llm-gateway",
                         min_replicas=min_replicas, max_replicas=max_replicas)


def hpa_minimum(fake: FakeKube) -> int:
    hpa = fake.cluster.get("hpa", NS, "gateway-hpa")
    assert hpa is not None
    return int(hpa["spec"]["minReplicas"])


async def test_hpa_minimum_is_raised_instead_of_fighting_the_autoscaler(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """With an HPA on the Deployment, its minReplicas goes to 5 and replicas stay untouched."""
    gateway_with_hpa(fake_kube, replicas=3, min_replicas=2, max_replicas=8)

    report = await executor.run(scale(5))

    assert report.outcome is Outcome.EXECUTED
    assert hpa_minimum(fake_kube) == 5
    assert replicas(fake_kube) == 3
    assert "HorizontalPodAutoscaler gateway-hpa" in report.reason
    assert "minReplicas" in (report.command or "")
    assert writes(fake_kube, "deployments/scale") == []


async def test_hpa_minimum_is_capped_by_its_own_maximum(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A plan for 10 replicas raises an HPA with maxReplicas 6 only to 6, and says so."""
    gateway_with_hpa(fake_kube, replicas=3, min_replicas=2, max_replicas=6)

    report = await executor.run(scale(10))

    assert hpa_minimum(fake_kube) == 6
    assert any("maxReplicas 6" in w for w in report.details["warnings"])


async def test_hpa_minimum_is_capped_by_our_max_replicas_too(
    fake_kube: FakeKube, api_client: object
) -> None:
    """An HPA allowing 8 is raised only to the target's max_replicas 4 when the plan asks 10."""
    settings = Settings.model_validate(
        {"targets": {"gateway": {"deployment": "llm-gateway", "max_replicas": 4}}}
    )
    executor = KubernetesExecutor(settings, api_client, retry=FAST)  # type: ignore[arg-type]
    gateway_with_hpa(fake_kube, replicas=2, min_replicas=2, max_replicas=8)

    report = await executor.run(scale(10))

    assert report.outcome is Outcome.EXECUTED
    assert hpa_minimum(fake_kube) == 4
    assert any("capped at max_replicas 4" in w for w in report.details["warnings"])


async def test_hpa_already_at_a_higher_minimum_is_left_alone(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """An HPA whose minReplicas is already 6 is not lowered to the plan's 5."""
    gateway_with_hpa(fake_kube, replicas=6, min_replicas=6, max_replicas=8)

    report = await executor.run(scale(5))

    assert report.outcome is Outcome.SKIPPED
    assert hpa_minimum(fake_kube) == 6


async def test_gitops_managed_deployment_is_scaled_with_a_warning(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """By default an Argo CD-managed Deployment is scaled, and the record warns of reverts."""
    fake_kube.cluster.add_deployment(
        NS, "llm-gateway", replicas=3,
        annotations={"argocd.argoproj.io/tracking-id": "llm:apps/Deployment:default/llm-gateway"},
    )

    report = await executor.run(scale(5))

    assert report.outcome is Outcome.EXECUTED
    assert replicas(fake_kube) == 5
    assert any("Argo CD" in w for w in report.details["warnings"])
    assert "Argo CD" in report.reason


async def test_gitops_managed_deployment_is_skipped_when_configured(
    fake_kube: FakeKube, api_client: object
) -> None:
    """With gitops: skip, a Flux-managed Deployment is left to Flux."""
    settings = Settings.model_validate({"execution": {"gitops": "skip"}})
    executor = KubernetesExecutor(settings, api_client, retry=FAST)  # type: ignore[arg-type]
    fake_kube.cluster.add_deployment(
        NS, "llm-gateway", replicas=3,
        labels={"app": "llm-gateway", "kustomize.toolkit.fluxcd.io/name": "apps"},
    )

    report = await executor.run(scale(5))

    assert report.outcome is Outcome.SKIPPED
    assert report.details["code"] == "gitops_managed"
    assert "Flux" in report.reason
    assert replicas(fake_kube) == 3


async def test_forbidden_scale_subresource_fails_once_naming_verb_and_resource(
    fake_kube: FakeKube, settings: Settings
) -> None:
    """A 403 on deployments/scale is not retried and the record names what the Role lacks."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    fake_kube.add_token("limited", user="system:serviceaccount:remediator:remediator")
    fake_kube.cluster.auth.grant("limited", ["get", "list", "patch"], "apps/deployments", NS)
    fake_kube.cluster.auth.grant("limited", "get", "apps/deployments/scale", NS)
    fake_kube.cluster.auth.grant("limited", ["get", "list"], "autoscaling/horizontalpodautoscalers")
    fake_kube.cluster.auth.grant("limited", "create", "events", NS)

    async with fake_kube.api_client("limited") as api:
        report = await KubernetesExecutor(settings, api, retry=FAST).run(scale(5))

    assert report.outcome is Outcome.FAILED
    assert report.details["code"] == "forbidden"
    assert "cannot patch deployments/scale" in report.reason
    assert "API group apps" in report.reason
    assert len(writes(fake_kube, "deployments/scale")) == 1
    assert replicas(fake_kube) == 3
    assert reasons(fake_kube, "llm-gateway") == ["RemediationFailed"]


async def test_conflicts_are_retried_after_a_fresh_read(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """Two 409 answers in a row are absorbed: the third try scales, exactly once."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    fake_kube.faults.conflict_next_writes(2, "apps/deployments/scale")

    report = await executor.run(scale(5))

    scale_reads = [r for r in fake_kube.requests
                   if (r.verb, r.resource) == ("get", "deployments/scale")]
    assert report.outcome is Outcome.EXECUTED
    assert replicas(fake_kube) == 5
    assert len(writes(fake_kube, "deployments/scale")) == 3
    assert len(scale_reads) == 3


async def test_endless_conflicts_fail_cleanly_with_reason_conflict(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """When every write answers 409, the action fails after a bounded number of tries."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    fake_kube.faults.conflict_next_writes(1000, "apps/deployments/scale")

    report = await executor.run(scale(5))

    assert report.outcome is Outcome.FAILED
    assert report.details["code"] == "conflict"
    assert len(writes(fake_kube, "deployments/scale")) == FAST.attempts
    assert replicas(fake_kube) == 3


async def test_a_concurrent_scale_up_is_never_lowered(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """If someone scales to 8 between our read and our write, the 409 makes us keep 8."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    original = fake_kube.cluster.registry.patch_scale
    raced = False

    def racing_patch(*args: object, **kwargs: object) -> object:
        nonlocal raced
        if not raced:
            raced = True
            fake_kube.cluster.patch("Deployment", NS, "llm-gateway", {"spec": {"replicas": 8}})
        return original(*args, **kwargs)  # type: ignore[arg-type]

    fake_kube.cluster.registry.patch_scale = racing_patch  # type: ignore[method-assign,assignment]

    report = await executor.run(scale(5))

    assert report.outcome is Outcome.SKIPPED
    assert report.details["code"] == "would_lower_replicas"
    assert replicas(fake_kube) == 8


@pytest.mark.parametrize(
    "name", ["checkout'; touch PWNED; echo '", "$(touch PWNED)", "Checkout_Service"]
)
async def test_invalid_names_are_refused_before_any_request(
    fake_kube: FakeKube, executor: KubernetesExecutor, name: str
) -> None:
    """A target name that is not a Kubernetes name never reaches the API."""
    from remediator.planning.actions import Target

    report = await executor.run(scale(5, Target("Deployment", NS, name)))

    assert report.outcome is Outcome.REFUSED
    assert report.details["code"] == "invalid_name"
    assert fake_kube.requests == []
    assert GATEWAY.name not in report.reason
