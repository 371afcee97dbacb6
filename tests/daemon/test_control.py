"""The operator commands, run against the daemon's real HTTP port."""

from __future__ import annotations

import asyncio
import json

import pytest

from remediator.cli import main
from tests.daemon.conftest import Daemon, MakeDaemon
from tests.daemon.payloads import alert, notification

TOKEN = "operator-token"


@pytest.fixture
async def guarded(make_daemon: MakeDaemon, monkeypatch: pytest.MonkeyPatch) -> Daemon:
    """A daemon with a token, one decision in its history, and the token in the environment."""
    daemon = await make_daemon(environ={"REMEDIATOR_WEBHOOK_TOKEN": TOKEN},
                               **{"execution.min_priority": 2})
    daemon.headers["Authorization"] = f"Bearer {TOKEN}"
    await daemon.post(notification(alert("LLMErrorRateWarning")))
    await daemon.settle()
    monkeypatch.setenv("REMEDIATOR_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("REMEDIATOR_URL", str(daemon.client.make_url("/")))
    return daemon


async def cli(*argv: str) -> int:
    # The CLI is synchronous; the daemon serves on this loop meanwhile.
    return await asyncio.to_thread(main, list(argv))


async def test_decisions_lists_the_history(guarded: Daemon,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`remediator decisions` prints the daemon's history; --output json gives the API's list."""
    text_code = await cli("decisions")
    text = capsys.readouterr().out
    json_code = await cli("decisions", "--output", "json")
    listed = json.loads(capsys.readouterr().out)

    assert (text_code, json_code) == (0, 0)
    assert "patch_config" in text and "default/configmap/llm-config" in text
    assert [d["type"] for d in listed] == ["patch_config"]


async def test_pause_resume_and_breaker_reset(guarded: Daemon,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """pause, resume and breaker reset change the target's state in the daemon."""
    target = "default/deployment/llm-gateway"

    paused = await cli("pause", target)
    state = guarded.services.remediation.decider.guard.targets[target].paused
    resumed = await cli("resume", target)
    reset = await cli("breaker", "reset", target)
    out = capsys.readouterr().out

    assert (paused, resumed, reset, state) == (0, 0, 0, True)
    assert not guarded.services.remediation.decider.guard.targets[target].paused
    assert "paused" in out and "resumed" in out and "closed" in out


async def test_revert_config_in_dry_run_records_a_decision(
        guarded: Daemon, capsys: pytest.CaptureFixture[str]) -> None:
    """revert-config on a dry-run daemon records what it would revert."""
    code = await cli("revert-config")

    assert code == 0
    assert capsys.readouterr().out.startswith("dry_run: would revert the config patch")
    assert [d.type for d in await guarded.decisions()][-1] == "revert_config"


async def test_bad_target_and_bad_token_are_one_line_errors(
        guarded: Daemon, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed TARGET or a wrong token exits 2 with one line, no traceback."""
    bad_target = await cli("pause", "llm-gateway")
    monkeypatch.setenv("REMEDIATOR_WEBHOOK_TOKEN", "wrong")
    bad_token = await cli("decisions")
    errors = capsys.readouterr().err.strip().splitlines()

    assert (bad_target, bad_token) == (2, 2)
    assert errors[0].startswith("remediator: error: command line: TARGET:")
    assert "refused the credentials" in errors[1]
    assert len(errors) == 2


async def test_unreachable_daemon_is_a_one_line_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    """With nobody listening, the command says it cannot reach the daemon."""
    code = await cli("decisions", "--url", "http://127.0.0.1:9", "--timeout", "5")

    assert code == 2
    assert "cannot reach the daemon at http://127.0.0.1:9" in capsys.readouterr().err
