"""
Deciding on new episodes while their write is under way: the decision does
not wait for the disk, yet it never acts on what the book has since lost,
and once the write lands the episodes count as evaluated.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from remediator.remediation.episodes import TENTATIVE_LIMIT
from remediator.remediation.pipeline import Remediation
from remediator.state.sqlite import SqliteStore
from tests.daemon.conftest import Daemon, MakeDaemon
from tests.daemon.payloads import alert, notification, resolved
from tests.daemon.support import RecordingExecutor, until

EXECUTING = {"execution.auto_execute": True, "server.allow_insecure": True}
ONE_RESTART = {"alerts": {"custom": [
    {"alertname": "GatewayStuck", "action": "restart", "deployment": "llm-gateway",
     "priority": 1}]}}
LABELLED_SCALE = {"alerts": {"custom": [
    {"alertname": "GatewayScale", "deployment": "llm-gateway", "priority": 1}]}}
P95 = "LLMLatencyP95Critical"
ERRORS = "LLMErrorRateWarning"


class SlowDisk(SqliteStore):
    """Writes queue in their order, as they do, but none is committed while `gate` is clear."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.gate = asyncio.Event()
        self.gate.set()

    async def _commit_queued(self) -> None:
        await self.gate.wait()
        await super()._commit_queued()

    def queued(self) -> int:
        """Writes waiting at the gate."""
        return len(self._writes)


class BadSector(SlowDisk):
    """The episodes' write alone fails when committed (an I/O error on its pages)."""

    async def save_episodes(self, episodes: Any) -> None:
        def failing(db: sqlite3.Connection) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        await self._write(failing)


def key_of(item: dict[str, Any]) -> str:
    return f"{item['fingerprint']}@2024-05-01T10:00:00.000000+00:00"


async def restart_daemon(make_daemon: MakeDaemon, store: SqliteStore
                         ) -> tuple[Daemon, RecordingExecutor]:
    executor = RecordingExecutor()
    daemon = await make_daemon(store=store, raw=ONE_RESTART, executor=executor, **EXECUTING)
    return daemon, executor


async def worker_paused(daemon: Daemon) -> Remediation:
    """The worker stopped, so that the test runs each pass itself."""
    remediation = daemon.services.remediation
    remediation.stop()
    await until(lambda: not remediation.evaluating, "the worker did not stop")
    return remediation


def when_draining(remediation: Remediation, meanwhile: Callable[[], Any]) -> None:
    """Run `meanwhile` where a pass waits before carrying out an action that passed."""
    drain = remediation.decider.unawaited.drain

    async def draining() -> None:
        await meanwhile()
        await drain()

    remediation.decider.unawaited.drain = draining  # type: ignore[method-assign]


async def test_a_new_episode_is_decided_on_while_its_write_is_still_under_way(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """
    The decision does not wait for the disk: the action starts before the
    webhook is answered, and once the write lands the episode is evaluated,
    not decided again.
    """
    store = SlowDisk(tmp_path / "state")
    daemon, _ = await restart_daemon(make_daemon, store)

    store.gate.clear()
    posting = asyncio.create_task(daemon.post(notification(alert("GatewayStuck"))))
    # The episode's write, then the decision's pending record behind it.
    await until(lambda: store.queued() == 2, "nothing was decided while the write waited")
    answered_before = posting.done()
    store.gate.set()
    status, _ = await posting
    await daemon.settle()

    assert not answered_before and status == 200
    assert [(d.type, d.outcome) for d in await daemon.decisions()] == [("restart", "executed")]
    assert [e.handled for e in await store.load_episodes()] == [True]


async def test_an_alert_whose_write_fails_keeps_the_decision_made_meanwhile(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """
    Answered 503, the alert was decided already: sent again, it is new to the
    book but not to the guard, and nothing runs twice.
    """
    store = BadSector(tmp_path / "state")
    daemon, executor = await restart_daemon(make_daemon, store)

    store.gate.clear()
    posting = asyncio.create_task(daemon.post(notification(alert("GatewayStuck"))))
    await until(lambda: store.queued() == 2, "nothing was decided while the write waited")
    store.gate.set()
    failed, _ = await posting
    store.save_episodes = SqliteStore.save_episodes.__get__(store)  # type: ignore[method-assign]
    retried, reply = await daemon.post(notification(alert("GatewayStuck")))
    await daemon.settle()

    assert (failed, retried, reply["new"]) == (503, 200, 1)
    assert [a.type.value for a in executor.actions] == ["restart"]
    assert [(d.type, d.outcome) for d in await daemon.decisions()] == [("restart", "executed")]


async def test_a_tentative_episode_resolved_before_the_action_runs_is_not_acted_on(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """
    Its write and then its resolve land, each answered 200, while the pass
    waits to carry out the action: the action sees nothing firing and does
    not run, as for an episode stored before the pass.
    """
    store = SlowDisk(tmp_path / "state")
    daemon, executor = await restart_daemon(make_daemon, store)
    remediation = await worker_paused(daemon)
    stuck = alert("GatewayStuck", pod="x")

    store.gate.clear()
    firing = asyncio.create_task(daemon.post(notification(stuck)))
    await until(lambda: remediation.book.tentative(), "never offered")
    resolving = asyncio.create_task(daemon.post(notification(resolved(stuck))))
    await until(lambda: daemon.sample("remediator_alerts_total", status="resolved") == 1,
                "the resolve never arrived")

    async def both_land() -> None:
        store.gate.set()
        await asyncio.gather(firing, resolving)

    when_draining(remediation, both_land)
    await remediation.evaluate()

    assert [status for status, _ in (firing.result(), resolving.result())] == [200, 200]
    assert executor.actions == []


async def test_a_tentative_episode_whose_write_fails_before_the_action_runs_is_not_acted_on(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """The webhook answered 503 while the pass waited: the book has lost it, so does the pass."""
    store = BadSector(tmp_path / "state")
    daemon, executor = await restart_daemon(make_daemon, store)
    remediation = await worker_paused(daemon)

    store.gate.clear()
    posting = asyncio.create_task(daemon.post(notification(alert("GatewayStuck"))))
    await until(lambda: remediation.book.tentative(), "never offered")

    async def it_fails() -> None:
        store.gate.set()
        await posting

    when_draining(remediation, it_fails)
    await remediation.evaluate()

    assert posting.result()[0] == 503
    assert remediation.book.tentative() == {}
    assert executor.actions == []


async def test_an_episode_that_lands_during_the_pass_is_named_once(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """
    Its cause is in the book already; the pass awaits (a resolve of another
    episode makes it write the target's recovery) and the new episode lands
    meanwhile, moving from one index to the other: the deferral names it once.
    """
    store = SlowDisk(tmp_path / "state")
    daemon, executor = await restart_daemon(make_daemon, store)
    remediation = daemon.services.remediation
    gone, kept, new = (alert("GatewayStuck", pod=pod) for pod in ("k0", "k1", "e"))
    await daemon.post(notification(gone, kept))
    await daemon.settle()
    await worker_paused(daemon)
    await daemon.post(notification(resolved(gone), kept))

    store.gate.clear()
    posting = asyncio.create_task(daemon.post(notification(new, kept, group_key="other")))
    await until(lambda: remediation.book.tentative(), "never offered")
    asyncio.get_running_loop().call_later(0.2, store.gate.set)
    await remediation.evaluate()
    await remediation.decider.unawaited.drain()
    assert (await posting)[0] == 200

    last = (await daemon.decisions())[-1]
    assert [a.type.value for a in executor.actions] == ["restart"]
    assert key_of(new) in last.episodes
    assert sorted(last.episodes) == sorted(set(last.episodes))


async def test_landing_during_a_second_pass_over_a_tentative_episode_wakes_nothing(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """
    Deferred by one pass while in flight, offered again to the next, it lands
    during that one: all its notification's news was decided, so no further
    pass is woken for it.
    """
    store = SlowDisk(tmp_path / "state")
    daemon, _ = await restart_daemon(make_daemon, store)
    first, new = (alert("GatewayStuck", pod=pod) for pod in ("k1", "e"))
    await daemon.post(notification(first))
    await daemon.settle()
    remediation = await worker_paused(daemon)

    store.gate.clear()
    posting = asyncio.create_task(daemon.post(notification(new, first)))
    await until(lambda: remediation.book.tentative(), "never offered")
    await remediation.evaluate()  # the deferral is not waited for: this pass ends
    tidy = remediation.decider.tidy

    async def lands_now(**kwargs: Any) -> None:
        remediation._wake.clear()
        store.gate.set()
        await posting
        await tidy(**kwargs)

    remediation.decider.tidy = lands_now  # type: ignore[method-assign]
    await remediation.evaluate()
    await remediation.decider.unawaited.drain()

    assert remediation.book.pending_count == 0
    assert not remediation._wake.is_set()


async def test_a_tentative_episode_with_the_smallest_key_says_what_its_cause_asks_for(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """
    One cause, two episodes asking different replica counts: as in the book,
    the smallest key decides, so the escalation to 7 is planned while its
    alert is being written, not held back as a repeat of 5.
    """
    store = SlowDisk(tmp_path / "state")
    executor = RecordingExecutor()
    daemon = await make_daemon(store=store, raw=LABELLED_SCALE, executor=executor, **EXECUTING)
    five = alert("GatewayScale", pod="k", action="scale", replicas="5",
                 fingerprint="bbbbbbbbbbbbbbbb")
    seven = alert("GatewayScale", pod="e", action="scale", replicas="7",
                  fingerprint="aaaaaaaaaaaaaaaa")
    await daemon.post(notification(five))
    await daemon.settle()

    store.gate.clear()
    posting = asyncio.create_task(daemon.post(notification(five, seven)))
    await until(lambda: store.queued() == 2, "nothing was decided while the write waited")
    store.gate.set()
    assert (await posting)[0] == 200
    await daemon.settle()

    assert [a.replicas for a in executor.actions] == [5, 7]


async def test_only_a_few_new_alerts_are_decided_on_before_they_are_stored(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """A notification of many new alerts is a throughput case: stored first, then decided."""
    store = SlowDisk(tmp_path / "state")
    daemon = await make_daemon(store=store, **EXECUTING)
    book = daemon.services.remediation.book

    store.gate.clear()
    few = asyncio.create_task(daemon.post(notification(alert(P95, pod="a"))))
    many = asyncio.create_task(daemon.post(notification(
        *(alert(ERRORS, pod=f"pod-{n}") for n in range(TENTATIVE_LIMIT + 1)),
        group_key='{}:{wave="many"}')))
    await until(lambda: daemon.sample("remediator_alerts_total", status="firing")
                >= TENTATIVE_LIMIT + 2, "the notifications never arrived")
    offered = {e.alertname for cause in book.tentative().values()
               for e in cause.episodes.values()}
    store.gate.set()
    replies = await asyncio.gather(few, many)

    assert offered == {P95}
    assert [status for status, _ in replies] == [200, 200]
