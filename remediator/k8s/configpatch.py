"""
Lowering a numeric ConfigMap value (MAX_TOKENS), and putting it back.

The value is only ever lowered: a live value at or below the plan's is left
alone. The value it replaces is kept on the ConfigMap itself, in an
annotation of ours (`remediator.io/previous-<key>`), together with what we
set, when, and which Deployments were to be restarted; so `revert` can
restore it with one command, from any replica, after any failover. The
annotation also lets a later run see that a value is ours and only repeat
the restarts a partial run missed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from remediator.k8s import gitops
from remediator.k8s.changes import Change, Context, Status, annotations_of, metadata
from remediator.k8s.client import CONFIGMAPS, JsonObject
from remediator.k8s.retrying import retrying
from remediator.planning.actions import Target

ANNOTATION_PREFIX = "remediator.io/previous-"
# An annotation's name part: at most 63 characters, alphanumeric at both ends.
_ANNOTATION_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


@dataclasses.dataclass(frozen=True)
class Record:
    """What we changed in one key: kept as JSON in the key's annotation."""

    key: str
    previous: str | None
    """The value before ours; None when the key was not set."""

    value: str
    at: str
    restarts: tuple[str, ...] = ()
    """Deployments (same namespace) restarted so they read the value."""

    run: str = ""
    """Identifies the run that wrote it, so a retry recognises its own write."""

    def to_json(self) -> str:
        return json.dumps({
            "key": self.key, "previous": self.previous, "value": self.value,
            "at": self.at, "restarts": list(self.restarts), "run": self.run,
        }, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: object) -> Record | None:
        try:
            data: Any = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("key"), str) \
                or not isinstance(data.get("value"), str):
            return None
        previous = data.get("previous")
        restarts = data.get("restarts") or []
        return cls(
            key=data["key"],
            previous=previous if isinstance(previous, str) else None,
            value=data["value"],
            at=str(data.get("at") or ""),
            restarts=tuple(str(name) for name in restarts if isinstance(name, str)),
            run=str(data.get("run") or ""),
        )


def annotation_key(key: str) -> str:
    """`remediator.io/previous-<key>`, or a hash of the key when it does not fit the rules."""
    name = f"previous-{key}"
    if not _ANNOTATION_NAME.fullmatch(name):
        name = "previous-" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return "remediator.io/" + name


def record_of(configmap: JsonObject, key: str) -> Record | None:
    record = Record.from_json(annotations_of(configmap).get(annotation_key(key)))
    return record if record is not None and record.key == key else None


def records_of(configmap: JsonObject) -> list[Record]:
    found = []
    for name, text in sorted(annotations_of(configmap).items()):
        record = Record.from_json(text) if name.startswith(ANNOTATION_PREFIX) else None
        if record is not None and annotation_key(record.key) == name:
            found.append(record)
    return found


async def lower(
    ctx: Context, target: Target, key: str, value: str, *,
    restarts: Sequence[str], run: str,
) -> tuple[Change, Record | None]:
    """
    Set `key` to `value` when that lowers it.

    Returns the change and the record of our value: the one just written,
    or an earlier one when the live value is still ours.
    """
    wanted = _integer(value)
    if wanted is None:
        return Change(Status.REFUSED, target, "invalid_value",
                      f"the planned {key} value {value!r} is not a whole number"), None
    first: list[str | None] = []
    sent = False

    async def attempt() -> tuple[Change, Record | None]:
        nonlocal sent
        configmap = await ctx.api.get(CONFIGMAPS, target.namespace, target.name)
        live = _data(configmap).get(key)
        ours = record_of(configmap, key)
        if not first:
            first.append(live)

        # A try whose answer was lost may have landed: then we are done.
        if sent and not ctx.dry_run and ours is not None and ours.run == run:
            return _lowered(ctx, target, key, first[0], value, configmap), ours

        if live is not None:
            number = _integer(live)
            if number is None:
                return Change(
                    Status.UNCHANGED, target, "not_a_number",
                    f"{key} in {target.ref} is {live!r}, not a number; left alone",
                    before=live, after=live, live=configmap,
                ), None
            if number <= wanted:
                return _at_or_below(target, key, live, value, ours, configmap)

        skip, warnings = gitops.gate(ctx, configmap, target)
        if skip is not None:
            return skip, None

        record = Record(key, live, value, ctx.stamp(), tuple(restarts), run)
        body = {
            "metadata": {
                "resourceVersion": metadata(configmap).get("resourceVersion"),
                "annotations": {annotation_key(key): record.to_json()},
            },
            "data": {key: value},
        }
        sent = True
        written = await ctx.api.patch(CONFIGMAPS, target.namespace, target.name, body,
                                      patch="merge", dry_run=ctx.dry_run)
        change = _lowered(ctx, target, key, live, value, written)
        return dataclasses.replace(change, warnings=warnings), record

    return await retrying(attempt, what=f"patch {key} in {target.ref}", policy=ctx.retry)


def _at_or_below(target: Target, key: str, live: str, value: str, ours: Record | None,
                 configmap: JsonObject) -> tuple[Change, Record | None]:
    if ours is not None and ours.value == live:
        return Change(
            Status.UNCHANGED, target, "already_lowered",
            f"{key} in {target.ref} is already {live}, as we set it at {ours.at}",
            before=live, after=live, live=configmap,
        ), ours
    return Change(
        Status.UNCHANGED, target, "already_at_or_below",
        f"{key} in {target.ref} is {live}, at or below the planned {value};"
        " it is only ever lowered",
        before=live, after=live, live=configmap,
    ), None


def _lowered(ctx: Context, target: Target, key: str, before: str | None, after: str,
             live: JsonObject) -> Change:
    verb = "would lower" if ctx.dry_run else "lowered"
    shown = before if before is not None else "unset"
    return Change(ctx.done, target, "lowered",
                  f"{verb} {key} in {target.ref} from {shown} to {after}",
                  before=before, after=after, live=live)


async def revert(ctx: Context, target: Target) -> tuple[Change, list[Record]]:
    """Put back every value we lowered in `target` that nobody changed since."""
    first: list[list[Record]] = []
    sent = False

    async def attempt() -> tuple[Change, list[Record]]:
        nonlocal sent
        configmap = await ctx.api.get(CONFIGMAPS, target.namespace, target.name)
        records = records_of(configmap)
        if not first:
            first.append(records)

        # A try whose answer was lost may have landed: our annotations are gone.
        if sent and not ctx.dry_run and not records:
            return _reverted(ctx, target, first[0], configmap), first[0]
        if not records:
            return Change(Status.UNCHANGED, target, "nothing_to_revert",
                          f"{target.ref} holds no value of ours to revert",
                          live=configmap), []

        data = _data(configmap)
        ours = [record for record in records if data.get(record.key) == record.value]
        changed = [record for record in records if record not in ours]
        warnings = tuple(
            f"{record.key} in {target.ref} is now {data.get(record.key)!r}, not the"
            f" {record.value} we set; someone changed it since, so it is left as it is"
            f" (delete annotation {annotation_key(record.key)} to forget our record)"
            for record in changed
        )
        if not ours:
            return Change(Status.REFUSED, target, "changed_since", warnings[0],
                          warnings=warnings[1:], live=configmap), []

        body = {
            "metadata": {
                "resourceVersion": metadata(configmap).get("resourceVersion"),
                "annotations": {annotation_key(record.key): None for record in ours},
            },
            "data": {record.key: record.previous for record in ours},
        }
        sent = True
        written = await ctx.api.patch(CONFIGMAPS, target.namespace, target.name, body,
                                      patch="merge", dry_run=ctx.dry_run)
        change = _reverted(ctx, target, ours, written)
        return dataclasses.replace(change, warnings=warnings), ours

    return await retrying(attempt, what=f"revert {target.ref}", policy=ctx.retry)


def _reverted(ctx: Context, target: Target, records: list[Record], live: JsonObject) -> Change:
    verb = "would restore" if ctx.dry_run else "restored"
    parts = [
        f"{record.key} to {record.previous if record.previous is not None else 'unset'}"
        f" (from {record.value})"
        for record in records
    ]
    return Change(
        ctx.done, target, "reverted", f"{verb} {', '.join(parts)} in {target.ref}",
        before={record.key: record.value for record in records},
        after={record.key: record.previous for record in records},
        live=live,
    )


def _data(configmap: JsonObject) -> dict[str, str]:
    data = configmap.get("data")
    return data if isinstance(data, dict) else {}


def _integer(text: str) -> int | None:
    text = text.strip()
    return int(text) if re.fullmatch(r"[0-9]+", text) else None
