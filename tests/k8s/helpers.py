"""Actions and cluster probes shared by the Kubernetes tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from remediator.planning.actions import Action, ActionType, Target
from tests.fakekube.harness import FakeKube

NS = "default"
GATEWAY = Target("Deployment", NS, "llm-gateway")
BACKEND = Target("Deployment", NS, "llm-backend")
CONFIG = Target("ConfigMap", NS, "llm-config")


def scale(replicas: int, target: Target = GATEWAY) -> Action:
    return Action(ActionType.SCALE, 1, target, f"Scale {target.name}", "test", replicas=replicas)


def rollback(target: Target = GATEWAY) -> Action:
    return Action(ActionType.ROLLBACK, 1, target, f"Roll back {target.name}", "test")


def restart(target: Target = GATEWAY) -> Action:
    return Action(ActionType.RESTART, 1, target, f"Restart {target.name}", "test")


def combined(replicas: int, target: Target = GATEWAY) -> Action:
    return Action(ActionType.COMBINED, 1, target, f"Scale and roll back {target.name}",
                  "test", replicas=replicas)


def patch_config(value: str = "50", restarts: tuple[Target, ...] = (GATEWAY, BACKEND)) -> Action:
    return Action(ActionType.PATCH_CONFIG, 2, CONFIG, "Lower MAX_TOKENS", "test",
                  config_key="MAX_TOKENS", config_value=value, restarts=restarts)


def replicas(fake: FakeKube, name: str = "llm-gateway") -> int:
    deployment = fake.cluster.get("Deployment", NS, name)
    assert deployment is not None
    return int(deployment["spec"]["replicas"])


def image(fake: FakeKube, name: str = "llm-gateway") -> str:
    deployment = fake.cluster.get("Deployment", NS, name)
    assert deployment is not None
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def restarted_at(fake: FakeKube, name: str) -> str | None:
    deployment = fake.cluster.get("Deployment", NS, name)
    assert deployment is not None
    annotations = deployment["spec"]["template"].get("metadata", {}).get("annotations") or {}
    value = annotations.get("kubectl.kubernetes.io/restartedAt")
    return value if isinstance(value, str) else None


def events(fake: FakeKube, name: str | None = None) -> list[dict[str, Any]]:
    """Our Events, oldest first, optionally only those on one object."""
    found = [
        event for event in fake.cluster.list("Event", NS)
        if event.get("source", {}).get("component") == "remediator"
        and (name is None or event["involvedObject"]["name"] == name)
    ]
    return sorted(found, key=lambda event: int(event["metadata"]["resourceVersion"]))


def reasons(fake: FakeKube, name: str | None = None) -> list[str]:
    return [event["reason"] for event in events(fake, name)]


def writes(fake: FakeKube, resource: str, name: str | None = None) -> list[Any]:
    """The patch/update requests that reached the fake for a resource."""
    return [
        record for record in fake.requests
        if record.verb in ("patch", "update") and record.resource == resource
        and (name is None or record.name == name)
    ]


def kubeconfig_with_a_dead_default(fake: FakeKube, path: Path) -> Path:
    """
    A kubeconfig whose current context points at nothing (port 9 on loopback)
    and whose context `fakekube` reaches the fake: only `--context fakekube` works.
    """
    config = json.loads(fake.kubeconfig_path.read_text())
    config["clusters"].append({"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}})
    config["contexts"].append({"name": "dead", "context": {"cluster": "dead",
                                                           "user": "fakekube"}})
    config["current-context"] = "dead"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path
