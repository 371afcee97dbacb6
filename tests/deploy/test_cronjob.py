"""
The CronJob's container as applied, run against the fake API server with the
service account's Role: its runs share the Kubernetes state, so cooldowns hold
from one run to the next.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.deploy import manifests
from tests.deploy.manifests import Doc
from tests.fakekube.harness import FakeKube

# Errors at 8% (critical) and p95 at 80 ms: both model Deployments need a rollback.
RESULT = {"latency_stats": {"p95_ms": 80.0, "p99_ms": 100.0}, "error_rate": 0.08,
          "throughput_rps": 12.0}
RUN_SECONDS = 60.0


class CronJobPod:
    """What the kubelet would start for one Job of the CronJob, on this machine."""

    def __init__(self, docs: list[Doc], fake: FakeKube, tmp_path: Path) -> None:
        self.cronjob = manifests.find(docs, "CronJob")
        self.namespace = self.cronjob["metadata"]["namespace"]
        account = manifests.pod_spec(self.cronjob)["serviceAccountName"]
        self.user = f"system:serviceaccount:{self.namespace}:{account}"

        # The token of the service account, bound to the shipped Role.
        role = manifests.find(docs, "Role")
        fake.add_token("cronjob-token", user=self.user, role_rules=role["rules"],
                       namespace=self.namespace)
        self.kubeconfig = fake.kubeconfig_for("cronjob-token", self.namespace)

        # The mounted config and results; the pod's environment around them.
        self.config = manifests.mounted_config(self.cronjob, docs, tmp_path)
        self.results = tmp_path / "bench_results.json"
        self.results.write_text(json.dumps(RESULT))
        self.tmp_path = tmp_path

    def argv(self) -> list[str]:
        args = list(manifests.container(self.cronjob)["args"])
        args[args.index("--config") + 1] = str(self.config)
        return [sys.executable, "-m", "remediator", *args]

    def environ(self) -> dict[str, str]:
        inherited = {key: value for key, value in os.environ.items()
                     if not key.startswith(("REMEDIATOR_", "KUBERNETES_"))
                     and key not in ("AUTO_EXECUTE", "DRY_RUN", "RESULTS_PATH", "POD_NAMESPACE")}
        return {
            **inherited, **manifests.pod_environ(self.cronjob),
            # Stand-ins for the in-cluster service account and the results mount.
            "KUBECONFIG": str(self.kubeconfig), "RESULTS_PATH": str(self.results),
            "PYTHONIOENCODING": "utf-8",
        }

    async def run(self) -> tuple[int, str, str]:
        # An asyncio subprocess: the fake API server answers from this event loop.
        process = await asyncio.create_subprocess_exec(
            *self.argv(), env=self.environ(), cwd=self.tmp_path,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), RUN_SECONDS)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()


def decisions(stdout: str) -> str:
    """The part of the report listing what each action came to."""
    heading = "Dry run, nothing changed:"
    assert heading in stdout, stdout
    return stdout.split(heading, 1)[1]


@pytest.mark.fake_kube()
async def test_a_second_cronjob_run_honours_the_first_runs_cooldowns(
    fake_kube: FakeKube, base_docs: list[Doc], tmp_path: Path
) -> None:
    """Run 1 records its dry-run rollbacks in remediator-state; run 2 finds them and waits."""
    pod = CronJobPod(base_docs, fake_kube, tmp_path)

    first = await pod.run()
    second = await pod.run()

    assert first[0] == 0, first[2]
    assert second[0] == 0, second[2]
    assert "rollback deployment/llm-gateway: dry_run" in decisions(first[1])
    assert "rollback deployment/llm-gateway: skipped - cooldown" in decisions(second[1])
    assert "rollback deployment/llm-backend: skipped - cooldown" in decisions(second[1])
    state = fake_kube.cluster.get("ConfigMap", pod.namespace, "remediator-state")
    assert state is not None
    assert [entry for entry in fake_kube.cluster.access_log if entry.status == 403] == []
    assert {record.user for record in fake_kube.requests} == {pod.user}


@pytest.mark.fake_kube()
async def test_the_cronjob_changes_nothing_but_its_state(
    fake_kube: FakeKube, base_docs: list[Doc], tmp_path: Path
) -> None:
    """As applied, a run writes only the state ConfigMap: the Deployments stay as they are."""
    pod = CronJobPod(base_docs, fake_kube, tmp_path)
    fake_kube.cluster.add_deployment(pod.namespace, "llm-gateway", replicas=3, revisions=2)
    fake_kube.cluster.add_deployment(pod.namespace, "llm-backend", replicas=2, revisions=2)

    code, _, err = await pod.run()

    assert code == 0, err
    written = {(r.resource, r.name) for r in fake_kube.requests
               if r.verb in ("create", "update", "patch")}
    assert written == {("configmaps", ""), ("configmaps", "remediator-state")}
