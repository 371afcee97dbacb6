"""
A storm of new episodes: notifications written together, each answered once
its own episodes are durable, and passes that plan thousands of episodes of a
few alerts as they plan one of each.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from remediator.state.base import StateError
from remediator.state.sqlite import FILENAME
from tests.daemon.conftest import Daemon, MakeDaemon
from tests.daemon.payloads import alert, notification
from tests.daemon.support import RecordingExecutor, RefusingDecisions, until

P95 = "LLMLatencyP95Critical"
ERRORS = "LLMErrorRateWarning"
WAIT_SECONDS = 10.0


def stored_keys(state: Path) -> set[str]:
    """What another process would find in the state file: only what is committed."""
    with sqlite3.connect(state / FILENAME) as db:
        return {key for (key,) in db.execute("SELECT key FROM episodes")}


def key_of(item: dict[str, Any]) -> str:
    return f"{item['fingerprint']}@2024-05-01T10:00:00.000000+00:00"


async def test_concurrent_notifications_are_each_durable_after_their_200(
        daemon: Daemon, tmp_path: Path) -> None:
    """
    Forty notifications at once, each with a pod of its own and one alert they all
    share: every 200 comes after that notification's episodes are in the file,
    and the shared alert is new exactly once.
    """
    shared = alert(P95, pod="shared")
    own = [alert(P95, pod=f"pod-{n}") for n in range(40)]
    durable: list[bool] = []
    news: list[int] = []

    async def post(item: dict[str, Any]) -> None:
        status, reply = await daemon.post(notification(item, shared))
        assert status == 200
        news.append(reply["new"])
        durable.append({key_of(item), key_of(shared)} <= stored_keys(tmp_path / "state"))

    await asyncio.gather(*(post(item) for item in own))

    assert durable == [True] * 40
    assert sum(news) == 41
    assert len(stored_keys(tmp_path / "state")) == 41


async def test_a_copy_of_an_alert_whose_write_fails_is_not_taken_as_stored(
        daemon: Daemon) -> None:
    """
    While the first notification's write is failing, a second one carrying the
    same alert is not answered 200 as a repeat: both get 503, and the retry is
    taken as new.
    """
    store = daemon.services.store
    original = store.save_episodes

    async def failing(episodes: object) -> None:
        # Fail only once the second copy has arrived and seen this one in flight.
        await until(lambda: daemon.sample("remediator_alerts_total", status="firing") >= 2,
                    "the second notification never arrived")
        raise StateError("disk full")

    store.save_episodes = failing  # type: ignore[method-assign]
    first, second = await asyncio.gather(daemon.post(notification(alert(P95))),
                                         daemon.post(notification(alert(P95))))
    store.save_episodes = original  # type: ignore[method-assign]
    retried, reply = await daemon.post(notification(alert(P95)))

    assert (first[0], second[0]) == (503, 503)
    assert (retried, reply["new"]) == (200, 1)


def history(decisions: list[Any]) -> list[tuple[Any, ...]]:
    return [(d.type, d.target, d.replicas, d.outcome, d.skip) for d in decisions]


async def test_many_episodes_of_the_same_alerts_are_planned_as_one_of_each(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """
    300 pods firing the same two alerts decide what one pod firing them decides;
    more pods joining inside the cooldown decide what one more pod does. Once the
    combined action is deferred, a further 50 pods are one more skipped decision
    naming only their 100 episodes.
    """
    one = await make_daemon(**{"state.dir": str(tmp_path / "one")})
    many = await make_daemon(**{"state.dir": str(tmp_path / "many")})

    def pods(numbers: range) -> dict[str, Any]:
        # Each wave of pods its own Alertmanager group: a group's notification
        # carries all of its alerts, and these waves add to what fires.
        return notification(*(alert(name, pod=f"pod-{n}") for n in numbers
                              for name in (P95, ERRORS)),
                            group_key=f'{{}}:{{wave="{numbers.start}"}}')

    async def round_of(one_pods: range, many_pods: range) -> None:
        await one.post(pods(one_pods))
        await many.post(pods(many_pods))
        await one.settle()
        await many.settle()
        one.clock.advance(30)

    await round_of(range(1), range(300))
    await round_of(range(1, 2), range(300, 400))
    await round_of(range(2, 3), range(400, 450))
    by_one, by_many = await one.decisions(), await many.decisions()

    assert history(by_many) == history(by_one)
    assert [d.type for d in by_many] == ["combined", "patch_config"] * 3
    assert [len(d.episodes) for d in by_one] == [2, 1, 4, 1, 2, 1]
    assert [len(d.episodes) for d in by_many] == [600, 300, 800, 100, 100, 50]
    assert set(by_many[4].episodes) == {key_of(alert(name, pod=f"pod-{n}"))
                                        for n in range(400, 450) for name in (P95, ERRORS)}


async def test_a_burst_past_half_the_queue_waits_for_the_worker_instead_of_a_503(
        make_daemon: MakeDaemon) -> None:
    """
    While the worker is busy, notifications beyond half the queue are held, not
    refused: once the pass ends they are taken, and every one is answered 200.
    """
    daemon = await make_daemon(**{"server.queue_size": 4})
    remediation = daemon.services.remediation
    evaluate, gate = remediation.evaluate, asyncio.Event()

    async def held_pass() -> None:
        await gate.wait()
        await evaluate()

    remediation.evaluate = held_pass  # type: ignore[method-assign]
    first = await daemon.post(notification(*(alert(P95, pod=f"a-{n}") for n in range(3)),
                                           group_key='{}:{node="a"}'))
    later = [asyncio.ensure_future(daemon.post(notification(
        *(alert(P95, pod=f"{name}-{n}") for n in range(3)), group_key=f'{{}}:{{node="{name}"}}',
    ))) for name in "bcd"]
    await until(lambda: daemon.sample("remediator_alerts_total", status="firing") >= 12,
                "the later notifications never arrived")
    held = [task.done() for task in later]
    gate.set()
    replies = [await task for task in later]
    await daemon.settle()

    assert first[0] == 200 and held == [False] * 3
    assert [status for status, _ in replies] == [200] * 3
    assert len(remediation.book.firing(now=daemon.clock())) == 12


EXECUTING = {"execution.auto_execute": True, "server.allow_insecure": True}
ONE_RESTART = {"alerts": {"custom": [
    {"alertname": "GatewayStuck", "action": "restart", "deployment": "llm-gateway",
     "priority": 1}]}}


async def test_deferrals_the_store_keeps_refusing_are_tried_again_each_second(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """
    The pass does not wait for its deferrals; a store refusing them has them
    recorded again a second later, not in a loop of passes, and once the store
    takes writes again the deferral is recorded, once.
    """
    store = RefusingDecisions(tmp_path / "state")
    daemon = await make_daemon(store=store, raw=ONE_RESTART, executor=RecordingExecutor(),
                               **EXECUTING)
    remediation = daemon.services.remediation
    await daemon.post(notification(alert("GatewayStuck", pod="a")))
    await daemon.settle()

    store.refuse = 1_000_000
    passes = remediation.passes
    await daemon.post(notification(alert("GatewayStuck", pod="a"),
                                   alert("GatewayStuck", pod="b")))
    await asyncio.sleep(1.5)
    store.refuse = 0
    tried, passed = store.refused, remediation.passes - passes
    deadline = time.monotonic() + WAIT_SECONDS
    while len(await daemon.decisions()) < 2:
        assert time.monotonic() < deadline, "the deferral was never recorded"
        await asyncio.sleep(0.05)
    await daemon.settle()

    assert 1 <= tried <= 3 and passed <= 3, (tried, passed)
    assert [(d.outcome, d.skip, len(d.episodes)) for d in await daemon.decisions()] == [
        ("executed", None, 1), ("skipped", "cooldown", 2)]


async def test_an_episode_back_in_the_firing_set_during_a_pass_is_named_by_the_next(
        make_daemon: MakeDaemon) -> None:
    """
    An alert recorded while no pass ran expires from the firing set before it is
    evaluated; Alertmanager sends it again while a pass is under way. The next
    pass is the first to see it firing, and its deferral names it.
    """
    daemon = await make_daemon(raw=ONE_RESTART, executor=RecordingExecutor(), **{
        **EXECUTING, "alerts.expiry_seconds": 300,
        "alerts.repeat_interval_seconds": 100, "guard.cooldowns.restart": 3600})
    remediation = daemon.services.remediation
    x, y, z, w = (alert("GatewayStuck", pod=pod) for pod in "xyzw")

    def alone(item: dict[str, Any]) -> dict[str, Any]:
        return notification(item, group_key=f'{{}}:{{pod="{item["labels"]["pod"]}"}}')

    await daemon.post(alone(x))
    await daemon.settle()
    remediation.stop()  # the worker pauses (a failover, say); y waits, then expires
    await daemon.post(alone(y))
    for _ in range(12):
        daemon.clock.advance(35)
        await daemon.post(alone(x))
    await daemon.post(alone(z))

    decide_all = remediation.decider.decide_all

    async def then_y_again(*args: Any, **kwargs: Any) -> None:
        await decide_all(*args, **kwargs)
        await daemon.post(alone(y))  # while the pass is still under way

    remediation.decider.decide_all = then_y_again  # type: ignore[method-assign]
    await remediation.evaluate()
    remediation.decider.decide_all = decide_all  # type: ignore[method-assign]
    await daemon.post(alone(w))
    await remediation.evaluate()
    await remediation.decider.unawaited.drain()

    named = {key for d in await daemon.decisions() for key in d.episodes}
    assert {key_of(item) for item in (x, y, z, w)} <= named
