"""
Field report 17 (the shared FIELD-REPORTS.md) for the config patch: the
ConfigDrift-like action, a ConfigMap patch then restarts, against a fake API
that answers 409 Conflict. The scale's conflicts are in test_scaling.py.

docs/field-reports.md maps every entry to its tests.
"""

from __future__ import annotations

from remediator.execution.base import Outcome
from remediator.execution.kube import KubernetesExecutor
from tests.fakekube.harness import FakeKube
from tests.k8s.conftest import FAST
from tests.k8s.helpers import BACKEND, GATEWAY, NS, patch_config, restarted_at, writes


def seed(fake: FakeKube) -> None:
    fake.cluster.add_deployment(NS, "llm-gateway", replicas=2)
    fake.cluster.add_deployment(NS, "llm-backend", replicas=2)
    fake.cluster.add_configmap(NS, "llm-config", {"MAX_TOKENS": "2048"})


def max_tokens(fake: FakeKube) -> str:
    configmap = fake.cluster.get("ConfigMap", NS, "llm-config")
    assert configmap is not None
    return str(configmap["data"]["MAX_TOKENS"])


async def test_config_patch_that_always_conflicts_fails_cleanly_with_nothing_done(
        fake_kube: FakeKube, executor: KubernetesExecutor) -> None:
    """Every write answers 409: a bounded number of tries, failed with reason conflict."""
    seed(fake_kube)
    fake_kube.faults.conflict_next_writes(1000)

    report = await executor.run(patch_config("50"))

    assert report.outcome is Outcome.FAILED
    assert report.details["code"] == "conflict"
    assert "partially applied" not in report.reason
    assert len(writes(fake_kube, "configmaps")) == FAST.attempts
    assert max_tokens(fake_kube) == "2048"
    assert restarted_at(fake_kube, "llm-gateway") is None
    assert restarted_at(fake_kube, "llm-backend") is None


async def test_restart_that_always_conflicts_leaves_the_patch_partially_applied(
        fake_kube: FakeKube, executor: KubernetesExecutor) -> None:
    """
    The ConfigMap is patched, the backend's restart answers 409 at every try.

    The report says "partially applied", naming what was done and what was
    not, so a retry after the cooldown repeats only the missing restart.
    """
    seed(fake_kube)
    fake_kube.faults.inject("error", verb="patch", resource="apps/deployments",
                            name="llm-backend", status=409, message="the object has been"
                            " modified; please apply your changes to the latest version")

    report = await executor.run(patch_config("50", restarts=(GATEWAY, BACKEND)))
    fake_kube.faults.active.clear()
    gateway_writes = len(writes(fake_kube, "deployments", "llm-gateway"))
    again = await executor.run(patch_config("50", restarts=(GATEWAY, BACKEND)))

    assert report.outcome is Outcome.FAILED
    assert report.details["code"] == "partially_applied"
    done, missing = report.reason.split("partially applied: done: ")[1].split("not done:")
    assert "MAX_TOKENS" in done and "llm-gateway" in done
    assert "llm-backend" in missing and "409 Conflict" in missing
    assert len(writes(fake_kube, "deployments", "llm-backend")) == FAST.attempts + 1
    assert max_tokens(fake_kube) == "50"
    assert again.outcome is Outcome.EXECUTED
    assert restarted_at(fake_kube, "llm-backend") is not None
    assert len(writes(fake_kube, "deployments", "llm-gateway")) == gateway_writes
