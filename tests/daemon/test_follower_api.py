"""
Operator controls sent to a follower: refused with a 503 that says where to go.

Only the leader acts, and it reads the shared store only when it becomes
leader, so a pause or a breaker reset stored by a follower would be lost on
the leader, and a config revert on a follower would act beside the leader.
Reads stay open on every replica.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from remediator.cli import main
from remediator.leadership import Leadership
from remediator.web.api import NOT_LEADER
from tests.daemon.conftest import Daemon, MakeDaemon
from tests.daemon.payloads import alert, notification
from tests.daemon.support import make_settings
from tests.fakekube.harness import FakeKube

TOKEN = "operator-token"
TARGET = "default/deployment/llm-gateway"
CONTROLS = [
    f"/api/v1/targets/{TARGET}/pause",
    f"/api/v1/targets/{TARGET}/resume",
    f"/api/v1/targets/{TARGET}/breaker/reset",
    "/api/v1/config/revert",
]


@pytest.fixture
async def follower(make_daemon: MakeDaemon, monkeypatch: pytest.MonkeyPatch) -> Daemon:
    """A replica that decided one config patch while leading, then lost the Lease."""
    daemon = await make_daemon(environ={"REMEDIATOR_WEBHOOK_TOKEN": TOKEN},
                               leadership=Leadership(), **{"execution.min_priority": 2})
    daemon.headers["Authorization"] = f"Bearer {TOKEN}"
    await daemon.post(notification(alert("LLMErrorRateWarning")))
    await daemon.settle()
    daemon.services.leadership.set(False)
    monkeypatch.setenv("REMEDIATOR_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("REMEDIATOR_URL", str(daemon.client.make_url("/")))
    return daemon


async def test_operator_controls_on_a_follower_answer_503_and_change_nothing(
        follower: Daemon) -> None:
    """Pause, resume, breaker reset and revert: 503 with the message; no state, no record."""
    history = [d.id for d in await follower.decisions()]

    answers = [await follower.api("POST", path) for path in CONTROLS]

    assert [status for status, _ in answers] == [503] * 4
    assert all(body == {"error": NOT_LEADER, "leader": None} for _, body in answers)
    assert await follower.services.store.load_targets() == []
    assert follower.services.remediation.decider.guard.targets.get(TARGET) is None
    assert [d.id for d in await follower.decisions()] == history


async def test_reads_stay_open_on_a_follower(follower: Daemon) -> None:
    """The history, the firing set and the targets are answered by a follower too."""
    actions, listed = await follower.api("GET", "/api/v1/actions")
    alerts, _ = await follower.api("GET", "/api/v1/alerts")
    targets, _ = await follower.api("GET", "/api/v1/targets")

    assert (actions, alerts, targets) == (200, 200, 200)
    assert [d["type"] for d in listed] == ["patch_config"]


async def test_a_follower_still_asks_for_the_token_first(follower: Daemon) -> None:
    """Without credentials the answer is 401, so the leader's name is not told to anyone."""
    reply = await follower.client.post(CONTROLS[0])

    assert reply.status == 401


async def test_cli_on_a_follower_prints_one_line_and_fails(
        follower: Daemon, capsys: pytest.CaptureFixture[str]) -> None:
    """`remediator pause` and `revert-config` on a follower: exit 2, one line naming why."""
    codes = [await asyncio.to_thread(main, argv)
             for argv in (["pause", TARGET], ["revert-config"])]
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    url = str(follower.client.make_url("/")).rstrip("/")

    assert codes == [2, 2]
    assert captured.out == ""
    assert len(lines) == 2
    assert all(line.startswith(f"remediator: error: the daemon at {url} did nothing:")
               and NOT_LEADER in line and "--url" in line for line in lines)


async def test_a_follower_names_the_leader_from_the_lease(
        make_daemon: MakeDaemon, fake_kube: FakeKube, tmp_path: Path) -> None:
    """With leader election on, the 503 names the Lease's holder, so the operator knows."""
    fake_kube.cluster.add_lease("default", "remediator-leader", holder="remediator-0_5f3a9c21")
    settings = make_settings(**{
        "state.dir": str(tmp_path / "state"), "results.path": str(tmp_path / "results.json"),
        "kubernetes.kubeconfig": str(fake_kube.kubeconfig_path),
        "kubernetes.namespace": "default", "kubernetes.leader_election.enabled": True})
    daemon = await make_daemon(settings, leadership=Leadership(leader=False))

    status, body = await daemon.api("POST", f"/api/v1/targets/{TARGET}/pause")

    assert status == 503
    assert body == {"error": f"{NOT_LEADER} (the leader is remediator-0_5f3a9c21)",
                    "leader": "remediator-0_5f3a9c21"}
