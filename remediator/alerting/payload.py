"""
The Alertmanager webhook payload, version 4, parsed into plain values.

Each alert is judged on its own: the group's `status` says "firing" as long
as any alert of the group fires, so it is ignored. Fields other senders
leave out are defaulted the way Alertmanager itself would fill them: the
per-alert status from `endsAt`, the fingerprint from the label set (with
Alertmanager's own hash, so a derived fingerprint equals the real one).
Anything we will never accept raises `PayloadError` naming the field.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from remediator.errors import PayloadError

Status = Literal["firing", "resolved"]

# FNV-1a, 64 bit, as Prometheus' model.LabelSet.Fingerprint uses it.
_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = b"\xff"


@dataclasses.dataclass(frozen=True)
class Alert:
    status: Status
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    """None while no end is known (Go's zero time `0001-01-01T00:00:00Z`, or absent)."""

    fingerprint: str
    generator_url: str = ""

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def starts_key(self) -> str:
        """`startsAt` in one canonical spelling, for the episode key."""
        return canonical_time(self.starts_at)


@dataclasses.dataclass(frozen=True)
class Notification:
    """One webhook call: one alert group, possibly with firing and resolved alerts mixed."""

    alerts: tuple[Alert, ...]
    version: str = "4"
    group_key: str = ""
    receiver: str = ""
    external_url: str = ""
    truncated_alerts: int = 0


GO_ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero `time.Time`, which Alertmanager writes for an end not known."""

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
"""A JSON escape of a UTF-16 surrogate, `\\ud800` to `\\udfff`."""


def parse_notification(body: bytes, *, now: datetime, source: str = "webhook") -> Notification:
    """
    Parse a webhook body, or raise `PayloadError` naming the field at fault.

    `now` decides the status of alerts that carry no `status`: an alert
    whose `endsAt` has passed is resolved.
    """
    return _parse(body, now=now, source=source)[0]


class RecentBodies:
    """
    The notifications parsed from the last few distinct bodies, by their bytes.

    Alertmanager sends the same bytes again and again: each retry, each
    `repeat_interval`, each peer of an HA pair (whose `externalURL` differs,
    so each peer's body is its own). Parsing and validating them is most of
    what a repeat costs, so a body seen lately is not parsed again. Only small
    bodies are kept, and only those whose every alert states its status (else
    the status depends on when the body comes); a body that fails to parse is
    never kept, so it is refused again with the same message.
    """

    def __init__(self, *, size: int = 64, max_body: int = 8192) -> None:
        self.size = size
        self.max_body = max_body
        self._parsed: dict[bytes, Notification] = {}

    def parse(self, body: bytes, *, now: datetime, source: str = "webhook") -> Notification:
        known = self._parsed.get(body)
        if known is not None:
            return known
        notification, timeless = _parse(body, now=now, source=source)
        if timeless and len(body) <= self.max_body:
            if len(self._parsed) >= self.size:
                del self._parsed[next(iter(self._parsed))]  # the oldest: insertion order
            self._parsed[body] = notification
        return notification


def _parse(body: bytes, *, now: datetime, source: str) -> tuple[Notification, bool]:
    """The notification, and whether every alert stated its status (`now` played no part)."""
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise PayloadError(source, None, "body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise PayloadError(
            source, None, f"body is not JSON: {error.msg} at line {error.lineno}"
        ) from None
    except ValueError:
        # An integer past Python's digit limit (4,300) raises this, not JSONDecodeError.
        raise PayloadError(source, None, "body holds a number too long to read"
                                         " (more than 4300 digits)") from None
    except RecursionError:
        # `[[[[...` a few thousand deep exhausts the decoder's stack: hostile, not v4.
        raise PayloadError(source, None, "body is nested too deeply to be a v4 payload") from None
    if not isinstance(document, dict):
        raise PayloadError(source, None, f"body must be a JSON object, got {_kind(document)}")

    version = document.get("version", "4")
    if not isinstance(version, str):
        raise PayloadError(source, "version", f'must be the string "4", got {_kind(version)}')
    if version != "4":
        raise PayloadError(
            source, "version",
            f"payload version {version!r} is not supported: Alertmanager 0.6 and later"
            " send version \"4\"",
        )
    # Only a \uD800-\uDFFF escape can make a lone surrogate: without one, skip the checks.
    texts = _SURROGATE_ESCAPE.search(body) is not None
    group_key = _optional_string(document, "groupKey", source)
    receiver = _optional_string(document, "receiver", source)
    external_url = _optional_string(document, "externalURL", source)
    # Not used (each alert's own status decides, and its own labels), but a wrong
    # one means the sender is not Alertmanager: refused rather than ignored.
    group_status = document.get("status")
    if group_status is not None and group_status not in ("firing", "resolved"):
        raise PayloadError(source, "status",
                           f"must be firing or resolved, got {group_status!r}")
    for field in ("groupLabels", "commonLabels", "commonAnnotations"):
        _string_map(document.get(field), field, source, texts=texts)
    truncated = document.get("truncatedAlerts", 0)
    if truncated is None:
        truncated = 0
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise PayloadError(
            source, "truncatedAlerts", f"must be a whole number >= 0, got {truncated!r}"
        )

    if "alerts" not in document:
        raise PayloadError(source, "alerts", "missing: a v4 payload carries a list of alerts")
    raw_alerts = document["alerts"]
    if not isinstance(raw_alerts, list):
        raise PayloadError(source, "alerts", f"must be a list, got {_kind(raw_alerts)}")
    alerts = tuple(
        _alert(raw, f"alerts[{index}]", now, source, texts=texts)
        for index, raw in enumerate(raw_alerts)
    )
    notification = Notification(
        alerts=alerts,
        version="4",
        group_key=group_key,
        receiver=receiver,
        external_url=external_url,
        truncated_alerts=truncated,
    )
    return notification, all(raw.get("status") is not None for raw in raw_alerts)


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 of sorted names and values."""
    value = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name.encode(), _SEPARATOR, labels[name].encode(), _SEPARATOR):
            for byte in part:
                value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def canonical_time(moment: datetime) -> str:
    """A timestamp as one spelling: UTC, microseconds. Year 1 stays as it is."""
    if moment.year <= 1:
        # Converting Go's zero time to UTC from a positive offset would overflow.
        return "0001-01-01T00:00:00.000000+00:00"
    return _utc_text(moment)


@functools.lru_cache(maxsize=4096)
def _utc_text(moment: datetime) -> str:
    # Remembered: a storm repeats the same few startsAt thousands of times a second.
    # Equal instants in other offsets are equal keys, and have this same spelling.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str, field: str, source: str) -> datetime:
    """An RFC 3339 timestamp (offsets, `Z`, nanoseconds); naive ones are taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(source, field, f"not an RFC 3339 timestamp: {text[:64]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.year > 1:
        # Late on 9999-12-31 west of UTC is year 10000 in UTC, which the episode key needs.
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise PayloadError(source, field, f"out of range: {text[:64]!r}") from None
    return moment


def _alert(raw: Any, where: str, now: datetime, source: str, *, texts: bool) -> Alert:
    if not isinstance(raw, dict):
        raise PayloadError(source, where, f"must be an object, got {_kind(raw)}")

    labels = _string_map(raw.get("labels"), f"{where}.labels", source, required=True,
                         texts=texts)
    annotations = _string_map(raw.get("annotations"), f"{where}.annotations", source,
                              texts=texts)

    starts_text = raw.get("startsAt")
    if not isinstance(starts_text, str):
        problem = "missing"
        if starts_text is not None:
            problem = f"must be a string, got {_kind(starts_text)}"
        raise PayloadError(source, f"{where}.startsAt", problem)
    starts_at = parse_time(starts_text, f"{where}.startsAt", source)

    ends_text = raw.get("endsAt")
    ends_at: datetime | None = None
    if ends_text not in (None, "", GO_ZERO_TIME):  # what every firing alert carries
        if not isinstance(ends_text, str):
            raise PayloadError(
                source, f"{where}.endsAt", f"must be a string, got {_kind(ends_text)}"
            )
        ends_at = parse_time(ends_text, f"{where}.endsAt", source)
        if ends_at.year <= 1:
            ends_at = None  # Go's zero time: no end known, the alert still fires

    given_status = raw.get("status")
    status: Status
    if given_status is None:
        status = "resolved" if ends_at is not None and ends_at <= now else "firing"
    elif given_status == "firing":
        status = "firing"
    elif given_status == "resolved":
        status = "resolved"
    else:
        raise PayloadError(
            source, f"{where}.status", f"must be firing or resolved, got {given_status!r}"
        )

    given = raw.get("fingerprint")
    if given is not None and (not isinstance(given, str) or not given):
        raise PayloadError(
            source, f"{where}.fingerprint", f"must be a non-empty string, got {given!r}"
        )
    if given and texts:
        _check_text(given, f"{where}.fingerprint", source)

    generator = raw.get("generatorURL") or ""
    if not isinstance(generator, str):
        raise PayloadError(
            source, f"{where}.generatorURL", f"must be a string, got {_kind(generator)}"
        )
    if texts:
        _check_text(generator, f"{where}.generatorURL", source)

    return Alert(
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        fingerprint=given or fingerprint(labels),
        generator_url=generator,
    )


def _string_map(value: Any, field: str, source: str, *, required: bool = False,
                texts: bool = True) -> dict[str, str]:
    if value is None:
        if required:
            raise PayloadError(source, field, "missing: every alert has labels")
        return {}
    if not isinstance(value, dict):
        raise PayloadError(source, field, f"must be an object of strings, got {_kind(value)}")
    for key, item in value.items():
        # The name first, then the value.
        if texts:
            _check_text(key, f"{field} (a name)", source)
        if not isinstance(item, str):
            raise PayloadError(source, _member(field, key),
                               f"must be a string, got {_kind(item)}")
        if texts:
            _check_text(item, _member(field, key), source)
    return dict(value)


def _member(field: str, key: str) -> str:
    """A map's member in a message, quoted when its name could break the one line."""
    return f"{field}.{key}" if key.isprintable() else f"{field}[{key!r}]"


def _check_text(value: str, field: str, source: str) -> None:
    """JSON can spell a lone surrogate (`"\\ud800"`); UTF-8, hashing and storage cannot."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise PayloadError(source, field, "not valid Unicode: a lone surrogate") from None


def _optional_string(document: dict[str, Any], field: str, source: str) -> str:
    value = document.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(source, field, f"must be a string, got {_kind(value)}")
    _check_text(value, field, source)
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {
        dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
    }.get(type(value), type(value).__name__)
