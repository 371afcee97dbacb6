"""
Authentication of the webhook and the API: anything but the exact credential
is a 401, and a refused notification leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from remediator.config.settings import Settings
from remediator.errors import ConfigError
from remediator.web import auth
from tests.daemon.conftest import Daemon, MakeDaemon
from tests.daemon.payloads import alert, body, notification

TOKEN = "k7Qw9-remediator-webhook-token-Zx2"
WRONG_HEADERS = {
    "no token": {},
    "wrong token": {"Authorization": "Bearer not-the-token"},
    "last byte differs": {"Authorization": f"Bearer {TOKEN[:-1]}3"},
    "token without its last byte": {"Authorization": f"Bearer {TOKEN[:-1]}"},
    "token with a byte more": {"Authorization": f"Bearer {TOKEN}2"},
    "scheme missing": {"Authorization": TOKEN},
    "token as basic": {"Authorization": f"Basic {TOKEN}"},
    "empty bearer": {"Authorization": "Bearer "},
}
FIRING = body(notification(alert("LLMLatencyP95Critical")))


@pytest.fixture
async def guarded(make_daemon: MakeDaemon) -> Daemon:
    """A daemon whose webhook token comes from REMEDIATOR_WEBHOOK_TOKEN."""
    return await make_daemon(environ={"REMEDIATOR_WEBHOOK_TOKEN": TOKEN})


@pytest.mark.parametrize("headers", WRONG_HEADERS.values(), ids=WRONG_HEADERS.keys())
async def test_a_wrong_bearer_token_gets_401_and_records_nothing(
        guarded: Daemon, headers: dict[str, str]) -> None:
    """Without the exact token the webhook answers 401 and no alert is recorded."""
    status, _ = await guarded.post(FIRING, headers=headers)
    await guarded.settle()

    assert 401 == status
    await _nothing_recorded(guarded)


async def test_a_last_byte_that_is_not_utf8_gets_401(guarded: Daemon) -> None:
    """A token whose last byte is not UTF-8 is refused like any wrong one, not a 500."""
    wrong = b"Bearer " + TOKEN[:-1].encode() + b"\xff"

    status = await _raw_post(guarded, wrong, FIRING)

    assert 401 == status
    await _nothing_recorded(guarded)


async def test_the_right_token_is_accepted(guarded: Daemon) -> None:
    """The exact token, as Alertmanager's `authorization.credentials` sends it, gets in."""
    status, reply = await guarded.post(FIRING, headers={"Authorization": f"Bearer {TOKEN}"})

    assert (200, 1) == (status, reply["new"])


async def test_the_api_needs_the_token_too(guarded: Daemon) -> None:
    """The decision history is closed to a caller whose token differs in its last byte."""
    reply = await guarded.client.get(
        "/api/v1/actions", headers={"Authorization": f"Bearer {TOKEN[:-1]}3"}
    )

    assert 401 == reply.status
    assert "Bearer" in reply.headers["WWW-Authenticate"]


async def test_basic_auth_with_a_password_off_by_its_last_byte_gets_401(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """Basic auth refuses a password that differs only in its last byte."""
    password = tmp_path / "password"
    password.write_text("hunter2-long-password\n")
    daemon = await make_daemon(**{"server.basic_auth_username": "alertmanager",
                                  "server.basic_auth_password_file": str(password)})
    near = base64.b64encode(b"alertmanager:hunter2-long-passwore").decode()
    right = base64.b64encode(b"alertmanager:hunter2-long-password").decode()

    refused, _ = await daemon.post(FIRING, headers={"Authorization": f"Basic {near}"})
    await _nothing_recorded(daemon)
    accepted, _ = await daemon.post(FIRING, headers={"Authorization": f"Basic {right}"})

    assert (401, 200) == (refused, accepted)


async def _nothing_recorded(daemon: Daemon) -> None:
    assert [] == await daemon.services.store.load_episodes()
    assert [] == await daemon.decisions()
    assert 0 == daemon.sample("remediator_alerts_total", status="firing")
    assert 0 == daemon.sample("remediator_notifications_total", result="new")
    assert daemon.sample("remediator_webhook_requests_total", code="401") >= 1


async def _raw_post(daemon: Daemon, authorization: bytes, data: bytes) -> int:
    """POST with header bytes the HTTP client would not send; return the status code."""
    server = daemon.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"POST /webhook/alertmanager HTTP/1.1\r\nHost: remediator\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n"
        b"Authorization: " + authorization + b"\r\n"
        + f"Content-Length: {len(data)}\r\n\r\n".encode() + data
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


@pytest.mark.parametrize("value", ["", "   "])
def test_a_set_but_empty_token_variable_is_refused_where_the_app_reads_it(value: str) -> None:
    """An app built without load_settings still never turns an empty token into no auth."""
    with pytest.raises(ConfigError, match="REMEDIATOR_WEBHOOK_TOKEN"):
        auth.from_settings(Settings(), {"REMEDIATOR_WEBHOOK_TOKEN": value})
