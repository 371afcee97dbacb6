"""The generated kubectl script, run by bash with a recording kubectl stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from remediator.planning import commands, script
from remediator.planning.actions import Action, ActionType, Target
from tests.planning.helpers import plan_for, result

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

# A kubectl that records its argv and answers `get` from a JSON file of live values.
STUB = """#!{python}
import json, os, sys
with open(os.environ["KUBECTL_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1] == "get":
    live = json.load(open(os.environ["KUBECTL_LIVE"]))
    jsonpath = [a for a in sys.argv if a.startswith("jsonpath=")][0]
    print(live.get(sys.argv[3] + " " + jsonpath, ""), end="")
"""


@pytest.fixture
def kubectl(tmp_path: Path) -> dict[str, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "kubectl"
    stub.write_text(STUB.format(python=sys.executable))
    stub.chmod(0o755)
    live = tmp_path / "live.json"
    live.write_text("{}")
    return {"bin": bin_dir, "log": tmp_path / "argv.log", "live": live}


def run_script(text: str, kubectl: dict[str, Path], live: dict[str, str]) -> list[list[str]]:
    path = kubectl["bin"].parent / "remediate.sh"
    path.write_text(text)
    kubectl["live"].write_text(json.dumps(live))
    env = {**os.environ, "PATH": f"{kubectl['bin']}:{os.environ['PATH']}",
           "KUBECTL_LOG": str(kubectl["log"]), "KUBECTL_LIVE": str(kubectl["live"])}
    subprocess.run(["bash", str(path)], check=True, env=env, capture_output=True,
                   cwd=kubectl["bin"].parent)
    if not kubectl["log"].exists():
        return []
    return [json.loads(line) for line in kubectl["log"].read_text().splitlines()]


def changes(argvs: list[list[str]]) -> list[list[str]]:
    """The commands that change something (everything but reads)."""
    return [argv for argv in argvs if argv[0] != "get"]


def test_script_runs_exactly_the_planned_commands(kubectl: dict[str, Path]) -> None:
    """The multiple-issues plan runs scale, undo, config patch and backend restart in order."""
    actions = plan_for(result(p95=140, p99=180, error_rate=0.02, throughput=8))
    text = script.generate(actions, result(), now=NOW, rollout_timeout_seconds=120)

    argvs = run_script(text, kubectl, {
        "llm-gateway jsonpath={.spec.replicas}": "2",
        "llm-config jsonpath={.data.MAX_TOKENS}": "256",
        "llm-backend jsonpath={.spec.paused}": "",
    })

    assert [
        ["scale", "deployment", "llm-gateway", "--replicas=6", "--namespace=default"],
        ["rollout", "undo", "deployment", "llm-gateway", "--namespace=default"],
        ["rollout", "status", "deployment", "llm-gateway", "--namespace=default",
         "--timeout=120s"],
        ["patch", "configmap", "llm-config", "--namespace=default", "--type=merge",
         '--patch={"data":{"MAX_TOKENS":"50"}}'],
        ["rollout", "restart", "deployment", "llm-backend", "--namespace=default"],
        ["rollout", "status", "deployment", "llm-backend", "--namespace=default",
         "--timeout=120s"],
    ] == changes(argvs)
    assert [argv[1:] for argv in commands.for_action(actions[0])] == changes(argvs)[:2]


def test_script_never_lowers_replicas_or_raises_max_tokens(kubectl: dict[str, Path]) -> None:
    """Live values already past the plan are left alone; only reads happen."""
    actions = plan_for(result(p95=120, error_rate=0.02))
    text = script.generate(actions, result(), now=NOW)

    argvs = run_script(text, kubectl, {
        "llm-gateway jsonpath={.spec.replicas}": "8",
        "llm-config jsonpath={.data.MAX_TOKENS}": "32",
    })

    assert [] == changes(argvs)
    assert 2 == len(argvs)


def test_script_does_not_restart_a_paused_deployment(kubectl: dict[str, Path]) -> None:
    """A paused Deployment is reported and skipped, the others still restart."""
    actions = plan_for(result(error_rate=0.02))
    text = script.generate(actions, result(), now=NOW)

    argvs = run_script(text, kubectl, {
        "llm-config jsonpath={.data.MAX_TOKENS}": "",
        "llm-gateway jsonpath={.spec.paused}": "true",
    })

    restarted = [argv[3] for argv in changes(argvs) if argv[:2] == ["rollout", "restart"]]
    assert ["llm-backend"] == restarted


def test_script_passes_bash_syntax_check_and_keeps_free_text_in_comments(
    tmp_path: Path,
) -> None:
    """A results path with newlines and quotes only appears in a one-line comment."""
    bench = result(p95=165)
    hostile = type(bench)(**{**bench.__dict__, "source": "x'\n$(touch PWNED)\n`id`.json"})
    text = script.generate(plan_for(bench), hostile, now=NOW)
    path = tmp_path / "s.sh"
    path.write_text(text)

    subprocess.run(["bash", "-n", str(path)], check=True)

    line = next(line for line in text.splitlines() if "touch PWNED" in line)
    assert line.startswith("# From results:")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    "name", ["gw; touch PWNED", "$(touch PWNED)", "gw\ntouch PWNED", "../etc", "UPPER"]
)
def test_injection_through_a_target_name_is_refused_before_the_script(name: str) -> None:
    """A target that is not a Kubernetes name never reaches a command line."""
    hostile = Target("Deployment", "default", name)
    action = Action(ActionType.RESTART, 1, hostile, "restart", "alert label")

    with pytest.raises(commands.UnsafeName):
        script.generate([action], result(), now=NOW)
    with pytest.raises(commands.UnsafeName):
        commands.for_action(action)


def test_namespace_injection_is_refused() -> None:
    """The namespace is checked as an RFC 1123 label too."""
    action = Action(ActionType.ROLLBACK, 1, Target("Deployment", "a b", "gw"), "x", "y")

    with pytest.raises(commands.UnsafeName, match="namespace"):
        commands.for_action(action)
