"""
The daemon's aiohttp application: routes, the state it runs on, its lifecycle.

`create_app` wires the parts; everything long-lived (the state store, the
worker, the results poller, the notifier, leader election) is opened and
closed in the app's cleanup context, so tests run the same app through
pytest-aiohttp that `remediator serve` runs for real.

Readiness: `/readyz` answers 200 only once the store is open and the worker
runs, and only while `Leadership.leader` is true. With leader election the
elector flips that flag (see `remediator.leadership`), so a Service routes
webhooks to the leader alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from remediator.alerting import mapping
from remediator.config.settings import Settings
from remediator.execution import runner
from remediator.execution.base import Executor
from remediator.exporting import BenchGauges
from remediator.leadership import Elector, Leadership
from remediator.metrics import SelfMetrics
from remediator.notify.notifier import Notifier
from remediator.remediation.pipeline import Remediation
from remediator.results_watch import ResultsWatcher
from remediator.state.backends import make_store
from remediator.state.base import Store
from remediator.web import api, auth, receiving
from remediator.web.services import SERVICES, Services, services
from remediator.web.unmapped import UnmappedAlerts

logger = logging.getLogger("remediator.server")

WEBHOOK_PATH = "/webhook/alertmanager"
DRAIN_SECONDS = 20.0
"""On shutdown, how long the worker may finish the pass in progress."""


def create_app(
    settings: Settings,
    *,
    executor: Executor | None = None,
    store: Store | None = None,
    registry: CollectorRegistry | None = None,
    leadership: Leadership | None = None,
    elector: Elector | None = None,
    clock: Callable[[], float] = time.time,
    environ: Mapping[str, str] | None = None,
) -> web.Application:
    """
    The app, with its parts made from the settings unless given.

    Raises ConfigError when authentication is required but missing, or a
    secret file cannot be read.
    """
    environ = os.environ if environ is None else environ
    authenticator = auth.from_settings(settings, environ)
    auth.check_startup(settings, authenticator)

    registry = registry or CollectorRegistry()
    metrics = SelfMetrics(registry)
    store = store or make_store(settings)
    executor = executor or runner.executor_for(settings)
    leadership = leadership or Leadership()
    notifier = Notifier(settings.notify, metrics)
    gauges = BenchGauges(registry, max_age_seconds=settings.alerts.results_stale_seconds,
                         clock=clock)
    watcher = ResultsWatcher(settings.results.path, format=settings.results.format,
                             poll_seconds=settings.results.poll_seconds, gauges=gauges,
                             metrics=metrics)
    remediation = Remediation(settings, store=store, executor=executor, metrics=metrics,
                              notifier=notifier, leadership=leadership, clock=clock)

    app = web.Application(
        client_max_size=settings.server.body_limit_bytes,
        middlewares=[_count_webhook_replies],
        # Bodies are taken as sent: an encoded one is refused (`read_body`) rather
        # than inflated past the body limit, or failing to inflate mid-request.
        handler_args={"auto_decompress": False},
    )
    app[SERVICES] = Services(
        settings=settings, store=store, executor=executor, registry=registry,
        metrics=metrics, remediation=remediation, watcher=watcher, auth=authenticator,
        leadership=leadership, notifier=notifier, clock=clock,
        unmapped=UnmappedAlerts(mapping.known_alertnames(settings), metrics.unmapped_alerts),
    )
    app.cleanup_ctx.append(_lifecycle(elector))
    _routes(app, registry)
    return app


def _routes(app: web.Application, registry: CollectorRegistry) -> None:
    app.router.add_get("/metrics", make_aiohttp_handler(registry))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post(WEBHOOK_PATH, receiving.alertmanager)
    app.router.add_get("/api/v1/actions", api.actions)
    app.router.add_get("/api/v1/alerts", api.alerts)
    app.router.add_get("/api/v1/targets", api.targets)
    target = "/api/v1/targets/{namespace}/{kind}/{name}"
    app.router.add_post(f"{target}/pause", api.pause)
    app.router.add_post(f"{target}/resume", api.resume)
    app.router.add_post(f"{target}/breaker/reset", api.reset_breaker)
    app.router.add_post("/api/v1/config/revert", api.revert_config)
    app.router.add_post("/api/v1/results", api.push_results)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    daemon = services(request)
    if not daemon.started:
        return web.json_response({"ready": False, "reason": "starting"}, status=503)
    if not daemon.leadership.leader:
        return web.json_response({"ready": False, "reason": "not the leader"}, status=503)
    return web.json_response({"ready": True})


@web.middleware
async def _count_webhook_replies(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Count every webhook reply by status code, errors included."""
    if request.path != WEBHOOK_PATH:
        return await handler(request)
    metrics = request.app[SERVICES].metrics
    try:
        response = await handler(request)
    except web.HTTPException as error:
        metrics.count(metrics.webhook_requests, str(error.status))
        raise
    except Exception:  # a bug: aiohttp answers 500 and logs it; the health alert must see it
        metrics.count(metrics.webhook_requests, "500")
        raise
    metrics.count(metrics.webhook_requests, str(response.status))
    return response


def _lifecycle(elector: Elector | None
               ) -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        daemon = app[SERVICES]

        # Open the state and rebuild memory before anything may act.
        await daemon.store.open()
        await daemon.remediation.start()
        await daemon.watcher.check()
        await daemon.notifier.start()

        remediation = daemon.remediation
        worker = asyncio.create_task(remediation.run(), name="remediation-worker")
        chores = [
            asyncio.create_task(daemon.watcher.run(), name="results-watch"),
            asyncio.create_task(remediation.summarise_repeats(), name="repeat-summary"),
            asyncio.create_task(remediation.prune(), name="prune"),
        ]
        if elector is not None:
            chores.append(asyncio.create_task(elector(daemon.settings, daemon.leadership),
                                              name="leader-election"))
        daemon.started = True
        logger.info("remediator ready: executor %s, state %s", daemon.executor.name,
                    daemon.settings.state.backend,
                    extra={"executor": daemon.executor.name,
                           "state": daemon.settings.state.backend})
        try:
            yield
        finally:
            # Drain: the pass in progress finishes; what is pending stays recorded.
            daemon.started = False
            remediation.stop()
            try:
                await asyncio.wait_for(worker, DRAIN_SECONDS)
            except TimeoutError:
                logger.warning("worker did not finish within %.0fs; pending episodes are"
                               " evaluated at the next start", DRAIN_SECONDS)
                # Cut short before its own drain: what its passes left to store, briefly.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(remediation.decider.unawaited.drain(),
                                           DRAIN_SECONDS)
            for task in chores:
                task.cancel()
            for task in chores:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await daemon.notifier.close()
            await daemon.store.close()

    return lifecycle
