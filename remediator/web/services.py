"""What the handlers reach through the app: one typed key to the daemon's parts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry

from remediator.alerting.payload import RecentBodies
from remediator.config.settings import Settings
from remediator.execution.base import Executor
from remediator.leadership import Leadership
from remediator.metrics import SelfMetrics
from remediator.notify.notifier import Notifier
from remediator.remediation.pipeline import Remediation
from remediator.results_watch import ResultsWatcher
from remediator.state.base import Store
from remediator.web.auth import Authenticator
from remediator.web.unmapped import UnmappedAlerts


@dataclasses.dataclass
class Services:
    settings: Settings
    store: Store
    executor: Executor
    registry: CollectorRegistry
    metrics: SelfMetrics
    remediation: Remediation
    watcher: ResultsWatcher
    auth: Authenticator
    leadership: Leadership
    notifier: Notifier
    clock: Callable[[], float]
    unmapped: UnmappedAlerts
    bodies: RecentBodies = dataclasses.field(default_factory=RecentBodies)
    """Webhook bodies seen lately, parsed: a repeat of the same bytes is not parsed again."""

    started: bool = False
    """True once the store is open and the worker runs; /readyz needs it."""


SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def require_auth(request: web.Request) -> None:
    """Raise 401 unless the request is authenticated (when authentication is configured)."""
    auth = services(request).auth
    if not auth.allows(request):
        raise auth.challenge()


def too_large(limit: int) -> web.HTTPRequestEntityTooLarge:
    """The 413 of a body above `server.body_limit_bytes`, as JSON like our other errors."""
    return web.HTTPRequestEntityTooLarge(
        max_size=limit, actual_size=0,
        text=f'{{"error": "body larger than {limit} bytes (server.body_limit_bytes)"}}',
        content_type="application/json",
    )


async def read_body(request: web.Request) -> bytes:
    """The request body, or a 413 when it is above the limit (announced or not)."""
    limit = services(request).settings.server.body_limit_bytes
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        # Alertmanager and the results push send plain JSON.
        raise web.HTTPUnsupportedMediaType(text=json.dumps({
            "error": f"Content-Encoding {encoding!r} is not accepted: send the body as is",
            "field": "Content-Encoding",
        }), content_type="application/json")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large(limit) from None

