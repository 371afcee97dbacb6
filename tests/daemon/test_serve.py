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
                                   deployment=f"dep-{n}", pod=f"dep-{n}-0"),
                             group_key=f'{{}}:{{deployment="dep-{n}"}}'))
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


# A kubectl whose scale blocks until the test releases it, so SIGTERM finds work in flight.
BLOCKING_KUBECTL = """#!{python}
import json, os, sys, time
with open({log!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1] == "get":
    print("1", end="")
if sys.argv[1] == "scale":
    open({started!r}, "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists({release!r}) and time.monotonic() < deadline:
        time.sleep(0.02)
"""


async def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_sigterm_lets_the_action_in_flight_finish_and_exits_0(
        tmp_path: Path, servers: list[Server]) -> None:
    """SIGTERM while kubectl scales: the action completes, is recorded executed, exit 0."""
    from remediator.state.sqlite import SqliteStore

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    argv_log, started, release = tmp_path / "argv.log", tmp_path / "started", tmp_path / "go"
    stub = bin_dir / "kubectl"
    stub.write_text(BLOCKING_KUBECTL.format(python=sys.executable, log=str(argv_log),
                                            started=str(started), release=str(release)))
    stub.chmod(0o755)
    port = free_port()
    server = Server(["--listen", f"127.0.0.1:{port}", "--state-dir", str(tmp_path / "state")],
                    cwd=tmp_path, port=port, env={
                        "PATH": f"{bin_dir}:{os.environ['PATH']}", "AUTO_EXECUTE": "true",
                        "REMEDIATOR_EXECUTOR": "kubectl", "REMEDIATOR_WEBHOOK_TOKEN": "tok"})
    servers.append(server)
    await server.ready()

    async with aiohttp.ClientSession() as session, session.post(
            f"{server.url}/webhook/alertmanager",
            data=body(notification(alert("LLMLatencyP95Critical"))),
            headers={"Authorization": "Bearer tok"}) as reply:
        assert reply.status == 200
    await _until(started.exists, "kubectl scale to start")
    server.process.send_signal(signal.SIGTERM)
    await _until(lambda: "stopping: draining" in server.log.read_text(), "the drain")
    release.touch()

    assert server.stop() == 0, server.log.read_text()
    store = SqliteStore(str(tmp_path / "state"))
    await store.open()
    try:
        [decision] = await store.decisions(limit=10)
    finally:
        await store.close()
    assert (decision.type, decision.outcome) == ("scale", "executed")
    assert ["scale", "deployment", "llm-gateway", "--replicas=5", "--namespace=default"] in [
        json.loads(line) for line in argv_log.read_text().splitlines()]


@pytest.mark.parametrize(("config", "env", "expected"), [
    ("thresholds:\n  p95_ms: {warning: 200}\n", {},
     "thresholds.p95_ms: warning (200) must not be above critical (150)"),
    ("state:\n  backend: etcd\n", {}, "state.backend: Input should be 'sqlite' or"),
    ("", {"REMEDIATOR_MIN_PRIORITY": "0"}, "environment REMEDIATOR_MIN_PRIORITY"),
    ("", {"AUTO_EXECUTE": "true"}, "execution is on but the webhook has no authentication"),
])
def test_serve_refuses_bad_settings_with_one_line_and_exit_2(
        tmp_path: Path, config: str, env: dict[str, str], expected: str) -> None:
    """A bad config, or execution without authentication, stops serve before it listens."""
    path = tmp_path / "remediator.yaml"
    path.write_text(config)
    environ = {k: v for k, v in os.environ.items()
               if k not in ("AUTO_EXECUTE", "DRY_RUN", "REMEDIATOR_WEBHOOK_TOKEN")}

    done = subprocess.run(
        [sys.executable, "-m", "remediator", "serve", "--config", str(path),
         "--listen", f"127.0.0.1:{free_port()}", "--state-dir", str(tmp_path / "state")],
        cwd=tmp_path, env={**environ, "PYTHONPATH": str(REPO), **env}, capture_output=True,
        text=True, timeout=START_SECONDS, check=False,
    )

    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("remediator: error: ") and expected in done.stderr


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Listening on a taken port fails with the address named, not a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "remediator", "serve", "--listen", f"127.0.0.1:{port}",
             "--state-dir", str(tmp_path / "state")],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
            text=True, timeout=START_SECONDS, check=False,
        )

    assert done.returncode == 2
    [last] = done.stderr.strip().splitlines()[-1:]
    assert last.startswith(f"remediator: error: command line: --listen: cannot listen on "
                           f"127.0.0.1:{port}")
    assert "Traceback" not in done.stderr


async def test_the_readmes_first_run_gives_what_it_promises(
        tmp_path: Path, servers: list[Server]) -> None:
    """The two bodies of README's "A first run", sent as shown: the gauges and the decision."""
    import re

    section = (REPO / "README.md").read_text().split("## A first run")[1].split("\n## ")[0]
    push, webhook = re.findall(r"--data-binary \\?\s*'(.*?)'", section, re.DOTALL)
    port = free_port()
    server = Server(["--listen", f"127.0.0.1:{port}", "--config",
                     str(REPO / "remediator.example.yaml")], cwd=tmp_path, port=port)
    servers.append(server)
    await server.ready()

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.url}/api/v1/results", data=push) as reply:
            assert reply.status == 200, await reply.text()
        gauges = await _text(f"{server.url}/metrics")
        for _ in range(2):
            async with session.post(f"{server.url}/webhook/alertmanager", data=webhook,
                                    headers={"Content-Type": "application/json"}) as reply:
                assert reply.status == 200, await reply.text()
    await _until(lambda: "decision 1:" in server.log.read_text(), "the decision")
    listed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "remediator", "decisions", "--url", server.url],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=START_SECONDS, check=False,
    )

    assert 'llm_bench_latency_seconds{percentile="95"} 0.165' in gauges
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.strip().splitlines()
    assert "dry_run" in line and ("would run: kubectl scale deployment llm-gateway "
                                  "--replicas=5 --namespace=default") in line
