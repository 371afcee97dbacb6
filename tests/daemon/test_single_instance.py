"""
One process per state directory, and nothing decided before the port is ours.

A second `remediator serve` (or a `watch --state-dir`) on the state of a
running daemon would trust its own memory of cooldowns and could act twice
on one incident; a daemon that cannot listen must not have evaluated or
written anything first.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.serving import START_SECONDS, Serve, clean_environment, free_port

BAD_RESULT = {"latency_stats": {"p50_ms": 90.0, "p95_ms": 400.0, "p99_ms": 500.0},
              "error_rate": 0.08, "success_rate": 0.92,
              "throughput_rps": 12.0}


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "remediator", *args], cwd=tmp_path,
        env=clean_environment(), capture_output=True, text=True, timeout=START_SECONDS,
        check=False,
    )


def history(daemon: Serve) -> list[object]:
    """The daemon's decisions, read through its API."""
    with urllib.request.urlopen(f"{daemon.url}/api/v1/actions", timeout=10) as reply:
        actions: list[object] = json.loads(reply.read())
    return actions


def test_a_taken_port_fails_before_the_state_is_touched(tmp_path: Path) -> None:
    """Exit 2, one line naming the address, and no state directory created."""
    state = tmp_path / "state"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(tmp_path, "serve", "--listen", f"127.0.0.1:{port}", "--state-dir", str(state))

    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"remediator: error: command line: --listen: cannot listen on "
                           f"127.0.0.1:{port}")
    assert not state.exists(), sorted(p.name for p in state.iterdir())


def test_a_second_daemon_on_the_same_state_is_refused(tmp_path: Path) -> None:
    """Another port, the same state directory: exit 2 naming the directory and the holder."""
    state = tmp_path / "state"
    with Serve(tmp_path, state_dir=state) as first:
        first.ready()

        done = run(tmp_path, "serve", "--listen", f"127.0.0.1:{free_port()}",
                   "--state-dir", str(state))

        assert done.returncode == 2, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("remediator: error: ")
        assert str(state) in line and "in use by another remediator" in line
        assert f"(pid {first.pid})" in line
        first.ready()  # the first one carries on, untouched


def test_the_lock_goes_with_a_killed_daemon(tmp_path: Path) -> None:
    """After kill -9 the next daemon on that state starts: no stale lock to clear by hand."""
    state = tmp_path / "state"
    with Serve(tmp_path, state_dir=state) as first:
        first.ready()
        first.kill()

    with Serve(tmp_path, state_dir=state) as second:
        second.ready()


def test_watch_does_not_decide_beside_a_running_daemon(tmp_path: Path) -> None:
    """`watch --state-dir` on a daemon's state exits 2 before any report, recording nothing."""
    state = tmp_path / "state"
    results = tmp_path / "bench.json"
    results.write_text(json.dumps(BAD_RESULT))
    with Serve(tmp_path, state_dir=state) as daemon:
        daemon.ready()

        done = run(tmp_path, "watch", "--results", str(results), "--dry-run",
                   "--state-dir", str(state))

        assert done.returncode == 2, (done.stdout, done.stderr)
        assert done.stdout == ""
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("remediator: error: ")
        assert str(state) in line and "in use by another remediator" in line
        assert history(daemon) == []

    # Once the daemon is gone, watch uses the same state as before.
    done = run(tmp_path, "watch", "--results", str(results), "--dry-run",
               "--state-dir", str(state))
    assert done.returncode != 2, done.stderr
