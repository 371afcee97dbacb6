"""
Fault injection: make chosen requests slow, fail, throttle or disconnect.

A ``Fault`` selects requests by verb, resource, namespace and name, then fires
on every match, on every Nth match, or on a fraction of matches drawn from an
RNG seeded per fault (so a test's sequence of failures is reproducible), at
most ``times`` times. Actions:

- ``latency``: wait ``delay`` seconds, then serve the request normally;
- ``error``: answer ``status`` (500 or 503) with a Status body;
- ``throttle``: answer 429 with ``Retry-After: retry_after``;
- ``drop``: close the connection without an answer.
- ``drop_after``: serve the request (a write lands), then close the connection
  without an answer: the client cannot know its write happened.

``conflict_next_writes(n)`` makes the next n updates or patches answer 409.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable

from tests.fakekube import resources
from tests.fakekube.rbac import RequestRecord

ACTIONS = ("latency", "error", "throttle", "drop", "drop_after")
WRITE_VERBS = frozenset({"update", "patch"})


@dataclasses.dataclass
class Fault:
    action: str
    verbs: frozenset[str] | None = None
    group: str | None = None
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    every: int | None = None
    fraction: float | None = None
    seed: int = 0
    times: int | None = None
    delay: float = 0.0
    status: int = 503
    retry_after: int = 1
    message: str = "injected fault"
    matched: int = 0  # requests that met the selectors
    fired: int = 0  # requests the fault acted on

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(
                f"unknown fault action {self.action!r}; use one of {ACTIONS}"
            )
        self._rng = random.Random(self.seed)

    def _selects(self, record: RequestRecord) -> bool:
        if self.verbs is not None and record.verb not in self.verbs:
            return False
        if self.group is not None and self.group != record.group:
            return False
        if self.resource is not None and self.resource != record.resource:
            return False
        if self.namespace is not None and self.namespace != record.namespace:
            return False
        return self.name is None or self.name == record.name

    def fires(self, record: RequestRecord) -> bool:
        """Count a matching request and tell whether the fault acts on it."""
        if not self._selects(record):
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.matched += 1
        if self.every is not None and self.matched % self.every != 0:
            return False
        if self.fraction is not None and self._rng.random() >= self.fraction:
            return False
        self.fired += 1
        return True


class Faults:
    """The faults armed on one fake server."""

    def __init__(self) -> None:
        self.active: list[Fault] = []
        self.conflicts_pending = 0
        self._conflict_resource: tuple[str, str] | None = None

    def inject(
        self,
        action: str,
        *,
        verb: str | Iterable[str] | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        every: int | None = None,
        fraction: float | None = None,
        seed: int = 0,
        times: int | None = None,
        delay: float = 0.0,
        status: int = 503,
        retry_after: int = 1,
        message: str = "injected fault",
    ) -> Fault:
        """
        Arm a fault and return it (its ``matched``/``fired`` counters are live).

        ``resource`` is written as for permissions: ``"apps/deployments/scale"``,
        ``"configmaps"``. ``every=3`` fires on the 3rd, 6th... matching request;
        ``fraction=0.5, seed=7`` on a reproducible half of them.
        """
        group, plural = resources.split_resource(resource) if resource else (None, None)
        verbs = frozenset([verb] if isinstance(verb, str) else verb) if verb else None
        fault = Fault(
            action,
            verbs,
            group,
            plural,
            namespace,
            name,
            every,
            fraction,
            seed,
            times,
            delay,
            status,
            retry_after,
            message,
        )
        self.active.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        self.active.remove(fault)

    def clear(self) -> None:
        self.active.clear()
        self.conflicts_pending = 0

    def conflict_next_writes(self, count: int, resource: str | None = None) -> None:
        """The next ``count`` updates or patches (of ``resource`` if set) answer 409."""
        self.conflicts_pending = count
        self._conflict_resource = resources.split_resource(resource) if resource else None

    def firing(self, record: RequestRecord) -> list[Fault]:
        return [fault for fault in self.active if fault.fires(record)]

    def take_conflict(self, record: RequestRecord) -> bool:
        if self.conflicts_pending <= 0 or record.verb not in WRITE_VERBS:
            return False
        wanted = self._conflict_resource
        if wanted is not None and wanted != (record.group, record.resource):
            return False
        self.conflicts_pending -= 1
        return True
