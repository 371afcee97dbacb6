"""`make demo` as people run it: the script, its exit code and the timeline it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.alerting.tools import REPO

# Generous: the demo takes about 20 s, most of it Prometheus warming up.
TIMEOUT_SECONDS = 300


def test_the_demo_prints_the_chain_from_warning_to_recovery() -> None:
    """The timeline shows routing, both dry-run scales, the inhibition, repeats and recovery."""
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("AUTO_EXECUTE", "DRY_RUN", "RESULTS_PATH", "REMEDIATOR_"))}

    shown = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py")], cwd=REPO, env=environ,
        capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False,
    )

    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    timeline = [line for line in lines if re.match(r"^ *\d+\.\ds  ", line)]
    expected_in_order = [
        "benchmark  p95 = 120ms",
        "Alertmanager LLMLatencyP95Warning: - -> active (to remediator)",
        "dry_run  kubectl scale deployment llm-gateway --replicas=4",
        "benchmark  p95 = 200ms",
        "Alertmanager LLMLatencyP95Warning: active -> suppressed",
        "dry_run  kubectl scale deployment llm-gateway --replicas=5",
        "notifications repeat: ",
        "benchmark  p95 = 50ms",
        "episodes recovered: 2",
    ]
    at = 0
    for text in expected_in_order:
        found = [i for i, line in enumerate(timeline) if i >= at and text in line]
        assert found, f"{text!r} missing after line {at} of:\n" + "\n".join(timeline)
        at = found[0]
    # The forecast went to people; nothing but the two scales was decided.
    assert any("LLMLatencyP95CriticalSoon: - -> active (to operators)" in line
               for line in timeline)
    assert sum("remediator  dry_run" in line for line in timeline) == 2
    assert "2 decisions, all dry-run" in shown.stdout
