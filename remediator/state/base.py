"""
The state store: what the daemon must remember across restarts and failovers.

Three kinds of record, all plain values that round-trip through JSON
(`to_json` / `from_json`), so that any backend can keep them: SQLite on one
replica (`state.sqlite`), a ConfigMap of ours for several (`state.kube`).

- An *episode* is one alert from its start to its resolution, keyed by
  `(fingerprint, startsAt)`. Episodes are the dedup keys: a notification
  that only repeats known episodes in their known state changes nothing.
- A *decision* is one action with its outcome and reason. The decisions that
  passed the guard (`counted`) are what cooldowns, the rate limit and the
  breaker count, so they must survive a `kill -9`.
- A *target state* holds what an operator or the breaker set on one target:
  paused, breaker open, when the breaker was reset, when it last recovered.

The protocol is deliberately narrow and knows nothing of SQL: a backend
stores records and hands them back. Only the leader writes, so a backend
needs no locking across replicas beyond what keeps one call atomic.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any, Literal, Protocol, Self

from remediator.errors import RemediatorError

AlertStatus = Literal["firing", "resolved"]

# Decision outcomes: the executor's five, plus `pending` for a decision that
# passed the guard and is being carried out right now. A pending decision
# found at start-up was interrupted by a crash (see `Store.decisions_since`).
OUTCOMES: tuple[str, ...] = ("executed", "dry_run", "skipped", "refused", "failed", "pending")


class StateError(RemediatorError):
    """The state storage cannot be opened or written; the daemon must not act without it."""


@dataclasses.dataclass(slots=True)
class EpisodeRecord:
    """One alert episode: the dedup key and what we know of it."""

    # Slots: the daemon holds one of these per episode for the dedup retention,
    # thousands in a storm; without a __dict__ each is a third the size, and one
    # object less for every full garbage collection to visit.

    fingerprint: str
    starts_at: str
    """The alert's `startsAt`, normalised to UTC with microseconds (`...T10:00:00.000000+00:00`)."""

    alertname: str
    labels: dict[str, str] | None
    """The alert's labels; None in the daemon's memory once mapped (the store keeps them).

    Saving a record whose labels are None keeps the labels stored for its key."""

    status: AlertStatus
    first_seen: float
    """Our clock (epoch seconds) when the episode was first received."""

    last_seen: float
    """Our clock when it was last re-sent; updated coarsely, see `remediation.episodes`."""

    ends_at: str | None = None
    """The alert's `endsAt` when it resolved (None while firing: Go's zero time means no end)."""

    resolved_at: float | None = None
    """Our clock when the resolve arrived."""

    handled: bool = False
    """False until the worker has evaluated the episode's latest state."""

    left_out: bool = False
    """Firing, but no longer in its Alertmanager group's notifications (muted, or
    resolved unseen): not in the firing set until it is sent again."""

    key: str = dataclasses.field(init=False, repr=False, compare=False)
    """`fingerprint@startsAt`, worked out once: a pass asks it of many episodes."""

    def __post_init__(self) -> None:
        # The identity fields are never reassigned; `replace` makes a new record.
        self.key = episode_key(self.fingerprint, self.starts_at)

    @property
    def last_change(self) -> float:
        """When it last changed (resolved, or last re-sent): what retention and the
        evaluated flag (`Store.mark_handled`) go by."""
        return self.resolved_at or self.last_seen

    def to_json(self) -> dict[str, Any]:
        # Field by field rather than dataclasses.asdict, whose deep copy of every
        # value was most of the time spent storing a 10,000-alert notification.
        return {
            "fingerprint": self.fingerprint, "starts_at": self.starts_at,
            "alertname": self.alertname, "status": self.status,
            "labels": None if self.labels is None else dict(self.labels),
            "first_seen": self.first_seen, "last_seen": self.last_seen,
            "ends_at": self.ends_at, "resolved_at": self.resolved_at, "handled": self.handled,
            "left_out": self.left_out,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(**data)


def episode_key(fingerprint: str, starts_at: str) -> str:
    """The one spelling of an episode's identity: `fingerprint@startsAt`."""
    return f"{fingerprint}@{starts_at}"


@dataclasses.dataclass
class AlertRef:
    """The alert that caused a decision, as the history API shows it."""

    alertname: str
    fingerprint: str
    startsAt: str  # the JSON field name of the API and of Alertmanager

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class DecisionRecord:
    """One action with its outcome and reason: a line of the history."""

    time: float
    """When the decision was taken (epoch seconds)."""

    type: str
    """The action type: scale, patch_config, rollback, restart, combined, investigate."""

    action_key: str
    """`Action.key`: what cooldowns are keyed on (`type:namespace/kind/name`)."""

    target: str | None
    """`Target.key` (`namespace/deployment/name`), or None for `investigate`."""

    outcome: str
    """One of OUTCOMES."""

    reason: str
    """One sentence a person reads: what happened, or why not."""

    priority: int = 3
    description: str = ""
    replicas: int | None = None
    command: str | None = None
    skip: str | None = None
    """For skips: the reason as a metric label (cooldown, rate_limit, breaker_open, ...)."""

    counted: bool = False
    """Passed the guard: counts toward cooldowns, the rate limit and the breaker."""

    covering: bool = False
    """Settles its episodes for this target: they never cause this kind of decision again."""

    episodes: list[str] = dataclasses.field(default_factory=list)
    """Keys of the episodes that caused it (empty for operator and CLI actions)."""

    alert: AlertRef | None = None
    executor: str = ""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    id: int = 0
    """Assigned by the store when the decision is added; increases with time."""

    def to_json(self) -> dict[str, Any]:
        # As for episodes: no deep copy of the (possibly thousands of) episode keys.
        return {**vars(self), "episodes": list(self.episodes),
                "details": copy.deepcopy(self.details),
                "alert": self.alert.to_json() if self.alert else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        fields = dict(data)
        alert = fields.pop("alert", None)
        return cls(**fields, alert=AlertRef(**alert) if alert else None)


@dataclasses.dataclass
class TargetState:
    """What operators and the breaker have set on one target."""

    target: str
    """`Target.key`: `namespace/deployment/name`."""

    paused: bool = False
    breaker_opened_at: float | None = None
    """When the breaker opened; None while it is closed."""

    breaker_reset_at: float | None = None
    """When an operator last reset it: actions before this no longer count."""

    recovered_at: float | None = None
    """When an alert that caused an action on this target last resolved."""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(**data)


class Store(Protocol):
    """
    Where episodes, decisions and target states are kept.

    Every method is a coroutine and each call is atomic on its own: it is
    applied completely or not at all, and once it has returned the change
    survives a crash of the process (`kill -9`). Callers never need two
    calls to be atomic together. Only the replica that may act writes.
    """

    async def open(self) -> None:
        """Create or attach to the storage; idempotent. Raise `StateError` when unusable."""
        ...

    async def close(self) -> None:
        """Flush and release the storage; the store is not used afterwards."""
        ...

    async def load_episodes(self) -> list[EpisodeRecord]:
        """Every episode kept: firing ones, and resolved ones still inside retention."""
        ...

    async def save_episodes(self, episodes: Sequence[EpisodeRecord]) -> None:
        """
        Insert or replace these episodes by `key`, all of them atomically.

        A record whose `labels` are None keeps the labels stored for its key.

        The daemon calls this before it answers a webhook with 2xx: when it
        returns, the notification's news is durable.
        """
        ...

    async def mark_handled(self, episodes: Sequence[EpisodeRecord]) -> None:
        """
        Flag these episodes evaluated where the stored record is still the state
        that was evaluated: the same status and last change (`resolved_at`, or
        else `last_seen`). A record changed since keeps its own flag.

        Called without being waited for: a change stored after the evaluation
        may land first, and is never overwritten by an older state. A flag lost
        in a crash only makes the next start evaluate the episode again.
        """
        ...

    async def episode_labels(self, keys: Sequence[str]) -> dict[str, dict[str, str]]:
        """The stored labels of these episodes, by key (a key not stored is left out)."""
        ...

    async def add_decision(self, decision: DecisionRecord) -> DecisionRecord:
        """
        Store a new decision atomically and return it with its `id`.

        Ids increase with every call (never reused, even after pruning), so
        that newest-first order is id order.
        """
        ...

    async def add_decisions(self, decisions: Sequence[DecisionRecord]) -> list[DecisionRecord]:
        """As `add_decision` for each, in order, all of them atomically."""
        ...

    async def update_decision(self, decision: DecisionRecord) -> None:
        """Replace the decision with the same `id` (a pending one gets its outcome)."""
        ...

    async def decisions(self, *, limit: int, before_id: int | None = None) -> list[DecisionRecord]:
        """At most `limit` decisions, newest first, only those with `id < before_id` if given."""
        ...

    async def decisions_since(self, since: float) -> list[DecisionRecord]:
        """Every decision with `time >= since`, oldest first (the guard's memory)."""
        ...

    async def load_targets(self) -> list[TargetState]:
        """Every target state stored."""
        ...

    async def save_target(self, state: TargetState) -> None:
        """Insert or replace the state of `state.target`, atomically."""
        ...

    async def prune(self, *, before: float) -> int:
        """
        Forget what is older than `before` (epoch seconds); return how many records went.

        Removes resolved episodes resolved before it, firing episodes not seen
        since it, and decisions taken before it. This is what bounds the store.
        """
        ...
