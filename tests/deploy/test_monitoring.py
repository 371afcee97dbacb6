"""The Prometheus Operator objects and the dashboard equal the committed rule files."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from remediator.config import loading
from remediator.config.settings import Settings
from tests.deploy import manifests
from tests.deploy.manifests import Doc

REPO = manifests.REPO
DOCS = REPO / "docs" / "deploy.md"
OPERATOR_KINDS = ("ServiceMonitor", "PrometheusRule", "AlertmanagerConfig")


def sync_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_k8s", REPO / "scripts" / "sync_k8s.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_cluster_settings(namespace: str) -> Settings:
    path = manifests.BASE / "config" / "remediator.yaml"
    return loading.load_settings(path, environ={"REMEDIATOR_TARGET_NAMESPACE": namespace})


def committed(path: str) -> Any:
    file = REPO / path
    assert file.is_file(), f"{path} is missing: `remediator rules` writes it (issue 5)"
    text = file.read_text(encoding="utf-8")
    return json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)


def docs_overlay() -> str:
    """The overlay docs/deploy.md shows for another namespace and release."""
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"<!-- overlay-example -->\s*```yaml\n(.*?)```", text, re.DOTALL)
    assert match, "docs/deploy.md lost its <!-- overlay-example --> yaml block"
    return match.group(1)


def test_generated_copies_are_current() -> None:
    """k8s/base/monitoring holds exactly what scripts/sync_k8s.py generates from the config."""
    stale = [
        str(path.relative_to(REPO)) for path, text in sync_script().expected().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]

    assert stale == [], "run: .venv/bin/python scripts/sync_k8s.py"


def test_the_prometheusrule_holds_the_rules_of_rules_yml(base_docs: list[Doc]) -> None:
    """The PrometheusRule's groups are prometheus/rules.yml, rule for rule."""
    rule = manifests.find(base_docs, "PrometheusRule")

    assert rule["spec"] == committed("prometheus/rules.yml")


def test_the_alertmanagerconfig_is_the_committed_one(base_docs: list[Doc]) -> None:
    """The AlertmanagerConfig applied is alertmanager/alertmanagerconfig.yaml."""
    applied = copy.deepcopy(manifests.find(base_docs, "AlertmanagerConfig"))
    expected = committed("alertmanager/alertmanagerconfig.yaml")
    # kustomize adds its own labels; everything else must be identical.
    applied_labels = applied["metadata"].pop("labels")
    expected_labels = expected["metadata"].pop("labels")

    assert applied == expected
    assert expected_labels.items() <= applied_labels.items()


def test_the_dashboard_configmap_carries_the_committed_dashboard(base_docs: list[Doc]) -> None:
    """The ConfigMap the Grafana sidecar loads holds grafana/dashboard.json."""
    configmap = manifests.find(base_docs, "ConfigMap", "remediator-dashboard")
    (text,) = configmap["data"].values()

    assert json.loads(text) == committed("grafana/dashboard.json")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_the_rules_pass_promtool(base_docs: list[Doc], tmp_path: Path) -> None:
    """`promtool check rules` accepts the PrometheusRule's groups."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: .ci/system-deps installs Debian's prometheus"
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(manifests.find(base_docs, "PrometheusRule")["spec"]))

    result = subprocess.run([promtool, "check", "rules", str(rules)],
                            capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_kube_prometheus_stack_selects_the_operator_objects(base_docs: list[Doc]) -> None:
    """ServiceMonitor, PrometheusRule and AlertmanagerConfig carry the configured release label."""
    namespace = manifests.find(base_docs, "Deployment")["metadata"]["namespace"]
    release = in_cluster_settings(namespace).rules.release_label

    for kind in OPERATOR_KINDS:
        assert manifests.find(base_docs, kind)["metadata"]["labels"]["release"] == release


def test_the_scrape_job_is_the_one_remediatordown_watches(base_docs: list[Doc]) -> None:
    """The ServiceMonitor names the job after the Service label RemediatorDown expects."""
    monitor = manifests.find(base_docs, "ServiceMonitor")
    service = manifests.find(base_docs, "Service", "remediator-metrics")
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    namespace = monitor["metadata"]["namespace"]

    assert job == in_cluster_settings(namespace).rules.remediator_job


def test_the_docs_overlay_moves_every_reference(tmp_path: Path) -> None:
    """The overlay of docs/deploy.md puts every name, label and URL in its namespace."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = os.path.relpath(manifests.BASE, overlay)
    text = docs_overlay().replace("../remediator/k8s/base", base)
    (overlay / "kustomization.yaml").write_text(text)
    wanted = yaml.safe_load(text)

    docs = manifests.render(overlay)

    namespace = wanted["namespace"]
    receiver = manifests.find(docs, "AlertmanagerConfig")["spec"]["receivers"][0]
    binding = manifests.find(docs, "RoleBinding")
    policy = manifests.find(docs, "NetworkPolicy")["spec"]["ingress"][0]["from"]
    assert {doc["metadata"]["namespace"] for doc in docs} == {namespace}
    assert binding["subjects"][0]["namespace"] == namespace
    assert receiver["webhookConfigs"][0]["url"].startswith(f"http://remediator.{namespace}.svc:")
    assert {manifests.find(docs, kind)["metadata"]["labels"]["release"]
            for kind in OPERATOR_KINDS} == {"prom"}
    assert {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for peer in policy} == {"observability"}
    assert manifests.container(manifests.find(docs, "Deployment"))["image"] == (
        "registry.example.com/platform/remediator:0.1.0"
    )


@pytest.mark.parametrize("kind", OPERATOR_KINDS)
def test_operator_objects_are_in_the_remediators_namespace(
    base_docs: list[Doc], kind: str
) -> None:
    """The Operator objects sit beside the Services they point at."""
    deployment = manifests.find(base_docs, "Deployment")

    assert manifests.find(base_docs, kind)["metadata"]["namespace"] == (
        deployment["metadata"]["namespace"]
    )
