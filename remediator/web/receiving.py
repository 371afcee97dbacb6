"""
`POST /webhook/alertmanager`: take a notification, record it, answer fast.

Alertmanager retries 5xx and never 4xx, so: 400 only for bodies we will
never accept (logged, since nobody else will see the message), 413 above the
body limit, 503 when a retry can help (state store failing, too much
waiting), and 200 once what is new is durable.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import web

from remediator.errors import PayloadError
from remediator.remediation.pipeline import Busy
from remediator.state.base import StateError
from remediator.web.services import read_body, require_auth, services, too_large

logger = logging.getLogger("remediator.webhook")

RETRY_AFTER_SECONDS = "10"


async def alertmanager(request: web.Request) -> web.Response:
    daemon = services(request)
    require_auth(request)

    # Refuse an oversized body before reading it, when its length is announced.
    limit = daemon.settings.server.body_limit_bytes
    if request.content_length is not None and request.content_length > limit:
        logger.warning("webhook body of %d bytes refused: the limit is %d"
                       " (server.body_limit_bytes)", request.content_length, limit)
        raise too_large(limit)
    try:
        data = await read_body(request)
    except web.HTTPRequestEntityTooLarge:
        logger.warning("webhook body refused: larger than the limit of %d bytes"
                       " (server.body_limit_bytes)", limit)
        raise

    # Parse; what we will never accept is logged, because Alertmanager won't retry it.
    now = datetime.fromtimestamp(daemon.clock(), UTC)
    try:
        notification = daemon.bodies.parse(data, now=now, source="webhook")
    except PayloadError as error:
        daemon.metrics.notifications.labels("rejected").inc()
        logger.warning("notification rejected: %s", error,
                       extra={"field": error.field, "user_agent": request.headers.get(
                           "User-Agent", "")})
        return web.json_response({"error": str(error), "field": error.field}, status=400)

    # Record what is new, durably, then answer; the worker takes it from there.
    try:
        changes = await daemon.remediation.receive(notification)
    except Busy as busy:
        logger.warning("notification deferred: %s; Alertmanager will retry", busy)
        return web.json_response({"error": str(busy)}, status=503,
                                 headers={"Retry-After": RETRY_AFTER_SECONDS})
    except StateError as error:
        daemon.metrics.state_errors.inc()
        logger.error("notification not recorded: %s; Alertmanager will retry", error)
        return web.json_response({"error": "state store unavailable"}, status=503,
                                 headers={"Retry-After": RETRY_AFTER_SECONDS})
    daemon.unmapped.note(notification.alerts)
    # Written out rather than json.dumps'd: in a storm this reply is most of what
    # a repeat costs after parsing.
    reply = (f'{{"status": "accepted", "alerts": {len(notification.alerts)},'
             f' "new": {len(changes.new)}, "resolved": {len(changes.resolved)},'
             f' "repeat": {"false" if changes.news else "true"}}}')
    return web.Response(text=reply, content_type="application/json")

