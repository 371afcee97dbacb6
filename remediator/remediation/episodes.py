"""
The episode book: every alert episode we know, and which of them fire now.

An episode is one alert from its start to its resolution, keyed by
`(fingerprint, startsAt)`, so repeated sends, the duplicates of an
Alertmanager HA pair and retries all land on the same one. `absorb` works
out what a notification changes; the caller stores the changes and only
then `commit`s them, so a failed write leaves the book as it was
(`discard`) and Alertmanager's retry is not mistaken for a repeat.

Notifications are absorbed while earlier ones are still being written (the
store commits them together). What a notification changes is *in flight*
until it is committed: a later notification sees it, so two copies of one
alert never both look new, and it waits for the earlier write before it is
answered, since its 2xx too says the episode is durable.

An episode that has left the firing set (resolved, or not re-sent within
the expiry) and has been evaluated is kept only as its key and a time or
two, which is all the dedup needs until its retention ends: a resolved one
stays resolved, a lapsed one that comes again is revived from the alert. The
store keeps the full record; the decisions name episodes by key.

The book also keeps the firing set as an index, in the order episodes were
last re-sent, each with what its alert maps to (`mapper`), grouped by cause:
an evaluation pass then reads the few causes instead of mapping and grouping
every firing episode again, which in a storm is thousands of them. Once an
episode is mapped, the book lets go of its labels (`labels` is None): the
store keeps them, and nothing in a pass reads them again. In a storm of
distinct alerts the labels, with their unique pod and instance strings, were
half of what the book held.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from remediator.alerting.mapping import Mapped, Rejected
from remediator.alerting.payload import Alert, Notification, canonical_time
from remediator.state.base import EpisodeRecord, StateError, episode_key

logger = logging.getLogger("remediator.remediation")

TOUCH_FRACTION = 10
"""A re-send refreshes a firing episode's stored `last_seen` at most every expiry / 10."""

TENTATIVE_LIMIT = 100
"""
The most new alerts of a notification a pass decides on before they are stored.

A storm's usual notification brings a handful, and it is their decision that
should not wait for the disk. A notification of thousands is stored, then
decided in one pass: mapping each alert twice would slow its acceptance.
"""

Mapper = Callable[[Mapping[str, str]], Mapped | Rejected | None]
"""What an alert's labels ask for (`mapping.map_alert` with the settings)."""


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

    absent: list[str] = dataclasses.field(default_factory=list)
    """Keys that fired in the group's previous notification and are not in this one."""

    after: list[Absorbed] = dataclasses.field(default_factory=list)
    """Notifications still in flight whose episodes this one saw: committed before it."""

    written: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    """Set once this notification is committed or discarded."""

    failed: bool = False

    tentative: bool = False
    """Whether a pass may decide on its new episodes before they are stored (`tentative`)."""

    @property
    def news(self) -> bool:
        """Whether the notification changes the firing set or the history."""
        return bool(self.new or self.resolved or self.revived)

    async def wait_for_earlier(self) -> None:
        """Wait for the notifications this one saw in flight; `StateError` if one failed."""
        for earlier in self.after:
            await earlier.written.wait()
            if earlier.failed:
                raise StateError("an earlier notification of the same alerts was not stored")


@dataclasses.dataclass
class Cause:
    """The firing episodes of one cause, and what they ask for."""

    mapped: Mapped
    """What the episode with the smallest key maps to (a cause's custom actions may differ)."""

    first: str
    episodes: dict[str, EpisodeRecord] = dataclasses.field(default_factory=dict)


def _file(causes: dict[str, Cause], episode: EpisodeRecord, mapped: Mapped) -> None:
    """File a firing episode under its cause in an index of causes."""
    key = episode.key
    entry = causes.get(mapped.cause)
    if entry is None:
        entry = causes[mapped.cause] = Cause(mapped=mapped, first=key)
    elif key < entry.first:
        entry.mapped, entry.first = mapped, key
    entry.episodes[key] = episode


def _unfile(causes: dict[str, Cause], key: str, cause: str,
            mapped_of: Callable[[str], Mapped]) -> None:
    """Take an episode out of its cause; the smallest key left says what the cause asks for."""
    entry = causes[cause]
    del entry.episodes[key]
    if not entry.episodes:
        del causes[cause]
    elif key == entry.first:
        first = min(entry.episodes)
        entry.mapped, entry.first = mapped_of(first), first


class Joined(Mapping[str, EpisodeRecord]):
    """
    The firing episodes of some causes, as one mapping, read through, not copied.

    Looked up anew at each use in the book's own indexes (`causes`, and
    `tentative` for episodes still being written), so that it stays true
    while a pass awaits: an episode that lands moves from one to the other,
    one that resolves leaves, and a cause emptied and begun again is found
    again. An episode has one cause and is in one index, so no key comes
    twice. Reversed, the last cause's newest come first.
    """

    __slots__ = ("_causes", "_indexes")

    def __init__(self, indexes: Sequence[Mapping[str, Cause]], causes: Sequence[str]) -> None:
        self._indexes = indexes
        self._causes = causes

    def _parts(self) -> list[dict[str, EpisodeRecord]]:
        return [index[cause].episodes for cause in self._causes for index in self._indexes
                if cause in index]

    def __getitem__(self, key: str) -> EpisodeRecord:
        for part in self._parts():
            episode = part.get(key)
            if episode is not None:
                return episode
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return any(key in part for part in self._parts())

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(self._parts())

    def __reversed__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(reversed(part) for part in reversed(self._parts()))

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts())


class EpisodeBook:
    def __init__(self, *, expiry_seconds: float, mapper: Mapper | None = None) -> None:
        self.expiry_seconds = expiry_seconds
        self.mapper = mapper
        self.episodes: dict[str, EpisodeRecord] = {}
        self._unhandled: dict[str, None] = {}
        """Keys of the episodes not evaluated yet, so the queue is not a scan of the book."""

        self._in_flight: dict[str, tuple[EpisodeRecord, Absorbed]] = {}
        """Per key, the latest change absorbed but not yet committed, and its notification."""

        self._tentative: dict[str, tuple[EpisodeRecord, Mapped]] = {}
        """New firing episodes in flight that a pass may decide on (`tentative`), mapped."""

        self._tentative_causes: dict[str, Cause] = {}
        """The same by cause, kept as they come and land, as `_causes` is kept."""

        self._firing: dict[str, EpisodeRecord] = {}
        """Firing episodes, least recently re-sent first: the expired ones are at the front."""

        self._resolved: dict[int, float] = {}
        """Resolved and evaluated: the key's digest (`settled_id`) to when it resolved.

        Kept for the dedup retention (a week by default), so the digest rather
        than the key: a third of the size, for the most numerous records."""

        self._lapsed: dict[str, tuple[float, float]] = {}
        """Expired from the firing set and evaluated: key to (first_seen, last_seen)."""

        self._horizon = float("-inf")
        """The expiry's horizon at the last look: a firing record older than it has lapsed."""

        self._causes: dict[str, Cause] = {}
        self._mapped: dict[str, Mapped | Rejected | None] = {}
        """Firing episodes by key: what each one's alert maps to (None: to nothing of ours)."""

        self._rejected: dict[str, Rejected] = {}
        """Firing episodes whose alert asks for something we refuse."""

        self._groups: dict[tuple[str, str], tuple[str, ...]] = {}
        """Per Alertmanager and group (`externalURL`, `groupKey`): the keys its last
        notification had firing (and those left out of it before they were evaluated)."""

    def load(self, episodes: Iterable[EpisodeRecord]) -> None:
        for episode in sorted(episodes, key=lambda e: e.last_seen):
            self._put(episode)

    def absorb(self, notification: Notification, *, now: float) -> Absorbed:
        """
        What the notification changes; in flight until `commit` or `discard`.

        Without an await between them, two notifications absorbed one after
        the other see each other's episodes.
        """
        changes = Absorbed()
        seen: dict[str, EpisodeRecord] = {}
        present: set[str] = set()
        firing: list[str] = []
        for alert in notification.alerts:
            key = episode_key(alert.fingerprint, alert.starts_key)
            present.add(key)
            known = seen.get(key)
            lapsed = False
            if known is None:
                flying = self._in_flight.get(key)
                if flying is not None:
                    known, earlier = flying
                    if earlier not in changes.after:
                        changes.after.append(earlier)
                else:
                    known = self.episodes.get(key)
                    if known is None and settled_id(key) in self._resolved:
                        continue  # resolved stays resolved, as below
                    if known is None and key in self._lapsed:
                        known, lapsed = self._revivable(alert, key), True
            if known is not None and known.left_out:
                lapsed = True  # left out of its group's last notification, now back
            updated = self._absorb_alert(alert, known, now, changes, lapsed=lapsed)
            if updated is not None:
                seen[key] = updated
            if alert.status == "firing":
                # The record's own key string: the group keeps it as long as it fires.
                record = updated or known
                firing.append(record.key if record is not None else key)
        for episode in changes.writes:
            self._in_flight[episode.key] = (episode, changes)
        self._left_out(notification, present, firing, changes)
        self._fly(changes)
        return changes

    def _fly(self, changes: Absorbed) -> None:
        """Offer a few new firing episodes to the worker while they are being stored."""
        if self.mapper is None or not 0 < len(changes.new) <= TENTATIVE_LIMIT:
            return
        for episode in changes.new:
            if episode.status == "firing" and episode.labels is not None:
                mapped = self.mapper(episode.labels)
                if isinstance(mapped, Mapped):
                    self._offer(episode, mapped)
                    changes.tentative = True

    def _offer(self, episode: EpisodeRecord, mapped: Mapped) -> None:
        self._tentative[episode.key] = (episode, mapped)
        _file(self._tentative_causes, episode, mapped)

    def _withdraw(self, key: str) -> None:
        """Landed (then in the book, in the same step) or discarded: no longer offered."""
        _, mapped = self._tentative.pop(key)
        _unfile(self._tentative_causes, key, mapped.cause,
                lambda first: self._tentative[first][1])

    def in_flight(self, episode: EpisodeRecord) -> bool:
        """Whether this record is offered by `tentative`: its write has not landed."""
        offered = self._tentative.get(episode.key)
        return offered is not None and offered[0] is episode

    def tentative(self) -> dict[str, Cause]:
        """
        New firing episodes still being stored, by cause, as `causes` has them.

        A pass may decide on them at once: what it records is queued behind
        their own write, and a new episode's decision does not wait for the
        disk. They stay out of the book until their write lands, when they
        move to `causes` in one step (a failed write leaves nothing to undo);
        the next pass then finds them decided. Read it before the next
        await, as `causes`: it changes as writes land.
        """
        return self._tentative_causes

    def _left_out(self, notification: Notification, present: set[str], firing: list[str],
                  changes: Absorbed) -> None:
        """
        Take out of the firing set what the group's notification no longer carries.

        Each notification holds every alert of its group that Alertmanager still
        sends (unless `max_alerts` cut it: `truncatedAlerts`). One that fired in
        the previous notification and is missing now was muted (inhibited by
        its critical twin, silenced) or resolved unseen: Alertmanager never
        sends the resolve of an alert it muted. Left in the firing set, it
        would wait for the expiry (hours) and could join a combined action
        meanwhile. It is not taken as resolved: it is stored as left out (so a
        restart keeps it out) and, sent again, it comes back. Only episodes
        already evaluated leave; the others are looked at again by the group's
        next notification. A notification without alerts, which Alertmanager
        never sends, says nothing about its group.
        """
        # Per Alertmanager too: the peers of an HA pair each send the group as they
        # see it, and only one peer's notifications follow one another.
        if not notification.group_key or notification.truncated_alerts or not present:
            return
        group = (notification.external_url, notification.group_key)
        waiting = []
        for key in self._groups.get(group, ()):
            if key in present:
                continue
            episode = self._firing.get(key)
            if episode is None:
                continue  # resolved, expired or gone already
            if not episode.handled or key in self._in_flight:
                waiting.append(key)  # for the group's next notification to look at
                continue
            # Stored, so that a restart does not bring it back into the firing set.
            gone = _replace(episode, left_out=True)
            changes.writes.append(gone)
            self._in_flight[key] = (gone, changes)
            changes.absent.append(key)
        if firing or waiting:
            self._groups[group] = (*firing, *waiting)
        else:
            self._groups.pop(group, None)

    def commit(self, changes: Absorbed) -> None:
        """The changes are stored: they are the book's now."""
        for episode in changes.writes:
            self._put(episode)
        self._land(changes, failed=False)

    def discard(self, changes: Absorbed) -> None:
        """The changes could not be stored: the book stays as it was before them."""
        self._land(changes, failed=True)

    def _land(self, changes: Absorbed, *, failed: bool) -> None:
        for episode in changes.writes:
            flying = self._in_flight.get(episode.key)
            if flying is not None and flying[1] is changes:
                del self._in_flight[episode.key]
        if changes.tentative:
            for episode in changes.new:
                if self.in_flight(episode):
                    self._withdraw(episode.key)
        changes.failed = failed
        changes.written.set()

    def _put(self, episode: EpisodeRecord) -> None:
        key = episode.key
        self.episodes[key] = episode
        self._lapsed.pop(key, None)
        if episode.handled:
            self._unhandled.pop(key, None)
        else:
            self._unhandled[key] = None
        if episode.status != "firing":
            self._unfire(key)
            if episode.handled:
                self._settle(episode)
            return
        if episode.last_seen < self._horizon or episode.left_out:
            # Lapsed already (loaded, or evaluated after it expired), or left out of
            # its group's notifications.
            self._unfire(key)
            if episode.handled:
                self._settle(episode)
            return
        current = self._firing.get(key)
        if current is not None and current.last_seen == episode.last_seen:
            self._firing[key] = episode  # same place in the order
        else:
            self._firing.pop(key, None)
            self._firing[key] = episode
        self._index(episode)

    def _index(self, episode: EpisodeRecord) -> None:
        """File the episode under its cause (mapped once, when it starts firing)."""
        if self.mapper is None:
            return
        key = episode.key
        if key in self._mapped:
            known = self._mapped[key]
            if isinstance(known, Mapped):
                self._causes[known.cause].episodes[key] = episode
            episode.labels = None
            return

        if episode.labels is None:
            # Only a record whose labels the store lost: nothing says what it asks for.
            logger.warning("firing episode %s has no labels in the store; it is not acted on",
                           key, extra={"episode": key})
            self._mapped[key] = None
            return
        mapped = self._mapped[key] = self.mapper(episode.labels)
        episode.labels = None  # the store has them; the book needs only what they map to
        if isinstance(mapped, Rejected):
            self._rejected[key] = mapped
            return
        if mapped is not None:
            _file(self._causes, episode, mapped)

    def _settle(self, episode: EpisodeRecord) -> None:
        """Out of the firing set and evaluated: keep only what the dedup needs."""
        key = episode.key
        del self.episodes[key]
        if episode.status == "resolved":
            self._resolved[settled_id(key)] = episode.last_change
        else:
            self._lapsed[key] = (episode.first_seen, episode.last_seen)

    def _revivable(self, alert: Alert, key: str) -> EpisodeRecord:
        """A lapsed episode's record again, from the alert that came back."""
        first_seen, last_seen = self._lapsed[key]
        episode = self._new_record(alert, now=first_seen)
        episode.status, episode.last_seen, episode.handled = "firing", last_seen, True
        episode.key = key
        return episode

    def _unfire(self, key: str) -> None:
        """The episode left the firing set (resolved, expired or forgotten)."""
        self._firing.pop(key, None)
        self._rejected.pop(key, None)
        mapped = self._mapped.pop(key, None)
        if isinstance(mapped, Mapped):
            _unfile(self._causes, key, mapped.cause, self._mapped_of)

    def _mapped_of(self, key: str) -> Mapped:
        mapped = self._mapped[key]
        assert isinstance(mapped, Mapped)
        return mapped

    def _absorb_alert(self, alert: Alert, known: EpisodeRecord | None, now: float,
                      changes: Absorbed, *, lapsed: bool = False) -> EpisodeRecord | None:
        if known is None:
            episode = self._new_record(alert, now=now)
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
            episode = _replace(
                known, status="resolved", ends_at=_ends(alert), resolved_at=now,
                last_seen=now, handled=False,
            )
            changes.resolved.append(episode)
            changes.writes.append(episode)
            return episode

        # A firing re-send: keep last_seen current, but write it only now and then.
        # With the alert's labels: an episode back in the firing set is mapped again,
        # and the book no longer holds them.
        # Lapsed: expired, or left out of its group's notification (`_left_out`).
        expired = lapsed or now - known.last_seen > self.expiry_seconds
        if expired:
            episode = _replace(known, last_seen=now, handled=False, left_out=False,
                               labels=dict(alert.labels))
            changes.revived.append(episode)
            changes.writes.append(episode)
            return episode
        if now - known.last_seen > self.expiry_seconds / TOUCH_FRACTION:
            episode = _replace(known, last_seen=now, labels=dict(alert.labels))
            changes.writes.append(episode)
            return episode
        return None

    @staticmethod
    def _new_record(alert: Alert, *, now: float) -> EpisodeRecord:
        return EpisodeRecord(
            fingerprint=alert.fingerprint,
            starts_at=sys.intern(alert.starts_key),
            alertname=sys.intern(alert.alertname),
            labels=dict(alert.labels),
            status=alert.status,
            first_seen=now,
            last_seen=now,
        )

    def firing(self, *, now: float) -> list[EpisodeRecord]:
        """The firing set: firing episodes re-sent within the expiry."""
        self.expire(now=now)
        return list(self._firing.values())

    def firing_count(self, *, now: float) -> int:
        self.expire(now=now)
        return len(self._firing)

    def causes(self, *, now: float) -> dict[str, Cause]:
        """The firing set by cause (needs a `mapper`); read it before the next await."""
        self.expire(now=now)
        return self._causes

    def rejected(self, *, now: float) -> list[tuple[EpisodeRecord, Rejected]]:
        """Firing episodes asking for what we refuse that are not evaluated yet, by key."""
        self.expire(now=now)
        return [(self._firing[key], rejected) for key, rejected in sorted(self._rejected.items())
                if not self._firing[key].handled]

    def expire(self, *, now: float) -> None:
        """Take out of the firing set the episodes not re-sent within the expiry."""
        horizon = self._horizon = now - self.expiry_seconds
        while self._firing:
            key, oldest = next(iter(self._firing.items()))
            if oldest.last_seen >= horizon:
                return
            self._unfire(key)
            if oldest.handled:
                self._settle(oldest)

    def pending(self) -> list[EpisodeRecord]:
        """Episodes whose latest state the worker has not evaluated yet."""
        return [self.episodes[key] for key in self._unhandled]

    @property
    def pending_count(self) -> int:
        return len(self._unhandled)

    def mark_handled(self, episodes: Iterable[EpisodeRecord]) -> list[EpisodeRecord]:
        """
        Flag these episodes evaluated; return the records to store.

        Only in the state that was evaluated (the same status and last change,
        as the store compares them): a change since, such as an episode back in
        the firing set while it was being evaluated, stays pending for the next
        pass, which is the first to see it.
        """
        done = []
        for episode in episodes:
            current = self.episodes.get(episode.key)
            if (current is not None and not current.handled and current.status == episode.status
                    and current.last_change == episode.last_change):
                current = _replace(current, handled=True)
                self._put(current)
                done.append(current)
        return done

    def forget(self, *, before: float) -> list[str]:
        """
        Drop episodes older than retention (resolved, or not seen since `before`).

        Returns the keys of those the guard may still remember: not the resolved
        and evaluated ones, which the daemon has the guard forget when they settle.
        """
        gone = [
            key for key, e in self.episodes.items()
            if (e.resolved_at if e.resolved_at is not None else e.last_seen) < before
        ]
        for key in gone:
            del self.episodes[key]
            self._unhandled.pop(key, None)
            self._unfire(key)
        resolved = [digest for digest, at in self._resolved.items() if at < before]
        lapsed = [key for key, (_, seen) in self._lapsed.items() if seen < before]
        for digest in resolved:
            del self._resolved[digest]
        for key in lapsed:
            del self._lapsed[key]
        # A group that sends no more (its alerts expired) would otherwise stay forever.
        for group in [g for g, keys in self._groups.items()
                      if not any(key in self._firing for key in keys)]:
            del self._groups[group]
        return gone + lapsed

    @property
    def group_count(self) -> int:
        """Alertmanager groups whose last notification is remembered."""
        return len(self._groups)

    @property
    def known_count(self) -> int:
        """Every episode the dedup remembers: full records and settled keys."""
        return len(self.episodes) + len(self._resolved) + len(self._lapsed)


def settled_id(key: str) -> int:
    """
    A resolved episode's identity in the book: 64 bits of BLAKE2b of its key.

    Two of 100,000 keys share one with a chance of about 3 in 10^10; the
    store keeps the full record either way.
    """
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def _ends(alert: Alert) -> str | None:
    return canonical_time(alert.ends_at) if alert.ends_at is not None else None


def _replace(episode: EpisodeRecord, **changes: object) -> EpisodeRecord:
    """A changed copy sharing the key's string: the book holds one per episode."""
    copy = dataclasses.replace(episode, **changes)  # type: ignore[arg-type]
    copy.key = episode.key
    return copy
