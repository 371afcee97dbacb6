"""
Leader election on a `coordination.k8s.io/v1` Lease: exactly one replica acts.

The protocol is client-go's. The holder renews the Lease every retry period;
the others read it as often, and take it over only once it has not changed
for its `leaseDurationSeconds`. A write carries the resourceVersion it read,
so of two replicas grabbing an expired Lease one gets a 409 and stays a
follower. The leader stops acting when it has not renewed for the renew
deadline, which is shorter than the lease: it has stepped down before anyone
else may step up. On a clean shutdown the leader releases the Lease (empty
holder), so a rolling update hands over at once instead of after a lease.

kubernetes-asyncio ships `kubernetes_asyncio.leaderelection`; we do not use
it because (in 36.1) it lets any transport error (a dropped connection, a
timeout) escape and end the election task, runs only one term and then
returns instead of competing again, cannot release the Lease on shutdown,
writes local wall-clock times with a "Z" suffix, and refuses periods under a
second, which keeps failover tests slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from remediator.k8s import errors
from remediator.k8s.changes import as_int, metadata, spec
from remediator.k8s.client import LEASES, Api, JsonObject

logger = logging.getLogger("remediator.leadership")

_RELEASE_SECONDS = 2.0
_JITTER = 0.2


@dataclasses.dataclass(frozen=True)
class LeaseSettings:
    namespace: str
    name: str
    identity: str
    lease_seconds: float
    renew_deadline_seconds: float
    retry_seconds: float


class LeaseElector:
    """Competes for one Lease until cancelled; reports changes through `on_change`."""

    def __init__(
        self,
        api: Api,
        lease: LeaseSettings,
        *,
        on_change: Callable[[bool], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.lease = lease
        self.on_change = on_change
        self.monotonic = monotonic
        self.leader = False
        self.holder: str | None = None
        """The holder seen at the last read, for logs and status."""

        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._renewed_at = 0.0
        self._step_down: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        """Acquire, renew, lose and compete again, until cancelled (then release)."""
        try:
            while True:
                started = self.monotonic()
                if await self._try_acquire_or_renew(started):
                    self._renewed(started)
                delay = self.lease.retry_seconds
                if not self.leader:
                    # Followers spread out so they do not all grab at once.
                    delay *= 1 + random.uniform(0, _JITTER)  # noqa: S311 - not security
                await asyncio.sleep(max(0.0, started + delay - self.monotonic()))
        except asyncio.CancelledError:
            await self._release()
            raise

    # --- one round -------------------------------------------------------------

    async def _try_acquire_or_renew(self, now: float) -> bool:
        try:
            lease = await self.api.get(LEASES, self.lease.namespace, self.lease.name)
        except errors.NotFound:
            return await self._create()
        except errors.KubeError as error:
            logger.info("cannot read lease %s: %s", self.lease.name, error)
            return False

        record = spec(lease)
        holder = record.get("holderIdentity") or None
        self._observe(holder, record, now)
        if self.leader and holder != self.lease.identity:
            # Someone else wrote the Lease: we are no longer the leader, at once.
            self._stop_leading(f"lease {self.lease.name} was taken by {holder or 'nobody'}")
        if holder not in (None, self.lease.identity):
            duration = as_int(record.get("leaseDurationSeconds")) or self.lease.lease_seconds
            if now < self._observed_at + duration:
                return False  # someone else holds a live lease

        # Ours to renew, or free to take: write it with the version we read.
        ours = holder == self.lease.identity
        body = dict(lease)
        body["spec"] = {
            **record,
            "holderIdentity": self.lease.identity,
            "leaseDurationSeconds": self._duration(),
            "renewTime": _micro_time(),
            "acquireTime": record.get("acquireTime") if ours else _micro_time(),
            "leaseTransitions": as_int(record.get("leaseTransitions")) + (0 if ours else 1),
        }
        try:
            written = await self.api.replace(LEASES, self.lease.namespace, self.lease.name, body)
        except errors.Conflict:
            return False  # another replica wrote first
        except errors.KubeError as error:
            logger.info("cannot renew lease %s: %s", self.lease.name, error)
            return False
        self._observe(self.lease.identity, spec(written), self.monotonic())
        return True

    async def _create(self) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": self.lease.name, "namespace": self.lease.namespace},
            "spec": {
                "holderIdentity": self.lease.identity,
                "leaseDurationSeconds": self._duration(),
                "acquireTime": _micro_time(), "renewTime": _micro_time(),
                "leaseTransitions": 0,
            },
        }
        try:
            await self.api.create(LEASES, self.lease.namespace, body)
        except errors.KubeError as error:
            # AlreadyExists: another replica created it first; read it next round.
            logger.info("cannot create lease %s: %s", self.lease.name, error)
            return False
        return True

    def _observe(self, holder: str | None, record: JsonObject, now: float) -> None:
        """Restart the expiry clock whenever the record changes (a renewal or a new holder)."""
        seen = (holder, record.get("renewTime"), record.get("leaseTransitions"))
        if seen != self._observed:
            self._observed, self._observed_at = seen, now
        if holder != self.holder:
            logger.info("lease %s is held by %s", self.lease.name, holder or "nobody",
                        extra={"holder": holder or ""})
            self.holder = holder

    # --- leading and stepping down -----------------------------------------------

    def _renewed(self, started: float) -> None:
        # Measured from before the write: a follower's clock starts no earlier.
        self._renewed_at = started
        self._set(True)
        if self._step_down is not None:
            self._step_down.cancel()
        delay = started + self.lease.renew_deadline_seconds - self.monotonic()
        self._step_down = asyncio.get_running_loop().call_later(max(0.0, delay), self._expired)

    def _expired(self) -> None:
        self._step_down = None
        self._stop_leading(f"could not renew lease {self.lease.name} for"
                           f" {self.lease.renew_deadline_seconds:g}s")

    def _stop_leading(self, why: str) -> None:
        if self._step_down is not None:
            self._step_down.cancel()
            self._step_down = None
        if self.leader:
            logger.warning("stepping down: %s", why)
        self._set(False)

    def _set(self, leader: bool) -> None:
        if leader != self.leader:
            self.leader = leader
            self.on_change(leader)

    async def _release(self) -> None:
        """Stop acting, then free the Lease so a successor need not wait it out."""
        was_leader = self.leader
        self._stop_leading("shutting down")
        if not was_leader:
            return
        with contextlib.suppress(errors.KubeError, TimeoutError):
            async with asyncio.timeout(_RELEASE_SECONDS):
                lease = await self.api.get(LEASES, self.lease.namespace, self.lease.name)
                if spec(lease).get("holderIdentity") != self.lease.identity:
                    return
                body = dict(lease)
                body["spec"] = {**spec(lease), "holderIdentity": None,
                                "leaseDurationSeconds": 1, "renewTime": _micro_time()}
                await self.api.replace(LEASES, self.lease.namespace, self.lease.name, body)
                logger.info("released lease %s", self.lease.name,
                            extra={"version": metadata(lease).get("resourceVersion")})

    def _duration(self) -> int:
        return max(1, math.ceil(self.lease.lease_seconds))


def _micro_time() -> str:
    """A MicroTime, as the API writes Lease times: RFC 3339, UTC, microseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
