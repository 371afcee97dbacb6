"""
The shipped manifests as the cluster would receive them: rendered by the real
kubectl's kustomize, parsed, and looked up by kind and name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
BASE = K8S / "base"
AUTO_EXECUTE = K8S / "overlays" / "auto-execute"
KUBECTL = "/usr/bin/kubectl"

Doc = dict[str, Any]


def kubectl() -> str:
    """The real kubectl (its embedded kustomize works offline)."""
    found = KUBECTL if os.access(KUBECTL, os.X_OK) else shutil.which("kubectl")
    assert found, f"no kubectl at {KUBECTL} or on PATH: the deploy tests need the real one"
    return found


def render(directory: Path) -> list[Doc]:
    """`kubectl kustomize DIRECTORY`, parsed; fails with kustomize's own message."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory}:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    """The one object of `kind` (and `name`); fails when there is none or several."""
    found = [
        doc for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def kinds(docs: list[Doc]) -> list[str]:
    return [doc["kind"] for doc in docs]


def pod_spec(doc: Doc) -> Doc:
    """The pod template spec of a Deployment or a CronJob."""
    if doc["kind"] == "CronJob":
        spec: Doc = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    template: Doc = doc["spec"]["template"]["spec"]
    return template


def workloads(docs: list[Doc]) -> Iterator[Doc]:
    """The objects that run our image."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "CronJob"):
            yield doc


def container(doc: Doc) -> Doc:
    """The single container of a workload."""
    containers = pod_spec(doc)["containers"]
    assert len(containers) == 1, f"{doc['kind']} {doc['metadata']['name']}: one container"
    only: Doc = containers[0]
    return only


def env(doc: Doc) -> dict[str, Any]:
    """A workload container's environment: plain values, or the valueFrom source."""
    return {
        item["name"]: item.get("value", item.get("valueFrom"))
        for item in container(doc).get("env", [])
    }


def mounts(doc: Doc) -> dict[str, Doc]:
    """Mount path -> the volume mounted there, for a workload's container."""
    volumes = {volume["name"]: volume for volume in pod_spec(doc).get("volumes", [])}
    return {
        mount["mountPath"]: {**volumes[mount["name"]], "readOnly": mount.get("readOnly", False)}
        for mount in container(doc).get("volumeMounts", [])
    }


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels selector picks an object with these labels."""
    return all(labels.get(key) == value for key, value in selector.items())


CONFIG_MOUNT = "/etc/remediator/config"


def pod_environ(doc: Doc) -> dict[str, str]:
    """The container's environment as the kubelet fills it in."""
    environ = {}
    for name, value in env(doc).items():
        if isinstance(value, str):
            environ[name] = value
        else:
            # The only reference used: the pod's own namespace (downward API).
            assert value == {"fieldRef": {"fieldPath": "metadata.namespace"}}, name
            environ[name] = doc["metadata"]["namespace"]
    return environ


def mounted_config(doc: Doc, docs: list[Doc], directory: Path) -> Path:
    """The config file the container's `--config` names, written into `directory`."""
    config = mounts(doc)[CONFIG_MOUNT]["configMap"]["name"]
    data = find(docs, "ConfigMap", config)["data"]
    args = container(doc)["args"]
    path = PurePosixPath(args[args.index("--config") + 1])
    assert str(path.parent) == CONFIG_MOUNT

    copy = directory / path.name
    copy.write_text(data[path.name], encoding="utf-8")
    return copy
