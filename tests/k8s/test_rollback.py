"""Rolling back to the previous revision, and every reason not to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kubernetes_asyncio import client

from remediator.config.settings import Settings
from remediator.execution.base import Outcome
from remediator.execution.kube import KubernetesExecutor
from tests.fakekube.harness import FakeKube
from tests.k8s.conftest import FAST
from tests.k8s.helpers import NS, combined, image, reasons, replicas, rollback, writes

IMAGES = ["registry.example/gw:1", "registry.example/gw:2", "registry.example/gw:3"]


def revision(fake: FakeKube, name: str = "llm-gateway") -> str:
    deployment = fake.cluster.get("Deployment", NS, name)
    assert deployment is not None
    return str(deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"])


async def test_rollback_goes_to_the_previous_revision(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """Revision 3 is rolled back to revision 2's template, and the rollout completes."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=2, images=IMAGES)

    report = await executor.run(rollback())

    assert report.outcome is Outcome.EXECUTED
    assert "from revision 3 to revision 2" in report.reason
    assert image(fake_kube) == "registry.example/gw:2"
    assert fake_kube.cluster.rolled_out(NS, "llm-gateway") is not None
    assert reasons(fake_kube, "llm-gateway") == ["RemediationApplied"]


async def test_rollback_uses_only_the_replicasets_the_deployment_owns(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """Another Deployment's ReplicaSets match the same labels; their templates are never used."""
    shared = {"app": "llm"}
    fake_kube.cluster.add_deployment(NS, "llm-gateway", images=IMAGES, labels=shared)
    fake_kube.cluster.add_deployment(NS, "llm-other", labels=shared,
                                     images=["registry.example/other:1",
                                             "registry.example/other:2",
                                             "registry.example/other:3"])

    report = await executor.run(rollback())

    assert report.outcome is Outcome.EXECUTED
    assert image(fake_kube) == IMAGES[1]
    assert image(fake_kube, "llm-other") == "registry.example/other:3"


async def test_rollback_without_a_previous_revision_is_refused(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A Deployment with a single revision has nothing to go back to."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", revisions=1)

    report = await executor.run(rollback())

    assert report.outcome is Outcome.REFUSED
    assert report.details["code"] == "no_previous_revision"
    assert writes(fake_kube, "deployments") == []
    assert reasons(fake_kube, "llm-gateway") == ["RemediationRefused"]


async def test_rollback_during_a_rollout_is_refused(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """While a new revision is still rolling out, the undo waits for a later decision."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=2, images=IMAGES[:2])
    fake_kube.cluster.hang_rollouts()
    fake_kube.cluster.patch("Deployment", NS, "llm-gateway", {"spec": {"template": {
        "spec": {"containers": [{"name": "app", "image": IMAGES[2]}]}}}}, "strategic")

    report = await executor.run(rollback())

    assert report.outcome is Outcome.REFUSED
    assert report.details["code"] == "rollout_in_progress"
    assert image(fake_kube) == IMAGES[2]


async def test_a_rollout_past_its_deadline_can_be_rolled_back(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A rollout that exceeded its progress deadline has failed: undoing it is allowed."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=2, images=IMAGES[:2],
                                     progress_deadline_seconds=1)
    fake_kube.cluster.hang_rollouts(namespace=NS, name="llm-gateway")
    fake_kube.cluster.patch("Deployment", NS, "llm-gateway", {"spec": {"template": {
        "spec": {"containers": [{"name": "app", "image": IMAGES[2]}]}}}}, "strategic")
    await fake_kube.cluster.wait_for(lambda: _deadline_exceeded(fake_kube), timeout_seconds=10,
                                     what="the progress deadline to pass")
    fake_kube.cluster.hang_rollouts(False)

    report = await executor.run(rollback())

    assert report.outcome is Outcome.EXECUTED
    assert image(fake_kube) == IMAGES[1]


def _deadline_exceeded(fake: FakeKube) -> bool:
    deployment = fake.cluster.get("Deployment", NS, "llm-gateway") or {}
    return any(c.get("reason") == "ProgressDeadlineExceeded"
               for c in deployment.get("status", {}).get("conditions", []))


async def test_rollback_of_a_paused_deployment_is_refused(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A paused Deployment is not rolled back."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", images=IMAGES, paused=True)

    report = await executor.run(rollback())

    assert report.outcome is Outcome.REFUSED
    assert report.details["code"] == "paused"
    assert image(fake_kube) == IMAGES[2]


async def test_a_second_rollback_within_the_cooldown_is_refused(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """After our undo, a second undo would bring the bad revision back: it is refused."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", images=IMAGES)
    await executor.run(rollback())

    report = await executor.run(rollback())

    assert report.outcome is Outcome.REFUSED
    assert report.details["code"] == "rolled_back_recently"
    assert image(fake_kube) == IMAGES[1]


async def test_a_new_rollout_after_our_undo_may_be_undone_within_the_cooldown(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """Once a new template replaced ours, the previous revision is ours: undoing it is safe."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", images=IMAGES)
    await executor.run(rollback())
    await fake_kube.cluster.wait_rolled_out(NS, "llm-gateway")
    fake_kube.cluster.patch("Deployment", NS, "llm-gateway", {"spec": {"template": {
        "spec": {"containers": [{"name": "app", "image": "registry.example/gw:4"}]}}}},
        "strategic")
    await fake_kube.cluster.wait_rolled_out(NS, "llm-gateway")

    report = await executor.run(rollback())

    assert report.outcome is Outcome.EXECUTED, report.reason
    assert "from revision 5 to revision 4" in report.reason
    assert image(fake_kube) == IMAGES[1]


async def test_after_the_rollback_cooldown_the_refusal_lifts(
    fake_kube: FakeKube, api_client: client.ApiClient, settings: Settings
) -> None:
    """The second-undo refusal lasts the rollback cooldown (1800 s), not for ever."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", images=IMAGES)
    start = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    cooldown = timedelta(seconds=settings.guard.cooldowns.rollback)
    await executor_at(settings, api_client, start).run(rollback())
    await fake_kube.cluster.wait_rolled_out(NS, "llm-gateway")

    within = await executor_at(settings, api_client, start + cooldown / 2).run(rollback())
    after = await executor_at(settings, api_client, start + cooldown * 1.1).run(rollback())

    assert within.details["code"] == "rolled_back_recently"
    assert after.outcome is Outcome.EXECUTED
    assert "from revision 4 to revision 3" in after.reason
    assert image(fake_kube) == IMAGES[2]


def executor_at(settings: Settings, api_client: client.ApiClient,
                now: datetime) -> KubernetesExecutor:
    return KubernetesExecutor(settings, api_client, retry=FAST, clock=lambda: now)


async def test_a_retried_undo_after_a_lost_answer_does_not_undo_twice(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """The first undo lands but its answer is lost; the retry sees that and stops."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", images=IMAGES)
    lost = fake_kube.faults.inject("drop_after", verb="patch", resource="apps/deployments",
                                   name="llm-gateway", times=1)

    report = await executor.run(rollback())

    assert lost.fired == 1
    assert report.outcome is Outcome.EXECUTED
    assert image(fake_kube) == IMAGES[1]
    assert len(writes(fake_kube, "deployments", "llm-gateway")) == 1
    assert revision(fake_kube) == "4"


async def test_combined_rolls_back_then_scales(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """The combined action leaves the gateway on the previous revision with 6 replicas."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3, images=IMAGES)

    report = await executor.run(combined(6))

    assert report.outcome is Outcome.EXECUTED
    assert image(fake_kube) == IMAGES[1]
    assert replicas(fake_kube) == 6
    assert "rolled back" in report.reason and "scaled" in report.reason
    assert fake_kube.cluster.rolled_out(NS, "llm-gateway") is not None


async def test_combined_with_nothing_to_undo_is_partially_applied(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """Without a previous revision the scale still happens, and the record says what did not."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3, revisions=1)

    report = await executor.run(combined(6))

    assert report.outcome is Outcome.FAILED
    assert report.details["code"] == "partially_applied"
    assert "no previous revision" in report.reason
    assert replicas(fake_kube) == 6
