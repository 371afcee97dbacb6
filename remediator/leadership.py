"""
Whether this replica may act: the hook between the daemon and leader election.

Without leader election a replica always may. With it, the elector (see
`elector_for`) flips a `Leadership` as it gains and loses the Lease. The
daemon consults it in two places: `/readyz` answers 503 while this replica
is not the leader (so the Service routes webhooks to the leader only), and
the worker executes nothing while it is not; episodes received meanwhile
are recorded and evaluated once leadership arrives.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from remediator.config.settings import Settings
from remediator.errors import ConfigError

logger = logging.getLogger("remediator.leadership")

Listener = Callable[[bool], None]
Elector = Callable[[Settings, "Leadership"], Coroutine[Any, Any, None]]

ELECTION_MODULE = "remediator.execution.election"
"""Where the Kubernetes leader election lives: `async def run(settings, leadership)`."""


class Leadership:
    """A flag with listeners: `leader` is True while this replica may act."""

    def __init__(self, *, leader: bool = True) -> None:
        self._leader = leader
        self._listeners: list[Listener] = []

    @property
    def leader(self) -> bool:
        return self._leader

    def set(self, leader: bool) -> None:
        """Called by the elector on every change (and harmlessly on repeats)."""
        if leader == self._leader:
            return
        self._leader = leader
        logger.warning("leadership %s", "acquired: acting" if leader else "lost: not acting",
                       extra={"leader": leader})
        for listener in list(self._listeners):
            listener(leader)

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(leader)` on every change, from the event loop's thread."""
        self._listeners.append(listener)


def elector_for(settings: Settings) -> Elector | None:
    """The election coroutine when leader election is on; None when it is off."""
    if not settings.kubernetes.leader_election.enabled:
        return None
    try:
        module = importlib.import_module(ELECTION_MODULE)
    except ImportError as error:
        raise ConfigError(
            "config", "kubernetes.leader_election.enabled",
            f"leader election is not available in this build ({error})",
        ) from None
    elector: Elector = module.run
    return elector
