"""
Leadership lost in the middle of a pass: only the leader executes, decision by decision.

A pass that started as leader must not carry out the rest of its plan once
the Lease is gone, or the cut-off leader and its successor both act. What
it had not carried out stays pending and is decided when leadership returns
(or by the next leader), and nothing it did not do is recorded as done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from remediator.execution.base import ExecutionReport
from remediator.leadership import Leadership
from remediator.metrics import SelfMetrics
from remediator.planning.actions import Action
from remediator.remediation.deciding import NOT_LEADER, Decider, LeadershipLost
from remediator.state.base import DecisionRecord
from remediator.state.sqlite import SqliteStore
from tests.daemon.conftest import MakeDaemon
from tests.daemon.payloads import alert, notification
from tests.daemon.support import FakeClock, RecordingExecutor, make_settings, scale, until

EXECUTING = {"execution.auto_execute": True, "server.allow_insecure": True}
# Two alerts of one group, each asking for a restart of its own Deployment: a plan of two.
TWO_RESTARTS = {"alerts": {"custom": [
    {"alertname": "GatewayStuck", "action": "restart", "deployment": "llm-gateway",
     "priority": 1},
    {"alertname": "BackendStuck", "action": "restart", "deployment": "llm-backend",
     "priority": 1},
]}}
WAIT_SECONDS = 15.0


class StepDownExecutor(RecordingExecutor):
    """Loses leadership while it carries out its first action (the Lease expired meanwhile)."""

    def __init__(self, leadership: Leadership) -> None:
        super().__init__()
        self.leadership = leadership

    async def run(self, action: Action) -> ExecutionReport:
        report = await super().run(action)
        if len(self.actions) == 1:
            self.leadership.set(False)
        return report


async def test_a_pass_stops_when_leadership_goes_and_the_rest_waits_for_the_leader(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """
    Leadership goes while the first restart runs: the second is neither executed
    nor recorded; the episodes stay pending, and when leadership comes back the
    second restart is decided and the first is not repeated.
    """
    leadership = Leadership()
    executor = StepDownExecutor(leadership)
    daemon = await make_daemon(executor=executor, leadership=leadership, raw=TWO_RESTARTS,
                               **EXECUTING)
    remediation = daemon.services.remediation

    await daemon.post(notification(alert("GatewayStuck"), alert("BackendStuck")))
    await until(lambda: not leadership.leader and not remediation.evaluating,
                "the pass did not stop", seconds=WAIT_SECONDS)
    cut_off = await daemon.decisions()
    acted_as_follower = list(executor.actions)

    leadership.set(True)
    await daemon.settle()
    decisions = await daemon.decisions()

    assert len(acted_as_follower) == 1
    assert [(d.type, d.outcome) for d in cut_off] == [("restart", "executed")]
    assert remediation.book.pending_count == 0
    assert sorted(a.target.name for a in executor.actions if a.target) == [
        "llm-backend", "llm-gateway"]
    assert [(d.type, d.outcome) for d in decisions] == [("restart", "executed")] * 2
    assert {d.target for d in decisions} == {
        "default/deployment/llm-gateway", "default/deployment/llm-backend"}


class SteppingDownStore(SqliteStore):
    """Leadership goes while the pending record is being written (a slow state store)."""

    def __init__(self, path: Path, leadership: Leadership) -> None:
        super().__init__(path)
        self.leadership = leadership

    async def add_decision(self, decision: DecisionRecord) -> DecisionRecord:
        added = await super().add_decision(decision)
        self.leadership.set(False)
        return added


@pytest.fixture
async def stepping_store(tmp_path: Path
                         ) -> AsyncIterator[tuple[SteppingDownStore, Leadership]]:
    leadership = Leadership()
    store = SteppingDownStore(tmp_path, leadership)
    await store.open()
    yield store, leadership
    await store.close()


async def test_leadership_lost_after_recording_hands_the_action_to_the_next_leader(
        stepping_store: tuple[SteppingDownStore, Leadership]) -> None:
    """
    Checked again just before the executor: the pending record is settled as not
    carried out (no cooldown), and the next leader executes the scale.
    """
    store, leadership = stepping_store
    settings = make_settings(**EXECUTING)
    clock = FakeClock()
    executor, successor_executor = RecordingExecutor(), RecordingExecutor()
    registry = CollectorRegistry()
    decider = Decider(settings, store=store, executor=executor, leadership=leadership,
                      metrics=SelfMetrics(registry), clock=clock)
    await decider.load()

    with pytest.raises(LeadershipLost):
        await decider.decide(scale(5))
    [handed_back] = await store.decisions(limit=10)
    successor = Decider(settings, store=store, executor=successor_executor, clock=clock)
    await successor.load()
    clock.advance(5)
    decided = await successor.decide(scale(5))

    assert executor.actions == []
    assert (handed_back.outcome, handed_back.reason) == ("skipped", NOT_LEADER)
    assert not handed_back.counted
    assert registry.get_sample_value(
        "remediator_skips_total", {"reason": "not_leader"}) == 1
    assert decided is not None and decided.outcome == "executed"
    assert [a.replicas for a in successor_executor.actions] == [5]
