"""
The daemon's remediation: notifications in, decisions out.

`receive` runs on the request path and only records: it works out what a
notification changes (new episodes, resolves), stores that durably, wakes
the worker and returns, so the webhook answers fast. A notification that
only repeats known episodes is counted, not written. A few new firing
episodes wake the worker before their write, so that their decision does
not wait for the disk (`EpisodeBook.tentative`); once the write lands they
count as evaluated.

The worker runs off the request path. Each pass takes the firing set across
all groups (episodes not resolved and re-sent within the expiry), maps each
alert to a condition or an action, plans once with the same planner as
`remediator watch` (so a combined action appears when its alerts fire
together, and several alerts asking for one action make one), and decides
each action through the guard. Passes coalesce: a storm of new episodes
costs a few passes, not one per alert. Episodes recorded but not yet
evaluated survive a restart and are evaluated at the next start.

Only the leader decides, and it checks before each decision, not only before
a pass: a pass that loses leadership stops where it is, and its episodes stay
pending, so what it did not decide is decided by the next leader (or by this
replica when it leads again).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from remediator import logs
from remediator.alerting import mapping
from remediator.alerting.payload import Notification
from remediator.config.settings import Settings
from remediator.execution.base import Executor
from remediator.guarding.guard import Guard
from remediator.leadership import Leadership
from remediator.metrics import SelfMetrics
from remediator.notify.notifier import Notifier
from remediator.planning import planner
from remediator.planning.actions import Action
from remediator.planning.conditions import Condition
from remediator.remediation.deciding import Behind, Decider, LeadershipLost
from remediator.remediation.episodes import Absorbed, Cause, EpisodeBook, Joined
from remediator.state.base import EpisodeRecord, Store

logger = logging.getLogger("remediator.remediation")
webhook_logger = logging.getLogger("remediator.webhook")

Clock = Callable[[], float]

SUMMARY_SECONDS = 60.0
"""How often repeated notifications are summed up in one log line."""

PRUNE_SECONDS = 3600.0
ERROR_BACKOFF_SECONDS = 1.0
CATCH_UP_SECONDS = 5.0
"""The longest a notification is held for the worker to catch up; then 503 if still full."""


class Busy(Exception):
    """Too many episodes wait for evaluation: answer 503, Alertmanager retries later."""


class Remediation:
    def __init__(self, settings: Settings, *, store: Store, executor: Executor,
                 metrics: SelfMetrics, notifier: Notifier | None = None,
                 leadership: Leadership | None = None, clock: Clock = time.time) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.leadership = leadership or Leadership()
        self.book = self._new_book()
        self.decider = Decider(settings, store=store, executor=executor, metrics=metrics,
                               notifier=notifier, leadership=self.leadership, clock=clock,
                               wake=self.wake)
        self._receiving = asyncio.Lock()
        self._wake = asyncio.Event()
        self._pass_ended = asyncio.Event()
        """Set when a pass ends (then replaced): what a held notification waits for."""

        self._stopping = False
        self._repeats = 0
        self._repeated_alerts = 0
        self._evaluating = False
        self._reload = False
        self.passes = 0
        """Evaluation passes completed."""

        self._planned: tuple[tuple[tuple[Condition, ...], tuple[Action, ...]],
                             list[Action]] | None = None
        """The last plan, with what it was made from."""

        self._decided_early: dict[str, EpisodeRecord] = {}
        """New episodes a pass decided on before their write landed, by key."""

        self._deciding_early: dict[str, EpisodeRecord] = {}
        """The new episodes the pass in progress decides on while they are written."""

        self.leadership.subscribe(self._leadership_changed)

    # --- start and stop ----------------------------------------------------

    async def start(self) -> None:
        """Load state; schedule a pass for what a previous run recorded but never evaluated."""
        settled = self._load_book(self.book, await self.store.load_episodes())
        await self.decider.load()
        self.decider.forget_episodes(settled)
        # What start-up made (modules, settings, the loaded state) is never garbage:
        # kept out of the collector's full passes, which then visit only what came
        # since, so a full collection in a storm pauses the event loop for less.
        # Garbage first, so that none is frozen with it.
        gc.collect()
        gc.freeze()
        self.metrics.leader.set(1 if self.leadership.leader else 0)
        self._update_gauges()
        if self.book.pending_count:
            logger.info("%d recorded episodes await evaluation from before the restart",
                        self.book.pending_count)
        self._wake.set()

    def stop(self) -> None:
        """Let the worker finish the pass in progress, then end."""
        self._stopping = True
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    @property
    def evaluating(self) -> bool:
        """A pass is running now."""
        return self._evaluating

    @property
    def idle(self) -> bool:
        """Nothing waits for evaluation, no pass is running or due, no write is in flight."""
        return not (self._evaluating or self._wake.is_set() or self.book.pending_count
                    or self.decider.unawaited.busy)

    # --- the request path --------------------------------------------------

    async def receive(self, notification: Notification) -> Absorbed:
        """
        Record what the notification changes; return it. Raises `Busy` or `StateError`.

        When this returns, the news is durable and the worker has been woken,
        unless a pass already decided on all of it while it was written.
        """
        now = self.clock()
        # Counted per status, not per alert: a storm's notification holds thousands.
        firing = sum(1 for alert in notification.alerts if alert.status == "firing")
        for status, count in (("firing", firing),
                              ("resolved", len(notification.alerts) - firing)):
            if count:
                self.metrics.count(self.metrics.alerts, status, count)
        if notification.truncated_alerts:
            self.metrics.truncated_alerts.inc(notification.truncated_alerts)
            webhook_logger.warning(
                "notification is missing %d alerts (truncatedAlerts): Alertmanager's"
                " max_alerts cut it; absent alerts are not taken as resolved",
                notification.truncated_alerts, extra={"truncated": notification.truncated_alerts},
            )

        if self.book.pending_count >= self.settings.server.queue_size // 2:
            await self._let_the_worker_catch_up()

        # Absorbed without an await, so two copies of one alert never both look new;
        # the write is not under a lock, so the store commits concurrent ones together.
        changes = self.book.absorb(notification, now=now)
        if changes.news and self.book.pending_count >= self.settings.server.queue_size:
            self.book.discard(changes)
            raise Busy(f"{self.book.pending_count} episodes await evaluation")
        if changes.tentative and self.leadership.leader:
            self._wake.set()  # to decide on the new episodes while they are written
        if changes.writes or changes.after:
            try:
                if changes.writes:
                    await self.store.save_episodes(changes.writes)
                await changes.wait_for_earlier()
            except BaseException:
                self.book.discard(changes)
                for episode in changes.new:
                    self._decided_early.pop(episode.key, None)
                raise
            self.book.commit(changes)

        if changes.absent:
            webhook_logger.info(
                "%d alerts of the group are no longer sent (muted by an inhibition or a"
                " silence, or resolved unseen): out of the firing set until sent again",
                len(changes.absent), extra={"absent": len(changes.absent),
                                            "group": group_hash(notification.group_key)},
            )
            # No pass follows a notification that only leaves alerts out.
            self.metrics.firing.set(self.book.firing_count(now=now))
        if not changes.news:
            self.metrics.count(self.metrics.notifications, "repeat")
            self._repeats += 1
            self._repeated_alerts += len(notification.alerts)
            return changes
        self.metrics.count(self.metrics.notifications, "new")
        if not self._settle_decided_early(changes):
            self._wake.set()
        # The queue only: counting the firing set is a scan of the book, left to the
        # pass this wakes, so a storm of new episodes does not pay it per notification.
        self.metrics.queue_depth.set(self.book.pending_count)
        self._log_news(notification, changes)
        return changes

    def _settle_decided_early(self, changes: Absorbed) -> bool:
        """
        Flag evaluated the new episodes a pass decided on while they were written;
        whether that was all the notification's news.

        A pass over them again would find nothing new, but it would look at their
        actions once more: a failed one, for instance, would be recorded again as
        held back by its cooldown, which no other notification had asked for.
        """
        decided = [e for e in changes.new if self._decided_early.pop(e.key, None) is e]
        if decided:
            self._store_handled(self.book.mark_handled(decided))
        # Those the pass in progress decides on (again), it flags itself once done.
        covered = {e.key for e in decided}
        covered.update(e.key for e in changes.new if self._deciding_early.get(e.key) is e)
        return (len(covered) == len(changes.new)
                and not changes.resolved and not changes.revived)

    async def _let_the_worker_catch_up(self) -> None:
        """
        With half the queue waiting, hold the notification until a pass ends.

        Notifications are written together and no longer wait for one another,
        so a burst of large ones can outrun the worker; Alertmanager waits for
        the reply, so holding it (bounded) slows the burst down to what is
        evaluated, where answering 503 at once would make it send again.
        """
        if not self.leadership.leader:
            return  # nothing here evaluates: the queue check answers
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CATCH_UP_SECONDS
        while (self.book.pending_count >= self.settings.server.queue_size // 2
               and not self._stopping and loop.time() < deadline):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pass_ended.wait(), deadline - loop.time())

    # --- the worker --------------------------------------------------------

    async def run(self) -> None:
        """Evaluate whenever woken, or when a deferred action may pass; until stopped."""
        while not self._stopping:
            retry = self.decider.next_retry
            timeout = None if retry is None else max(0.0, retry - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            if self._stopping:
                break
            if not self.leadership.leader:
                continue
            try:
                self._evaluating = True
                if self._reload:
                    await self.reload()
                await self.evaluate()
            except LeadershipLost:
                # Not an error: the rest waits, pending, for whoever leads next.
                logger.warning("leadership lost during an evaluation pass; %d episodes stay"
                               " pending for the next leader", self.book.pending_count)
            except Exception:  # top-level boundary: the worker must outlive any one bad pass
                # The episodes stay pending and are evaluated again on the next pass.
                logger.exception("evaluation pass failed; retrying shortly")
                self.metrics.state_errors.inc()
                await asyncio.sleep(ERROR_BACKOFF_SECONDS)
                self._wake.set()
            finally:
                self._evaluating = False
                # Cut short, it flags nothing: what landed meanwhile waits, pending.
                if self._deciding_early:
                    self._deciding_early = {}
                    self._wake.set()
                ended, self._pass_ended = self._pass_ended, asyncio.Event()
                ended.set()
        # Stopped: what the passes stored without waiting is in the store before it closes.
        await self.decider.unawaited.drain()

    async def evaluate(self) -> None:
        """
        One pass: resolves, rejections, then the plan of the firing set, decided.

        Raises `LeadershipLost` when leadership goes before the pass is done;
        its episodes then stay pending.
        """
        self.decider.check_leadership()
        now = self.clock()
        self.decider.next_retry = None
        pending = self.book.pending()
        tentative = self.book.tentative()
        self._deciding_early = {key: episode for cause in tentative.values()
                                for key, episode in cause.episodes.items()}
        await self.decider.tidy(now=now)

        # Resolves close episodes: time to recovery, and the breaker's recovery mark.
        for episode in pending:
            if episode.status == "resolved":
                await self._resolved(episode)

        # An alert naming a target we refuse is recorded once (those that came
        # during this pass are the next one's).
        taken = {episode.key for episode in pending}
        for episode, rejected in self.book.rejected(now=now):
            if episode.key in taken:
                await self.decider.reject(rejected, episode)

        # The book keeps the firing set mapped and grouped by cause: a storm of
        # episodes of a few alerts is a few causes, planned like one of each. New
        # episodes still being written join them (`EpisodeBook.tentative`).
        causes = self.book.causes(now=now)
        # What a cause asks for is what its episode with the smallest key maps to.
        leading = {c: min((e for e in (causes.get(c), tentative.get(c)) if e is not None),
                          key=lambda e: e.first) for c in {*causes, *tentative}}
        asked = {c: e.mapped for c, e in leading.items()}
        firsts = {c: e.first for c, e in leading.items()}
        conditions = sorted({m.condition for m in asked.values() if m.condition is not None})
        requested = [m.action for _, m in sorted(asked.items(), key=lambda i: firsts[i[0]])
                     if m.condition is None and m.action is not None]

        # One plan for everything firing now, each action decided with its episodes
        # as the book has them when it is checked.
        actions = self._plan(conditions, requested)
        fresh = taken.union(*(t.episodes for t in tentative.values()))
        await self.decider.decide_all([(action, _episodes_of(action, causes, tentative))
                                       for action in actions], fresh=fresh)

        # The new episodes decided while still being written are flagged when their
        # write lands (`_settle_decided_early`), or now if it landed meanwhile.
        landed = []
        for key, episode in self._deciding_early.items():
            if self.book.episodes.get(key) is episode:
                landed.append(episode)
            elif self.book.in_flight(episode):
                self._decided_early[key] = episode
        self._deciding_early = {}
        handled = self.book.mark_handled([*pending, *landed])
        self._store_handled(handled)
        # A resolved episode never reaches a decision again (a late firing copy is a
        # repeat), so what the guard kept of it is only memory; the store keeps the rest.
        self.decider.forget_episodes(e.key for e in handled if e.status == "resolved")
        self.passes += 1
        self._update_gauges()

    def _store_handled(self, handled: list[EpisodeRecord]) -> None:
        # Not waited for: nothing needs it durable (lost, it only makes the next start
        # evaluate these again), and the store flags only the state evaluated, so a
        # resolve that comes meanwhile and lands first is not overwritten.
        if handled:
            self.decider.unawaited.start(self.store.mark_handled(handled),
                                         f"flagging {len(handled)} episodes evaluated")

    def _plan(self, conditions: list[Condition], requested: list[Action]) -> list[Action]:
        """The planner's actions, worked out again only when what fires has changed."""
        asked = (tuple(conditions), tuple(requested))
        if self._planned is None or self._planned[0] != asked:
            self._planned = (asked, planner.plan(conditions, self.settings,
                                                 requested=requested))
        return self._planned[1]

    async def _resolved(self, episode: EpisodeRecord) -> None:
        await self.decider.recovered(episode)
        started = _epoch(episode.starts_at)
        if started is not None and episode.resolved_at is not None:
            ended = _epoch(episode.ends_at) if episode.ends_at else None
            seconds = (ended or episode.resolved_at) - started
            # Clock skew or a year-1 start must not show as a negative or 2000-year recovery.
            if 0 <= seconds < 366 * 86400:
                self.metrics.recovery.observe(seconds)
        logs.for_alert(logger, alertname=episode.alertname,
                       fingerprint=episode.fingerprint).info(
            "episode resolved: %s", episode.alertname, extra={"startsAt": episode.starts_at},
        )

    # --- background chores --------------------------------------------------

    async def summarise_repeats(self) -> None:
        """Every minute, one line for the repeats (which are counted, not logged each)."""
        while True:
            await asyncio.sleep(SUMMARY_SECONDS)
            self.summarise_once()

    def summarise_once(self) -> None:
        if self._repeats:
            webhook_logger.info(
                "%d repeated notifications (%d alerts) changed nothing since the last summary",
                self._repeats, self._repeated_alerts,
                extra={"repeats": self._repeats, "alerts": self._repeated_alerts},
            )
            self._repeats = self._repeated_alerts = 0

    async def prune(self) -> None:
        """Hourly: forget episodes and decisions older than the dedup retention."""
        while True:
            await asyncio.sleep(PRUNE_SECONDS)
            await self.prune_once()

    async def prune_once(self) -> int:
        before = self.clock() - self.settings.guard.dedup_retention_seconds
        async with self._receiving:
            gone = self.book.forget(before=before)
            removed = await self.store.prune(before=before)
        self.decider.forget_episodes(gone)
        if removed:
            logger.info("pruned %d records older than the retention", removed)
        return removed

    # --- helpers -------------------------------------------------------------

    def _leadership_changed(self, leader: bool) -> None:
        self.metrics.leader.set(1 if leader else 0)
        if leader:
            # The previous leader wrote episodes and decisions we have not seen.
            self._reload = True
            self._wake.set()

    async def reload(self) -> None:
        """Read episodes, decisions and target states again, as at start (after a failover)."""
        await self.decider.unawaited.drain()
        async with self._receiving:
            book = self._new_book()
            settled = self._load_book(book, await self.store.load_episodes())
            self.book = book
            self._decided_early = {}  # the new book has them pending, if stored
        self.decider.guard = Guard(self.settings)
        await self.decider.load()
        self.decider.forget_episodes(settled)
        self._reload = False
        logger.info("state reloaded from the store: %d episodes, %d pending",
                    len(self.book.episodes), self.book.pending_count)

    @staticmethod
    def _load_book(book: EpisodeBook, episodes: list[EpisodeRecord]) -> list[str]:
        """Load the stored episodes; return the keys of those resolved and evaluated."""
        book.load(episodes)
        # As after each pass: the guard needs nothing of these.
        return [e.key for e in episodes if e.status == "resolved" and e.handled]

    def _new_book(self) -> EpisodeBook:
        settings = self.settings
        return EpisodeBook(expiry_seconds=settings.alerts.expiry,
                           mapper=lambda labels: mapping.map_alert(labels, settings))

    def _update_gauges(self) -> None:
        self.metrics.queue_depth.set(self.book.pending_count)
        self.metrics.firing.set(self.book.firing_count(now=self.clock()))

    def _log_news(self, notification: Notification, changes: Absorbed) -> None:
        names = sorted({e.alertname for e in (*changes.new, *changes.resolved, *changes.revived)})
        webhook_logger.info(
            "notification: %d new, %d resolved, %d alerts in all (%s)",
            len(changes.new), len(changes.resolved), len(notification.alerts),
            ", ".join(names[:10]) + (" ..." if len(names) > 10 else ""),
            extra={
                "new": len(changes.new), "resolved": len(changes.resolved),
                "alerts": len(notification.alerts),
                "group": group_hash(notification.group_key),
                "receiver": notification.receiver,
            },
        )
        for episode in changes.new[:20]:
            logs.for_alert(webhook_logger, alertname=episode.alertname,
                           fingerprint=episode.fingerprint).debug(
                "new episode (%s) started %s", episode.status, episode.starts_at,
            )


def _episodes_of(action: Action, causes: Mapping[str, Cause],
                 tentative: Mapping[str, Cause]) -> Behind:
    """
    The firing episodes behind an action, by key, each cause's in the order they came.

    A view of the book's own indexes, not a copy: the decider reads it only
    inside its checks, which do not await, so it sees the causes' firing
    episodes as they are when the action is checked, those that landed or
    resolved while the pass awaited included; and a storm's pass copies
    nothing.
    """
    return Joined((causes, tentative), tuple(dict.fromkeys(action.causes)))


def group_hash(group_key: str) -> str:
    """A groupKey is an opaque string of quotes and braces: log and store only its hash."""
    return hashlib.sha256(group_key.encode()).hexdigest()[:16]


def _epoch(text: str | None) -> float | None:
    if not text or text.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError):
        return None
