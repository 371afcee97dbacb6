"""
`remediator serve` as a real process on a loopback port, for tests and benchmarks.

It runs in a clean environment (none of the caller's REMEDIATOR_*, AUTO_EXECUTE,
DRY_RUN or RESULTS_PATH), logs to a file, and can be stopped with SIGTERM or
killed with SIGKILL. Readiness is polled on `/readyz` with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[2]
START_SECONDS = 60.0
POLL_SECONDS = 0.05
_SETTINGS_VARIABLES = ("AUTO_EXECUTE", "DRY_RUN", "RESULTS_PATH", "REMEDIATOR_")


class ServeError(AssertionError):
    """The daemon did not start or stop as expected; carries the tail of its log."""


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without settings variables, plus `extra`."""
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(_SETTINGS_VARIABLES)}
    environ["PYTHONPATH"] = str(REPO)
    return {**environ, **(extra or {})}


def rss_of(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of a process from /proc/PID/status (Linux), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise ServeError(f"no {field} for pid {pid}")


class Serve:
    """One `python -m remediator serve --listen 127.0.0.1:PORT --state-dir DIR` process."""

    def __init__(self, workdir: Path, *, state_dir: Path, token: str | None = None,
                 config: Path | None = None, port: int | None = None,
                 args: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.log = workdir / f"serve-{self.port}-{time.monotonic_ns()}.log"
        argv = [sys.executable, "-m", "remediator", "serve",
                "--listen", f"127.0.0.1:{self.port}", "--state-dir", str(state_dir),
                "--results", str(workdir / "no-results.json"), *args]
        if config is not None:
            argv += ["--config", str(config)]
        extra = dict(environ or {})
        if token is not None:
            extra["REMEDIATOR_WEBHOOK_TOKEN"] = token
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=clean_environment(extra),
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    # --- readiness ---------------------------------------------------------------

    def ready(self, timeout: float = START_SECONDS) -> None:
        """Block until `/readyz` answers 200."""
        deadline = time.monotonic() + timeout
        while not self._ready_now():
            self._alive()
            if time.monotonic() > deadline:
                raise ServeError(f"not ready within {timeout:g}s\n{self.tail()}")
            time.sleep(POLL_SECONDS)

    async def ready_async(self, limit_seconds: float = START_SECONDS) -> None:
        """`ready`, without blocking the event loop."""
        deadline = time.monotonic() + limit_seconds
        async with aiohttp.ClientSession() as session:
            while True:
                self._alive()
                try:
                    async with session.get(f"{self.url}/readyz") as reply:
                        if reply.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise ServeError(f"not ready within {limit_seconds:g}s\n{self.tail()}")
                await asyncio.sleep(POLL_SECONDS)

    # --- ending --------------------------------------------------------------------

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; the exit code (0 after a clean drain)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup, as an OOM kill or a node loss."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def __enter__(self) -> Serve:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    # --- looking at it --------------------------------------------------------------

    def rss_bytes(self) -> int:
        """Resident memory now, from /proc (Linux)."""
        return rss_of(self.pid)

    def peak_rss_bytes(self) -> int:
        """The most resident memory the process has had since it started."""
        return rss_of(self.pid, "VmHWM")

    def metric(self, name: str) -> float:
        """One unlabelled sample of `/metrics` (0 when absent)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.rpartition(" ")[2])
        return 0.0

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _alive(self) -> None:
        if self.process.poll() is not None:
            raise ServeError(f"exited with {self.process.returncode}\n{self.tail()}")

    def _ready_now(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False
