"""
The baseline for the webhook benchmarks: a bare aiohttp server whose handler
only parses the JSON body and answers 200, on the same path as the daemon.

`python -m tests.support.bare PORT` runs it; `Bare` starts it as a process,
with no access log, as `remediator serve` runs.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from aiohttp import web

from tests.support.serving import REPO, ServeError, clean_environment, free_port, rss_of

WEBHOOK_PATH = "/webhook/alertmanager"
START_SECONDS = 30.0


async def parse_only(request: web.Request) -> web.Response:
    """What any webhook receiver must do at least: read the body and parse it."""
    await request.json()
    return web.Response(text="ok")


BODY_LIMIT_BYTES = 10 * 1024 * 1024
"""The daemon's default `server.body_limit_bytes`, so both take the 10,000-alert body."""


def app() -> web.Application:
    application = web.Application(client_max_size=BODY_LIMIT_BYTES)
    application.router.add_post(WEBHOOK_PATH, parse_only)
    return application


class Bare:
    """The bare server as a process on a free loopback port."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.bare", str(self.port)],
                cwd=REPO, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                env=clean_environment(),
            )
        self._ready()

    def rss_bytes(self) -> int:
        return rss_of(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=30)

    def __enter__(self) -> Bare:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def _ready(self) -> None:
        # The handler only takes POSTs: a GET answered 405 means the server is up.
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.process.poll() is not None:
                raise ServeError(f"the bare server exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}{WEBHOOK_PATH}", timeout=5)
            except urllib.error.HTTPError:
                return
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                raise ServeError(f"the bare server did not start within {START_SECONDS:g}s")
            time.sleep(0.05)


if __name__ == "__main__":
    web.run_app(app(), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
