"""Timelines more than one test module plays against the daemon."""

from __future__ import annotations

from typing import Any

from tests.daemon.conftest import Daemon
from tests.daemon.payloads import alert, at, notification, resolved


async def burst_repeat_and_refire(daemon: Daemon, alertname: str) -> dict[str, Any]:
    """
    Field report 9: four alerts differing only in `instance`; their repeat at
    5m30s; their resolve at 7m; the same four firing again as new episodes at
    9m. Returns the repeat's reply.
    """
    group = [alert(alertname, instance=f"10.0.0.{n}:8000") for n in range(4)]

    await daemon.post(notification(*group))
    await daemon.settle()
    daemon.clock.advance(330)
    _, repeat = await daemon.post(notification(*group))
    await daemon.settle()
    daemon.clock.advance(90)
    await daemon.post(notification(*[resolved(a, at(7)) for a in group]))
    daemon.clock.advance(120)
    await daemon.post(notification(*[alert(alertname, instance=f"10.0.0.{n}:8000",
                                           starts_at=at(9)) for n in range(4)]))
    await daemon.settle()
    assert isinstance(repeat, dict)
    return repeat
