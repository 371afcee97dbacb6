"""Leadership changes: a replica that becomes leader honours what the old leader recorded."""

from __future__ import annotations

from pathlib import Path

from remediator.leadership import Leadership
from remediator.state.sqlite import SqliteStore
from tests.daemon.conftest import MakeDaemon
from tests.daemon.payloads import alert, notification
from tests.daemon.support import RecordingExecutor

EXECUTING = {"execution.auto_execute": True, "server.allow_insecure": True}


async def test_new_leader_repeats_nothing_the_old_one_did(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """Two replicas on one store: after a failover, repeats and re-fires stay deduplicated."""
    first_executor, second_executor = RecordingExecutor(), RecordingExecutor()
    second_leadership = Leadership(leader=False)
    # One store object for both, as replicas share the ConfigMap store: a SQLite
    # directory admits one process, so two stores on one would refuse each other.
    shared = SqliteStore(tmp_path / "state")
    first = await make_daemon(executor=first_executor, store=shared, **EXECUTING)
    second = await make_daemon(executor=second_executor, leadership=second_leadership,
                               store=shared, **EXECUTING)
    p95 = alert("LLMLatencyP95Critical")

    # The first replica leads and acts; then it goes, and the second one takes over.
    await first.post(notification(p95))
    await first.settle()
    first.services.leadership.set(False)
    second_leadership.set(True)
    await second.settle()
    first.clock.advance(60)
    _, repeat = await second.post(notification(p95))
    await second.post(notification(alert("LLMLatencyP95Critical", instance="b",
                                         starts_at="2024-05-01T10:01:00Z")))
    await second.settle()

    assert [a.replicas for a in first_executor.actions] == [5]
    assert second_executor.actions == []
    assert repeat["repeat"] is True
    assert [d.skip or d.outcome for d in await second.decisions()] == ["executed", "cooldown"]
    assert second.sample("remediator_leader") == 1 and first.sample("remediator_leader") == 0
