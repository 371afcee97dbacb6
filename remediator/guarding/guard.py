"""
The guard: whether an action may go ahead now, and if not, why.

Checks, in order: a paused target; a duplicate (every alert episode behind
the action already had its decision on this target); the autonomy settings
(priority below `execution.min_priority`, a type in `observe` mode); the
cooldown of the action type on the target, which stops a repeat but lets an
escalation through (a larger scale than the last one); the global rate
limit; the target's circuit breaker. What passes is carried out for real or
as a dry run, and counts toward cooldowns, the rate limit and the breaker
either way, so the history shows what execution would have done.

The guard keeps its memory in the process and mirrors every change into the
store; `load` rebuilds it after a restart. Callers hold `lock` from `check`
until the decision is recorded, so two coroutines never both pass.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable

from remediator.config.settings import Settings
from remediator.execution.base import Outcome
from remediator.planning.actions import Action, ActionType
from remediator.state.base import DecisionRecord, Store, TargetState

logger = logging.getLogger("remediator.guard")

# What takes a Deployment's template back a revision, and what scales it.
_UNDOES = {"rollback", "combined"}
_SCALES = {"scale", "combined"}


@dataclasses.dataclass(frozen=True)
class Verdict:
    skip: str | None
    """None when the action may go ahead; else the reason as a metric label."""

    reason: str
    dry_run: bool = False
    """Go ahead, but only as a dry run (execution off, or the type's mode is dry-run)."""

    retry_at: float | None = None
    """When the reason may have gone (cooldown over, a rate slot free, breaker quiet)."""

    @property
    def passed(self) -> bool:
        return self.skip is None

    @property
    def covering(self) -> bool:
        """Whether the decision settles its episodes: skips that last as long as the config."""
        return self.skip in (None, "below_priority", "observe")


def subject(action: Action) -> str:
    """What an episode's decision is about: the target, or the investigated metric."""
    return action.target.key if action.target else f"metric/{action.metric}"


class Guard:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = asyncio.Lock()
        self._passed: dict[int, DecisionRecord] = {}
        """Counted decisions by id, inside the longest window."""

        self._covered: dict[str, dict[str, Cover]] = {}
        """Per subject, per episode: the decisions that settle it (a failure settles none)."""

        self._acted_on: dict[str, set[str]] = {}
        """Per target: the episodes counted decisions on it acted for, for recovery."""

        self.targets: dict[str, TargetState] = {}

    # --- memory ------------------------------------------------------------

    async def load(self, store: Store, *, now: float) -> list[DecisionRecord]:
        """Rebuild memory from the store; return the decisions it read, oldest first."""
        for state in await store.load_targets():
            self.targets[state.target] = state
        retention = self.settings.guard.dedup_retention_seconds
        decisions = await store.decisions_since(now - max(retention, self.horizon))
        for decision in decisions:
            self.remember(decision)
        return decisions

    @property
    def horizon(self) -> float:
        """The longest window any check looks back over."""
        guard = self.settings.guard
        cooldowns = guard.cooldowns.model_dump().values()
        return float(max(*cooldowns, guard.rate_limit.per_seconds, guard.breaker.window_seconds))

    def remember(self, decision: DecisionRecord) -> None:
        """Take a recorded decision (new, or updated with its outcome) into account."""
        self._passed.pop(decision.id, None)
        if decision.counted:
            self._passed[decision.id] = decision
        if decision.episodes:
            # A decision is remembered twice, pending then with its outcome: a failure
            # takes back the cover its pending record gave, so the action may be retried.
            covered = self._covered.setdefault(_about(decision), {})
            for key in decision.episodes:
                cover = _uncover(covered.get(key), decision.id)
                if decision.covering:
                    cover = _cover(cover, decision.id)
                _put_cover(covered, key, cover)
        if decision.counted and decision.target:
            self._acted_on.setdefault(decision.target, set()).update(decision.episodes)

    def renumber(self, decision: DecisionRecord, provisional: int, *, stored: bool) -> None:
        """
        A deferral was remembered under a provisional id before it was stored:
        its cover goes under its stored id now, or goes if it was not stored.
        An episode forgotten meanwhile (resolved and evaluated) stays forgotten.
        """
        covered = self._covered.get(_about(decision))
        if not decision.covering or covered is None:
            return
        for key in decision.episodes:
            cover = covered.get(key)
            if cover is None or not _covers(cover, provisional):
                continue
            cover = _uncover(cover, provisional)
            if stored:
                cover = _cover(cover, decision.id)
            _put_cover(covered, key, cover)

    def forget(self, *, now: float) -> None:
        """Drop what no check can look at any more (the store prunes its own copy)."""
        horizon = now - self.horizon
        self._passed = {i: d for i, d in self._passed.items() if d.time >= horizon}

    def forget_episodes(self, keys: Iterable[str]) -> None:
        gone = set(keys)
        for covered in self._covered.values():
            for key in gone & covered.keys():
                del covered[key]
        for keys in self._acted_on.values():
            keys -= gone

    def target(self, key: str) -> TargetState:
        return self.targets.setdefault(key, TargetState(target=key))

    # --- the checks --------------------------------------------------------

    def check(self, action: Action, *, episodes: Iterable[str], now: float) -> Verdict:
        """
        The verdict on one action; call with `lock` held and record before releasing.

        `episodes` are looked at in their order until one is not yet settled: in a
        storm, give the newest first (a reversed view is enough).
        """
        settings = self.settings
        target = action.target.key if action.target else None
        state = self.targets.get(target) if target else None

        if state is not None and state.paused:
            return Verdict("paused", f"{target} is paused by an operator; resume it to act")

        covered = self._covered.get(subject(action), {})
        newest = iter(episodes)
        first = next(newest, None)
        if first is not None and first in covered and all(key in covered for key in newest):
            return Verdict("duplicate", "these alert episodes already had their decision")

        # Investigating runs nothing: it is recorded whatever the autonomy settings.
        investigate = action.type is ActionType.INVESTIGATE
        if action.priority > settings.execution.min_priority and not investigate:
            return Verdict(
                "below_priority",
                f"priority {action.priority} ({action.badge}) is below the execution threshold"
                f" {settings.execution.min_priority}",
            )
        mode = settings.execution.modes.of(str(action.type))
        if mode == "observe" and not investigate:
            return Verdict("observe", f"{action.type} actions are in observe mode: recorded only")

        blocked = self._cooldown(action, now)
        if blocked is not None:
            return blocked

        if not investigate:
            limited = self._rate_limit(now)
            if limited is not None:
                return limited
            if state is not None and state.breaker_opened_at is not None:
                reopens = state.breaker_opened_at + settings.guard.breaker.quiet_seconds
                return Verdict(
                    "breaker_open",
                    f"the circuit breaker of {target} is open: too many actions without"
                    " recovery; reset it or wait for the quiet period",
                    retry_at=reopens,
                )

        dry_run = investigate or not settings.executing() or mode == "dry-run"
        return Verdict(None, "passed the guard", dry_run=dry_run)

    def cooldown_until(self, action: Action, *, now: float) -> float | None:
        """When the cooldown that stops this action now ends; None when none does."""
        blocked = self._cooldown(action, now)
        return None if blocked is None else blocked.retry_at

    def _cooldown(self, action: Action, now: float) -> Verdict | None:
        cooldowns = self.settings.guard.cooldowns
        kind = str(action.type)
        target = action.target.key if action.target else None

        def earlier(types: set[str], window: float) -> list[DecisionRecord]:
            return sorted(
                (d for d in self._passed.values()
                 if d.type in types and d.time > now - window
                 and (d.target == target if target else d.action_key == action.key)),
                key=lambda d: d.time,
            )

        # A second undo inside the cooldown would bring the bad revision back.
        if kind in _UNDOES:
            window = max(cooldowns.rollback, cooldowns.of(kind))
            undone = earlier(_UNDOES, window)
            if undone:
                last = undone[-1]
                told = _earlier(last, f"{action.target} was rolled back",
                                f"a rollback of {action.target}", now)
                return Verdict(
                    "cooldown",
                    f"{told}; a rollback never follows a rollback inside the {window:.0f}s"
                    " cooldown",
                    retry_at=last.time + window,
                )
            return None

        # A cooldown stops a repeat, not an escalation to more replicas.
        if kind == "scale":
            scaled = earlier(_SCALES, cooldowns.scale)
            if not scaled:
                return None
            highest = max(d.replicas or 0 for d in scaled)
            if action.replicas is not None and action.replicas > highest:
                logger.info("escalation inside the cooldown: %s from %d to %d replicas",
                            target, highest, action.replicas, extra={"target": target})
                return None
            last = scaled[-1]
            # The decision that set the bar is the one the reason tells of.
            top = max(scaled, key=lambda d: (d.replicas or 0, d.time))
            told = _earlier(top, f"{action.target} was scaled to {highest}",
                            f"a scale of {action.target} to {highest}", now)
            return Verdict(
                "cooldown",
                f"{told}; the {cooldowns.scale:.0f}s scale cooldown stops a repeat",
                retry_at=last.time + cooldowns.scale,
            )

        window = cooldowns.of(kind)
        same = earlier({kind}, window)
        if same:
            last = same[-1]
            told = _earlier(last, f"the same {kind} action ran", f"the same {kind} action", now)
            return Verdict("cooldown", f"{told}; its cooldown is {window:.0f}s",
                           retry_at=last.time + window)
        return None

    def _rate_limit(self, now: float) -> Verdict | None:
        limit = self.settings.guard.rate_limit
        recent = sorted(
            d.time for d in self._passed.values()
            if d.type != "investigate" and d.time > now - limit.per_seconds
        )
        if len(recent) < limit.actions:
            return None
        frees = recent[len(recent) - limit.actions] + limit.per_seconds
        return Verdict(
            "rate_limit",
            f"{len(recent)} actions in the last {limit.per_seconds:.0f}s reach the global"
            f" rate limit of {limit.actions}",
            retry_at=frees,
        )

    # --- the breaker and operator controls --------------------------------

    def breaker_trips(self, target: str, *, now: float) -> bool:
        """After a counted decision on `target`: whether its breaker must open now."""
        breaker = self.settings.guard.breaker
        state = self.target(target)
        if state.breaker_opened_at is not None:
            return False
        since = max(now - breaker.window_seconds, state.breaker_reset_at or 0.0,
                    state.recovered_at or 0.0)
        acted = [
            d for d in self._passed.values()
            if d.target == target and d.type != "investigate" and d.time > since
        ]
        return len(acted) >= breaker.max_actions

    def open_breaker(self, target: str, *, now: float) -> TargetState:
        state = dataclasses.replace(self.target(target), breaker_opened_at=now)
        self.targets[target] = state
        return state

    def close_expired_breakers(self, *, now: float) -> list[TargetState]:
        """Breakers whose quiet period ended close by themselves; return the changed states."""
        quiet = self.settings.guard.breaker.quiet_seconds
        closed = []
        for key, state in list(self.targets.items()):
            opened = state.breaker_opened_at
            if opened is not None and now >= opened + quiet:
                closed.append(self.reset_breaker(key, now=now))
        return closed

    def reset_breaker(self, target: str, *, now: float) -> TargetState:
        """Close the breaker; the actions before now no longer count toward it."""
        state = dataclasses.replace(
            self.target(target), breaker_opened_at=None, breaker_reset_at=now
        )
        self.targets[target] = state
        return state

    def set_paused(self, target: str, paused: bool) -> TargetState:
        state = dataclasses.replace(self.target(target), paused=paused)
        self.targets[target] = state
        return state

    def recovered(self, episode: str, *, now: float) -> list[TargetState]:
        """An episode resolved: the targets acted on for it recovered (for the breaker)."""
        changed = []
        for target in sorted(t for t, keys in self._acted_on.items() if episode in keys):
            state = dataclasses.replace(self.target(target), recovered_at=now)
            self.targets[target] = state
            changed.append(state)
        return changed


Cover = int | frozenset[int]
"""The decisions that settle an episode: one id (by far the usual case), or several.

A set for each of the thousands of episodes one decision names would be most of
what the guard holds in a storm; the one id is shared with the decision."""


def _about(decision: DecisionRecord) -> str:
    """The decision's subject (`subject` of its action), from the record."""
    return decision.target or decision.action_key.partition(":")[2]


def _cover(cover: Cover | None, decision: int) -> Cover:
    if cover is None or cover == decision:
        return decision
    if isinstance(cover, int):
        return frozenset((cover, decision))
    return cover | {decision}


def _put_cover(covered: dict[str, Cover], key: str, cover: Cover | None) -> None:
    if cover is None:
        covered.pop(key, None)
    else:
        covered[key] = cover


def _covers(cover: Cover, decision: int) -> bool:
    return cover == decision if isinstance(cover, int) else decision in cover


def _uncover(cover: Cover | None, decision: int) -> Cover | None:
    if cover is None or cover == decision:
        return None
    if isinstance(cover, int):
        return cover
    rest = cover - {decision}
    return next(iter(rest)) if len(rest) == 1 else rest


def _earlier(decision: DecisionRecord, done: str, tried: str, now: float) -> str:
    """
    What an earlier decision did, as far as its outcome allows saying so.

    `done` ("... was rolled back") only when it was executed; a dry run says
    so, and a failed, interrupted or unfinished attempt is told as `tried`.
    """
    ago = f"{now - decision.time:.0f}s ago"
    if decision.outcome == str(Outcome.EXECUTED):
        return f"{done} {ago}"
    if decision.outcome == str(Outcome.DRY_RUN):
        return f"{done} (dry run) {ago}"
    state = "in progress" if decision.outcome == "pending" else decision.outcome
    return f"{tried} was last tried {ago} ({state})"
