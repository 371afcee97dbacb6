"""
The remediator as a user starts it, against the fake cluster: `remediator
serve` as a background process, `remediator watch` (or any other command)
as a process run to its end. Both run on the test's event loop's side: the
fake API serves on that loop, so nothing here may block it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml

REPO = Path(__file__).resolve().parents[2]
# Variables of the developer's shell that would change what the command does.
_UNSET = ("AUTO_EXECUTE", "DRY_RUN", "RESULTS_PATH", "KUBECONFIG", "REMEDIATOR_EXECUTOR",
          "REMEDIATOR_WEBHOOK_TOKEN", "REMEDIATOR_URL", "REMEDIATOR_STATE_BACKEND",
          "REMEDIATOR_MIN_PRIORITY")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This interpreter's environment without our variables, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if key not in _UNSET}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


@dataclasses.dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


async def remediator(*args: str, cwd: Path, env: Mapping[str, str] | None = None,
                     timeout_seconds: float = 120.0) -> Finished:
    """Run `python -m remediator ARGS` to its end, without blocking the event loop."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "remediator", *args, cwd=cwd, env=environment(env),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout_seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return Finished(process.returncode or 0, out.decode(), err.decode())


class Server:
    """One `remediator serve` process with its own config file, port and log."""

    def __init__(self, workdir: Path, name: str, config: dict[str, Any], *,
                 args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        self.config = workdir / f"{name}.yaml"
        self.config.write_text(yaml.safe_dump(config))
        self.args = list(args)
        self.env = dict(env or {})
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "remediator", "serve", "--config", str(self.config),
            "--listen", f"127.0.0.1:{self.port}", "--log-level", "debug", *self.args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=self.log.open("wb"), env=environment(self.env), cwd=self.config.parent,
        )

    def kill(self) -> None:
        """kill -9: no drain, no release of the Lease."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def ready(self, session: aiohttp.ClientSession) -> bool:
        if not self.alive:
            return False
        try:
            async with session.get(f"{self.url}/readyz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    async def actions(self, session: aiohttp.ClientSession, token: str
                      ) -> list[dict[str, Any]]:
        async with session.get(f"{self.url}/api/v1/actions?limit=100",
                               headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200, await response.text()
            found: list[dict[str, Any]] = await response.json()
            return found

    def tail(self) -> str:
        return f"--- {self.name}\n{self.log.read_text()[-4000:]}"
