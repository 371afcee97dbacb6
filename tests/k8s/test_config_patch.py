"""Lowering MAX_TOKENS, restarting the Deployments that read it, and reverting it."""

from __future__ import annotations

import json
from typing import Any

from remediator.config.settings import Settings
from remediator.execution.base import Outcome
from remediator.execution.kube import KubernetesExecutor
from tests.fakekube.harness import FakeKube
from tests.k8s.conftest import FAST
from tests.k8s.helpers import BACKEND, NS, patch_config, reasons, restart, restarted_at

PREVIOUS = "remediator.io/previous-MAX_TOKENS"


def seed(fake: FakeKube, max_tokens: str = "2048", *, paused_backend: bool = False) -> None:
    fake.cluster.add_deployment(NS, "llm-gateway", replicas=2)
    fake.cluster.add_deployment(NS, "llm-backend", replicas=2, paused=paused_backend)
    fake.cluster.add_configmap(NS, "llm-config", {"MAX_TOKENS": max_tokens, "MODEL": "x"})


def config(fake: FakeKube) -> dict[str, Any]:
    configmap = fake.cluster.get("ConfigMap", NS, "llm-config")
    assert configmap is not None
    return configmap


async def test_patch_lowers_value_keeps_previous_and_restarts_both(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """MAX_TOKENS goes from 2048 to 50, the old value is kept, and both Deployments roll."""
    seed(fake_kube)

    report = await executor.run(patch_config("50"))

    configmap = config(fake_kube)
    record = json.loads(configmap["metadata"]["annotations"][PREVIOUS])
    assert report.outcome is Outcome.EXECUTED
    assert configmap["data"] == {"MAX_TOKENS": "50", "MODEL": "x"}
    assert (record["previous"], record["value"]) == ("2048", "50")
    assert record["restarts"] == ["llm-gateway", "llm-backend"]
    assert restarted_at(fake_kube, "llm-gateway") is not None
    assert restarted_at(fake_kube, "llm-backend") is not None
    # The report comes after the rollouts finished.
    assert fake_kube.cluster.rolled_out(NS, "llm-gateway") is not None
    assert fake_kube.cluster.rolled_out(NS, "llm-backend") is not None
    assert reasons(fake_kube) == ["RemediationApplied"] * 3


async def test_max_tokens_is_never_raised(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A live MAX_TOKENS of 32 stays 32 when the plan says 50, and nothing restarts."""
    seed(fake_kube, max_tokens="32")

    report = await executor.run(patch_config("50"))

    assert report.outcome is Outcome.SKIPPED
    assert report.details["code"] == "already_at_or_below"
    assert config(fake_kube)["data"] == {"MAX_TOKENS": "32", "MODEL": "x"}
    assert restarted_at(fake_kube, "llm-gateway") is None
    assert restarted_at(fake_kube, "llm-backend") is None


async def test_non_numeric_value_is_left_alone(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A MAX_TOKENS that is not a number is not overwritten."""
    seed(fake_kube, max_tokens="auto")

    report = await executor.run(patch_config("50"))

    assert report.outcome is Outcome.SKIPPED
    assert report.details["code"] == "not_a_number"
    assert config(fake_kube)["data"]["MAX_TOKENS"] == "auto"


async def test_restart_of_a_paused_deployment_is_refused(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A restart action on a paused Deployment is refused with the reason, and an Event."""
    seed(fake_kube, paused_backend=True)

    report = await executor.run(restart(BACKEND))

    assert report.outcome is Outcome.REFUSED
    assert report.details["code"] == "paused"
    assert "paused" in report.reason
    assert restarted_at(fake_kube, "llm-backend") is None
    assert reasons(fake_kube, "llm-backend") == ["RemediationRefused"]


async def test_patch_with_a_paused_restart_is_partially_applied(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """Config patched and gateway restarted, backend paused: failed, "partially applied"."""
    seed(fake_kube, paused_backend=True)

    report = await executor.run(patch_config("50"))

    assert report.outcome is Outcome.FAILED
    assert report.details["code"] == "partially_applied"
    assert report.reason.startswith("partially_applied: partially applied: done: lowered")
    assert "not done: deployment/llm-backend is paused" in report.reason
    assert config(fake_kube)["data"]["MAX_TOKENS"] == "50"
    assert restarted_at(fake_kube, "llm-gateway") is not None
    assert restarted_at(fake_kube, "llm-backend") is None
    assert reasons(fake_kube, "llm-backend") == ["RemediationRefused"]


async def test_a_failed_restart_after_the_patch_is_partially_applied(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A restart the API keeps failing leaves the record "partially applied", naming it."""
    seed(fake_kube)
    fake_kube.faults.inject("error", verb="patch", resource="apps/deployments",
                            name="llm-backend", status=500)

    report = await executor.run(patch_config("50"))

    assert report.outcome is Outcome.FAILED
    assert "partially applied" in report.reason
    assert "restarted deployment/llm-gateway" in report.reason
    assert "500" in report.reason
    assert reasons(fake_kube, "llm-backend") == ["RemediationFailed"]


async def test_a_later_run_repeats_only_the_missing_restart(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """After a partial run, the next one restarts only the Deployment that missed out."""
    seed(fake_kube, paused_backend=True)
    await executor.run(patch_config("50"))
    gateway_restart = restarted_at(fake_kube, "llm-gateway")
    fake_kube.cluster.patch("Deployment", NS, "llm-backend", {"spec": {"paused": False}})

    report = await executor.run(patch_config("50"))

    assert report.outcome is Outcome.EXECUTED
    assert report.details["code"] == "restarted"
    assert restarted_at(fake_kube, "llm-backend") is not None
    assert restarted_at(fake_kube, "llm-gateway") == gateway_restart
    assert config(fake_kube)["data"]["MAX_TOKENS"] == "50"


async def test_a_repeat_after_a_complete_run_does_nothing(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """Once value and restarts are in place, running the action again changes nothing."""
    seed(fake_kube)
    await executor.run(patch_config("50"))
    before = (restarted_at(fake_kube, "llm-gateway"), restarted_at(fake_kube, "llm-backend"))

    report = await executor.run(patch_config("50"))

    assert report.outcome is Outcome.SKIPPED
    assert (restarted_at(fake_kube, "llm-gateway"),
            restarted_at(fake_kube, "llm-backend")) == before


async def test_conflicts_on_patch_and_restart_are_retried(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """The first two writes answer 409; the action still lands exactly once (entry 17)."""
    seed(fake_kube)
    fake_kube.faults.conflict_next_writes(2)

    report = await executor.run(patch_config("50"))

    record = json.loads(config(fake_kube)["metadata"]["annotations"][PREVIOUS])
    assert report.outcome is Outcome.EXECUTED
    assert record["previous"] == "2048"
    assert restarted_at(fake_kube, "llm-gateway") is not None


async def test_revert_restores_the_previous_value_and_restarts(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """One call puts MAX_TOKENS back to 2048, drops our annotation and restarts the readers."""
    seed(fake_kube)
    await executor.run(patch_config("50"))
    patched_restart = restarted_at(fake_kube, "llm-backend")

    report = await executor.revert_config()

    configmap = config(fake_kube)
    assert report.outcome is Outcome.EXECUTED
    assert report.details["code"] == "reverted"
    assert configmap["data"] == {"MAX_TOKENS": "2048", "MODEL": "x"}
    assert PREVIOUS not in (configmap["metadata"].get("annotations") or {})
    assert restarted_at(fake_kube, "llm-backend") != patched_restart
    assert "kubectl patch configmap llm-config" in (report.command or "")


async def test_revert_removes_a_key_that_was_not_set_before(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A key we added is removed again by the revert."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway")
    fake_kube.cluster.add_deployment(NS, "llm-backend")
    fake_kube.cluster.add_configmap(NS, "llm-config", {"MODEL": "x"})
    await executor.run(patch_config("50"))

    await executor.revert_config()

    assert config(fake_kube)["data"] == {"MODEL": "x"}


async def test_revert_refuses_a_value_someone_changed_since(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """If MAX_TOKENS was set to 64 by hand after our patch, the revert leaves it be."""
    seed(fake_kube)
    await executor.run(patch_config("50"))
    fake_kube.cluster.patch("ConfigMap", NS, "llm-config", {"data": {"MAX_TOKENS": "64"}})

    report = await executor.revert_config()

    assert report.outcome is Outcome.REFUSED
    assert report.details["code"] == "changed_since"
    assert config(fake_kube)["data"]["MAX_TOKENS"] == "64"


async def test_revert_with_nothing_to_revert_is_skipped(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A ConfigMap we never patched has nothing to revert."""
    seed(fake_kube)

    report = await executor.revert_config()

    assert report.outcome is Outcome.SKIPPED
    assert report.details["code"] == "nothing_to_revert"


async def test_a_configmap_argo_cd_manages_is_patched_with_a_warning(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """By default a ConfigMap with Argo CD's instance label is patched, and the record warns."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway")
    fake_kube.cluster.add_deployment(NS, "llm-backend")
    fake_kube.cluster.add_configmap(NS, "llm-config", {"MAX_TOKENS": "2048"},
                                    labels={"argocd.argoproj.io/instance": "llm"})

    report = await executor.run(patch_config("50"))

    assert report.outcome is Outcome.EXECUTED
    assert config(fake_kube)["data"] == {"MAX_TOKENS": "50"}
    assert any("managed by Argo CD" in w for w in report.details["warnings"])


async def test_a_deployment_flux_manages_is_not_restarted_in_skip_mode(
    fake_kube: FakeKube, api_client: object
) -> None:
    """With execution.gitops: skip, a restart of a Flux-managed Deployment is left to Flux."""
    settings = Settings.model_validate({"execution": {"gitops": "skip"}})
    executor = KubernetesExecutor(settings, api_client, retry=FAST)  # type: ignore[arg-type]
    fake_kube.cluster.add_deployment(
        NS, "llm-backend", labels={"app": "llm-backend", "helm.toolkit.fluxcd.io/name": "llm"})

    report = await executor.run(restart(BACKEND))

    assert report.outcome is Outcome.SKIPPED
    assert report.details["code"] == "gitops_managed"
    assert restarted_at(fake_kube, "llm-backend") is None
