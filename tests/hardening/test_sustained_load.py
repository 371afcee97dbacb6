"""
Sustained load: 1,000 webhook requests a second for a minute against
`remediator serve` as a process, and not one of them fails.

The load is an alert storm as Alertmanager makes one: one group re-sent
again and again, with new episodes now and then (tests/support/load.py).
How resident memory moves meanwhile is a figure of `make bench`
(docs/performance.md), not something this test asserts. Slow: run by
`make test-slow`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.load import steady, sustained_body, sustained_episodes
from tests.support.serving import Serve

TOKEN = "sustained-load-token"
RATE = 1000
SECONDS = 60
SETTLE_SECONDS = 120.0


@pytest.mark.slow
async def test_a_minute_at_1000_requests_a_second_fails_no_request(tmp_path: Path) -> None:
    """Every one of 60,000 notifications gets a 2xx; every new episode is recorded, evaluated."""
    count = RATE * SECONDS

    with Serve(tmp_path, state_dir=tmp_path / "state", token=TOKEN) as daemon:
        await daemon.ready_async()
        run = await steady(f"{daemon.url}/webhook/alertmanager", sustained_body,
                           rate=RATE, count=count, headers=daemon.headers)

        # No request failed: no error reply, no refused or reset connection, no timeout.
        failures = [f"#{r.number}: {r.status or r.error}" for r in run.failures]
        assert [] == failures[:20], f"{len(failures)} of {count} failed\n{daemon.tail()}"
        assert count == len(run.replies)

        # The storm's new episodes are all in the firing set, none left unevaluated.
        firing = await _settled_firing(daemon)
        assert sustained_episodes(count) == len(firing)
        assert 0 == daemon.stop()


async def _settled_firing(daemon: Serve) -> list[dict[str, Any]]:
    """The firing set once nothing recorded waits for evaluation."""
    deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
    while await asyncio.to_thread(daemon.metric, "remediator_queue_depth") > 0:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"episodes still wait after {SETTLE_SECONDS:g}s\n{daemon.tail()}")
        await asyncio.sleep(0.1)
    async with aiohttp.ClientSession(headers=daemon.headers) as session, \
            session.get(f"{daemon.url}/api/v1/alerts") as reply:
        assert 200 == reply.status
        firing: list[dict[str, Any]] = await reply.json()
    return firing
