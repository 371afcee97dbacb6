"""
What the apiserver rejects, with its wording.

Two stages, as in the real server:

- ``check_types``: a body that does not decode into the Go types (a number
  where a string belongs). A create or update gets 400, a patch gets 422.
- ``validate``: semantic checks giving ``FieldError``s, answered with 422
  ``Invalid`` naming each field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from tests.fakekube import resources, selectors
from tests.fakekube.errors import FieldError
from tests.fakekube.resources import ResourceType

DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
CONFIG_KEY = r"[-._a-zA-Z0-9]+"

_SUBDOMAIN_HELP = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
    " '-' or '.', and must start and end with an alphanumeric character (e.g."
    f" 'example.com', regex used for validation is '{DNS1123_SUBDOMAIN}')"
)
_LABEL_NAME_HELP = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or"
    " '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or"
    f" '123-abc', regex used for validation is '{DNS1123_LABEL}')"
)
_LABEL_VALUE_HELP = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-',"
    " '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',"
    f"  or 'my_value',  or '12345', regex used for validation is '{LABEL_VALUE}')"
)
_CONFIG_KEY_HELP = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g."
    " 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is"
    f" '{CONFIG_KEY}')"
)


class DecodeError(Exception):
    """A value of the wrong JSON type for its Go field."""

    def __init__(self, field: str, value: Any, go_type: str) -> None:
        self.field = field
        json_type = {str: "string", bool: "bool", list: "array", dict: "object"}.get(
            type(value), "number"
        )
        super().__init__(
            f"json: cannot unmarshal {json_type} into Go struct field {field}"
            f" of type {go_type}"
        )


# --- decoding --------------------------------------------------------------------------

_GO_TYPES: dict[type, str] = {
    str: "string",
    int: "int32",
    bool: "bool",
    dict: "object",
    list: "array",
}
_COMMON_TYPES = [
    ("metadata", dict),
    ("metadata.name", str),
    ("metadata.namespace", str),
    ("metadata.labels", dict),
    ("metadata.labels.*", str),
    ("metadata.annotations", dict),
    ("metadata.annotations.*", str),
]
_TEMPLATE_TYPES = [
    ("spec", dict),
    ("spec.replicas", int),
    ("spec.minReadySeconds", int),
    ("spec.selector", dict),
    ("spec.selector.matchLabels", dict),
    ("spec.selector.matchLabels.*", str),
    ("spec.template", dict),
    ("spec.template.metadata.labels", dict),
    ("spec.template.metadata.labels.*", str),
    ("spec.template.metadata.annotations.*", str),
    ("spec.template.spec.containers", list),
    ("spec.template.spec.containers.*", dict),
    ("spec.template.spec.containers.*.name", str),
    ("spec.template.spec.containers.*.image", str),
    ("spec.template.spec.containers.*.env", list),
    ("spec.template.spec.containers.*.env.*", dict),
    ("spec.template.spec.containers.*.env.*.name", str),
    ("spec.template.spec.containers.*.env.*.value", str),
]
_TYPES: dict[str, list[tuple[str, type]]] = {
    "ConfigMap": [
        ("data", dict),
        ("data.*", str),
        ("binaryData", dict),
        ("binaryData.*", str),
        ("immutable", bool),
    ],
    "Deployment": [
        *_TEMPLATE_TYPES,
        ("spec.paused", bool),
        ("spec.revisionHistoryLimit", int),
        ("spec.progressDeadlineSeconds", int),
    ],
    "ReplicaSet": _TEMPLATE_TYPES,
    "HorizontalPodAutoscaler": [
        ("spec", dict),
        ("spec.minReplicas", int),
        ("spec.maxReplicas", int),
        ("spec.scaleTargetRef", dict),
    ],
    "Lease": [
        ("spec", dict),
        ("spec.holderIdentity", str),
        ("spec.leaseDurationSeconds", int),
        ("spec.leaseTransitions", int),
    ],
    "Event": [("message", str), ("reason", str), ("count", int), ("type", str)],
    "Scale": [("spec", dict), ("spec.replicas", int)],
}


def _walk(node: Any, segments: list[str], path: str) -> Iterator[tuple[str, Any]]:
    if not segments:
        yield path, node
        return
    head, rest = segments[0], segments[1:]
    if head == "*":
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            yield from _walk(child, rest, f"{path}.{key}")
    elif isinstance(node, dict) and head in node:
        yield from _walk(node[head], rest, f"{path}.{head}" if path else head)


def check_types(kind: str, obj: dict[str, Any]) -> None:
    """Raise ``DecodeError`` for the first value whose JSON type is wrong."""
    for pattern, expected in [*_COMMON_TYPES, *_TYPES.get(kind, [])]:
        for path, value in _walk(obj, pattern.split("."), ""):
            if value is None:
                continue  # null decodes to the zero value
            wrong_bool = expected is int and isinstance(value, bool)
            if wrong_bool or not isinstance(value, expected):
                raise DecodeError(f"{kind}.{path}", value, _GO_TYPES[expected])


# --- validation ------------------------------------------------------------------------


def go_value(value: Any) -> str:
    """Render a value as the Go validator prints it in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        inner = ", ".join(
            f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(value.items())
        )
        return f"map[string]string{{{inner}}}"
    return str(value)


def _invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(
        field, "FieldValueInvalid", f"Invalid value: {go_value(value)}: {detail}"
    )


def _required(field: str, detail: str = "") -> FieldError:
    return FieldError(
        field, "FieldValueRequired", "Required value" + (f": {detail}" if detail else "")
    )


def _at_least(field: str, value: Any, minimum: int) -> list[FieldError]:
    if isinstance(value, int) and value < minimum:
        if minimum == 0:
            return [_invalid(field, value, "must be greater than or equal to 0")]
        return [_invalid(field, value, f"must be greater than or equal to {minimum}")]
    return []


def validate_name(name: Any) -> list[FieldError]:
    if not name:
        return [_required("metadata.name", "name or generateName is required")]
    if len(name) > 253:
        return [_invalid("metadata.name", name, "must be no more than 253 characters")]
    if not re.fullmatch(DNS1123_SUBDOMAIN, name):
        return [_invalid("metadata.name", name, _SUBDOMAIN_HELP)]
    return []


def _metadata(obj: dict[str, Any]) -> list[FieldError]:
    metadata = obj.get("metadata") or {}
    found = validate_name(metadata.get("name"))
    for key, value in (metadata.get("labels") or {}).items():
        if len(value) > 63 or not re.fullmatch(LABEL_VALUE, value):
            found.append(_invalid("metadata.labels", value, _LABEL_VALUE_HELP))
        if not key or len(key.rsplit("/", 1)[-1]) > 63:
            found.append(
                _invalid(
                    "metadata.labels", key, "name part must be no more than 63 characters"
                )
            )
    return found


def _pod_template(template: Any, path: str) -> list[FieldError]:
    if not isinstance(template, dict):
        return [_required(path)]
    found: list[FieldError] = []
    spec = template.get("spec") or {}
    containers = spec.get("containers") or []
    if not containers:
        found.append(_required(f"{path}.spec.containers"))
    seen: set[str] = set()
    for index, container in enumerate(containers):
        where = f"{path}.spec.containers[{index}]"
        name = container.get("name")
        if not name:
            found.append(_required(f"{where}.name"))
        elif name in seen:
            found.append(
                FieldError(
                    f"{where}.name",
                    "FieldValueDuplicate",
                    f"Duplicate value: {go_value(name)}",
                )
            )
        elif not re.fullmatch(DNS1123_LABEL, name) or len(name) > 63:
            found.append(_invalid(f"{where}.name", name, _LABEL_NAME_HELP))
        seen.add(name or "")
        if not container.get("image"):
            found.append(_required(f"{where}.image"))
        for env_index, env in enumerate(container.get("env") or []):
            if not env.get("name"):
                found.append(_required(f"{where}.env[{env_index}].name"))
    restart = spec.get("restartPolicy", "Always")
    if restart != "Always":
        found.append(
            FieldError(
                f"{path}.spec.restartPolicy",
                "FieldValueNotSupported",
                f'Unsupported value: {go_value(restart)}: supported values: "Always"',
            )
        )
    return found


def _workload(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    found = _at_least("spec.replicas", spec.get("replicas"), 0)
    found += _at_least("spec.minReadySeconds", spec.get("minReadySeconds"), 0)
    selector = spec.get("selector")
    if not selector:
        found.append(_required("spec.selector"))
    elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
        found.append(
            _invalid(
                "spec.selector", selector, "empty selector is invalid for deployment"
            )
        )
    template = spec.get("template")
    found += _pod_template(template, "spec.template")
    if selector and isinstance(template, dict):
        labels = (template.get("metadata") or {}).get("labels") or {}
        if not selectors.selector_matches(selector, labels):
            found.append(
                _invalid(
                    "spec.template.metadata.labels",
                    labels,
                    "`selector` does not match template `labels`",
                )
            )
    if old is not None and selector != (old.get("spec") or {}).get("selector"):
        found.append(_invalid("spec.selector", selector, "field is immutable"))
    return found


def _percent_or_int(value: Any) -> bool:
    return isinstance(value, int) or (
        isinstance(value, str) and bool(re.fullmatch(r"\d+%", value))
    )


def _deployment(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    found = _workload(obj, old)
    spec = obj.get("spec") or {}
    found += _at_least("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"), 0)
    deadline = spec.get("progressDeadlineSeconds")
    if isinstance(deadline, int) and deadline <= spec.get("minReadySeconds", 0):
        found.append(
            _invalid(
                "spec.progressDeadlineSeconds",
                deadline,
                "must be greater than minReadySeconds",
            )
        )
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type")
    if kind not in ("Recreate", "RollingUpdate"):
        found.append(
            FieldError(
                "spec.strategy.type",
                "FieldValueNotSupported",
                f"Unsupported value: {go_value(kind)}: supported values:"
                ' "Recreate", "RollingUpdate"',
            )
        )
    rolling = strategy.get("rollingUpdate") or {}
    if kind == "Recreate" and rolling:
        found.append(
            FieldError(
                "spec.strategy.rollingUpdate",
                "FieldValueForbidden",
                "Forbidden: may not be specified when strategy `type` is 'Recreate'",
            )
        )
    for key in ("maxUnavailable", "maxSurge"):
        if key in rolling and not _percent_or_int(rolling[key]):
            found.append(
                _invalid(
                    f"spec.strategy.rollingUpdate.{key}",
                    rolling[key],
                    "a valid percent string must be a numeric string followed by"
                    " an ending '%'",
                )
            )
    if rolling.get("maxUnavailable") in (0, "0%") and rolling.get("maxSurge") in (
        0,
        "0%",
    ):
        found.append(
            _invalid(
                "spec.strategy.rollingUpdate.maxUnavailable",
                0,
                "may not be 0 when `maxSurge` is 0",
            )
        )
    return found


def _configmap(obj: dict[str, Any]) -> list[FieldError]:
    found: list[FieldError] = []
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    for field, mapping in (("data", data), ("binaryData", binary)):
        for key in mapping:
            if len(key) > 253 or not re.fullmatch(CONFIG_KEY, key):
                found.append(_invalid(f"{field}[{key}]", key, _CONFIG_KEY_HELP))
    for key in set(data) & set(binary):
        found.append(
            _invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
        )
    return found


def _hpa(obj: dict[str, Any]) -> list[FieldError]:
    spec = obj.get("spec") or {}
    found: list[FieldError] = []
    target = spec.get("scaleTargetRef") or {}
    if not target.get("kind"):
        found.append(_required("spec.scaleTargetRef.kind"))
    if not target.get("name"):
        found.append(_required("spec.scaleTargetRef.name"))
    minimum, maximum = spec.get("minReplicas"), spec.get("maxReplicas")
    found += _at_least("spec.minReplicas", minimum, 1)
    if maximum is None:
        found.append(_required("spec.maxReplicas"))
    elif maximum < 1:
        found.append(_invalid("spec.maxReplicas", maximum, "must be greater than 0"))
    elif isinstance(minimum, int) and maximum < minimum:
        found.append(
            _invalid(
                "spec.maxReplicas",
                maximum,
                "must be greater than or equal to `minReplicas`",
            )
        )
    return found


def _lease(obj: dict[str, Any]) -> list[FieldError]:
    duration = (obj.get("spec") or {}).get("leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        return [_invalid("spec.leaseDurationSeconds", duration, "must be greater than 0")]
    return []


def _event(obj: dict[str, Any]) -> list[FieldError]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    involved = (obj.get("involvedObject") or {}).get("namespace")
    if involved and involved != namespace:
        return [
            _invalid(
                "involvedObject.namespace", involved, "does not match event.namespace"
            )
        ]
    return []


def validate(
    rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None = None
) -> list[FieldError]:
    """All semantic errors of a (defaulted) object; ``old`` is set for updates."""
    found = _metadata(obj)
    if rtype is resources.DEPLOYMENTS:
        found += _deployment(obj, old)
    elif rtype is resources.REPLICASETS:
        found += _workload(obj, old)
    elif rtype is resources.CONFIGMAPS:
        found += _configmap(obj)
    elif rtype is resources.HPAS:
        found += _hpa(obj)
    elif rtype is resources.LEASES:
        found += _lease(obj)
    elif rtype is resources.EVENTS:
        found += _event(obj)
    return found


def validate_scale(scale: dict[str, Any]) -> list[FieldError]:
    return _at_least("spec.replicas", (scale.get("spec") or {}).get("replicas"), 0)
