"""
The episode book: every alert episode we know, and which of them fire now.

An episode is one alert from its start to its resolution, keyed by
`(fingerprint, startsAt)`, so repeated sends, the duplicates of an
Alertmanager HA pair and retries all land on the same one. `absorb` works
out what a notification changes without touching the book; the caller
stores the changes and only then `commit`s them, so a failed write leaves
the book as it was and Alertmanager's retry is not mistaken for a repeat.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Mapping

from remediator.alerting.payload import Alert, Notification, canonical_time
from remediator.state.base import EpisodeRecord, episode_key

TOUCH_FRACTION = 10
"""A re-send refreshes a firing episode's stored `last_seen` at most every expiry / 10."""


@dataclasses.dataclass
class Absorbed:
    """What one notification changes."""

    writes: list[EpisodeRecord] = dataclasses.field(default_factory=list)
    """Records to store before answering: new episodes, resolves, refreshed last_seen."""

    new: list[EpisodeRecord] = dataclasses.field(default_factory=list)
    """Episodes never seen before (firing or resolved)."""

    resolved: list[EpisodeRecord] = dataclasses.field(default_factory=list)
    """Episodes we knew firing that resolved now."""

    revived: list[EpisodeRecord] = dataclasses.field(default_factory=list)
    """Firing episodes re-sent after they had expired from the firing set."""

    @property
    def news(self) -> bool:
        """Whether the notification changes the firing set or the history."""
        return bool(self.new or self.resolved or self.revived)


class EpisodeBook:
    def __init__(self, *, expiry_seconds: float) -> None:
        self.expiry_seconds = expiry_seconds
        self.episodes: dict[str, EpisodeRecord] = {}
        self._unhandled: dict[str, None] = {}
        """Keys of the episodes not evaluated yet, so the queue is not a scan of the book."""

    def load(self, episodes: Iterable[EpisodeRecord]) -> None:
        for episode in episodes:
            self._put(episode)

    def absorb(self, notification: Notification, *, now: float) -> Absorbed:
        """What the notification changes; the book is untouched until `commit`."""
        changes = Absorbed()
        seen: dict[str, EpisodeRecord] = {}
        for alert in notification.alerts:
            key = episode_key(alert.fingerprint, alert.starts_key)
            known = seen.get(key) or self.episodes.get(key)
            updated = self._absorb_alert(alert, known, now, changes)
            if updated is not None:
                seen[key] = updated
        return changes

    def commit(self, changes: Absorbed) -> None:
        for episode in changes.writes:
            self._put(episode)

    def _put(self, episode: EpisodeRecord) -> None:
        key = episode.key
        self.episodes[key] = episode
        if episode.handled:
            self._unhandled.pop(key, None)
        else:
            self._unhandled[key] = None

    def _absorb_alert(self, alert: Alert, known: EpisodeRecord | None, now: float,
                      changes: Absorbed) -> EpisodeRecord | None:
        if known is None:
            episode = EpisodeRecord(
                fingerprint=alert.fingerprint,
                starts_at=sys.intern(alert.starts_key),
                alertname=sys.intern(alert.alertname),
                labels=_shared(alert.labels),
                status=alert.status,
                first_seen=now,
                last_seen=now,
            )
            if alert.status == "resolved":
                episode.ends_at = _ends(alert)
                episode.resolved_at = now
            changes.new.append(episode)
            changes.writes.append(episode)
            return episode

        # A resolved episode stays resolved: a late firing send from the other
        # Alertmanager of an HA pair must not reopen it.
        if known.status == "resolved":
            return None

        if alert.status == "resolved":
            episode = dataclasses.replace(
                known, status="resolved", ends_at=_ends(alert), resolved_at=now,
                last_seen=now, handled=False,
            )
            changes.resolved.append(episode)
            changes.writes.append(episode)
            return episode

        # A firing re-send: keep last_seen current, but write it only now and then.
        expired = now - known.last_seen > self.expiry_seconds
        if expired:
            episode = dataclasses.replace(known, last_seen=now, handled=False)
            changes.revived.append(episode)
            changes.writes.append(episode)
            return episode
        if now - known.last_seen > self.expiry_seconds / TOUCH_FRACTION:
            episode = dataclasses.replace(known, last_seen=now)
            changes.writes.append(episode)
            return episode
        return None

    def firing(self, *, now: float) -> list[EpisodeRecord]:
        """The firing set: firing episodes re-sent within the expiry."""
        horizon = now - self.expiry_seconds
        return [
            e for e in self.episodes.values()
            if e.status == "firing" and e.last_seen >= horizon
        ]

    def pending(self) -> list[EpisodeRecord]:
        """Episodes whose latest state the worker has not evaluated yet."""
        return [self.episodes[key] for key in self._unhandled]

    @property
    def pending_count(self) -> int:
        return len(self._unhandled)

    def mark_handled(self, episodes: Iterable[EpisodeRecord]) -> list[EpisodeRecord]:
        """Flag these episodes evaluated; return the records to store."""
        done = []
        for episode in episodes:
            current = self.episodes.get(episode.key)
            # Only the state that was evaluated: a newer change stays pending.
            if current is not None and not current.handled and current.status == episode.status:
                current = dataclasses.replace(current, handled=True)
                self._put(current)
                done.append(current)
        return done

    def forget(self, *, before: float) -> list[str]:
        """Drop episodes older than retention (resolved, or not seen since `before`)."""
        gone = [
            key for key, e in self.episodes.items()
            if (e.resolved_at if e.resolved_at is not None else e.last_seen) < before
        ]
        for key in gone:
            del self.episodes[key]
            self._unhandled.pop(key, None)
        return gone


def _shared(labels: Mapping[str, str]) -> dict[str, str]:
    """
    The labels, their strings shared with every other episode's equal ones.

    The book keeps every episode for the dedup retention, and most label
    values (namespace, severity, alertname, job) repeat across thousands of
    them; each parse makes new copies. Interned strings are freed with their
    last episode, so distinct values cost nothing extra.
    """
    return {sys.intern(name): sys.intern(value) for name, value in labels.items()}


def _ends(alert: Alert) -> str | None:
    return canonical_time(alert.ends_at) if alert.ends_at is not None else None
