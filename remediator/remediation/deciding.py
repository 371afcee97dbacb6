"""
From a planned action to a recorded decision: guard, execute, record, tell.

The daemon's worker and `remediator watch` (through `carry_out`) decide the
same way. A decision that passes the guard is stored as `pending` before
the executor runs, so that a crash in the middle still counts it toward the
cooldown (it is marked failed, "interrupted", at the next start, and never
repeated automatically).

Only the leader decides. Leadership is checked before each decision and
again immediately before the executor runs: a replica that lost the Lease in
the middle of a plan stops there (`LeadershipLost`), and what it did not
carry out stays for the next leader, not counted and not settled.

A dry run goes where the settings say (`runner.dry_run_executor_for`): to
the API with `dryRun=All` when execution is on but held back, and to the
local dry run, which contacts nothing, when execution is off.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import operator
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from remediator import logs
from remediator.alerting.mapping import Rejected
from remediator.config.settings import Settings
from remediator.execution.base import ExecutionReport, Executor, Outcome
from remediator.execution.dryrun import DryRunExecutor
from remediator.execution.runner import dry_run_executor_for
from remediator.guarding.guard import Guard, Verdict, subject
from remediator.leadership import Leadership
from remediator.metrics import SKIP_REASONS, SelfMetrics
from remediator.notify.notifier import Notifier
from remediator.planning import commands
from remediator.planning.actions import Action, ActionType, Target
from remediator.remediation.episodes import Joined
from remediator.remediation.unawaited import Unawaited
from remediator.state.base import AlertRef, DecisionRecord, EpisodeRecord, Store, TargetState

logger = logging.getLogger("remediator.remediation")

Clock = Callable[[], float]

INTERRUPTED = (
    "interrupted by a restart before its outcome was recorded; it may have been carried out,"
    " so it is not repeated automatically"
)
NOTIFIED_OUTCOMES = {"executed", "refused", "failed"}
LOST_RETRY_SECONDS = 1.0
"""How soon deferrals whose write failed are recorded again."""

NOT_LEADER = (
    "not_leader: leadership was lost before it was carried out; nothing was done, and the"
    " next leader decides it again"
)


class LeadershipLost(Exception):
    """This replica is no longer the leader: stop deciding, leave the rest pending."""


Behind = dict[str, EpisodeRecord] | Joined
"""The episodes behind an action by key, oldest first (the book's own, not copies)."""


@dataclasses.dataclass(slots=True)
class Deferral:
    """What the recorded decisions of one deferred action have named, for one reason."""

    reason: str
    named: set[str]
    causes: tuple[str, ...] = ()
    """The causes of the action when `complete` was set."""

    complete: int = -1
    """The worker's pass whose check found every episode behind the action named."""


class Decider:
    def __init__(self, settings: Settings, *, store: Store, executor: Executor,
                 metrics: SelfMetrics | None = None, notifier: Notifier | None = None,
                 leadership: Leadership | None = None, dry_run: Executor | None = None,
                 clock: Clock = time.time, wake: Callable[[], None] | None = None) -> None:
        """
        `dry_run` carries out what the guard holds back (default: from the
        settings, server-side or local); `leadership` says whether we may act
        (default: always); `wake` starts the worker's next pass.
        """
        self.settings = settings
        self.store = store
        self.executor = executor
        self.metrics = metrics
        self.notifier = notifier
        self.clock = clock
        self.leadership = leadership or Leadership()
        self.guard = Guard(settings)
        self.dry_run = dry_run or dry_run_executor_for(settings)
        self.local_dry_run = DryRunExecutor()
        """Investigate actions run nothing: recorded as a local dry run wherever we are."""
        self.wake = wake
        self.unawaited = Unawaited(metrics)
        """The deferrals being stored that no pass waits for."""

        self.next_retry: float | None = None
        """The earliest time a deferred action (cooldown, rate limit, breaker) may pass."""

        self._last_skip: dict[str, Deferral] = {}
        """Per deferred action: the reason it was deferred for, and the episodes named so far."""

        self._pass = 0
        """The worker's passes through `decide_all`, counted."""

        self._provisional = 0
        """The last id given to deferrals not stored yet (below zero, never a stored one)."""

    async def load(self) -> None:
        """Rebuild the guard's memory; settle decisions a crash left pending."""
        now = self.clock()
        decisions = await self.guard.load(self.store, now=now)
        # The deferrals already recorded, so a restart does not record them again.
        # After a failover the store holds what another leader evaluated: the next
        # pass looks at every episode behind a deferral, not only its fresh ones.
        for deferral in self._last_skip.values():
            deferral.complete = -1
        for decision in decisions:
            self._replay(decision)
        for decision in [d for d in decisions if d.outcome == "pending"]:
            decision.outcome = "failed"
            decision.reason = INTERRUPTED
            decision.covering = True
            await self.store.update_decision(decision)
            self.guard.remember(decision)
            logger.warning("decision %d: %s", decision.id, INTERRUPTED,
                           extra={"decision": decision.id, "target": decision.target})
        await self.tidy(now=now)
        if self.metrics is not None:
            for state in self.guard.targets.values():
                self.metrics.breaker_open.labels(state.target).set(
                    1 if state.breaker_opened_at is not None else 0
                )

    async def tidy(self, *, now: float) -> None:
        """Close breakers whose quiet period ended; forget what no check looks at."""
        for state in self.guard.close_expired_breakers(now=now):
            await self.store.save_target(state)
            self._breaker_gauge(state)
            logger.info("breaker of %s closed after its quiet period", state.target,
                        extra={"target": state.target})
        self.guard.forget(now=now)

    def forget_episodes(self, keys: Iterable[str]) -> None:
        """These episodes will never cause a decision again: drop what names them."""
        gone = set(keys)
        if not gone:
            return
        self.guard.forget_episodes(gone)
        for deferral in self._last_skip.values():
            deferral.named -= gone

    # --- deciding ----------------------------------------------------------

    async def decide(self, action: Action, *,
                     episodes: Sequence[EpisodeRecord] | Behind = (),
                     alert: AlertRef | None = None) -> DecisionRecord | None:
        """
        Guard, record, execute and record again; None when it repeats a decision.

        `episodes` are the alert episodes behind the action, oldest first (the
        worker gives them by key, as the book keeps them; none for the CLI and
        operators); `alert` names the cause when there are no episodes.
        Raises `LeadershipLost` when this replica may no longer act.
        """
        behind = episodes if isinstance(episodes, Mapping) else {e.key: e for e in episodes}

        # Check and record under one lock: two coroutines never both pass.
        async with self.guard.lock:
            self.check_leadership()
            checked = self._check(action, behind, alert, now=self.clock())
            if checked is None:
                return None
            verdict, record = checked
            decision = await self.store.add_decision(record)
            self._named(action, verdict, decision)
            self.guard.remember(decision)

        if not verdict.passed:
            self._note_retry(verdict)
            self._recorded(decision, action)
            return decision

        # Recording took a write to the store: leadership may have gone meanwhile.
        if not self.leadership.leader:
            await self._hand_back(decision, action)

        # Carry it out off the lock: the pending record already counts.
        executor = self._executor_for(action, verdict)
        report, seconds = await self._run(executor, action)
        decision.outcome = str(report.outcome)
        decision.reason = report.reason
        decision.command = report.command
        # The executor's details join the plan's rationale and causes, not replace them.
        decision.details = {**decision.details, **report.details}
        decision.executor = executor.name
        # What changed nothing counts toward nothing; a failure may retry after its
        # cooldown, everything else settles the episodes behind it.
        decision.counted = report.outcome not in (Outcome.SKIPPED, Outcome.REFUSED)
        decision.covering = report.outcome is not Outcome.FAILED
        decision.skip = _executor_skip(report, dry_run=verdict.dry_run)
        await self.store.update_decision(decision)
        async with self.guard.lock:
            self.guard.remember(decision)
            if decision.counted and decision.target and self.guard.breaker_trips(
                decision.target, now=self.clock()
            ):
                await self._open_breaker(decision.target)
            if report.outcome is Outcome.FAILED:
                # Nothing wakes the worker while the alert only repeats: come back when
                # the cooldown ends (the breaker stops a remediation that keeps failing).
                self._note_retry_at(self.guard.cooldown_until(action, now=self.clock()))

        if self.metrics is not None:
            self.metrics.action_duration.labels(decision.type).observe(seconds)
        self._recorded(decision, action)
        return decision

    async def decide_all(self, planned: Sequence[tuple[Action, Behind]], *,
                         fresh: Collection[str] | None = None) -> None:
        """
        Decide a pass's actions in plan order, each as `decide` would, with the
        deferrals between two actions that pass stored in one write.

        `fresh` are the keys of the episodes this pass evaluates: those changed
        since the last pass. A deferral recorded again names only the episodes
        that joined it, and when the last pass found every other one named,
        only the fresh need looking at; otherwise (the first pass, a write that
        failed, a pass cut short, causes that changed) all of them are.

        In a storm most of a pass's actions are deferred (a cooldown, the rate
        limit) for the episodes that joined them; one write for all of them,
        not waited for (`_record_unawaited`), is what keeps a pass short while
        the webhook's writes share the store. An action whose subject a
        deferral of the batch already has is checked only after that deferral
        is remembered, since it may settle the same episodes. Raises
        `LeadershipLost` as `decide` does.
        """
        self._pass += 1
        position = 0
        while position < len(planned):
            batch: list[tuple[Action, Verdict, DecisionRecord]] = []
            passing = None
            async with self.guard.lock:
                self.check_leadership()
                now = self.clock()
                # No await between the checks: nothing else changes the guard meanwhile.
                while position < len(planned):
                    action, behind = planned[position]
                    if not behind:
                        position += 1  # its episodes stopped firing since it was planned
                        continue
                    if any(subject(action) == subject(other) for other, _, _ in batch):
                        break
                    checked = self._check(action, behind, None, now=now, fresh=fresh)
                    if checked is not None and checked[0].passed:
                        passing = planned[position]
                        position += 1
                        break
                    position += 1
                    if checked is not None:
                        batch.append((action, *checked))
                for _, verdict, _ in batch:
                    self._note_retry(verdict)
                if batch:
                    self._record_unawaited(batch, complete=fresh is not None)

            if passing is not None:
                # The deferrals before it are stored first, so that ids stay in the
                # order of the decisions. Then checked again, and carried out, as on
                # its own: nothing changed since.
                await self.unawaited.drain()
                if passing[1]:  # unless its episodes stopped firing meanwhile
                    await self.decide(passing[0], episodes=passing[1])

    def _record_unawaited(self, batch: list[tuple[Action, Verdict, DecisionRecord]], *,
                          complete: bool) -> None:
        """
        Store deferrals without waiting for the write.

        A deferral neither counts toward a cooldown or limit nor is carried
        out, so no check needs it stored, only known: what it names is noted
        now, so that the next pass does not record it again, and a deferral
        that settles its episodes (below the priority threshold, observe mode)
        covers them at once under a provisional id, the stored one once it is
        stored. If the write fails, both are taken back and the next pass
        records the deferrals again.
        """
        self._provisional -= 1
        provisional = self._provisional
        noted = []
        for action, verdict, decision in batch:
            noted.append(self._named(action, verdict, decision, complete=complete))
            decision.id = provisional
            self.guard.remember(decision)
        self.unawaited.start(
            self.store.add_decisions([decision for _, _, decision in batch]),
            f"recording {len(batch)} deferred actions",
            done=lambda _: self._deferrals_stored(batch, provisional),
            failed=lambda _: self._deferrals_lost(batch, provisional, noted),
        )

    def _deferrals_stored(self, batch: list[tuple[Action, Verdict, DecisionRecord]],
                          provisional: int) -> None:
        for action, _, decision in batch:
            self.guard.renumber(decision, provisional, stored=True)
            self._recorded(decision, action)

    def _deferrals_lost(self, batch: list[tuple[Action, Verdict, DecisionRecord]],
                        provisional: int, noted: list[Deferral | None]) -> None:
        """
        The deferrals were not stored: a pass a little later records them again.

        Later, not at once: a store that keeps refusing would otherwise have
        the worker write, fail and wake in a loop.
        """
        for (action, _, decision), deferral in zip(batch, noted, strict=True):
            self.guard.renumber(decision, provisional, stored=False)
            # The memory noted then, not a newer one for another reason since.
            if deferral is not None and self._last_skip.get(action.key) is deferral:
                deferral.named.difference_update(decision.episodes)
                deferral.complete = -1
        if self.wake is not None:
            asyncio.get_running_loop().call_later(LOST_RETRY_SECONDS, self.wake)

    def _check(self, action: Action, behind: Behind, alert: AlertRef | None,
               *, now: float, fresh: Collection[str] | None = None
               ) -> tuple[Verdict, DecisionRecord] | None:
        """
        The guard's verdict and the decision to record; None when there is none to
        record (a duplicate, or a deferral already recorded for these episodes).
        Call with the guard's lock held; changes nothing but the metrics and
        what the deferral memory knows was checked.
        """
        # Newest first, so the guard's duplicate check stops at the first unsettled
        # one: in a storm the new episodes are, and thousands of older ones are not.
        verdict = self.guard.check(action, episodes=reversed(behind), now=now)
        if verdict.skip == "duplicate":
            self._count_skip("duplicate")
            return None
        keys: Iterable[str] = behind
        if not verdict.passed:
            unnamed = self._unnamed(action, verdict, behind, fresh)
            if unnamed is None:
                self._note_retry(verdict)
                return None
            keys = unnamed
        # The cause is the newest episode the decision names, looked for only now.
        named = sorted(keys)
        return verdict, _decision(
            action, verdict, named, alert or _newest_alert([behind[k] for k in named]), now=now,
        )

    def check_leadership(self) -> None:
        """Raise `LeadershipLost` unless this replica may act."""
        if not self.leadership.leader:
            raise LeadershipLost("not the leader")

    async def reject(self, rejected: Rejected, episode: EpisodeRecord) -> DecisionRecord:
        """Record an alert that names a target we refuse (invalid, or not ours)."""
        self.check_leadership()
        now = self.clock()
        decision = DecisionRecord(
            time=now,
            type=rejected.action_type,
            action_key=f"{rejected.action_type}:rejected",
            target=None,
            outcome="skipped",
            reason=f"{rejected.code}: alert {rejected.alertname}: {rejected.reason}",
            skip=rejected.code,
            covering=True,
            episodes=[episode.key],
            alert=_alert_ref(episode),
            description=f"{rejected.action_type} requested by alert {rejected.alertname}",
        )
        async with self.guard.lock:
            decision = await self.store.add_decision(decision)
        self._recorded(decision, None)
        return decision

    # --- operator controls -------------------------------------------------

    async def record_operator(self, kind: str, target: Target, report: ExecutionReport,
                              **details: Any) -> DecisionRecord:
        """Record something an operator had done (a config revert) in the same history."""
        decision = DecisionRecord(
            time=self.clock(),
            type=kind,
            action_key=f"{kind}:{target.key}",
            target=target.key,
            outcome=str(report.outcome),
            reason=report.reason,
            command=report.command,
            description=f"operator: {kind.replace('_', ' ')} of {target}",
            details={**report.details, **details},
            executor=(self.dry_run if report.outcome is Outcome.DRY_RUN else self.executor).name,
        )
        async with self.guard.lock:
            decision = await self.store.add_decision(decision)
        self._recorded(decision, None)
        return decision

    async def set_paused(self, target: str, paused: bool) -> TargetState:
        async with self.guard.lock:
            state = self.guard.set_paused(target, paused)
            await self.store.save_target(state)
        logger.warning("%s %s by an operator", target, "paused" if paused else "resumed",
                       extra={"target": target})
        return state

    async def reset_breaker(self, target: str) -> TargetState:
        async with self.guard.lock:
            state = self.guard.reset_breaker(target, now=self.clock())
            await self.store.save_target(state)
        self._breaker_gauge(state)
        logger.warning("breaker of %s reset by an operator", target, extra={"target": target})
        return state

    async def recovered(self, episode: EpisodeRecord) -> None:
        """An episode resolved: the targets acted on for it count as recovered."""
        async with self.guard.lock:
            for state in self.guard.recovered(episode.key, now=self.clock()):
                await self.store.save_target(state)

    # --- helpers -----------------------------------------------------------

    def _executor_for(self, action: Action, verdict: Verdict) -> Executor:
        if not verdict.dry_run:
            return self.executor
        if action.type is ActionType.INVESTIGATE:
            return self.local_dry_run
        return self.dry_run

    async def _hand_back(self, decision: DecisionRecord, action: Action) -> None:
        """
        Leadership went between recording and executing: undo the pending record's
        weight (no cooldown, no cover of its episodes) so the next leader decides it.
        """
        decision.outcome = "skipped"
        decision.reason = NOT_LEADER
        decision.skip = "not_leader"
        decision.counted = False
        decision.covering = False
        await self.store.update_decision(decision)
        async with self.guard.lock:
            self.guard.remember(decision)
        self._recorded(decision, action)
        raise LeadershipLost("leadership lost before the executor ran")

    async def _run(self, executor: Executor, action: Action) -> tuple[ExecutionReport, float]:
        started = time.monotonic()
        try:
            report = await executor.run(action)
        except commands.UnsafeName as error:
            report = ExecutionReport(Outcome.REFUSED, f"invalid_target: {error}")
        except Exception as error:  # top-level boundary: an executor bug must not kill the worker
            logger.exception("executor %s failed on %s", executor.name, action.key)
            report = ExecutionReport(Outcome.FAILED, f"executor error: {error}")
        return report, time.monotonic() - started

    async def _open_breaker(self, target: str) -> None:
        state = self.guard.open_breaker(target, now=self.clock())
        await self.store.save_target(state)
        self._breaker_gauge(state)
        breaker = self.settings.guard.breaker
        text = (
            f"circuit breaker of {target} opened: {breaker.max_actions} actions within"
            f" {breaker.window_seconds:.0f}s without recovery; no more actions on it until"
            " an operator resets it or it stays quiet for"
            f" {breaker.quiet_seconds:.0f}s"
        )
        logger.error(text, extra={"target": target})
        if self.notifier is not None:
            self.notifier.send({"event": "breaker_open", "target": target, "text": text})

    def _breaker_gauge(self, state: TargetState) -> None:
        if self.metrics is not None:
            self.metrics.breaker_open.labels(state.target).set(
                1 if state.breaker_opened_at is not None else 0
            )

    def _unnamed(self, action: Action, verdict: Verdict, behind: Behind,
                 fresh: Collection[str] | None) -> list[str] | None:
        """
        The episodes a deferral must name; None when it only repeats one already recorded.

        An action deferred for the same reason is recorded once, and again only
        for the episodes that joined it since, naming just those: in a storm of
        new episodes each pass would otherwise store every firing episode again.
        What was named is noted as the deferral is queued (`_named`) and taken
        back if its write fails, which leaves it to be recorded again.

        An episode joins a cause only as a change the worker has yet to
        evaluate (new, or back in the firing set), and it stays pending until a
        pass has evaluated that very state (`EpisodeBook.mark_handled`). So
        when the previous pass found every episode behind the action named,
        those that may not be are this pass's fresh ones: a storm's pass looks
        at a few episodes, not at every one firing.
        """
        assert verdict.skip is not None
        deferral = self._last_skip.get(action.key)
        if deferral is None or deferral.reason != verdict.skip:
            return list(behind)
        candidates: Iterable[str] = behind
        if (fresh is not None and deferral.complete == self._pass - 1
                and deferral.causes == action.causes):
            candidates = [key for key in fresh if key in behind]
        named = deferral.named
        unnamed = [key for key in candidates if key not in named]
        if unnamed:
            return unnamed
        if fresh is not None:
            deferral.complete, deferral.causes = self._pass, action.causes
        return None

    def _replay(self, decision: DecisionRecord) -> None:
        """What `_named` and `_recorded` noted of a stored decision, oldest first."""
        if decision.counted or decision.outcome != "skipped":
            self._last_skip.pop(decision.action_key, None)
        elif decision.skip is not None and decision.episodes:
            self._note_named(decision.action_key, decision.skip, decision.episodes)

    def _named(self, action: Action, verdict: Verdict, decision: DecisionRecord, *,
               complete: bool = False) -> Deferral | None:
        """
        A deferral is recorded: its episodes need not be named again for that reason.

        `complete`: it was checked in a worker's pass, and with it every episode
        behind the action is named. Returns the memory of the action's deferrals.
        """
        if verdict.skip is None:
            return None
        deferral = self._note_named(action.key, verdict.skip, decision.episodes)
        if complete:
            deferral.complete, deferral.causes = self._pass, action.causes
        return deferral

    def _note_named(self, action_key: str, skip: str, episodes: list[str]) -> Deferral:
        deferral = self._last_skip.get(action_key)
        if deferral is None or deferral.reason != skip:
            deferral = self._last_skip[action_key] = Deferral(skip, set(episodes))
        else:
            deferral.named.update(episodes)
        return deferral

    def _note_retry(self, verdict: Verdict) -> None:
        self._note_retry_at(verdict.retry_at)

    def _note_retry_at(self, moment: float | None) -> None:
        if moment is not None and (self.next_retry is None or moment < self.next_retry):
            self.next_retry = moment

    def _count_skip(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.skips.labels(reason).inc()

    def _recorded(self, decision: DecisionRecord, action: Action | None) -> None:
        """Metrics, one log line and, for what matters to people, a notification."""
        if decision.counted or decision.outcome != "skipped":
            self._last_skip.pop(decision.action_key, None)
        if self.metrics is not None:
            self.metrics.actions.labels(decision.type, decision.outcome).inc()
            if decision.outcome == "failed" and decision.target is not None:
                self.metrics.action_failures.labels(decision.type, decision.target).inc()
            self.metrics.last_decision.set(decision.time)
        if decision.skip:
            self._count_skip(decision.skip)

        alert = decision.alert
        log = logs.for_alert(
            logger, alertname=alert.alertname if alert else "",
            fingerprint=alert.fingerprint if alert else "", target=decision.target,
        )
        level = logging.WARNING if decision.outcome in ("failed", "refused") else logging.INFO
        log.log(
            level, "decision %d: %s %s: %s - %s", decision.id, decision.type,
            decision.target or decision.action_key, decision.outcome, decision.reason,
            extra={"decision": decision.id, "type": decision.type, "outcome": decision.outcome,
                   "skip": decision.skip},
        )
        if self.notifier is not None and decision.outcome in NOTIFIED_OUTCOMES:
            self.notifier.send({
                "event": "decision",
                "decision": decision.to_json(),
                "text": f"remediator: {decision.type} {decision.target or ''}"
                f" {decision.outcome}: {decision.reason}",
            })


async def carry_out(actions: Sequence[Action], *, store: Store, settings: Settings,
                    executor: Executor, cause: AlertRef | None = None,
                    metrics: SelfMetrics | None = None, notifier: Notifier | None = None,
                    clock: Clock = time.time) -> list[tuple[Action, DecisionRecord]]:
    """
    Carry out a plan once, in plan order, through the daemon's guard and state.

    For `remediator watch` with a state directory: cooldowns, the rate limit
    and breakers recorded by the daemon (or an earlier run) apply, and the
    decisions join the same history. `store` must be open. Each action
    comes back with its decision.
    """
    decider = Decider(settings, store=store, executor=executor, metrics=metrics,
                      notifier=notifier, clock=clock)
    await decider.load()
    decided = []
    for action in actions:
        decision = await decider.decide(action, alert=cause)
        if decision is not None:
            decided.append((action, decision))
    return decided


def _decision(action: Action, verdict: Verdict, episodes: list[str], alert: AlertRef | None,
              *, now: float) -> DecisionRecord:
    command = _command(action)
    if verdict.passed:
        outcome, reason = "pending", "being carried out"
    else:
        outcome, reason = "skipped", f"{verdict.skip}: {verdict.reason}"
    return DecisionRecord(
        time=now,
        type=str(action.type),
        action_key=action.key,
        target=action.target.key if action.target else None,
        outcome=outcome,
        reason=reason,
        priority=action.priority,
        description=action.description,
        replicas=action.replicas,
        command=command,
        skip=verdict.skip,
        counted=verdict.passed,
        covering=verdict.passed or verdict.covering,
        episodes=episodes,
        alert=alert,
        details={"rationale": action.rationale, "causes": list(action.causes)},
    )


def _command(action: Action) -> str | None:
    try:
        return commands.as_text(action)
    except commands.UnsafeName:
        return None


def _executor_skip(report: ExecutionReport, *, dry_run: bool) -> str | None:
    """The skip label of an executor's outcome: dry_run, or the code the reason starts with."""
    if report.outcome is Outcome.DRY_RUN:
        return "dry_run" if dry_run else None
    if report.outcome is not Outcome.SKIPPED:
        return None
    code = str(report.details.get("code") or report.reason.partition(":")[0])
    return code if code in SKIP_REASONS else "executor"


def _alert_ref(episode: EpisodeRecord) -> AlertRef:
    return AlertRef(alertname=episode.alertname, fingerprint=episode.fingerprint,
                    startsAt=episode.starts_at)


_RECENCY = operator.attrgetter("first_seen", "key")
"""The newest episode first, ties by key; attrgetter, as a storm's pass asks it of thousands."""


def _newest_alert(episodes: Sequence[EpisodeRecord]) -> AlertRef | None:
    if not episodes:
        return None
    newest = max(episodes, key=_RECENCY)
    return _alert_ref(newest)
