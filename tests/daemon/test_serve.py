"""`remediator serve` as a real process: start, SIGTERM, and kill -9 in a storm."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.daemon.payloads import alert, body, notification

REPO = Path(__file__).resolve().parents[2]
START_SECONDS = 30.0
DEPLOYMENTS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """One `python -m remediator serve` process on a loopback port."""

    def __init__(self, args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
                 port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = cwd / f"serve-{time.monotonic_ns()}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "remediator", "serve", *args],
                cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
            )

    async def ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.log.read_text()
                try:
                    async with session.get(f"{self.url}/readyz") as reply:
                        if reply.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"not ready in time:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.kill()


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as reply:
        assert reply.status == 200, await reply.text()
        return await reply.json()


async def test_no_arguments_starts_dry_run_with_local_state(
        tmp_path: Path, servers: list[Server]) -> None:
    """With no arguments (port from the environment) it runs dry, state in .remediator-state."""
    port = free_port()
    server = Server([], cwd=tmp_path, env={"REMEDIATOR_LISTEN": f"127.0.0.1:{port}"},
                    port=port)
    servers.append(server)
    await server.ready()

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.url}/webhook/alertmanager",
                                data=body(notification(alert("LLMLatencyP95Critical")))) as r:
            assert r.status == 200
        deadline = time.monotonic() + START_SECONDS
        while not (history := [d for d in await get_json(f"{server.url}/api/v1/actions")
                               if d["outcome"] != "pending"]):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)

    assert server.stop() == 0
    assert [(d["type"], d["outcome"]) for d in history] == [("scale", "dry_run")]
    assert (tmp_path / ".remediator-state" / "remediator.sqlite3").exists()
    assert '"message": "stopped"' in server.log.read_text()


async def test_restart_in_the_middle_of_a_storm(tmp_path: Path, servers: list[Server]) -> None:
    """kill -9 during a storm: no accepted episode is lost and no action is repeated."""
    config = tmp_path / "remediator.yaml"
    config.write_text(json.dumps({
        "targets": {"allowed_namespaces": ["shop"]},
        "alerts": {"custom": [{"alertname": "PodCrashLooping", "action": "restart",
                               "priority": 1}]},
        "guard": {"rate_limit": {"actions": 1000}},
        "state": {"dir": str(tmp_path / "state")},
        "results": {"path": str(tmp_path / "none.json")},
    }))
    port = free_port()
    args = ["--config", str(config), "--listen", f"127.0.0.1:{port}"]
    bodies = {
        n: body(notification(alert("PodCrashLooping", namespace="shop",
                                   deployment=f"dep-{n}", pod=f"dep-{n}-0")))
        for n in range(DEPLOYMENTS)
    }

    # A storm: every group three times, twenty at once; kill -9 half-way through.
    first = Server(args, cwd=tmp_path, port=port)
    servers.append(first)
    await first.ready()
    accepted: set[int] = set()
    gate = asyncio.Semaphore(20)
    killed = asyncio.Event()

    async def send(session: aiohttp.ClientSession, n: int) -> None:
        async with gate:
            if killed.is_set():
                return
            try:
                async with session.post(f"{first.url}/webhook/alertmanager",
                                        data=bodies[n]) as reply:
                    if reply.status == 200:
                        accepted.add(n)
            except aiohttp.ClientError:
                return
            if len(accepted) >= DEPLOYMENTS // 2 and not killed.is_set():
                killed.set()
                first.kill()

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(send(session, n % DEPLOYMENTS)
                               for n in range(3 * DEPLOYMENTS)))
    assert killed.is_set() and first.process.returncode == -signal.SIGKILL

    # Restart on the same state: every accepted episode is there and gets its decision.
    second = Server(args, cwd=tmp_path, port=port)
    servers.append(second)
    await second.ready()
    restarted = await _settled(second, accepted)

    # Alertmanager re-sends everything (its retries and repeats): nothing runs twice.
    async with aiohttp.ClientSession() as session:
        for data in bodies.values():
            async with session.post(f"{second.url}/webhook/alertmanager", data=data) as reply:
                assert reply.status == 200
    final = await _settled(second, set(range(DEPLOYMENTS)))

    firing = await get_json(f"{second.url}/api/v1/alerts")
    assert second.stop() == 0
    assert accepted <= {int(e["labels"]["deployment"][4:]) for e in firing}
    for history in (restarted, final):
        acted = [d["target"] for d in history if d["outcome"] in ("dry_run", "failed")]
        assert len(acted) == len(set(acted)), "an action was repeated"
    assert {d["target"] for d in final} == {f"shop/deployment/dep-{n}"
                                            for n in range(DEPLOYMENTS)}


async def _settled(server: Server, expected: set[int]) -> list[dict[str, Any]]:
    """Poll (bounded) until every expected Deployment has a decision and nothing waits."""
    wanted = {f"shop/deployment/dep-{n}" for n in expected}
    deadline = time.monotonic() + START_SECONDS
    while True:
        history: list[dict[str, Any]] = await get_json(
            f"{server.url}/api/v1/actions?limit=1000")
        metrics = await _text(f"{server.url}/metrics")
        done = wanted <= {d["target"] for d in history}
        if done and "remediator_queue_depth 0.0" in metrics and not any(
                d["outcome"] == "pending" for d in history):
            return history
        assert time.monotonic() < deadline, f"not settled: {len(history)} decisions"
        await asyncio.sleep(0.05)


async def _text(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as reply:
        return await reply.text()
