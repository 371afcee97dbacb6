"""
Label and field selectors, parsed from their query-string form.

Label selectors support what kubectl and client-go emit: ``a=b``, ``a==b``,
``a!=b``, ``a``, ``!a``, ``a in (x,y)`` and ``a notin (x)``. Field selectors
support ``metadata.name`` and ``metadata.namespace`` with ``=``, ``==``, ``!=``,
as the apiserver does for most built-in resources, plus ``involvedObject.*``,
``reason``, ``type`` and ``source`` for Events.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from tests.fakekube import errors

Requirement = Callable[[Mapping[str, str]], bool]

_SET_BASED = re.compile(r"^\s*(!?)([\w./-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQUALITY = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)\s*$")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``in (...)`` value lists."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def _requirement(term: str) -> Requirement:
    if match := _EQUALITY.match(term):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _SET_BASED.match(term):
        negated, key, operator, values_text = match.groups()
        if operator is None:
            if negated:
                return lambda labels: key not in labels
            return lambda labels: key in labels
        values = {value.strip() for value in values_text.split(",") if value.strip()}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    raise errors.bad_request(f"unable to parse requirement: {term!r}")


@dataclasses.dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text:
            return cls()
        return cls(tuple(_requirement(term) for term in _split_top_level(text)))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(requirement(labels) for requirement in self.requirements)


# Field labels every resource supports, and the extra ones of core/v1 Events,
# each with the object path it reads.
COMMON_FIELDS = {
    "metadata.name": "metadata.name",
    "metadata.namespace": "metadata.namespace",
}
EVENT_FIELDS = {
    **{
        f"involvedObject.{key}": f"involvedObject.{key}"
        for key in (
            "kind",
            "namespace",
            "name",
            "uid",
            "apiVersion",
            "resourceVersion",
            "fieldPath",
        )
    },
    "reason": "reason",
    "reportingComponent": "reportingComponent",
    "source": "source.component",
    "type": "type",
}


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    node: Any = obj
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return "" if node is None else str(node)


@dataclasses.dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()  # (object path, equal?, value)

    @classmethod
    def parse(cls, text: str | None, kind: str = "") -> FieldSelector:
        if not text:
            return cls()
        supported = {**COMMON_FIELDS, **(EVENT_FIELDS if kind == "Event" else {})}
        terms = []
        for term in _split_top_level(text):
            match = _EQUALITY.match(term)
            if not match:
                raise errors.bad_request(
                    f"invalid selector: '{text}'; can't understand '{term}'"
                )
            field, operator, value = match.groups()
            if field not in supported:
                raise errors.bad_request(f"field label not supported: {field}")
            terms.append((supported[field], operator != "!=", value))
        return cls(tuple(terms))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(
            (_field_value(obj, path) == value) == equal
            for path, equal, value in self.terms
        )


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """Render a LabelSelector object as a query string, as the Scale status does."""
    if not selector:
        return ""
    terms = [
        f"{key}={value}"
        for key, value in sorted((selector.get("matchLabels") or {}).items())
    ]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = ",".join(sorted(expression.get("values") or []))
        if operator == "In":
            terms.append(f"{key} in ({values})")
        elif operator == "NotIn":
            terms.append(f"{key} notin ({values})")
        elif operator == "Exists":
            terms.append(key)
        elif operator == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)


def selector_matches(
    selector: Mapping[str, Any] | None, labels: Mapping[str, str]
) -> bool:
    """Whether a LabelSelector object selects these labels (empty selects all)."""
    return LabelSelector.parse(selector_string(selector)).matches(
        {"metadata": {"labels": labels}}
    )
