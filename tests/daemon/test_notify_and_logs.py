"""Notifications to Slack and a webhook, and the daemon's log lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from remediator import logs
from remediator.execution.base import Outcome
from tests.daemon.conftest import MakeDaemon
from tests.daemon.payloads import alert, notification
from tests.daemon.support import RecordingExecutor, until

EXECUTING = {"execution.auto_execute": True, "server.allow_insecure": True}
DEADLINE_SECONDS = 10.0


class Sink:
    """A webhook receiver that records bodies, fails with the statuses given, or hangs."""

    def __init__(self, *, failures: int = 0, statuses: tuple[int, ...] = (),
                 hang: asyncio.Event | None = None) -> None:
        self.statuses = list(statuses) or [500] * failures
        self.hang = hang
        self.attempts = 0
        self.bodies: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.hang is not None:
            await self.hang.wait()
        if self.statuses:
            return web.Response(status=self.statuses.pop(0))
        self.bodies.append(await request.json())
        return web.Response(text="ok")


async def serve(aiohttp_server: Any, sink: Sink) -> str:
    app = web.Application()
    app.router.add_post("/hook", sink.handle)
    server = await aiohttp_server(app)
    return str(server.make_url("/hook"))


async def test_executed_action_is_sent_to_slack_and_the_webhook(
        make_daemon: MakeDaemon, aiohttp_server: Any, tmp_path: Path) -> None:
    """An executed action reaches Slack as text and the webhook as JSON, after a retry."""
    slack, hook = Sink(), Sink(failures=1)
    (tmp_path / "slack-url").write_text(await serve(aiohttp_server, slack))
    daemon = await make_daemon(executor=RecordingExecutor(), **EXECUTING, **{
        "notify.slack_webhook_url_file": str(tmp_path / "slack-url"),
        "notify.webhook_url": await serve(aiohttp_server, hook),
        "notify.retries": 2,
    })

    await daemon.post(notification(alert("LLMLatencyP95Critical")))
    await daemon.settle()
    await until(lambda: slack.bodies and hook.bodies)

    assert "scale default/deployment/llm-gateway executed" in slack.bodies[0]["text"]
    assert hook.bodies[0]["decision"]["outcome"] == "executed"
    assert hook.bodies[0]["decision"]["alert"]["alertname"] == "LLMLatencyP95Critical"


async def test_a_stalled_notifier_never_holds_up_remediation(
        make_daemon: MakeDaemon, aiohttp_server: Any) -> None:
    """A sink that never answers (its timeout far off): every decision is still taken."""
    hook = Sink(hang=asyncio.Event())
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **EXECUTING, **{
        "notify.webhook_url": await serve(aiohttp_server, hook),
        "notify.timeout_seconds": 3600, "notify.retries": 3,
    })

    try:
        await daemon.post(notification(alert("LLMLatencyP95Critical")))
        await daemon.post(notification(alert("LLMLatencyP99Critical")))
        await daemon.settle()
        await until(lambda: hook.attempts >= 1)

        assert len(executor.actions) == 2
        assert hook.bodies == []
    finally:
        hook.hang.set()  # type: ignore[union-attr]


async def test_a_failing_sink_is_retried_then_counted(
        make_daemon: MakeDaemon, aiohttp_server: Any, tmp_path: Path) -> None:
    """notify.retries 2: three attempts on a 5xx, then one failure counted; a 4xx is not retried."""
    failing, refusing = Sink(failures=3), Sink(statuses=(404,))
    daemon = await make_daemon(executor=RecordingExecutor(), **EXECUTING, **{
        "notify.webhook_url": await serve(aiohttp_server, failing),
        "notify.retries": 2,
    })
    other = await make_daemon(executor=RecordingExecutor(), **EXECUTING, **{
        "notify.webhook_url": await serve(aiohttp_server, refusing),
        "notify.retries": 2, "state.dir": str(tmp_path / "other"),
    })

    for target in (daemon, other):
        await target.post(notification(alert("LLMLatencyP95Critical")))
        await target.settle()
    await until(lambda: daemon.sample("remediator_notifier_failures_total", sink="webhook")
                + other.sample("remediator_notifier_failures_total", sink="webhook") == 2)

    assert (failing.attempts, failing.bodies) == (3, [])
    assert (refusing.attempts, refusing.bodies) == (1, [])


@pytest.mark.parametrize("result", [Outcome.REFUSED, Outcome.FAILED])
async def test_refused_and_failed_actions_are_notified_skips_are_not(
        make_daemon: MakeDaemon, aiohttp_server: Any, result: Outcome) -> None:
    """The refused or failed backend scale is sent; the HIGH gateway scale, skipped, is not."""
    hook = Sink()
    daemon = await make_daemon(executor=RecordingExecutor(result), **EXECUTING, **{
        "notify.webhook_url": await serve(aiohttp_server, hook),
    })

    await daemon.post(notification(alert("LLMLatencyP99Critical"),
                                   alert("LLMThroughputLowWarning")))
    await daemon.settle()
    await asyncio.wait_for(daemon.services.notifier._queue.join(), DEADLINE_SECONDS)

    assert [(b["decision"]["target"], b["decision"]["outcome"]) for b in hook.bodies] == [
        ("default/deployment/llm-backend", str(result))]
    assert [d.skip for d in await daemon.decisions()].count("below_priority") == 1


async def test_breaker_opening_is_notified(make_daemon: MakeDaemon, aiohttp_server: Any) -> None:
    """When a breaker opens, the webhook hears about it."""
    hook = Sink()
    daemon = await make_daemon(executor=RecordingExecutor(), **EXECUTING, **{
        "notify.webhook_url": await serve(aiohttp_server, hook),
        "guard.breaker.max_actions": 1,
    })

    await daemon.post(notification(alert("LLMLatencyP95Critical")))
    await daemon.settle()
    await until(lambda: any(b.get("event") == "breaker_open" for b in hook.bodies))

    assert daemon.sample("remediator_breaker_open", target="default/deployment/llm-gateway") == 1


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The remediator loggers writing JSON lines here; restored to defaults afterwards."""
    stream = io.StringIO()
    logs.setup(stream=stream, json_lines=True)
    yield stream
    for name in ("remediator", "aiohttp", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


async def test_logs_are_json_lines_with_alert_fields(
        make_daemon: MakeDaemon, stream: io.StringIO) -> None:
    """A decision logs one JSON line carrying alertname, fingerprint and target."""
    daemon = await make_daemon()
    group_key = '{}/{severity="page"}:{alertname="LLMLatencyP95Critical"}'

    await daemon.post(notification(alert("LLMLatencyP95Critical", fingerprint="a1b2c3d4e5f60708"),
                                   group_key=group_key))
    await daemon.settle()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]

    [news] = [e for e in lines if e["message"].startswith("notification:")]
    [decision] = [e for e in lines if e["message"].startswith("decision ")]
    assert news["new"] == 1 and len(news["group"]) == 16
    assert group_key not in stream.getvalue()
    assert (decision["alertname"], decision["fingerprint"], decision["target"]) == (
        "LLMLatencyP95Critical", "a1b2c3d4e5f60708", "default/deployment/llm-gateway")
    assert decision["outcome"] == "dry_run"


async def test_repeats_are_summed_up_not_logged_each(make_daemon: MakeDaemon,
                                                     stream: io.StringIO) -> None:
    """Fifty repeats make no line each, and one summary line."""
    daemon = await make_daemon()

    for _ in range(51):
        await daemon.post(notification(alert("LLMLatencyP95Critical")))
    await daemon.settle()
    daemon.services.remediation.summarise_once()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]

    webhook = [e for e in lines if e["logger"] == "remediator.webhook"]
    assert [e["message"].split(":")[0] for e in webhook] == [
        "notification", "50 repeated notifications (50 alerts) changed nothing since the last"
        " summary"]


async def test_a_request_aiohttp_cannot_parse_is_one_json_line_without_traceback(
        make_daemon: MakeDaemon, stream: io.StringIO) -> None:
    """A header over aiohttp's limit gets 400 and one warning line, not a traceback on stderr."""
    daemon = await make_daemon()
    server = daemon.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                 + b"a" * 20000 + b"\r\n\r\n")
    await writer.drain()
    status = await reader.readline()
    writer.close()
    await until(lambda: "Error handling request" in stream.getvalue())

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [line] = [e for e in lines if e["logger"] == "aiohttp.server"]
    assert status.split()[1] == b"400"
    assert line["level"] == "warning" and "HTTP 400: Got more than 8190 bytes" in line["message"]
    assert "exception" not in line and "Traceback" not in stream.getvalue()
    assert (await daemon.client.get("/healthz")).status == 200


def test_text_logs_on_a_terminal(stream: io.StringIO) -> None:
    """On a terminal the lines are human text with the fields appended."""
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    logs.setup(stream=terminal)
    logs.for_alert(logging.getLogger("remediator.test"), alertname="A",
                   fingerprint="f").warning("hello %s", "there")

    assert "WARNING remediator.test: hello there  [alertname=A fingerprint=f]" in (
        terminal.getvalue())
