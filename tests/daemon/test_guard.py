"""The guard, through the decider: cooldowns, escalation, limits, breaker, autonomy, locks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from remediator.execution.base import ExecutionReport, Outcome
from remediator.metrics import SelfMetrics
from remediator.planning.actions import Action, ActionType, Target
from remediator.remediation.deciding import INTERRUPTED, Decider, carry_out
from remediator.state.base import DecisionRecord, EpisodeRecord
from remediator.state.sqlite import SqliteStore
from tests.daemon.support import (
    BACKEND,
    GATEWAY,
    T0,
    FakeClock,
    RecordingExecutor,
    RefusingDecisions,
    combined,
    make_settings,
    rollback,
    scale,
)

EXECUTING = {"execution.auto_execute": True}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path)
    await store.open()
    yield store
    await store.close()


async def decider_for(store: SqliteStore, clock: FakeClock, executor: Any = None,
                      dry_run: Any = None, **dotted: Any) -> Decider:
    decider = Decider(make_settings(**{**EXECUTING, **dotted}), store=store,
                      executor=executor or RecordingExecutor(), dry_run=dry_run, clock=clock)
    await decider.load()
    return decider


def firing(fingerprint: str, clock: FakeClock) -> EpisodeRecord:
    """A firing episode of the p95 alert, first seen now."""
    return EpisodeRecord(fingerprint, "2024-05-01T10:00:00.000000+00:00",
                         "LLMLatencyP95Critical", {}, "firing", clock(), clock())


def outcome(decision: DecisionRecord | None) -> str:
    assert decision is not None
    return decision.skip or decision.outcome


async def test_cooldown_stops_a_repeat_but_not_an_escalation(store: SqliteStore) -> None:
    """Scale to 4, then 5 inside the cooldown passes; 5 again is skipped for cooldown."""
    clock = FakeClock()
    executor = RecordingExecutor()
    decider = await decider_for(store, clock, executor)

    first = await decider.decide(scale(4, priority=1))
    clock.advance(60)
    worse = await decider.decide(scale(5))
    clock.advance(60)
    again = await decider.decide(scale(5))

    assert [outcome(d) for d in (first, worse, again)] == ["executed", "executed", "cooldown"]
    assert [a.replicas for a in executor.actions] == [4, 5]
    assert again is not None and "cooldown" in again.reason


async def test_cooldown_ends_after_its_time(store: SqliteStore) -> None:
    """After the scale cooldown (600 s by default) the same scale may run again."""
    clock = FakeClock()
    decider = await decider_for(store, clock)

    await decider.decide(scale(5))
    clock.advance(601)
    later = await decider.decide(scale(5))

    assert outcome(later) == "executed"


async def test_a_rollback_never_follows_a_rollback_inside_its_cooldown(
        store: SqliteStore) -> None:
    """A second undo of one Deployment, alone or inside a combined action, is refused."""
    clock = FakeClock()
    decider = await decider_for(store, clock)

    first = await decider.decide(rollback())
    clock.advance(600)
    second = await decider.decide(rollback())
    via_combined = await decider.decide(combined())
    other = await decider.decide(rollback(BACKEND))

    assert [outcome(d) for d in (first, second, via_combined, other)] == [
        "executed", "cooldown", "cooldown", "executed"]
    assert second is not None and "never follows a rollback" in second.reason


async def test_global_rate_limit(store: SqliteStore) -> None:
    """The seventh action inside an hour is skipped for the rate limit, across targets."""
    clock = FakeClock()
    decider = await decider_for(store, clock, **{"guard.breaker.max_actions": 100})
    targets = [GATEWAY, BACKEND]

    results = []
    for n in range(7):
        results.append(await decider.decide(scale(2 + n, targets[n % 2])))
        clock.advance(1)

    assert [outcome(d) for d in results] == ["executed"] * 6 + ["rate_limit"]
    assert decider.next_retry == pytest.approx(clock.now - 7 + 3600)


async def test_breaker_opens_after_three_actions_without_recovery(store: SqliteStore) -> None:
    """Three actions on one target open its breaker; a reset lets the next through."""
    clock = FakeClock()
    decider = await decider_for(store, clock)

    for replicas in (3, 4, 5):
        await decider.decide(scale(replicas))
        clock.advance(10)
    blocked = await decider.decide(scale(6))
    await decider.reset_breaker(GATEWAY.key)
    after_reset = await decider.decide(scale(7))

    assert outcome(blocked) == "breaker_open"
    assert outcome(after_reset) == "executed"


async def test_breaker_counts_only_since_recovery(store: SqliteStore) -> None:
    """An alert that resolved after an action resets the breaker's count for its target."""
    clock = FakeClock()
    decider = await decider_for(store, clock)
    episode = EpisodeRecord("f1", "2024-05-01T10:00:00.000000+00:00", "LLMLatencyP95Critical",
                            {"alertname": "LLMLatencyP95Critical"}, "firing", clock(), clock())

    await decider.decide(scale(3), episodes=[episode])
    await decider.decide(scale(4))
    clock.advance(10)
    await decider.recovered(episode)
    clock.advance(10)
    third = await decider.decide(scale(5))
    fourth = await decider.decide(scale(6))

    assert [outcome(third), outcome(fourth)] == ["executed", "executed"]


async def test_breaker_state_survives_a_restart(store: SqliteStore) -> None:
    """An open breaker is still open after the decider is rebuilt from the store."""
    clock = FakeClock()
    decider = await decider_for(store, clock)
    for replicas in (3, 4, 5):
        await decider.decide(scale(replicas))

    restarted = await decider_for(store, clock)
    blocked = await restarted.decide(scale(9))

    assert outcome(blocked) == "breaker_open"


async def test_priority_below_the_threshold_and_observe_mode_are_recorded_only(
        store: SqliteStore) -> None:
    """A HIGH action is skipped below_priority; an observed type is skipped observe."""
    clock = FakeClock()
    executor = RecordingExecutor()
    decider = await decider_for(store, clock, executor, **{"execution.modes.rollback": "observe"})

    high = await decider.decide(scale(4, priority=2))
    observed = await decider.decide(rollback())

    assert [outcome(high), outcome(observed)] == ["below_priority", "observe"]
    assert executor.actions == []
    assert high is not None and high.command is not None and "--replicas=4" in high.command


async def test_dry_run_counts_toward_cooldowns_like_execution(store: SqliteStore) -> None:
    """With execution off, decisions are dry runs and still start the cooldown."""
    clock = FakeClock()
    executor = RecordingExecutor()
    decider = Decider(make_settings(), store=store, executor=executor, clock=clock)
    await decider.load()

    first = await decider.decide(scale(5))
    second = await decider.decide(scale(5))

    assert [outcome(first), outcome(second)] == ["dry_run", "cooldown"]
    assert first is not None and first.reason.startswith("would run: kubectl scale")
    assert executor.actions == []


async def test_per_type_dry_run_mode(store: SqliteStore) -> None:
    """A type in dry-run mode is not executed even with execution on: it is dry-run."""
    clock = FakeClock()
    executor, held_back = RecordingExecutor(), RecordingExecutor(Outcome.DRY_RUN)
    decider = await decider_for(store, clock, executor, held_back,
                                **{"execution.modes.scale": "dry-run"})

    decided = await decider.decide(scale(5))

    assert outcome(decided) == "dry_run"
    assert executor.actions == []
    assert [a.replicas for a in held_back.actions] == [5]


async def test_paused_target_is_skipped_until_resumed(store: SqliteStore) -> None:
    """Pausing a target skips its actions; resuming lets them through."""
    clock = FakeClock()
    decider = await decider_for(store, clock)

    await decider.set_paused(GATEWAY.key, True)
    paused = await decider.decide(scale(5))
    await decider.set_paused(GATEWAY.key, False)
    resumed = await decider.decide(scale(5))

    assert [outcome(paused), outcome(resumed)] == ["paused", "executed"]


async def test_twenty_concurrent_decisions_pass_once(store: SqliteStore) -> None:
    """Twenty coroutines deciding one action at once: exactly one executes."""
    clock = FakeClock()

    class SlowExecutor(RecordingExecutor):
        async def run(self, action: Any) -> Any:
            await asyncio.sleep(0.01)
            return await super().run(action)

    executor = SlowExecutor()
    decider = await decider_for(store, clock, executor)

    decided = await asyncio.gather(*(decider.decide(scale(5)) for _ in range(20)))

    assert len(executor.actions) == 1
    assert sorted(outcome(d) for d in decided if d is not None)[0] == "cooldown"


async def test_same_episodes_decided_again_are_duplicates(store: SqliteStore) -> None:
    """An action whose episodes all had their decision on the target is not recorded again."""
    clock = FakeClock()
    decider = await decider_for(store, clock)
    episode = EpisodeRecord("f1", "2024-05-01T10:00:00.000000+00:00", "LLMLatencyP95Critical",
                            {}, "firing", clock(), clock())

    first = await decider.decide(scale(5), episodes=[episode])
    clock.advance(3600)
    again = await decider.decide(scale(5), episodes=[episode])

    assert outcome(first) == "executed"
    assert again is None
    assert len(await store.decisions(limit=10)) == 1


async def test_a_new_episode_joining_a_deferred_scale_is_recorded_once_alone(
        store: SqliteStore) -> None:
    """
    Inside the cooldown, each new episode joining a deferred scale makes exactly one
    more skipped decision, naming only that episode, and its alert as the cause.
    """
    clock = FakeClock()
    decider = await decider_for(store, clock)

    first, second, third = (firing(name, clock) for name in ("f1", "f2", "f3"))
    executed = await decider.decide(scale(5), episodes=[first])
    clock.advance(10)
    deferred = await decider.decide(scale(5), episodes=[first, second])
    clock.advance(10)
    unchanged = await decider.decide(scale(5), episodes=[first, second])
    clock.advance(10)
    joined = await decider.decide(scale(5), episodes=[first, second, third])

    assert outcome(executed) == "executed"
    assert outcome(deferred) == "cooldown" and unchanged is None
    assert joined is not None and outcome(joined) == "cooldown"
    assert joined.episodes == [third.key]
    assert joined.alert is not None and joined.alert.fingerprint == "f3"
    skipped = [d for d in await store.decisions(limit=10) if d.outcome == "skipped"]
    assert [d.episodes for d in reversed(skipped)] == [[first.key, second.key], [third.key]]


async def test_failed_action_is_decided_again_once_its_cooldown_ends(store: SqliteStore) -> None:
    """A failure settles no episode: the retry is scheduled at the cooldown's end, and runs."""
    clock = FakeClock()
    executor = RecordingExecutor(Outcome.FAILED)
    decider = await decider_for(store, clock, executor)
    episode = EpisodeRecord("f1", "2024-05-01T10:00:00.000000+00:00", "LLMLatencyP95Critical",
                            {}, "firing", clock(), clock())

    failed = await decider.decide(scale(5), episodes=[episode])
    retry_at = decider.next_retry
    clock.advance(60)
    early = await decider.decide(scale(5), episodes=[episode])
    clock.advance(540)
    executor.outcome = Outcome.EXECUTED
    retried = await decider.decide(scale(5), episodes=[episode])
    clock.advance(3600)
    settled = await decider.decide(scale(5), episodes=[episode])

    assert [outcome(failed), outcome(early), outcome(retried)] == [
        "failed", "cooldown", "executed"]
    assert retry_at == T0 + 600
    assert settled is None
    assert len(executor.actions) == 2


async def test_interrupted_decision_counts_and_is_not_repeated(store: SqliteStore) -> None:
    """A decision left pending by a crash becomes failed at start and still holds the cooldown."""
    clock = FakeClock()
    await store.add_decision(DecisionRecord(
        time=clock(), type="scale", action_key=scale(5).key, target=GATEWAY.key,
        outcome="pending", reason="being carried out", replicas=5, counted=True,
    ))

    decider = await decider_for(store, clock)
    again = await decider.decide(scale(5))
    [interrupted] = await store.decisions(limit=1, before_id=again.id if again else None)

    assert outcome(again) == "cooldown"
    assert (interrupted.outcome, interrupted.reason) == ("failed", INTERRUPTED)


async def test_executor_refusal_counts_toward_nothing(store: SqliteStore) -> None:
    """A refused action changed nothing, so it does not start a cooldown."""
    clock = FakeClock()
    decider = await decider_for(store, clock, RecordingExecutor(Outcome.REFUSED))

    first = await decider.decide(rollback())
    second = await decider.decide(rollback())

    assert [outcome(first), outcome(second)] == ["refused", "refused"]


async def test_carry_out_for_the_cli_honours_the_daemons_cooldowns(store: SqliteStore) -> None:
    """carry_out (for `remediator watch`) skips what the daemon did inside its cooldown."""
    clock = FakeClock()
    daemon = await decider_for(store, clock)
    await daemon.decide(scale(5))

    decided = await carry_out([scale(5), rollback(BACKEND)], store=store,
                              settings=make_settings(**EXECUTING),
                              executor=RecordingExecutor(), clock=clock)

    assert [outcome(d) for _, d in decided] == ["cooldown", "executed"]


def config_patch() -> Action:
    config = Target("ConfigMap", "default", "llm-config")
    return Action(ActionType.PATCH_CONFIG, 1, config, "Reduce MAX_TOKENS", "test",
                  config_key="MAX_TOKENS", config_value="50", restarts=(BACKEND,))


@pytest.mark.parametrize(("make", "seconds"), [
    (lambda: scale(5), 600), (config_patch, 900), (lambda: rollback(), 1800),
])
async def test_each_type_has_its_default_cooldown(store: SqliteStore, make: Any,
                                                  seconds: int) -> None:
    """scale 10 min, config patch 15 min, rollback 30 min: a repeat waits exactly that long."""
    clock = FakeClock()
    decider = await decider_for(store, clock)

    await decider.decide(make())
    clock.advance(seconds - 1)
    inside = await decider.decide(make())
    clock.advance(2)
    after = await decider.decide(make())

    assert [outcome(inside), outcome(after)] == ["cooldown", "executed"]


async def test_open_breaker_closes_after_its_quiet_period(store: SqliteStore) -> None:
    """Without an operator, the breaker closes once guard.breaker.quiet_seconds have passed."""
    clock = FakeClock()
    decider = await decider_for(store, clock, **{"guard.breaker.quiet_seconds": 1800})
    for replicas in (3, 4, 5):
        await decider.decide(scale(replicas))
        clock.advance(10)

    blocked = await decider.decide(scale(6))
    clock.advance(1800)
    await decider.tidy(now=clock())
    after_quiet = await decider.decide(scale(6))

    assert outcome(blocked) == "breaker_open"
    assert blocked is not None and decider.next_retry == pytest.approx(T0 + 20 + 1800)
    assert outcome(after_quiet) == "executed"


async def test_actions_older_than_the_breaker_window_do_not_count(store: SqliteStore) -> None:
    """Three actions spread over more than an hour never open the breaker."""
    clock = FakeClock()
    decider = await decider_for(store, clock)

    outcomes = []
    for replicas in (3, 4, 5, 6):
        outcomes.append(outcome(await decider.decide(scale(replicas))))
        clock.advance(1900)

    assert outcomes == ["executed"] * 4
    assert decider.guard.targets[GATEWAY.key].breaker_opened_at is None


async def test_an_escalation_still_stops_at_the_rate_limit(store: SqliteStore) -> None:
    """A larger scale passes its cooldown, but not the global rate limit."""
    clock = FakeClock()
    decider = await decider_for(store, clock, **{"guard.rate_limit.actions": 1})

    await decider.decide(scale(4))
    escalation = await decider.decide(scale(5))

    assert outcome(escalation) == "rate_limit"


async def test_a_scale_that_would_lower_replicas_is_recorded_and_counted(
        store: SqliteStore) -> None:
    """The executor's would_lower_replicas skip is the decision's skip reason and metric label."""
    clock = FakeClock()

    class Higher(RecordingExecutor):
        async def run(self, action: Action) -> ExecutionReport:
            return ExecutionReport(Outcome.SKIPPED, "would_lower_replicas: it has 8, plan asks 5",
                                   None, {"current": 8, "wanted": 5})

    registry = CollectorRegistry()
    decider = Decider(make_settings(**EXECUTING), store=store, executor=Higher(),
                      metrics=SelfMetrics(registry), clock=clock)
    await decider.load()

    decided = await decider.decide(scale(5))
    again = await decider.decide(scale(5))

    assert outcome(decided) == "would_lower_replicas"
    assert outcome(again) == "would_lower_replicas"
    assert registry.get_sample_value("remediator_skips_total",
                                     {"reason": "would_lower_replicas"}) == 2


async def test_every_guard_skip_is_recorded_with_its_reason_and_counted(
        store: SqliteStore) -> None:
    """Each reason the guard gives lands in the history and in remediator_skips_total."""
    clock = FakeClock()
    registry = CollectorRegistry()
    decider = Decider(make_settings(**{**EXECUTING, "execution.modes.restart": "observe",
                                       "guard.rate_limit.actions": 4}),
                      store=store, executor=RecordingExecutor(), metrics=SelfMetrics(registry),
                      clock=clock)
    await decider.load()
    episode = EpisodeRecord("f1", "2024-05-01T10:00:00.000000+00:00", "LLMLatencyP95Critical",
                            {}, "firing", clock(), clock())
    other = Target("Deployment", "default", "worker")
    restart = Action(ActionType.RESTART, 1, other, "Restart", "test")

    decided = [
        await decider.decide(scale(5), episodes=[episode]),   # executed
        await decider.decide(scale(5), episodes=[episode]),   # duplicate: not recorded
        await decider.decide(scale(5)),                       # cooldown
        await decider.decide(scale(4, BACKEND, priority=2)),  # below_priority
        await decider.decide(restart),                        # observe
        await decider.decide(scale(6)),                       # executed (escalation)
        await decider.decide(scale(7)),                       # executed: opens the breaker
        await decider.decide(scale(8)),                       # breaker_open
        await decider.decide(rollback(BACKEND)),              # executed, 4th of the hour
        await decider.decide(scale(5, BACKEND)),              # rate_limit
    ]
    await decider.set_paused(BACKEND.key, True)
    decided.append(await decider.decide(rollback(BACKEND)))  # paused

    recorded = [outcome(d) for d in decided if d is not None]
    assert recorded == ["executed", "cooldown", "below_priority", "observe", "executed",
                        "executed", "breaker_open", "executed", "rate_limit", "paused"]
    assert decided[1] is None
    history = [d.skip for d in await store.decisions(limit=100) if d.skip]
    for reason in ("duplicate", "cooldown", "below_priority", "observe", "breaker_open",
                   "rate_limit", "paused"):
        counted = registry.get_sample_value("remediator_skips_total", {"reason": reason})
        assert counted == (1 if reason == "duplicate" else history.count(reason)) == 1, reason


async def test_a_skip_after_a_dry_run_says_it_was_a_dry_run(store: SqliteStore) -> None:
    """With execution off nothing was rolled back or scaled: the cooldown reason says so."""
    clock = FakeClock()
    decider = Decider(make_settings(), store=store, executor=RecordingExecutor(), clock=clock)
    await decider.load()

    await decider.decide(rollback())
    await decider.decide(scale(5))
    clock.advance(3)
    undo_again = await decider.decide(rollback())
    scale_again = await decider.decide(scale(5))

    assert outcome(undo_again) == outcome(scale_again) == "cooldown"
    assert undo_again is not None and scale_again is not None
    assert f"{GATEWAY} was rolled back (dry run) 3s ago;" in undo_again.reason
    assert f"{GATEWAY} was scaled to 5 (dry run) 3s ago;" in scale_again.reason


async def test_a_skip_after_a_failure_says_it_was_only_tried(store: SqliteStore) -> None:
    """A failed scale changed nothing: the cooldown tells of an attempt and how it ended."""
    clock = FakeClock()
    decider = await decider_for(store, clock, RecordingExecutor(Outcome.FAILED))

    await decider.decide(scale(5))
    clock.advance(5)
    again = await decider.decide(scale(5))

    assert outcome(again) == "cooldown" and again is not None
    assert f"a scale of {GATEWAY} to 5 was last tried 5s ago (failed);" in again.reason
    assert "was scaled" not in again.reason


async def test_a_skip_after_an_execution_says_what_was_done(store: SqliteStore) -> None:
    """Only an executed action is told as done."""
    clock = FakeClock()
    decider = await decider_for(store, clock)

    await decider.decide(rollback())
    clock.advance(7)
    again = await decider.decide(rollback())

    assert again is not None
    assert again.reason.startswith(f"cooldown: {GATEWAY} was rolled back 7s ago;"), again.reason


async def test_a_pass_records_what_each_action_alone_would(store: SqliteStore) -> None:
    """
    A pass's deferrals are stored together, with the outcomes deciding them one by
    one gives, in plan order; the action that passes is carried out after them.
    """
    clock = FakeClock()
    executor = RecordingExecutor()
    decider = await decider_for(store, clock, executor=executor)

    def by_key(fingerprint: str) -> dict[str, EpisodeRecord]:
        episode = firing(fingerprint, clock)
        return {episode.key: episode}

    await decider.decide(scale(5), episodes=by_key("f1"))
    await decider.decide(rollback(BACKEND), episodes=by_key("f2"))
    clock.advance(10)
    await decider.decide_all([(scale(5), by_key("f3")), (rollback(BACKEND), by_key("f4")),
                              (scale(3, BACKEND), by_key("f5"))])

    decisions = list(reversed(await store.decisions(limit=10)))
    assert [(d.type, outcome(d), d.alert and d.alert.fingerprint) for d in decisions[2:]] == [
        ("scale", "cooldown", "f3"), ("rollback", "cooldown", "f4"), ("scale", "executed", "f5")]
    assert [d.id for d in decisions] == sorted(d.id for d in decisions)
    assert [a.type for a in executor.actions] == [
        ActionType.SCALE, ActionType.ROLLBACK, ActionType.SCALE]


async def test_deferrals_a_failed_write_lost_are_recorded_by_the_next_pass(
        tmp_path: Path) -> None:
    """
    The store refused a pass's deferrals, which the pass did not wait for: the
    next pass names the episodes, once, though they are no longer fresh in it.
    (The worker's retry a second later is in test_storm.)
    """
    store = RefusingDecisions(tmp_path)
    await store.open()
    clock = FakeClock()
    decider = await decider_for(store, clock)
    episode = firing("f2", clock)
    behind = {episode.key: episode}
    await decider.decide(scale(5))
    clock.advance(10)

    store.refuse = 1
    await decider.decide_all([(scale(5), behind)], fresh={episode.key})
    await decider.unawaited.drain()
    lost = await store.decisions(limit=10)
    for _ in range(2):
        await decider.decide_all([(scale(5), behind)], fresh=set())
        await decider.unawaited.drain()

    skipped = [d for d in await store.decisions(limit=10) if d.outcome == "skipped"]
    await store.close()
    assert [outcome(d) for d in lost] == ["executed"]
    assert [(outcome(d), d.episodes) for d in skipped] == [("cooldown", [episode.key])]


async def test_a_pass_names_the_fresh_episodes_and_all_after_a_pass_without_the_action(
        store: SqliteStore) -> None:
    """
    A deferral recorded again names the episodes that joined it. When the
    action was not checked in the previous pass, an episode that came then is
    not fresh any more, and is named too.
    """
    clock = FakeClock()
    decider = await decider_for(store, clock)
    a, b, c, d = (firing(name, clock) for name in ("fa", "fb", "fc", "fd"))
    await decider.decide(scale(5))
    clock.advance(10)

    await decider.decide_all([(scale(5), {a.key: a})], fresh={a.key})
    await decider.decide_all([], fresh={b.key})  # b came while nothing asked for the scale
    await decider.decide_all([(scale(5), {a.key: a, b.key: b, c.key: c})], fresh={c.key})
    await decider.decide_all([(scale(5), {a.key: a, b.key: b, c.key: c, d.key: d})],
                             fresh={d.key})
    await decider.decide_all([(scale(5), {a.key: a, b.key: b, c.key: c, d.key: d})],
                             fresh=set())
    await decider.unawaited.drain()

    named = [d.episodes for d in reversed(await store.decisions(limit=10))
             if d.outcome == "skipped"]
    assert named == [[a.key], sorted([b.key, c.key]), [d.key]]


async def test_a_deferral_settles_its_episodes_before_it_is_stored_and_not_if_it_is_lost(
        tmp_path: Path) -> None:
    """
    A pass does not wait for its deferrals to be stored, yet an action on the
    same target checked after one that settles the episodes (below the
    priority threshold) finds them settled; when the write is lost, the next
    pass records the deferral again, and still nothing else.
    """
    store = RefusingDecisions(tmp_path)
    await store.open()
    clock = FakeClock()
    executor = RecordingExecutor()
    decider = await decider_for(store, clock, executor)
    episode = firing("f1", clock)
    behind = {episode.key: episode}
    planned = [(scale(4, priority=2), behind), (rollback(), behind)]

    store.refuse = 1
    await decider.decide_all(planned, fresh={episode.key})
    await decider.unawaited.drain()
    await decider.decide_all(planned, fresh=set())
    await decider.unawaited.drain()
    await decider.decide_all(planned, fresh=set())
    await decider.unawaited.drain()

    decisions = await store.decisions(limit=10)
    await store.close()
    assert [(outcome(d), d.episodes) for d in decisions] == [("below_priority", [episode.key])]
    assert executor.actions == []


async def test_a_deferral_recorded_before_a_restart_is_not_recorded_again(
        store: SqliteStore) -> None:
    """The restarted daemon knows which episodes its deferrals named: only news is recorded."""
    clock = FakeClock()
    decider = await decider_for(store, clock)

    first, second, third = (firing(name, clock) for name in ("f1", "f2", "f3"))
    await decider.decide(scale(5), episodes=[first])
    clock.advance(10)
    await decider.decide(scale(5), episodes=[first, second])
    restarted = await decider_for(store, clock)
    clock.advance(10)

    unchanged = await restarted.decide(scale(5), episodes=[first, second])
    joined = await restarted.decide(scale(5), episodes=[first, second, third])

    assert unchanged is None
    assert joined is not None and (outcome(joined), joined.episodes) == ("cooldown", [third.key])
    assert len(await store.decisions(limit=10)) == 3
