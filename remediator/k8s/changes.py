"""
What one change to one object came to, and what every change needs to run.

The action modules (`scaling`, `configpatch`, `restarting`, `rollback`)
return a `Change` for what they did or declined to do; API failures are
raised as `errors.KubeError`. The executor turns changes into the history's
outcomes.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from remediator.k8s.client import Api, JsonObject
from remediator.k8s.retrying import DEFAULT, RetryPolicy
from remediator.planning.actions import Target


class Status(enum.StrEnum):
    APPLIED = "applied"
    """The cluster changed."""

    WOULD_APPLY = "would_apply"
    """Dry run: the server accepted the change (RBAC, admission) and stored nothing."""

    UNCHANGED = "unchanged"
    """Nothing to do: the live object is already where the plan wants it."""

    REFUSED = "refused"
    """The live object makes the change unsafe."""


@dataclasses.dataclass(frozen=True)
class Change:
    status: Status
    target: Target
    code: str
    """Short machine reason: `scaled`, `would_lower_replicas`, `paused`..."""

    message: str
    """One sentence for the history."""

    before: Any = None
    after: Any = None
    warnings: tuple[str, ...] = ()
    command: str | None = None
    """The equivalent kubectl command when it differs from the plan's."""

    live: JsonObject | None = dataclasses.field(default=None, repr=False, compare=False)
    """The object as last read or written, for Events (uid) and rollout waits."""

    def summary(self) -> dict[str, Any]:
        """The JSON-serialisable part, for the report's details."""
        return {
            "target": str(self.target), "status": str(self.status), "code": self.code,
            "message": self.message, "before": self.before, "after": self.after,
        }


GitOpsMode = Literal["act-and-warn", "skip"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclasses.dataclass(frozen=True)
class Context:
    """What every change needs: the API, the mode and the rules it runs under."""

    api: Api
    dry_run: bool = False
    retry: RetryPolicy = DEFAULT
    gitops: GitOpsMode = "act-and-warn"
    clock: Callable[[], datetime] = utc_now

    def stamp(self) -> str:
        """
        Now, in RFC 3339 (UTC) with microseconds: two runs in one second must
        not write the same `restartedAt`, or the second restart would be a no-op.
        """
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def event_time(self) -> str:
        """Now, as Event timestamps are written (RFC 3339, whole seconds)."""
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def done(self) -> Status:
        """The status of a change that went through: applied, or would have been."""
        return Status.WOULD_APPLY if self.dry_run else Status.APPLIED


def metadata(obj: JsonObject) -> JsonObject:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def annotations_of(obj: JsonObject) -> dict[str, str]:
    value = metadata(obj).get("annotations")
    return value if isinstance(value, dict) else {}


def labels(obj: JsonObject) -> dict[str, str]:
    value = metadata(obj).get("labels")
    return value if isinstance(value, dict) else {}


def spec(obj: JsonObject) -> JsonObject:
    value = obj.get("spec")
    return value if isinstance(value, dict) else {}


def status(obj: JsonObject) -> JsonObject:
    value = obj.get("status")
    return value if isinstance(value, dict) else {}


def as_int(value: object, default: int = 0) -> int:
    """A count from an API object; anything that is not a whole number gives `default`."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdecimal():
        return int(value)
    return default


def parse_time(text: object) -> datetime | None:
    """An RFC 3339 time from an annotation, or None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
