"""A real Alertmanager 0.25 (Debian's) delivering to the daemon, with a token."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from tests.daemon.conftest import MakeDaemon

TOKEN = "alertmanager-token"
DEADLINE_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Alertmanager:
    """Debian's Alertmanager on a free loopback port, gossip off, started on demand."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("prometheus-alertmanager")
        assert binary, "prometheus-alertmanager is missing: `make system-deps` installs it"
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.config = folder / "alertmanager.yml"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.folder / "am.log").open("wb") as log:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={self.config}",
                 f"--storage.path={self.folder / 'am'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
                 f"--web.external-url=http://127.0.0.1:{self.port}"],
                stdout=subprocess.DEVNULL, stderr=log,
            )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    server = Alertmanager(tmp_path)
    yield server
    server.stop()


async def test_real_alertmanager_fires_and_resolves_through_the_daemon(
        make_daemon: MakeDaemon, alertmanager: Alertmanager, tmp_path: Path) -> None:
    """An alert pushed into Alertmanager reaches the daemon authenticated, acts, resolves."""
    config, port = alertmanager.config, alertmanager.port
    daemon = await make_daemon(environ={"REMEDIATOR_WEBHOOK_TOKEN": TOKEN})
    daemon.headers["Authorization"] = f"Bearer {TOKEN}"
    (tmp_path / "token").write_text(TOKEN)
    config.write_text(json.dumps({
        "route": {"receiver": "remediator", "group_by": ["alertname"], "group_wait": "0s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "remediator", "webhook_configs": [{
            "url": str(daemon.client.make_url("/webhook/alertmanager")),
            "send_resolved": True,
            "http_config": {"authorization": {"credentials_file": str(tmp_path / "token")}},
        }]}],
    }))
    alertmanager.start()
    now = datetime.now(UTC)
    firing = [{"labels": {"alertname": "LLMLatencyP95Critical", "severity": "critical"},
               "startsAt": now.isoformat()}]

    async with aiohttp.ClientSession() as session:
        await _post_when_up(session, f"http://127.0.0.1:{port}/api/v2/alerts", firing)
        await _until(daemon, lambda: daemon.sample(
            "remediator_notifications_total", result="new") >= 1)
        await daemon.settle()
        firing[0]["endsAt"] = (now + timedelta(seconds=1)).isoformat()
        await _post_when_up(session, f"http://127.0.0.1:{port}/api/v2/alerts", firing)
        await _until(daemon, lambda: daemon.sample("remediator_alerts_total",
                                                   status="resolved") >= 1)
    await daemon.settle()

    [decision] = await daemon.decisions()
    assert (decision.type, decision.outcome) == ("scale", "dry_run")
    assert decision.alert is not None and decision.alert.alertname == "LLMLatencyP95Critical"
    assert daemon.sample("remediator_webhook_requests_total", code="401") == 0
    assert daemon.services.remediation.book.firing(now=daemon.clock()) == []


async def _post_when_up(session: aiohttp.ClientSession, url: str, alerts: object) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            async with session.post(url, json=alerts) as reply:
                if reply.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        assert time.monotonic() < deadline, "Alertmanager did not come up"
        await asyncio.sleep(0.05)


async def _until(daemon: object, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the daemon did not hear from Alertmanager"
        await asyncio.sleep(0.05)
