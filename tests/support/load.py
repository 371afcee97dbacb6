"""
A steady stream of webhook posts at a set rate, for the load test and the benchmarks.

Request n is due at `start + n / rate`; it goes out when due, whether or not
the earlier ones were answered (an open-loop load, as Alertmanager's
senders are), so a slow daemon shows as slow replies and failures rather
than as a quietly lower rate. Each reply is kept with the wall-clock time
its request went out, which the benchmarks compare with the daemon's own
timestamps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp

CONNECTIONS = 64
REPLY_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class Reply:
    number: int
    sent: float
    """Wall-clock time (time.time) the request went out."""

    answered: float
    status: int | None
    """None when no HTTP reply came (connection refused or reset, timeout)."""

    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclasses.dataclass
class Run:
    replies: list[Reply]
    seconds: float
    """From the first request due to the last reply."""

    late: float
    """The most any request went out after it was due: the sender's own lag."""

    @property
    def failures(self) -> list[Reply]:
        return [reply for reply in self.replies if not reply.ok]

    @property
    def rate(self) -> float:
        return len(self.replies) / self.seconds if self.seconds else 0.0


async def steady(url: str, body: Callable[[int], bytes], *, rate: float, count: int,
                 headers: Mapping[str, str] | None = None,
                 connections: int = CONNECTIONS) -> Run:
    """POST `body(n)` for n in 0..count-1 at `rate` per second; every reply, in order."""
    loop = asyncio.get_running_loop()
    replies: list[Reply | None] = [None] * count
    late = 0.0
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=REPLY_SECONDS)
    all_headers = {"Content-Type": "application/json", **(headers or {})}

    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     headers=all_headers) as session:

        async def one(n: int, data: bytes) -> None:
            sent = time.time()
            try:
                async with session.post(url, data=data) as reply:
                    await reply.read()
                    replies[n] = Reply(n, sent, time.time(), reply.status)
            except (aiohttp.ClientError, TimeoutError) as error:
                replies[n] = Reply(n, sent, time.time(), None, f"{type(error).__name__}: {error}")

        # Each request is started when due; the bodies are built beforehand.
        bodies = [body(n) for n in range(count)]
        tasks = []
        start = loop.time()
        for n in range(count):
            due = start + n / rate
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            late = max(late, loop.time() - due)
            tasks.append(asyncio.create_task(one(n, bodies[n])))
        await asyncio.gather(*tasks)
        seconds = loop.time() - start

    done = [reply for reply in replies if reply is not None]
    return Run(replies=done, seconds=seconds, late=late)


# --- what is posted ------------------------------------------------------------------

STARTS_AT = "2024-05-01T10:00:00Z"
STORM_ALERTS = ("LLMLatencyP95Critical", "LLMErrorRateWarning", "LLMLatencyP99Critical")
"""Three built-in alerts that fire together in a latency incident: one real-sized body."""


def real_alert(alertname: str, n: int, *, starts_at: str = STARTS_AT) -> dict[str, Any]:
    """
    One alert as Alertmanager 0.25 sends it from our rules, about 600 bytes.

    `n` names the replica it fires for, so each n is its own episode; the
    fingerprint is given (deriving it in Python would dominate building
    100,000 of them).
    """
    labels = {
        "alertname": alertname, "severity": "critical", "namespace": "default",
        "deployment": "llm-gateway", "job": "remediator",
        "instance": f"10.42.{n // 250 % 250}.{n % 250}:8080",
        "pod": f"llm-gateway-7d9c5b6f4-{n:06d}",
    }
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": f"{alertname}: the benchmark's figure is over its threshold",
            "description": "The latest benchmark of default/llm-gateway is over it.",
        },
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.monitoring.svc:9090/graph?g0.expr="
        "llm_bench_latency_seconds%7Bpercentile%3D%2295%22%7D+%3E+0.15&g0.tab=1",
        "fingerprint": hashlib.blake2b(f"{alertname}/{n}".encode(), digest_size=8).hexdigest(),
    }


def notification_body(alerts: Sequence[dict[str, Any]], *, group: str = "") -> bytes:
    """
    A whole v4 webhook body around `alerts`, compact, as Alertmanager writes it.

    `group` names the Alertmanager group (in its `groupKey`): a group's
    notification carries all the alerts it still sends, so bodies whose
    alerts add to one another need groups of their own.
    """
    document = {
        "receiver": "remediator",
        "status": "firing",
        "alerts": list(alerts),
        "groupLabels": {"namespace": "default", "deployment": "llm-gateway"},
        "commonLabels": {"namespace": "default", "deployment": "llm-gateway"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager-0.monitoring.svc:9093",
        "version": "4",
        "groupKey": '{}/{severity=~"critical|high"}:{deployment="llm-gateway",'
        f' namespace="default"{group}}}',
        "truncatedAlerts": 0,
    }
    return (json.dumps(document, separators=(",", ":")) + "\n").encode()


def storm_body(n: int) -> bytes:
    """Notification n of new episodes: the three storm alerts of replica n, about 2 KB."""
    # Grouped by pod, as a route with `group_by: [..., pod]` does: each replica's
    # notification is its group's whole set of alerts.
    return notification_body([real_alert(name, n) for name in STORM_ALERTS],
                             group=f', pod="llm-gateway-7d9c5b6f4-{n:06d}"')


NEW_EVERY = 100
"""In the sustained storm, one notification in this many brings new episodes."""


def sustained_body(n: int) -> bytes:
    """
    Notification n of a sustained alert storm: Alertmanager re-sending one
    group over and over, and now and then (every NEW_EVERY-th) a replica
    whose three alerts are new episodes, to be recorded and decided.
    """
    if n % NEW_EVERY:
        return _known_storm()
    return storm_body(n // NEW_EVERY)


def sustained_episodes(count: int) -> int:
    """How many distinct episodes the first `count` sustained notifications carry."""
    return len(STORM_ALERTS) * ((count - 1) // NEW_EVERY + 1)


@functools.cache
def _known_storm() -> bytes:
    # One bytes object for all the repeats: 60,000 copies would hold 140 MB.
    return storm_body(0)
