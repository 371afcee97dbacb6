"""Alertmanager v4 webhook bodies in the shape a real Alertmanager 0.25 sends."""

from __future__ import annotations

import json
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def at(minutes: float, seconds: float = 0) -> str:
    """An RFC 3339 time that many minutes after 2024-05-01T10:00:00Z."""
    total = int(minutes * 60 + seconds)
    return f"2024-05-01T{10 + total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}Z"


def alert(
    alertname: str,
    *,
    status: str = "firing",
    starts_at: str = "2024-05-01T10:00:00Z",
    ends_at: str = ZERO_TIME,
    fingerprint: str | None = None,
    annotations: dict[str, str] | None = None,
    **labels: str,
) -> dict[str, Any]:
    """One element of `alerts`, with Alertmanager's field order and zero endsAt when firing."""
    item: dict[str, Any] = {
        "status": status,
        "labels": {"alertname": alertname, **labels},
        "annotations": annotations or {"summary": f"{alertname} is {status}"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://127.0.0.1:19090/graph?g0.expr=x\u0026g0.tab=1",
    }
    if fingerprint is not None:
        item["fingerprint"] = fingerprint
    else:
        from remediator.alerting.payload import fingerprint as derive

        item["fingerprint"] = derive(item["labels"])
    return item


def resolved(item: dict[str, Any], ends_at: str = "2024-05-01T10:06:00Z") -> dict[str, Any]:
    """The same alert, resolved."""
    return {**item, "status": "resolved", "endsAt": ends_at}


def notification(
    *alerts: dict[str, Any],
    external_url: str = "http://am-0.example.internal:9093",
    group_key: str | None = None,
    truncated: int = 0,
    status: str | None = None,
) -> dict[str, Any]:
    """A whole webhook body; the group status is what Alertmanager computes unless given."""
    common = dict(alerts[0]["labels"]) if alerts else {}
    for item in alerts[1:]:
        common = {k: v for k, v in common.items() if item["labels"].get(k) == v}
    names = sorted({item["labels"]["alertname"] for item in alerts})
    group_status = status or (
        "firing" if any(item.get("status") != "resolved" for item in alerts) else "resolved"
    )
    return {
        "receiver": "remediator",
        "status": group_status,
        "alerts": list(alerts),
        "groupLabels": {"alertname": names[0]} if names else {},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": external_url,
        "version": "4",
        "groupKey": group_key or "{}:{alertname=\"" + (names[0] if names else "") + "\"}",
        "truncatedAlerts": truncated,
    }


def body(document: dict[str, Any]) -> bytes:
    """Compact JSON ending in a newline, as Alertmanager writes it."""
    return (json.dumps(document, separators=(",", ":")) + "\n").encode()
