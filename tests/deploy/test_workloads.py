"""The daemon and the CronJob run locked down, with the config they expect."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from remediator import cli
from remediator.config import loading
from remediator.config.settings import Settings
from tests.deploy import dockerfile, manifests
from tests.deploy.manifests import Doc

CONFIG_MOUNT = manifests.CONFIG_MOUNT


def settings_of(doc: Doc, docs: list[Doc], tmp_path: Path) -> Settings:
    """What the remediator in this workload's container loads at start."""
    config = manifests.mounted_config(doc, docs, tmp_path)
    return loading.load_settings(config, environ=manifests.pod_environ(doc))


def image_user() -> tuple[int, int]:
    user = dockerfile.parse().final.last("USER")
    assert user is not None
    uid, _, gid = user.text.partition(":")
    return int(uid), int(gid)


@pytest.mark.parametrize("kind", ["Deployment", "CronJob"])
def test_pods_run_as_the_images_non_root_user_without_privileges(
    base_docs: list[Doc], kind: str
) -> None:
    """Non-root with the image's UID, seccomp on, read-only root, every capability dropped."""
    doc = manifests.find(base_docs, kind)
    pod = manifests.pod_spec(doc)["securityContext"]
    context = manifests.container(doc)["securityContext"]
    uid, gid = image_user()

    assert (pod["runAsNonRoot"], pod["runAsUser"], pod["runAsGroup"]) == (True, uid, gid)
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("kind", ["Deployment", "CronJob"])
def test_only_scratch_space_is_writable(base_docs: list[Doc], kind: str) -> None:
    """/tmp and the image's state volume are bounded emptyDirs; all other mounts are read-only."""
    doc = manifests.find(base_docs, kind)
    volume = dockerfile.parse().final.last("VOLUME")
    assert volume is not None and volume.exec_form is not None
    writable = {
        path: mount for path, mount in manifests.mounts(doc).items() if not mount["readOnly"]
    }

    assert sorted(writable) == sorted(["/tmp", *volume.exec_form])
    assert all(mount["emptyDir"]["sizeLimit"] for mount in writable.values())


@pytest.mark.parametrize("kind", ["Deployment", "CronJob"])
def test_containers_have_requests_and_limits(base_docs: list[Doc], kind: str) -> None:
    """CPU and memory are requested and capped, so the scheduler and the OOM killer know."""
    resources = manifests.container(manifests.find(base_docs, kind))["resources"]

    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_only_the_remediators_pods_get_an_api_token(base_docs: list[Doc]) -> None:
    """The ServiceAccount mounts no token by default; the two workloads that call the API ask."""
    account = manifests.find(base_docs, "ServiceAccount")

    assert account["automountServiceAccountToken"] is False
    for doc in manifests.workloads(base_docs):
        spec = manifests.pod_spec(doc)
        assert spec["serviceAccountName"] == account["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is True


@pytest.mark.parametrize("kind", ["Deployment", "CronJob"])
def test_the_in_cluster_config_loads_with_the_pods_environment(
    base_docs: list[Doc], kind: str, tmp_path: Path
) -> None:
    """The mounted config is valid and selects the Kubernetes state in our own namespace."""
    doc = manifests.find(base_docs, kind)

    settings = settings_of(doc, base_docs, tmp_path)

    assert settings.state.backend == "kubernetes"
    assert settings.targets.namespace == doc["metadata"]["namespace"]
    assert settings.kubernetes.leader_election.enabled


@pytest.mark.parametrize("kind", ["Deployment", "CronJob"])
def test_the_base_only_observes(base_docs: list[Doc], kind: str, tmp_path: Path) -> None:
    """As applied from k8s/, neither the daemon nor the CronJob changes the cluster."""
    settings = settings_of(manifests.find(base_docs, kind), base_docs, tmp_path)

    assert manifests.env(manifests.find(base_docs, kind))["AUTO_EXECUTE"] == "false"
    assert not settings.executing()


def test_the_auto_execute_overlay_lets_only_the_daemon_act(
    auto_execute_docs: list[Doc], tmp_path: Path
) -> None:
    """The overlay turns execution on in the Deployment and removes the observing CronJob."""
    settings = settings_of(
        manifests.find(auto_execute_docs, "Deployment"), auto_execute_docs, tmp_path
    )

    assert settings.executing()
    assert "CronJob" not in manifests.kinds(auto_execute_docs)


def test_the_daemon_serves_its_config_on_the_container_port(
    base_docs: list[Doc], tmp_path: Path
) -> None:
    """The listen address, the container port and the webhook token file agree."""
    deployment = manifests.find(base_docs, "Deployment")
    settings = settings_of(deployment, base_docs, tmp_path)
    (port,) = manifests.container(deployment)["ports"]
    token = PurePosixPath(str(settings.server.webhook_token_file))
    secret = manifests.mounts(deployment)[str(token.parent)]

    assert settings.server.listen == f"0.0.0.0:{port['containerPort']}"
    assert secret["readOnly"] and secret["secret"]["secretName"]
    assert token.name == "token"


@pytest.mark.parametrize("kind", ["Deployment", "CronJob"])
def test_the_results_file_comes_from_the_benchmark_configmap(
    base_docs: list[Doc], kind: str, tmp_path: Path
) -> None:
    """results.path is a key of the optional, read-only ConfigMap the benchmark publishes."""
    doc = manifests.find(base_docs, kind)
    path = PurePosixPath(settings_of(doc, base_docs, tmp_path).results.path)
    volume = manifests.mounts(doc)[str(path.parent)]

    assert volume["readOnly"]
    assert volume["configMap"] == {"name": "llm-bench-results", "optional": True}
    assert path.name == "bench_results.json"


@pytest.mark.parametrize(("kind", "command"), [("Deployment", "serve"), ("CronJob", "watch")])
def test_container_arguments_are_accepted_by_the_cli(
    base_docs: list[Doc], kind: str, command: str
) -> None:
    """The arguments the workloads pass parse with the real `remediator` parser."""
    args = manifests.container(manifests.find(base_docs, kind))["args"]

    parsed: Any = cli.build_parser().parse_args(args)

    assert parsed.command == command
    assert parsed.config.startswith(CONFIG_MOUNT)


def test_the_cronjob_runs_every_five_minutes_one_at_a_time(base_docs: list[Doc]) -> None:
    """The original design's schedule, no overlap, bounded history, each run over in time."""
    cronjob = manifests.find(base_docs, "CronJob")
    spec = cronjob["spec"]

    assert spec["schedule"] == "*/5 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 1 <= spec["successfulJobsHistoryLimit"] <= 5
    assert 1 <= spec["failedJobsHistoryLimit"] <= 5
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] < 5 * 60
    assert manifests.pod_spec(cronjob)["restartPolicy"] == "Never"
