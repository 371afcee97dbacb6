"""
Server-side printing: the ``meta.k8s.io/v1`` Table kubectl asks for by default.

``kubectl get deploy`` sends ``Accept: application/json;as=Table;...`` and
prints the columns the server chose; with ``-o jsonpath`` or ``-o json`` it asks
for plain objects. The columns follow the real apiserver's printers.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from typing import Any

from tests.fakekube import selectors
from tests.fakekube.resources import ResourceType

Column = tuple[
    str, str, int, Callable[[dict[str, Any]], Any]
]  # name, type, priority, cell


def wanted(accept: str) -> bool:
    """Whether the client's first choice is a Table."""
    first = accept.split(",")[0]
    return "as=Table" in first.replace(" ", "")


def age(stamp: str | None) -> str:
    """kubectl's short human duration: 45s, 3m2s, 17m, 5h3m, 9h, 3d."""
    if not stamp:
        return "<unknown>"
    seconds = max(
        0, int(time.time() - calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
    )
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    return f"{days}d"


def _status(obj: dict[str, Any], field: str) -> int:
    return int((obj.get("status") or {}).get(field, 0))


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj["spec"].get("template", {}).get("spec", {}).get("containers") or [])


def _name(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def _age(obj: dict[str, Any]) -> str:
    return age(obj["metadata"].get("creationTimestamp"))


_WORKLOAD_WIDE: list[Column] = [
    (
        "Containers",
        "string",
        1,
        lambda o: ",".join(c.get("name", "") for c in _containers(o)),
    ),
    (
        "Images",
        "string",
        1,
        lambda o: ",".join(c.get("image", "") for c in _containers(o)),
    ),
    (
        "Selector",
        "string",
        1,
        lambda o: selectors.selector_string(o["spec"].get("selector")),
    ),
]

COLUMNS: dict[str, list[Column]] = {
    "Deployment": [
        ("Name", "string", 0, _name),
        (
            "Ready",
            "string",
            0,
            lambda o: f"{_status(o, 'readyReplicas')}/{o['spec'].get('replicas', 1)}",
        ),
        ("Up-to-date", "integer", 0, lambda o: _status(o, "updatedReplicas")),
        ("Available", "integer", 0, lambda o: _status(o, "availableReplicas")),
        ("Age", "string", 0, _age),
        *_WORKLOAD_WIDE,
    ],
    "ReplicaSet": [
        ("Name", "string", 0, _name),
        ("Desired", "integer", 0, lambda o: o["spec"].get("replicas", 1)),
        ("Current", "integer", 0, lambda o: _status(o, "replicas")),
        ("Ready", "integer", 0, lambda o: _status(o, "readyReplicas")),
        ("Age", "string", 0, _age),
        *_WORKLOAD_WIDE,
    ],
    "ConfigMap": [
        ("Name", "string", 0, _name),
        (
            "Data",
            "integer",
            0,
            lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
        ),
        ("Age", "string", 0, _age),
    ],
    "HorizontalPodAutoscaler": [
        ("Name", "string", 0, _name),
        (
            "Reference",
            "string",
            0,
            lambda o: (
                f"{o['spec']['scaleTargetRef'].get('kind')}/{o['spec']['scaleTargetRef'].get('name')}"
            ),
        ),
        ("MinPods", "string", 0, lambda o: str(o["spec"].get("minReplicas", 1))),
        ("MaxPods", "integer", 0, lambda o: o["spec"].get("maxReplicas", 0)),
        ("Replicas", "integer", 0, lambda o: _status(o, "currentReplicas")),
        ("Age", "string", 0, _age),
    ],
    "Lease": [
        ("Name", "string", 0, _name),
        (
            "Holder",
            "string",
            0,
            lambda o: (o.get("spec") or {}).get("holderIdentity", ""),
        ),
        ("Age", "string", 0, _age),
    ],
    "Event": [
        (
            "Last Seen",
            "string",
            0,
            lambda o: age(o.get("lastTimestamp") or o.get("eventTime")),
        ),
        ("Type", "string", 0, lambda o: o.get("type", "")),
        ("Reason", "string", 0, lambda o: o.get("reason", "")),
        (
            "Object",
            "string",
            0,
            lambda o: "{}/{}".format(
                str(o.get("involvedObject", {}).get("kind", "")).lower(),
                o.get("involvedObject", {}).get("name", ""),
            ),
        ),
        ("Message", "string", 0, lambda o: o.get("message", "")),
    ],
}
_DEFAULT: list[Column] = [("Name", "string", 0, _name), ("Age", "string", 0, _age)]


def table(
    rtype: ResourceType, objects: list[dict[str, Any]], resource_version: str
) -> dict[str, Any]:
    columns = COLUMNS.get(rtype.kind, _DEFAULT)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": kind,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": priority,
            }
            for name, kind, priority, _ in columns
        ],
        "rows": [
            {
                "cells": [cell(obj) for _, _, _, cell in columns],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            }
            for obj in objects
        ],
    }
