"""
`kill -9` of the daemon in the middle of a storm of 1,000 notifications, then
a restart on the same state: what was acknowledged is kept, nothing runs twice.
"""

from __future__ import annotations

import asyncio
import collections
import json
from pathlib import Path
from typing import Any

import aiohttp

from remediator.alerting.payload import canonical_time, parse_time
from remediator.state.base import DecisionRecord, episode_key
from remediator.state.sqlite import SqliteStore
from tests.daemon.payloads import alert, body, notification
from tests.support.serving import Serve

TOKEN = "storm-webhook-token"
NOTIFICATIONS = 1000
KILL_AFTER = 400
AT_ONCE = 32
STARTS_AT = "2024-05-01T10:00:00Z"
# Built-in alerts (scale, config patch, rollback, combined) and a custom restart.
ALERTS = ["LLMLatencyP95Warning", "LLMLatencyP95Critical", "LLMErrorRateWarning",
          "LLMErrorRateCritical", "LLMThroughputLowCritical", "PodCrashLooping"]
RESTARTED = 10
SETTLE_SECONDS = 60.0


def storm_alert(n: int) -> dict[str, Any]:
    """The new alert of notification n: its own `instance`, so its own episode."""
    name = ALERTS[n % len(ALERTS)]
    labels = {"instance": f"replica-{n}"}
    if name == "PodCrashLooping":
        labels["deployment"] = f"worker-{n // len(ALERTS) % RESTARTED}"
    return alert(name, starts_at=STARTS_AT, **labels)


def storm(n: int) -> bytes:
    """Notification n: a new episode, and a re-send of the previous one (a repeat)."""
    alerts = [storm_alert(n)] + ([storm_alert(n - 1)] if n else [])
    return body(notification(*alerts))


def key(n: int) -> str:
    item = storm_alert(n)
    return episode_key(item["fingerprint"], canonical_time(parse_time(STARTS_AT, "", "")))


async def test_kill_9_in_a_storm_loses_no_acknowledged_episode_and_repeats_no_action(
        tmp_path: Path) -> None:
    """Every 2xx'd episode survives kill -9; across the restart no action runs twice."""
    state = tmp_path / "state"
    config = _config(tmp_path)

    # The storm, 32 at once; kill -9 once 400 notifications were acknowledged.
    with Serve(tmp_path, state_dir=state, config=config, token=TOKEN) as first:
        await first.ready_async()
        acknowledged = await _send(first, range(NOTIFICATIONS), kill_after=KILL_AFTER)
    assert KILL_AFTER <= len(acknowledged) < NOTIFICATIONS

    # What got a 2xx is in the state store, before any retry could add it again.
    stored = {episode.key for episode in await _episodes(state)}
    missing = {n for n in acknowledged if key(n) not in stored}
    assert set() == missing

    # Restart; Alertmanager retries what failed and repeats the rest.
    with Serve(tmp_path, state_dir=state, config=config, token=TOKEN,
               port=first.port) as second:
        await second.ready_async()
        unanswered = sorted(set(range(NOTIFICATIONS)) - acknowledged)
        assert set(unanswered) == await _send(second, unanswered)
        assert set(acknowledged) == await _send(second, sorted(acknowledged))
        await _settled(second)
        assert 0 == second.stop()

    decisions = await _decisions(state)
    ran = collections.Counter(
        (d.type, d.target, d.replicas) for d in decisions if d.counted
    )
    assert [] == [(action, times) for action, times in ran.items() if times > 1], decisions
    restarted = {target for (kind, target, _) in ran if kind == "restart"}
    assert {f"default/deployment/worker-{n}" for n in range(RESTARTED)} == restarted
    assert {key(n) for n in range(NOTIFICATIONS)} <= {e.key for e in await _episodes(state)}


def _config(directory: Path) -> Path:
    """Warnings act too (dry-run); limit and breaker wide open, so cooldowns decide."""
    path = directory / "remediator.yaml"
    path.write_text(json.dumps({
        "execution": {"min_priority": 2},
        "alerts": {"custom": [{"alertname": "PodCrashLooping", "action": "restart",
                               "priority": 1}]},
        "guard": {"rate_limit": {"actions": 10000},
                  "breaker": {"max_actions": 10000}},
    }))
    return path


async def _send(server: Serve, numbers: Any, *, kill_after: int | None = None) -> set[int]:
    """POST the storm's notifications; the numbers answered 2xx. Kills at `kill_after`."""
    acknowledged: set[int] = set()
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        async with gate:
            if server.process.poll() is not None:
                return
            try:
                async with session.post(f"{server.url}/webhook/alertmanager", data=storm(n),
                                        headers=server.headers) as reply:
                    if 200 <= reply.status < 300:
                        acknowledged.add(n)
            except aiohttp.ClientError:
                return
            if kill_after is not None and len(acknowledged) >= kill_after:
                server.kill()

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(one(session, n) for n in numbers))
    return acknowledged


async def _settled(server: Serve) -> None:
    """Poll (bounded) until nothing waits for evaluation and no decision is pending."""
    deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
    async with aiohttp.ClientSession(headers=server.headers) as session:
        while True:
            async with session.get(f"{server.url}/api/v1/actions?limit=1000") as reply:
                history = await reply.json()
            waiting = await asyncio.to_thread(server.metric, "remediator_queue_depth")
            if waiting == 0 and not any(d["outcome"] == "pending" for d in history):
                return
            assert asyncio.get_running_loop().time() < deadline, server.tail()
            await asyncio.sleep(0.05)


async def _episodes(state: Path) -> list[Any]:
    store = SqliteStore(state)
    await store.open()
    try:
        return await store.load_episodes()
    finally:
        await store.close()


async def _decisions(state: Path) -> list[DecisionRecord]:
    store = SqliteStore(state)
    await store.open()
    try:
        return list(reversed(await store.decisions(limit=100_000)))
    finally:
        await store.close()
