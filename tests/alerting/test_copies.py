"""Every committed copy of a generated artefact equals what the generator makes now."""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from remediator.alerting import dashboard, routing, rules
from remediator.config.settings import Settings
from tests.alerting.tools import REPO

REGENERATE = (
    "regenerate it with `remediator rules --kind {kind} --output {path}`, or for a copy "
    "under k8s/ with `.venv/bin/python scripts/sync_k8s.py` (see docs/alerting.md)"
)


@functools.cache
def _in_cluster() -> dict[Path, Any]:
    """
    The copies scripts/sync_k8s.py writes under k8s/, parsed: they follow the
    in-cluster config (k8s/base/config/remediator.yaml), not the defaults.
    """
    spec = importlib.util.spec_from_file_location("sync_k8s", REPO / "scripts" / "sync_k8s.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    texts: dict[Path, str] = module.expected()
    return {path: json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            for path, text in texts.items()}


def _committed(*suffixes: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60,
    ).stdout.decode().split("\0")
    return [REPO / name for name in listed if name.endswith(suffixes) and (REPO / name).is_file()]


def _yaml_documents() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in _committed(".yaml", ".yml"):
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError:
            continue  # not ours to judge; yamllint and kustomize tests are
        found += [(path, doc) for doc in documents if isinstance(doc, dict)]
    return found


def test_every_prometheusrule_holds_the_generated_rules() -> None:
    """A PrometheusRule anywhere in the repo has exactly the rules of prometheus/rules.yml."""
    defaults = rules.rule_file(Settings())

    for path, document in _yaml_documents():
        if document.get("kind") == "PrometheusRule":
            expected = _in_cluster()[path]["spec"] if path in _in_cluster() else defaults
            hint = REGENERATE.format(kind="prometheusrule", path=path.relative_to(REPO))
            assert document.get("spec") == expected, f"{path} is out of date: {hint}"


def test_every_alertmanagerconfig_routes_as_generated() -> None:
    """An AlertmanagerConfig anywhere in the repo has the generated route and inhibitions."""
    defaults = routing.alertmanager_config_resource(Settings())["spec"]

    for path, document in _yaml_documents():
        if document.get("kind") == "AlertmanagerConfig":
            expected = _in_cluster()[path]["spec"] if path in _in_cluster() else defaults
            spec = document.get("spec", {})
            hint = REGENERATE.format(kind="alertmanagerconfig", path=path.relative_to(REPO))
            assert spec.get("route") == expected["route"], f"{path}: {hint}"
            assert spec.get("inhibitRules") == expected["inhibitRules"], f"{path}: {hint}"


def test_every_copy_of_the_dashboard_is_current() -> None:
    """Dashboard JSON files, and ConfigMaps carrying one, equal the generated dashboard."""
    defaults = dashboard.dashboard(Settings())
    copies = 0

    for path in _committed(".json"):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue  # deliberately broken fixtures of other tests
        if isinstance(document, dict) and document.get("uid") == dashboard.UID:
            copies += 1
            expected = _in_cluster().get(path, defaults)
            hint = REGENERATE.format(kind="dashboard", path=path.relative_to(REPO))
            assert document == expected, f"{path} is out of date: {hint}"
    for path, document in _yaml_documents():
        labels = (document.get("metadata") or {}).get("labels") or {}
        if document.get("kind") == "ConfigMap" and dashboard.SIDECAR_LABEL in labels:
            copies += 1
            for text in (document.get("data") or {}).values():
                assert json.loads(text) == defaults, f"{path} is out of date"

    assert copies >= 1
