"""
The daemon's leader-election hook (see `remediator.leadership`).

`run(settings, leadership)` competes for the configured Lease until it is
cancelled, and flips `leadership` as this replica gains and loses it. The
replica starts as a follower: it acts only once it holds the Lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Mapping

from remediator.config import names
from remediator.config.settings import Settings
from remediator.k8s import client
from remediator.k8s.leadership import LeaseElector, LeaseSettings
from remediator.leadership import Leadership

logger = logging.getLogger("remediator.leadership")

_CONFIG_RETRY_SECONDS = 5.0


def identity(environ: Mapping[str, str] = os.environ) -> str:
    """The pod's name (or host name) and a random suffix: unique even across restarts."""
    base = environ.get("POD_NAME") or environ.get("HOSTNAME") or "remediator"
    if not names.is_object_name(base):
        base = "remediator"
    return f"{base}_{secrets.token_hex(4)}"


def lease_settings(settings: Settings, environ: Mapping[str, str] = os.environ
                   ) -> LeaseSettings:
    election = settings.kubernetes.leader_election
    return LeaseSettings(
        namespace=client.own_namespace(settings, environ),
        name=election.lease_name,
        identity=identity(environ),
        lease_seconds=election.lease_duration_seconds,
        renew_deadline_seconds=election.renew_deadline_seconds,
        retry_seconds=election.retry_period_seconds,
    )


async def run(settings: Settings, leadership: Leadership) -> None:
    """Compete for the Lease until cancelled; only the holder may act."""
    leadership.set(False)
    lease = lease_settings(settings)
    logger.info("leader election on lease %s/%s as %s", lease.namespace, lease.name,
                lease.identity, extra={"identity": lease.identity})

    # Without a cluster configuration this replica cannot lead; keep trying,
    # so a mounted token that appears late still lets it join.
    while True:
        try:
            api_client = await client.new_api_client(settings.kubernetes)
            break
        except client.ClientConfigError as error:
            logger.error("leader election cannot start: %s", error)
            await asyncio.sleep(_CONFIG_RETRY_SECONDS)

    # Each request must end well within the renew deadline.
    timeout = max(0.5, min(lease.retry_seconds, lease.renew_deadline_seconds / 3))
    elector = LeaseElector(client.Api(api_client, timeout_seconds=timeout), lease,
                           on_change=leadership.set)
    try:
        await elector.run()
    finally:
        await api_client.close()
