"""
Retries of temporary API failures, bounded in tries and in time.

The retried unit is a whole step (read, decide, write), never a bare write:
after a 409 or a lost answer the next try reads the object again, so it acts
on what is there now and can see that its previous try already landed.
Permanent errors go straight through.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from remediator.k8s import errors

logger = logging.getLogger("remediator.k8s")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    """Tries in all, the first included."""

    max_delay: float = 5.0
    """No single wait is longer, whatever the error or Retry-After asks."""


DEFAULT = RetryPolicy()


async def retrying(
    step: Callable[[], Awaitable[T]],
    *,
    what: str,
    policy: RetryPolicy = DEFAULT,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """
    Run `step`, again after each temporary error, up to `policy.attempts` tries.

    `sleep` waits between tries; tests pass one that records the waits.
    """
    attempt = 1
    while True:
        try:
            return await step()
        except errors.TemporaryError as error:
            if attempt >= policy.attempts:
                logger.warning("%s: giving up after %d tries: %s", what, attempt, error)
                raise
            delay = _delay(error, attempt, policy)
            logger.info("%s: try %d failed (%s); retrying in %.2fs",
                        what, attempt, error.code, delay)
            await sleep(delay)
            attempt += 1


def _delay(error: errors.TemporaryError, attempt: int, policy: RetryPolicy) -> float:
    if isinstance(error, errors.Throttled):
        # The server said how long: honour it (bounded), without shortening it.
        return min(policy.max_delay, error.delay)

    # Otherwise the error's delay doubles per try; jitter spreads the retries
    # of several replicas or writers apart.
    jitter = random.uniform(0.5, 1.0)  # noqa: S311 - not for security
    return min(policy.max_delay, error.delay * 2.0 ** (attempt - 1) * jitter)
