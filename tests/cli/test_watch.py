"""`remediator watch` as a user runs it: a real process, its output and exit code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE_2 = {"latency_stats": {"p95_ms": 80.0, "p99_ms": 100.0}, "error_rate": 0.08,
             "throughput_rps": 12.0}
HEALTHY = {"latency_stats": {"p50_ms": 20, "p95_ms": 60, "p99_ms": 90}, "error_rate": 0.0,
           "throughput_rps": 30}
SAMPLE_REPORT = {"latency_stats": {"p50_ms": 45.2, "p95_ms": 128.5, "p99_ms": 145.3},
                 "error_rate": 0.005, "throughput_rps": 18.5, "success_rate": 0.995}


def watch(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
          encoding: str = "utf-8") -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("AUTO_EXECUTE", "DRY_RUN", "RESULTS_PATH")}
    environ["PYTHONIOENCODING"] = encoding
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "remediator", "watch", *args],
        cwd=tmp_path, env=environ, capture_output=True, text=True, encoding=encoding,
        errors="replace", timeout=60,
    )


def results(tmp_path: Path, document: object, name: str = "bench_results.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_sample_report_layout(tmp_path: Path) -> None:
    """The text report has the original sections, markers and the one HIGH action."""
    path = results(tmp_path, SAMPLE_REPORT)

    done = watch(tmp_path, "--results", str(path))

    assert 0 == done.returncode, done.stderr
    out = done.stdout
    assert out.startswith("=" * 70 + "\nAUTO-REMEDIATION WATCHER REPORT\n" + "=" * 70 + "\n")
    assert re.search(r"^Timestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", out, re.MULTILINE)
    assert f"Results File: {path}" in out
    assert "  P95 Latency:     128.50 ms" in out
    assert "  Error Rate:      0.50%" in out
    assert "  Success Rate:    99.50%" in out
    assert ("  P95 Latency:     ⚠️  WARNING (threshold: 100.0ms warning, 150.0ms critical)"
            in out)
    assert "  Error Rate:      ✅ OK (threshold: 1% warning, 5% critical)" in out
    assert "⚠️  1 Remediation Action(s) Recommended:" in out
    assert "1. [🟡 HIGH] Increase gateway replicas" in out
    assert "   Type: scale" in out
    assert ("   Rationale: P95 latency (128.50ms) exceeds warning threshold (100.0ms)") in out
    assert ("   Command: kubectl scale deployment llm-gateway --replicas=4 "
            "--namespace=default") in out


@pytest.mark.parametrize("encoding", ["utf_8", "UTF8"])
def test_emoji_for_any_spelling_of_utf8(tmp_path: Path, encoding: str) -> None:
    """utf_8 or UTF8 in PYTHONIOENCODING is UTF-8 too: the report keeps its emoji."""
    done = watch(tmp_path, "--results", str(results(tmp_path, SAMPLE_REPORT)),
                 encoding=encoding)

    assert "1. [🟡 HIGH] Increase gateway replicas" in done.stdout


def test_plain_markers_when_stdout_is_not_utf8(tmp_path: Path) -> None:
    """Without UTF-8 the report uses plain markers instead of emoji."""
    path = results(tmp_path, SAMPLE_REPORT)

    done = watch(tmp_path, "--results", str(path), encoding="ascii")

    assert 0 == done.returncode, done.stderr
    assert "1. [HIGH] Increase gateway replicas" in done.stdout
    assert "[!] WARNING" in done.stdout
    assert done.stdout.isascii()


def test_json_output_lists_metrics_status_and_actions(tmp_path: Path) -> None:
    """--output json is machine-readable, with null for a missing metric."""
    path = results(tmp_path, EXAMPLE_2)

    done = watch(tmp_path, "--results", str(path), "--output", "json")

    assert 0 == done.returncode, done.stderr
    report = json.loads(done.stdout)
    assert {"p50_ms": None, "p95_ms": 80.0, "p99_ms": 100.0, "error_rate": 0.08,
            "throughput_rps": 12.0, "success_rate": 0.92} == report["metrics"]
    assert {"p95": "OK", "p99": "OK", "error_rate": "CRITICAL", "throughput": "WARNING"} == (
        report["status"]
    )
    first = report["actions"][0]
    assert {"priority": 1, "severity": "critical", "type": "rollback",
            "target": "deployment/llm-gateway"} == {k: first[k] for k in
                                                    ("priority", "severity", "type", "target")}
    assert "kubectl rollout undo deployment llm-gateway --namespace=default" == first["command"]
    assert ["rollback", "rollback", "scale"] == [a["type"] for a in report["actions"]]


def test_unknown_metric_is_null_and_investigate_has_no_command(tmp_path: Path) -> None:
    """A percentile the tool did not report stays null and asks for investigation."""
    path = results(tmp_path, {"latency_stats": {"p95_ms": 50}, "error_rate": 0,
                              "throughput_rps": 20})

    report = json.loads(watch(tmp_path, "--results", str(path), "--output", "json").stdout)

    assert report["metrics"]["p99_ms"] is None
    assert "UNKNOWN" == report["status"]["p99"]
    assert [("investigate", None)] == [(a["type"], a["command"]) for a in report["actions"]]


@pytest.mark.parametrize(("level", "document", "expected"), [
    ("critical", EXAMPLE_2, 1),
    ("critical", SAMPLE_REPORT, 0),
    ("warning", SAMPLE_REPORT, 1),
    ("warning", HEALTHY, 0),
])
def test_fail_on_sets_the_exit_code(tmp_path: Path, level: str, document: object,
                                    expected: int) -> None:
    """--fail-on exits 1 only when an action at or above that level is planned."""
    path = results(tmp_path, document)

    done = watch(tmp_path, "--results", str(path), "--fail-on", level)

    assert expected == done.returncode, done.stderr


def test_results_path_comes_from_the_environment(tmp_path: Path) -> None:
    """RESULTS_PATH is used when --results is not given."""
    path = results(tmp_path, SAMPLE_REPORT, name="from-env.json")

    done = watch(tmp_path, env={"RESULTS_PATH": str(path)})

    assert 0 == done.returncode, done.stderr
    assert f"Results File: {path}" in done.stdout


def test_script_is_written_only_when_there_are_actions(tmp_path: Path) -> None:
    """With actions a script is written; with none, the report says so and writes nothing."""
    script = tmp_path / "fix.sh"

    done = watch(tmp_path, "--results", str(results(tmp_path, EXAMPLE_2)),
                 "--generate-script", str(script))
    assert 0 == done.returncode, done.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash")
    assert "kubectl rollout undo deployment llm-backend --namespace=default" in (
        script.read_text()
    )

    script.unlink()
    healthy = watch(tmp_path, "--results", str(results(tmp_path, HEALTHY)),
                    "--generate-script", str(script))
    assert 0 == healthy.returncode
    assert "no script written" in healthy.stdout
    assert not script.exists()


def test_a_healthy_run_removes_the_previous_runs_script_but_no_other_file(
        tmp_path: Path) -> None:
    """A stale plan must not be replayed: our old script goes; a file we did not write stays."""
    script = tmp_path / "fix.sh"
    degraded = watch(tmp_path, "--results", str(results(tmp_path, EXAMPLE_2)),
                     "--generate-script", str(script))
    assert 0 == degraded.returncode, degraded.stderr
    assert script.exists()

    healthy = watch(tmp_path, "--results", str(results(tmp_path, HEALTHY)),
                    "--generate-script", str(script))
    assert 0 == healthy.returncode, healthy.stderr
    assert f"Removed the previous run's script at {script}" in healthy.stdout
    assert not script.exists()

    mine = tmp_path / "deploy.sh"
    mine.write_text("#!/usr/bin/env bash\necho my own\n")
    again = watch(tmp_path, "--results", str(results(tmp_path, HEALTHY)),
                  "--generate-script", str(mine))
    assert 0 == again.returncode, again.stderr
    assert "is not a remediator script: left as it is" in again.stdout
    assert mine.read_text() == "#!/usr/bin/env bash\necho my own\n"


def test_a_script_overwrites_only_a_script_of_ours(tmp_path: Path) -> None:
    """A plan with actions never replaces someone's own file; our earlier script it does."""
    path = str(results(tmp_path, EXAMPLE_2))
    mine = tmp_path / "deploy.sh"
    mine.write_text("#!/usr/bin/env bash\necho my own\n")

    refused = watch(tmp_path, "--results", path, "--generate-script", str(mine))

    assert 2 == refused.returncode
    errors = [line for line in refused.stderr.splitlines() if "error: " in line]
    assert errors == [f"remediator: error: {mine}: is not a remediator script; not overwritten"]
    assert "Traceback" not in refused.stderr
    assert mine.read_text() == "#!/usr/bin/env bash\necho my own\n"

    ours = tmp_path / "fix.sh"
    assert 0 == watch(tmp_path, "--results", path, "--generate-script", str(ours)).returncode
    ours.write_text(ours.read_text().replace("llm-backend", "llm-old"))
    again = watch(tmp_path, "--results", path, "--generate-script", str(ours))
    assert 0 == again.returncode, again.stderr
    assert "llm-old" not in ours.read_text()


@pytest.mark.parametrize(("document", "expected"), [
    ('{"latency_stats": {"p95_ms": "fast"}}', "latency_stats.p95_ms"),
    ('{"latency_stats": {"p95_ms": -5}, "error_rate": 0}', "latency_stats.p95_ms"),
    ('{"latency_stats": {"p95_ms": 5}, "error_rate": 1.5}', "error_rate"),
    ('{"latency_stats": {"p95_ms": 5}, "throughput_rps": -1}', "throughput_rps"),
    ("{not json", "bench_results.json"),
    ("", "bench_results.json"),
])
def test_bad_results_exit_2_with_one_line_naming_file_and_field(
    tmp_path: Path, document: str, expected: str
) -> None:
    """Invalid input is one line on stderr naming the file and field, never a traceback."""
    path = tmp_path / "bench_results.json"
    path.write_text(document)

    done = watch(tmp_path, "--results", str(path))

    assert 2 == done.returncode
    lines = done.stderr.strip().splitlines()
    assert 1 == len(lines), done.stderr
    assert str(path) in lines[0] and expected in lines[0]
    assert "Traceback" not in done.stderr


def test_bad_config_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    """A config error names the file and key on one line."""
    config = tmp_path / "c.yaml"
    config.write_text("thresholds:\n  p95_ms: {warning: 500}\n")

    done = watch(tmp_path, "--config", str(config), "--results",
                 str(results(tmp_path, HEALTHY)))

    assert 2 == done.returncode
    assert [f"remediator: error: {config}: thresholds.p95_ms: warning (500) must not be "
            "above critical (150)"] == done.stderr.strip().splitlines()


def test_missing_results_file_exits_2(tmp_path: Path) -> None:
    """The default results path that does not exist is named in the error."""
    done = watch(tmp_path)

    assert 2 == done.returncode
    assert "bench/bench_results.json" in done.stderr
    assert 1 == len(done.stderr.strip().splitlines())


def test_dry_run_changes_nothing_and_shows_the_commands(tmp_path: Path) -> None:
    """--dry-run lists what execution would run for the CRITICAL actions only."""
    done = watch(tmp_path, "--results", str(results(tmp_path, EXAMPLE_2)), "--dry-run")

    assert 0 == done.returncode, done.stderr
    tail = done.stdout.split("Dry run, nothing changed:")[1]
    assert ("dry_run - would run: kubectl rollout undo deployment llm-gateway "
            "--namespace=default") in tail
    assert "scale deployment/llm-gateway: skipped - below_priority" in tail


def test_auto_execute_runs_critical_actions_through_kubectl(tmp_path: Path) -> None:
    """--auto-execute with the kubectl executor runs argv lists of CRITICAL actions only."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "argv.log"
    stub = bin_dir / "kubectl"
    stub.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    stub.chmod(0o755)

    done = watch(tmp_path, "--results", str(results(tmp_path, EXAMPLE_2)), "--auto-execute",
                 env={"PATH": f"{bin_dir}:{os.environ['PATH']}",
                      "REMEDIATOR_EXECUTOR": "kubectl"})

    assert 0 == done.returncode, done.stderr
    changes = [json.loads(line) for line in log.read_text().splitlines()]
    assert [
        ["rollout", "undo", "deployment", "llm-gateway", "--namespace=default"],
        ["rollout", "undo", "deployment", "llm-backend", "--namespace=default"],
    ] == [argv for argv in changes if argv[:2] == ["rollout", "undo"]]
    assert not any(argv[0] == "scale" for argv in changes)
    assert "executed - rolled back deployment/llm-gateway" in done.stdout


def test_state_dir_makes_a_second_run_honour_the_cooldown(tmp_path: Path) -> None:
    """Two CronJob-style runs sharing --state-dir: the second one's rollbacks wait."""
    path = str(results(tmp_path, EXAMPLE_2))
    state = tmp_path / "state"

    first = watch(tmp_path, "--results", path, "--dry-run", "--state-dir", str(state))
    second = watch(tmp_path, "--results", path, "--dry-run", "--state-dir", str(state))
    stateless = watch(tmp_path, "--results", path, "--dry-run")

    assert 0 == first.returncode, first.stderr
    assert 0 == second.returncode, second.stderr
    first_tail = first.stdout.split("Dry run, nothing changed:")[1]
    second_tail = second.stdout.split("Dry run, nothing changed:")[1]
    assert ("rollback deployment/llm-gateway: dry_run - would run: kubectl rollout undo"
            in first_tail)
    assert "rollback deployment/llm-gateway: skipped - cooldown" in second_tail
    assert "rollback deployment/llm-backend: skipped - cooldown" in second_tail
    assert "scale deployment/llm-gateway: skipped - below_priority" in second_tail
    assert "rollback deployment/llm-gateway: dry_run" in stateless.stdout


def test_state_dir_history_is_the_daemons(tmp_path: Path) -> None:
    """The decisions of a watch run land in the SQLite history the daemon serves."""
    import asyncio

    from remediator.state.sqlite import SqliteStore

    state = tmp_path / "state"
    done = watch(tmp_path, "--results", str(results(tmp_path, EXAMPLE_2)), "--dry-run",
                 "--state-dir", str(state))

    async def history() -> list[tuple[str, str | None, str]]:
        store = SqliteStore(str(state))
        await store.open()
        try:
            return [(d.type, d.target, d.outcome) for d in await store.decisions(limit=10)]
        finally:
            await store.close()

    assert 0 == done.returncode, done.stderr
    assert sorted(asyncio.run(history())) == [
        ("rollback", "default/deployment/llm-backend", "dry_run"),
        ("rollback", "default/deployment/llm-gateway", "dry_run"),
        ("scale", "default/deployment/llm-gateway", "skipped"),
    ]


SWEEP = Path(__file__).resolve().parents[1] / "bench" / "fixtures" / "vllm-sweep.jsonl"


def test_run_picks_a_run_of_a_multi_run_file(tmp_path: Path) -> None:
    """A vLLM JSON Lines file gives its last run; --run 0 the first; the report says which."""
    last = json.loads(watch(tmp_path, "--results", str(SWEEP), "--output", "json").stdout)
    first = watch(tmp_path, "--results", str(SWEEP), "--run", "0", "--output", "json")
    text = watch(tmp_path, "--results", str(SWEEP), "--run", "0")

    assert {"index": 2, "count": 3} == last["run"]
    assert 0 == first.returncode, first.stderr
    assert {"index": 0, "count": 3} == json.loads(first.stdout)["run"]
    assert json.loads(first.stdout)["metrics"] != last["metrics"]
    assert "Format: vllm (--run 0 of runs 0..2)" in text.stdout


@pytest.mark.parametrize(("run", "expected"), [
    ("9", "run: no run 9: the file holds 3 runs (0..2)"),
    ("-1", "command line: --run: must be 0 or more, got -1"),
])
def test_a_run_that_is_not_there_exits_2(tmp_path: Path, run: str, expected: str) -> None:
    """--run beyond the file's runs, or negative, is one line on stderr and exit 2."""
    done = watch(tmp_path, "--results", str(SWEEP), "--run", run)

    assert 2 == done.returncode
    assert [f"remediator: error: {expected}" if run == "-1" else
            f"remediator: error: {SWEEP}: {expected}"] == done.stderr.strip().splitlines()


def test_json_actions_carry_every_documented_field(tmp_path: Path) -> None:
    """Each action has priority, severity, type, target, description, rationale, command."""
    report = json.loads(watch(tmp_path, "--results", str(results(tmp_path, EXAMPLE_2)),
                              "--output", "json").stdout)

    for action in report["actions"]:
        assert {"priority", "severity", "type", "target", "description", "rationale",
                "command"} <= set(action)
    assert ["critical", "critical", "high"] == [a["severity"] for a in report["actions"]]
    assert report["actions"][2]["rationale"] == (
        "Throughput (12.00 req/s) is below warning threshold (15.0 req/s)")


def test_script_header_says_when_and_from_what(tmp_path: Path) -> None:
    """The script starts with strict bash, when it was made and from which results."""
    path = results(tmp_path, EXAMPLE_2)
    script = tmp_path / "fix.sh"

    done = watch(tmp_path, "--results", str(path), "--generate-script", str(script))

    assert 0 == done.returncode, done.stderr
    head = script.read_text().splitlines()[:6]
    assert head[0] == "#!/usr/bin/env bash"
    assert any(line.startswith("# Generated: 20") for line in head)
    assert any(line.startswith(f"# From results: {path} (native,") for line in head)
    assert "set -euo pipefail" in head
    assert f"Remediation script saved to: {script}" in done.stdout


def kubectl_stub(tmp_path: Path, *, replicas: str = "") -> tuple[dict[str, str], Path]:
    """A kubectl on PATH that records its argv and reads `replicas`; the environment for it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "argv.log"
    stub = bin_dir / "kubectl"
    stub.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"if sys.argv[1] == 'get' and 'replicas' in sys.argv[-1]: print({replicas!r}, end='')\n"
    )
    stub.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "REMEDIATOR_EXECUTOR": "kubectl"}, log


def recorded(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_auto_execute_from_the_environment_executes(tmp_path: Path) -> None:
    """AUTO_EXECUTE=true does what --auto-execute does."""
    env, log = kubectl_stub(tmp_path)

    done = watch(tmp_path, "--results", str(results(tmp_path, EXAMPLE_2)),
                 env={**env, "AUTO_EXECUTE": "true"})

    assert 0 == done.returncode, done.stderr
    assert ["rollout", "undo", "deployment", "llm-gateway", "--namespace=default"] in (
        recorded(log))
    assert "Execution:" in done.stdout


def test_dry_run_from_the_environment_wins_over_auto_execute(tmp_path: Path) -> None:
    """AUTO_EXECUTE=true with DRY_RUN=true still only shows: kubectl is never called."""
    env, log = kubectl_stub(tmp_path)

    done = watch(tmp_path, "--results", str(results(tmp_path, EXAMPLE_2)),
                 env={**env, "AUTO_EXECUTE": "true", "DRY_RUN": "true"})

    assert 0 == done.returncode, done.stderr
    assert [] == recorded(log)
    assert "Dry run, nothing changed:" in done.stdout
    assert "dry_run - would run: kubectl rollout undo deployment llm-gateway" in done.stdout


def test_execution_threshold_is_configurable(tmp_path: Path) -> None:
    """execution.min_priority 2 executes the HIGH throughput scale too."""
    env, log = kubectl_stub(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text("execution: {min_priority: 2}\n")

    done = watch(tmp_path, "--results", str(results(tmp_path, EXAMPLE_2)), "--config",
                 str(config), "--auto-execute", env=env)

    assert 0 == done.returncode, done.stderr
    assert ["scale", "deployment", "llm-gateway", "--replicas=4", "--namespace=default"] in (
        recorded(log))


def test_execution_never_lowers_replicas_and_says_so(tmp_path: Path) -> None:
    """A live count above the plan's is read first and left alone, with the reason shown."""
    env, log = kubectl_stub(tmp_path, replicas="8")

    done = watch(tmp_path, "--results", str(results(tmp_path, {
        "latency_stats": {"p95_ms": 165, "p99_ms": 180}, "error_rate": 0.0,
        "throughput_rps": 20})), "--auto-execute", env=env)

    assert 0 == done.returncode, done.stderr
    assert [["get", "deployment", "llm-gateway", "--namespace=default", "-o",
             "jsonpath={.spec.replicas}"]] == recorded(log)
    assert ("scale deployment/llm-gateway: skipped - would_lower_replicas: deployment/"
            "llm-gateway has 8 replicas, plan asks 5") in done.stdout


@pytest.mark.parametrize("command", [
    [], ["watch"], ["serve"], ["decisions"], ["pause"], ["resume"], ["breaker"],
    ["revert-config"], ["rules"],
])
def test_every_subcommand_has_help(tmp_path: Path, command: list[str]) -> None:
    """`remediator [COMMAND] --help` prints its usage and exits 0."""
    done = subprocess.run([sys.executable, "-m", "remediator", *command, "--help"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)

    assert 0 == done.returncode, done.stderr
    assert done.stdout.startswith(f"usage: remediator {' '.join(command)}".rstrip())


@pytest.mark.parametrize("where", ["environment", "config"])
def test_a_state_dir_from_the_environment_or_config_is_used_too(tmp_path: Path,
                                                                 where: str) -> None:
    """REMEDIATOR_STATE_DIR or state.dir configure the state as --state-dir does."""
    path = str(results(tmp_path, EXAMPLE_2))
    state = str(tmp_path / "state")
    config = tmp_path / "c.yaml"
    config.write_text(f"state: {{dir: {state}}}\n" if where == "config" else "{}\n")
    env = {"REMEDIATOR_STATE_DIR": state} if where == "environment" else {}

    runs = [watch(tmp_path, "--results", path, "--dry-run", "--config", str(config), env=env)
            for _ in range(2)]

    assert [run.returncode for run in runs] == [0, 0], runs[1].stderr
    assert "rollback deployment/llm-gateway: dry_run" in runs[0].stdout
    assert "rollback deployment/llm-gateway: skipped - cooldown" in runs[1].stdout
    assert (tmp_path / "state" / "remediator.sqlite3").exists()


def test_json_output_stays_pure_when_other_notes_are_printed(tmp_path: Path) -> None:
    """With --output json the script and dry-run notes go to stderr; stdout is one document."""
    done = watch(tmp_path, "--results", str(results(tmp_path, EXAMPLE_2)), "--output", "json",
                 "--dry-run", "--generate-script", str(tmp_path / "fix.sh"))

    assert 0 == done.returncode, done.stderr
    assert ["rollback", "rollback", "scale"] == [
        a["type"] for a in json.loads(done.stdout)["actions"]]
    assert "Remediation script saved to:" in done.stderr
    assert "Dry run, nothing changed:" in done.stderr


def test_the_example_config_keeps_watch_stateless(tmp_path: Path, repo_root: Path) -> None:
    """The example file shows the default state.dir; loading it changes nothing, here too."""
    path = str(results(tmp_path, EXAMPLE_2))
    example = str(repo_root / "remediator.example.yaml")

    runs = [watch(tmp_path, "--results", path, "--dry-run", "--config", example)
            for _ in range(2)]

    assert all("rollback deployment/llm-gateway: dry_run" in run.stdout for run in runs)
    assert not (tmp_path / ".remediator-state").exists()


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path: Path) -> None:
    """`remediator watch | head -0`: stdout closed early ends quietly with 141, like SIGPIPE."""
    environ = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    process = subprocess.Popen(
        [sys.executable, "-m", "remediator", "watch", "--results",
         str(results(tmp_path, SAMPLE_REPORT))],
        cwd=tmp_path, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()

    assert 141 == process.wait(timeout=60)
    assert "Traceback" not in stderr and stderr == ""


@pytest.mark.parametrize("content", [b"\x7fELF\x02\x01\x01\x00\xd0\x80\xd0\xff",
                                     b"a: [b\n  c: {"])
def test_a_broken_kubeconfig_fails_each_action_in_one_line(tmp_path: Path,
                                                           content: bytes) -> None:
    """KUBECONFIG or --kubeconfig naming garbage: each action fails naming the file, no trace."""
    kubeconfig = tmp_path / "bad.yaml"
    kubeconfig.write_bytes(content)
    path = str(results(tmp_path, EXAMPLE_2))

    runs = [watch(tmp_path, "--results", path, env={"KUBECONFIG": str(kubeconfig),
                                                    "AUTO_EXECUTE": "true"}),
            watch(tmp_path, "--results", path, "--auto-execute", "--kubeconfig",
                  str(kubeconfig))]

    for done in runs:
        assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
        assert 3 == done.returncode, done.stderr
        failed = [line for line in done.stdout.splitlines() if ": failed - " in line]
        assert len(failed) == 2, done.stdout
        assert all(f"kubeconfig {kubeconfig}" in line for line in failed)
        assert not any(line.startswith("  in ") for line in done.stdout.splitlines())


def failing_kubectl(tmp_path: Path) -> dict[str, str]:
    """A kubectl on PATH that fails every command, as one with no cluster does."""
    env, _ = kubectl_stub(tmp_path)
    (tmp_path / "bin" / "kubectl").write_text(
        f"#!{sys.executable}\nimport sys\n"
        "sys.stderr.write('error: connection refused\\n')\nsys.exit(1)\n"
    )
    return env


@pytest.mark.parametrize(("fail_on", "expected"), [(None, 3), ("warning", 3)])
def test_a_failed_execution_exits_3_with_a_line_per_failure_on_stderr(
    tmp_path: Path, fail_on: str | None, expected: int
) -> None:
    """Every executed action failed: a CronJob sees exit 3 and why, even with --fail-on."""
    env = failing_kubectl(tmp_path)
    flags = ["--fail-on", fail_on] if fail_on else []

    done = watch(tmp_path, "--results", str(results(tmp_path, EXAMPLE_2)), "--auto-execute",
                 *flags, env=env)

    assert expected == done.returncode, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert [line.split(" failed: ")[0] for line in errors] == [
        "error: rollback deployment/llm-gateway", "error: rollback deployment/llm-backend"]


def test_a_dry_run_or_a_skip_is_not_a_failure(tmp_path: Path) -> None:
    """Nothing tried and failed: --fail-on's 1 and the plain 0 are unchanged."""
    path = str(results(tmp_path, EXAMPLE_2))

    assert 1 == watch(tmp_path, "--results", path, "--dry-run", "--fail-on",
                      "critical").returncode
    assert 0 == watch(tmp_path, "--results", path, "--dry-run").returncode


OUT_OF_ORDER = {"latency_stats": {"p50_ms": 300, "p95_ms": 120, "p99_ms": 100},
                "error_rate": 0, "throughput_rps": 20}


def test_the_readers_notes_are_warnings_and_explain_an_unknown(tmp_path: Path) -> None:
    """Percentiles out of order: said on stderr, and the report says unusable, not unreported."""
    path = results(tmp_path, OUT_OF_ORDER)

    done = watch(tmp_path, "--results", str(path))

    assert 0 == done.returncode, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, done.stderr
    assert warnings[0].startswith(f"warning: {path}: latencies dropped")
    assert "did not report" not in done.stdout
    assert ("P95 latency is unknown: the benchmark's figure was unusable (latencies dropped"
            in done.stdout)
    assert "P95 Latency:     n/a (unusable: see the warnings)" in done.stdout


def test_an_absent_figure_is_still_not_reported(tmp_path: Path) -> None:
    """A percentile the file never had: said so, and "did not report it" is the truth."""
    path = results(tmp_path, EXAMPLE_2)

    done = watch(tmp_path, "--results", str(path))

    assert f"warning: {path}: latency_stats.p50_ms: missing; left unset" in done.stderr
    assert "P95 Latency:     80.00 ms" in done.stdout
    assert "P50 Latency:     n/a (not reported)" in done.stdout


@pytest.mark.parametrize(("args", "named"), [
    (("--resuls", "run.json"), "--resuls"),
    (("--res", "run.json"), "--res"),  # abbreviations are not taken for --results
    (("--fail-on", "high"), "'high'"),
])
def test_a_wrong_command_line_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...],
                                                       named: str) -> None:
    done = watch(tmp_path, *args)

    assert 2 == done.returncode
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("remediator") and named in line and "--help" in line
