"""Scenarios over time: cooldowns, escalation, re-fires, expiry, combined actions."""

from __future__ import annotations

from tests.daemon.conftest import MakeDaemon
from tests.daemon.payloads import alert, at, notification, resolved
from tests.daemon.scenarios import burst_repeat_and_refire
from tests.daemon.support import RecordingExecutor

EXECUTING = {"execution.auto_execute": True, "server.allow_insecure": True}


async def test_warning_then_critical_in_separate_notifications_escalates(
        make_daemon: MakeDaemon) -> None:
    """The critical alert's larger scale passes the warning's cooldown: the worst alert wins."""
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **EXECUTING,
                               **{"execution.min_priority": 2})

    await daemon.post(notification(alert("LLMLatencyP95Warning")))
    await daemon.settle()
    daemon.clock.advance(120)
    await daemon.post(notification(alert("LLMLatencyP95Critical", starts_at=at(2))))
    await daemon.settle()

    assert [a.replicas for a in executor.actions] == [4, 5]


async def test_combined_action_when_its_alerts_fire_together_across_groups(
        make_daemon: MakeDaemon) -> None:
    """p95 critical and error-rate warning, in two groups, give the combined action."""
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **EXECUTING)

    await daemon.post(notification(alert("LLMLatencyP95Critical")))
    await daemon.settle()
    daemon.clock.advance(60)
    await daemon.post(notification(alert("LLMErrorRateWarning", starts_at=at(1))))
    await daemon.settle()

    assert [(str(a.type), a.replicas) for a in executor.actions] == [
        ("scale", 5), ("combined", 6)]


async def test_expired_alert_cannot_join_a_combined_action_hours_later(
        make_daemon: MakeDaemon) -> None:
    """An alert not re-sent for longer than the expiry leaves the firing set (lost resolve)."""
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **EXECUTING,
                               **{"execution.min_priority": 2})

    await daemon.post(notification(alert("LLMLatencyP95Critical")))
    await daemon.settle()
    daemon.clock.advance(3 * 3600 + 60)  # past the default expiry, 3 x 1 h
    await daemon.post(notification(alert("LLMErrorRateWarning", starts_at=at(181))))
    await daemon.settle()

    assert [str(a.type) for a in executor.actions] == ["scale", "patch_config"]


async def test_repeat_acts_not_and_a_new_episode_is_judged_afresh(
        make_daemon: MakeDaemon) -> None:
    """FR 9: four alerts give one scale; a repeat gives nothing; a re-fire later acts again."""
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **EXECUTING,
                               **{"guard.cooldowns.scale": 300})
    repeat = await burst_repeat_and_refire(daemon, "LLMLatencyP95Critical")

    assert repeat["repeat"] is True
    assert [a.replicas for a in executor.actions] == [5, 5]


async def test_refire_after_an_upstream_restart_waits_for_the_cooldown(
        make_daemon: MakeDaemon) -> None:
    """FR 20: a resolve then a re-fire with a new startsAt inside the cooldown does not act."""
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **EXECUTING,
                               **{"guard.cooldowns.scale": 1800})
    first = alert("LLMLatencyP95Critical", fingerprint="a1b2c3d4e5f60708")

    await daemon.post(notification(first))
    await daemon.settle()
    daemon.clock.advance(14 * 60)
    await daemon.post(notification(resolved(first, at(14))))
    await daemon.settle()
    daemon.clock.advance(6 * 60)
    refire = alert("LLMLatencyP95Critical", fingerprint="a1b2c3d4e5f60708", starts_at=at(20))
    await daemon.post(notification(refire))
    await daemon.settle()

    decisions = await daemon.decisions()
    assert [a.replicas for a in executor.actions] == [5]
    assert [(d.outcome, d.skip) for d in decisions] == [("executed", None),
                                                        ("skipped", "cooldown")]
    assert "cooldown" in decisions[1].reason


async def test_deferred_action_runs_once_its_cooldown_ends(make_daemon: MakeDaemon) -> None:
    """A still-firing episode deferred by the cooldown is decided again when it ends."""
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **EXECUTING)

    await daemon.post(notification(alert("LLMLatencyP95Critical")))
    await daemon.settle()
    daemon.clock.advance(60)
    await daemon.post(notification(alert("LLMThroughputLowCritical", starts_at=at(1))))
    await daemon.settle()
    deferred = daemon.services.remediation.decider.next_retry
    daemon.clock.advance(600)
    daemon.services.remediation.wake()
    await daemon.settle()

    assert deferred == daemon.clock() - 60
    assert [d.skip or d.outcome for d in await daemon.decisions()] == [
        "executed", "cooldown", "executed"]


async def test_zero_end_time_alert_fires_and_acts(make_daemon: MakeDaemon) -> None:
    """FR 3: endsAt at Go's zero time, or in the future, is a firing alert that acts."""
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **EXECUTING)
    zero = alert("LLMLatencyP95Critical")
    future = alert("LLMLatencyP99Critical", ends_at=at(4))
    del future["status"]

    status, reply = await daemon.post(notification(zero, future))
    await daemon.settle()

    assert (status, reply["new"]) == (200, 2)
    assert sorted(a.target.name for a in executor.actions if a.target) == [
        "llm-backend", "llm-gateway"]


async def test_metrics_missing_and_stale_results_ask_to_investigate(
        make_daemon: MakeDaemon) -> None:
    """LLMBenchMetricsMissing and LLMBenchResultsStale become investigate decisions."""
    daemon = await make_daemon()

    await daemon.post(notification(alert("LLMBenchMetricsMissing", metric="p99"),
                                   alert("LLMBenchResultsStale")))
    await daemon.settle()

    decided = sorted((d.type, d.action_key, d.outcome) for d in await daemon.decisions())
    assert decided == [("investigate", "investigate:metric/p99", "dry_run"),
                       ("investigate", "investigate:metric/results", "dry_run")]


async def test_emergency_alert_scales_to_the_emergency_count(make_daemon: MakeDaemon) -> None:
    """LLMLatencyP95Emergency asks for the emergency scale (10 by default)."""
    daemon = await make_daemon()

    await daemon.post(notification(alert("LLMLatencyP95Emergency")))
    await daemon.settle()

    [decision] = await daemon.decisions()
    assert (decision.type, decision.replicas) == ("scale", 10)


async def test_an_alert_inside_its_expiry_still_joins_a_combined_action(
        make_daemon: MakeDaemon) -> None:
    """Just under the default expiry (3 x the 1 h repeat) the p95 alert is still firing."""
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **EXECUTING)

    await daemon.post(notification(alert("LLMLatencyP95Critical")))
    await daemon.settle()
    daemon.clock.advance(3 * 3600 - 60)
    await daemon.post(notification(alert("LLMErrorRateWarning", starts_at=at(179))))
    await daemon.settle()

    assert [(str(a.type), a.replicas) for a in executor.actions] == [
        ("scale", 5), ("combined", 6)]


async def test_expiry_is_a_setting(make_daemon: MakeDaemon) -> None:
    """alerts.expiry_seconds 600: ten minutes without a re-send and the alert is gone."""
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **EXECUTING, **{
        "execution.min_priority": 2, "alerts.repeat_interval_seconds": 300,
        "alerts.expiry_seconds": 600})

    await daemon.post(notification(alert("LLMLatencyP95Critical")))
    await daemon.settle()
    daemon.clock.advance(660)
    await daemon.post(notification(alert("LLMErrorRateWarning", starts_at=at(11))))
    await daemon.settle()

    assert [str(a.type) for a in executor.actions] == ["scale", "patch_config"]
    assert daemon.sample("remediator_episodes_firing") == 1
