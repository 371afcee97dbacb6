"""
Send notifications without ever holding up remediation.

`Notifier.send` only queues (and drops, counting, when the queue is full); a
task of its own posts each message to every configured sink, with a timeout
and a bounded number of retries. Slack gets a line of text; the generic
webhook gets the whole event as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import aiohttp

from remediator.config.settings import Notify
from remediator.errors import ConfigError
from remediator.metrics import SelfMetrics

logger = logging.getLogger("remediator.notify")

QUEUE_SIZE = 1000
FIRST_RETRY_SECONDS = 0.5


class Notifier:
    """Queues events and posts them to Slack and a JSON webhook, when configured."""

    def __init__(self, settings: Notify, metrics: SelfMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.sinks: dict[str, str] = {}
        if settings.slack_webhook_url_file:
            self.sinks["slack"] = _read_url(settings.slack_webhook_url_file)
        if settings.webhook_url:
            self.sinks["webhook"] = settings.webhook_url
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.sinks)

    def send(self, event: dict[str, Any]) -> None:
        """Queue one event (JSON-serialisable, with a `text` line); never waits."""
        if not self.sinks:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            for sink in self.sinks:
                self.metrics.notifier_failures.labels(sink).inc()
            logger.warning("notification dropped: %d are already waiting", QUEUE_SIZE)

    async def start(self) -> None:
        if self.sinks and self._task is None:
            timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
            self._session = aiohttp.ClientSession(timeout=timeout)
            self._task = asyncio.create_task(self._deliver(), name="notifier")

    async def close(self, *, drain_seconds: float = 5.0) -> None:
        """Give queued notifications a moment to go out, then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), drain_seconds)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._session is not None:
            await self._session.close()

    async def _deliver(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                for sink, url in self.sinks.items():
                    await self._post(sink, url, event)
            finally:
                self._queue.task_done()

    async def _post(self, sink: str, url: str, event: dict[str, Any]) -> None:
        assert self._session is not None
        body = {"text": event.get("text", "")} if sink == "slack" else event
        delay = FIRST_RETRY_SECONDS
        for attempt in range(self.settings.retries + 1):
            try:
                async with self._session.post(url, json=body) as reply:
                    if reply.status < 300:
                        return
                    problem = f"HTTP {reply.status}"
                    if 400 <= reply.status < 500 and reply.status != 429:
                        break  # the sink will refuse it again
            except (aiohttp.ClientError, TimeoutError) as error:
                problem = str(error) or type(error).__name__
            if attempt < self.settings.retries:
                await asyncio.sleep(delay)
                delay *= 2
        self.metrics.notifier_failures.labels(sink).inc()
        logger.warning("notification to %s failed: %s", sink, problem, extra={"sink": sink})


def _read_url(path: str) -> str:
    try:
        url = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        problem = f"cannot read the Slack webhook URL: {error.strerror}"
        raise ConfigError(path, None, problem) from None
    if not url.startswith(("https://", "http://")):
        raise ConfigError(path, None, "must hold the Slack incoming webhook URL (https://...)")
    return url
