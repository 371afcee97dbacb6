"""Authentication, the history API, operator controls, probes and back-pressure."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from remediator.errors import ConfigError
from remediator.execution.base import ExecutionReport, Outcome
from remediator.leadership import Leadership
from remediator.planning.actions import Target
from remediator.state.base import StateError
from tests.daemon.conftest import Daemon, MakeDaemon
from tests.daemon.payloads import alert, notification
from tests.daemon.support import RecordingExecutor, make_settings

TOKEN = "s3cret-token"
P95 = "LLMLatencyP95Critical"


async def test_token_is_required_when_configured(make_daemon: MakeDaemon) -> None:
    """Without the bearer token the webhook and the API answer 401; with it, 200."""
    daemon = await make_daemon(environ={"REMEDIATOR_WEBHOOK_TOKEN": TOKEN})

    missing, _ = await daemon.post(notification(alert(P95)))
    wrong, _ = await daemon.post(notification(alert(P95)),
                                 headers={"Authorization": "Bearer nope"})
    right, _ = await daemon.post(notification(alert(P95)),
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    api_missing, _ = await daemon.api("GET", "/api/v1/actions")
    metrics = await daemon.client.get("/metrics")

    assert (missing, wrong, right, api_missing, metrics.status) == (401, 401, 200, 401, 200)
    assert daemon.sample("remediator_webhook_requests_total", code="401") == 2


async def test_token_file_and_basic_auth(make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """A token file and basic auth both work; a wrong password does not."""
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "password").write_text("pw\n")
    daemon = await make_daemon(**{
        "server.webhook_token_file": str(tmp_path / "token"),
        "server.basic_auth_username": "am",
        "server.basic_auth_password_file": str(tmp_path / "password"),
    })

    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(
            f"{user}:{password}".encode()).decode()}

    by_token, _ = await daemon.post(notification(alert(P95)),
                                    headers={"Authorization": f"Bearer {TOKEN}"})
    by_basic, _ = await daemon.post(notification(alert(P95)), headers=basic("am", "pw"))
    bad_basic, _ = await daemon.post(notification(alert(P95)), headers=basic("am", "px"))

    assert (by_token, by_basic, bad_basic) == (200, 200, 401)


def test_execution_without_authentication_refuses_to_start(tmp_path: Path) -> None:
    """Execution on and no authentication: the app is not created unless insecure is allowed."""
    from remediator.web.app import create_app

    settings = make_settings(**{"execution.auto_execute": True, "state.dir": str(tmp_path)})

    with pytest.raises(ConfigError, match="no authentication"):
        create_app(settings, environ={})
    insecure = make_settings(**{"execution.auto_execute": True, "state.dir": str(tmp_path),
                                "server.allow_insecure": True})
    assert create_app(insecure, environ={}, executor=RecordingExecutor()) is not None


def test_unreadable_token_file_is_a_config_error(tmp_path: Path) -> None:
    """A token file that does not exist stops the start with a line naming it."""
    from remediator.web.app import create_app

    settings = make_settings(**{"server.webhook_token_file": str(tmp_path / "missing"),
                                "state.dir": str(tmp_path)})

    with pytest.raises(ConfigError, match=r"missing: cannot read server\.webhook_token_file"):
        create_app(settings, environ={})


async def test_history_pages_newest_first(daemon: Daemon) -> None:
    """limit and before page through the decisions newest first, with a Link to the next."""
    names = ["LLMLatencyP95Critical", "LLMLatencyP99Critical", "LLMErrorRateCritical"]
    for name in names:
        await daemon.post(notification(alert(name)))
        await daemon.settle()

    reply = await daemon.client.get("/api/v1/actions?limit=2")
    first = await reply.json()
    second_status, second = await daemon.api("GET", f"/api/v1/actions?limit=2&before="
                                             f"{first[-1]['id']}")
    bad, error = await daemon.api("GET", "/api/v1/actions?limit=0")
    unknown, unknown_error = await daemon.api("GET", "/api/v1/actions?limt=2")
    twice, twice_error = await daemon.api("GET", "/api/v1/actions?limit=1&limit=2")
    # Digits str.isdigit() takes but int() does not, and more than int() will read.
    odd = [await daemon.api("GET", f"/api/v1/actions?{query}") for query in
           ("limit=%C2%B2", "before=%C2%B2", "limit=%D9%A3", "limit=" + "9" * 5000)]

    ids = [d["id"] for d in first + second]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids) == 4
    assert "rel=\"next\"" in reply.headers["Link"]
    assert second_status == 200
    assert (bad, "limit" in error["error"]) == (400, True)
    assert error["field"] == "limit"
    assert (unknown, unknown_error["field"]) == (400, "limt")
    assert (twice, twice_error["field"]) == (400, "limit")
    assert [(status, reply["field"]) for status, reply in odd] == [
        (400, "limit"), (400, "before"), (400, "limit"), (400, "limit")]
    assert odd[-1][1]["error"].endswith("got '9999999999999999999999999999999999999999'..."
                                        " (5000 characters)")


async def test_pause_resume_and_breaker_reset(make_daemon: MakeDaemon) -> None:
    """Pausing a target skips its action; resuming acts; resetting closes an open breaker."""
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **{
        "execution.auto_execute": True, "server.allow_insecure": True,
        "guard.breaker.max_actions": 1})
    path = "/api/v1/targets/default/deployment/llm-gateway"

    paused, state = await daemon.api("POST", f"{path}/pause")
    await daemon.post(notification(alert(P95)))
    await daemon.settle()
    resumed, _ = await daemon.api("POST", f"{path}/resume")
    await daemon.settle()
    _, targets = await daemon.api("GET", "/api/v1/targets")
    reset, after = await daemon.api("POST", f"{path}/breaker/reset")
    bad, _ = await daemon.api("POST", "/api/v1/targets/default/deployment/Bad_Name/pause")

    assert (paused, state["paused"]) == (200, True)
    assert resumed == 200
    assert [a.replicas for a in executor.actions] == [5]
    assert targets[0]["breaker"] == "open"
    assert (reset, after["breaker"]) == (200, "closed")
    assert bad == 400
    assert daemon.sample("remediator_breaker_open", target="default/deployment/llm-gateway") == 0


async def test_revert_config_uses_the_executor(make_daemon: MakeDaemon) -> None:
    """Reverting after a config patch calls the executor's revert and records it."""
    class Reverting(RecordingExecutor):
        def __init__(self) -> None:
            super().__init__()
            self.reverted: list[Target] = []

        async def revert_config(self, target: Target) -> ExecutionReport:
            self.reverted.append(target)
            return ExecutionReport(Outcome.EXECUTED, "reverted MAX_TOKENS to 200")

    executor = Reverting()
    daemon = await make_daemon(executor=executor, **{
        "execution.auto_execute": True, "server.allow_insecure": True,
        "execution.min_priority": 2})

    nothing, _ = await daemon.api("POST", "/api/v1/config/revert")
    await daemon.post(notification(alert("LLMErrorRateWarning")))
    await daemon.settle()
    status, decision = await daemon.api("POST", "/api/v1/config/revert")

    assert nothing == 409
    assert status == 200
    assert (decision["type"], decision["outcome"]) == ("revert_config", "executed")
    assert executor.reverted == [Target("ConfigMap", "default", "llm-config")]


async def test_readyz_follows_leadership(make_daemon: MakeDaemon) -> None:
    """/readyz is 503 while not the leader; nothing is executed until leadership comes."""
    leadership = Leadership(leader=False)
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, leadership=leadership, **{
        "execution.auto_execute": True, "server.allow_insecure": True})

    follower = await daemon.client.get("/readyz")
    await daemon.post(notification(alert(P95)))
    acted_as_follower = list(executor.actions)
    leadership.set(True)
    await daemon.settle()
    leader = await daemon.client.get("/readyz")
    health = await daemon.client.get("/healthz")

    assert (follower.status, leader.status, health.status) == (503, 200, 200)
    assert acted_as_follower == []
    assert [a.replicas for a in executor.actions] == [5]
    assert daemon.sample("remediator_leader") == 1


async def test_too_many_waiting_episodes_answer_503(make_daemon: MakeDaemon) -> None:
    """With the queue full (nothing evaluated), a new notification gets 503 to be retried."""
    daemon = await make_daemon(leadership=Leadership(leader=False),
                               **{"server.queue_size": 1})

    first, _ = await daemon.post(notification(alert(P95)))
    second, _ = await daemon.post(notification(alert("LLMLatencyP99Critical")))
    repeat, _ = await daemon.post(notification(alert(P95)))

    assert (first, second, repeat) == (200, 503, 200)
    assert daemon.sample("remediator_queue_depth") == 1


async def test_state_store_failure_answers_503(daemon: Daemon) -> None:
    """When the store cannot write, the webhook answers 503 and a retry is not a repeat."""
    store = daemon.services.store
    original = store.save_episodes

    async def failing(episodes: object) -> None:
        raise StateError("disk full")

    store.save_episodes = failing  # type: ignore[method-assign]
    failed, _ = await daemon.post(notification(alert(P95)))
    store.save_episodes = original  # type: ignore[method-assign]
    retried, reply = await daemon.post(notification(alert(P95)))

    assert (failed, retried, reply["new"]) == (503, 200, 1)
    assert daemon.sample("remediator_state_errors_total") == 1


def test_insecure_start_with_execution_logs_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """--allow-insecure lets execution start without authentication, and says so."""
    from remediator.web.app import create_app

    insecure = make_settings(**{"execution.auto_execute": True, "state.dir": str(tmp_path),
                                "server.allow_insecure": True})

    with caplog.at_level("WARNING", logger="remediator.server"):
        create_app(insecure, environ={}, executor=RecordingExecutor())

    [record] = [r for r in caplog.records if r.name == "remediator.server"]
    assert record.levelname == "WARNING"
    assert "execution is on and the webhook accepts anyone" in record.getMessage()


async def test_a_pushed_result_over_the_body_limit_is_413_in_json(
        make_daemon: MakeDaemon) -> None:
    """POST /api/v1/results honours server.body_limit_bytes with a JSON error."""
    daemon = await make_daemon(**{"server.body_limit_bytes": 2048})

    status, reply = await daemon.api("POST", "/api/v1/results", data=b"{" + b" " * 4096 + b"}")

    assert status == 413
    assert reply == {"error": "body larger than 2048 bytes (server.body_limit_bytes)"}
