"""
Store writes the worker does not wait for.

A pass ends with writes nothing after it needs durable: the deferrals it
recorded (noted in memory already, taken back if the write fails) and the
evaluated flags of its episodes (lost on a crash, they only make the next
start evaluate those episodes again). Waiting for each to be synced made
every new episode wait for the pass in progress to reach the disk twice
before its own pass could begin. These writes run as tasks instead: each is
kept until it ends, a failure is logged and counted, and the worker drains
them before it stops, so the store is closed with nothing in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from remediator.metrics import SelfMetrics
from remediator.state.base import StateError

logger = logging.getLogger("remediator.state")

T = TypeVar("T")


class Unawaited:
    """The writes in flight that no caller waits for."""

    def __init__(self, metrics: SelfMetrics | None = None) -> None:
        self.metrics = metrics
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def start(self, write: Coroutine[Any, Any, T], what: str, *,
              done: Callable[[T], None] | None = None,
              failed: Callable[[StateError], None] | None = None) -> None:
        """Run `write`; then `done` with its result, or `failed` when the store refused it."""
        task = asyncio.get_running_loop().create_task(write, name=f"write: {what}")
        self._tasks.add(task)
        task.add_done_callback(lambda ended: self._ended(ended, what, done, failed))

    async def drain(self) -> None:
        """Wait for every write in flight, those started meanwhile too."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def _ended(self, task: asyncio.Task[T], what: str, done: Callable[[T], None] | None,
               failed: Callable[[StateError], None] | None) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            logger.warning("cancelled before it was stored: %s", what)
            return
        error = task.exception()
        if error is None:
            if done is not None:
                done(task.result())
            return
        if not isinstance(error, StateError):
            # Not the store refusing: a bug. Logged with its traceback, never raised
            # into the event loop's default handler, where it would pass unnoticed.
            logger.error("%s failed", what, exc_info=error)
            error = StateError(f"{what}: {error}")
        else:
            logger.error("%s: %s", what, error)
        if self.metrics is not None:
            self.metrics.state_errors.inc()
        if failed is not None:
            failed(error)
