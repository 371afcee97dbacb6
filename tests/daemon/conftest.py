"""Fixtures that run the daemon's app in-process through pytest-aiohttp."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from remediator.config.settings import Settings
from remediator.execution.base import Executor
from remediator.leadership import Leadership
from remediator.state.base import DecisionRecord, Store
from remediator.web.app import WEBHOOK_PATH, create_app
from remediator.web.services import SERVICES, Services
from tests.daemon.payloads import body
from tests.daemon.support import T0, FakeClock, make_settings

SETTLE_SECONDS = 15.0


@dataclasses.dataclass
class Daemon:
    app: web.Application
    client: TestClient[Any, Any]
    clock: FakeClock
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    async def post(self, document: dict[str, Any] | bytes, *,
                   headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
        data = document if isinstance(document, bytes) else body(document)
        reply = await self.client.post(
            WEBHOOK_PATH, data=data,
            headers={"Content-Type": "application/json",
                     "User-Agent": "Alertmanager/0.25.0", **self.headers, **(headers or {})},
        )
        payload = await reply.json() if reply.content_type == "application/json" else None
        return reply.status, payload

    async def settle(self) -> None:
        """Wait (bounded) until every recorded episode has been evaluated."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while not self.services.remediation.idle:
            assert time.monotonic() < deadline, "the worker did not settle in time"
            await asyncio.sleep(0.01)

    async def decisions(self) -> list[DecisionRecord]:
        """Every decision, oldest first."""
        return list(reversed(await self.services.store.decisions(limit=10000)))

    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        reply = await self.client.request(method, path, headers=self.headers, **kwargs)
        payload = await reply.json() if reply.content_type == "application/json" else None
        return reply.status, payload

    async def metrics(self) -> str:
        reply = await self.client.get("/metrics")
        return await reply.text()

    def sample(self, name: str, **labels: str) -> float:
        value = self.services.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


MakeDaemon = Callable[..., Awaitable[Daemon]]


@pytest.fixture
def clock() -> FakeClock:
    """2024-05-01T10:00:30Z, thirty seconds into the field reports' scenarios."""
    return FakeClock(T0 + 30)


@pytest.fixture
def make_daemon(aiohttp_client: Any, tmp_path: Path, clock: FakeClock) -> MakeDaemon:
    async def make(settings: Settings | None = None, *, executor: Executor | None = None,
                   environ: Mapping[str, str] | None = None,
                   leadership: Leadership | None = None, raw: dict[str, Any] | None = None,
                   store: Store | None = None, **dotted: Any) -> Daemon:
        if settings is None:
            dotted.setdefault("state.dir", str(tmp_path / "state"))
            dotted.setdefault("results.path", str(tmp_path / "bench_results.json"))
            settings = make_settings(raw, **dotted)
        app = create_app(settings, executor=executor, clock=clock, environ=environ or {},
                         leadership=leadership, store=store)
        client = await aiohttp_client(app)
        return Daemon(app, client, clock)

    return make


@pytest.fixture
async def daemon(make_daemon: MakeDaemon) -> Daemon:
    """The daemon with default settings: dry-run, SQLite state in a temp directory."""
    return await make_daemon()
