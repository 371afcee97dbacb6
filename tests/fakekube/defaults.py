"""
Defaulting, as the apiserver does when it decodes a request body.

Clients read these fields back (``spec.strategy``, ``progressDeadlineSeconds``,
``imagePullPolicy``...), and the Deployment controller compares defaulted pod
templates, so a template sent twice hashes the same either way.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakekube import resources
from tests.fakekube.resources import ResourceType


def _pull_policy(image: str) -> str:
    # The apiserver pulls ":latest" and untagged images always.
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def pod_template(template: dict[str, Any]) -> None:
    spec = template.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            if not isinstance(container, dict):
                continue
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("resources", {})
            if isinstance(container.get("image"), str):
                container.setdefault("imagePullPolicy", _pull_policy(container["image"]))
            for port in container.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _deployment(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", "25%")
                rolling.setdefault("maxSurge", "25%")
    if isinstance(spec.get("template"), dict):
        pod_template(spec["template"])


def _replicaset(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    if isinstance(spec.get("template"), dict):
        pod_template(spec["template"])


def _hpa(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        # autoscaling/v2 defaults an HPA without metrics to 80% CPU.
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]


_MICRO_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")


def micro_time(value: Any) -> Any:
    """Re-render a MicroTime as the apiserver does: always six fractional digits."""
    match = _MICRO_TIME.match(value) if isinstance(value, str) else None
    if match is None:
        return value
    return f"{match.group(1)}.{(match.group(2) or '').ljust(6, '0')[:6]}Z"


def _lease(obj: dict[str, Any]) -> None:
    spec = obj.get("spec") or {}
    for field in ("acquireTime", "renewTime"):
        if field in spec:
            spec[field] = micro_time(spec[field])


def apply(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Fill in defaults in place; ill-typed parts are left for validation."""
    if not isinstance(obj.get("spec", {}), dict):
        return
    if rtype is resources.DEPLOYMENTS:
        _deployment(obj)
    elif rtype is resources.REPLICASETS:
        _replicaset(obj)
    elif rtype is resources.HPAS:
        _hpa(obj)
    elif rtype is resources.LEASES:
        _lease(obj)
