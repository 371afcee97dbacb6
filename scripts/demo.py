"""
`make demo`: the alerting chain with the real servers, narrated.

Starts the remediator (dry-run executor), Prometheus and Alertmanager on
free loopback ports in a temporary directory, then writes benchmark results:
a p95 above the warning threshold, then above the critical one, then back
to normal. It prints what each component does as it happens: alerts going
pending and firing in Prometheus, inhibited in Alertmanager, the
remediator's dry-run decisions, the repeats it ignores, the resolve and the
time to recovery. Needs Debian's prometheus and prometheus-alertmanager
(`make system-deps`). Takes about half a minute.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

# The harness lives with the end-to-end test, which runs the same chain.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.alerting.stack import Stack, StackError, Timeline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (configs, logs) afterwards")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="remediator-demo-"))
    stack = Stack(root)
    print(f"Working directory: {root}")
    print(f"Ports: remediator {stack.daemon_port}, Alertmanager {stack.alertmanager_port}, "
          f"Prometheus {stack.prometheus_port}")
    print("Starting the three servers (Prometheus needs ~5 s before its first scrape)...")
    try:
        with stack:
            return _narrate(stack)
    except StackError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _narrate(stack: Stack) -> int:
    # Start from a healthy result that Prometheus has already seen.
    stack.write_result(p95_ms=50)
    stack.wait("the first result in Prometheus", lambda: stack.query(
        'llm_bench_latency_seconds{percentile="95"}'))
    # Until then the gauges were absent: let that alert go before the story starts.
    stack.wait("no alert in Prometheus", lambda: not stack.prometheus_alerts())
    timeline = Timeline(stack, echo=True)
    timeline.baseline()
    timeline.note("chain is up: Prometheus scrapes the remediator every 1s; p95 = 50ms")
    thresholds = stack.settings.thresholds.p95_ms

    timeline.note(f"benchmark  p95 = 120ms (warning above {thresholds.warning:g}ms)")
    stack.write_result(p95_ms=120)
    timeline.until("the warning's decision", lambda: _decided(stack, 1))

    timeline.note(f"benchmark  p95 = 200ms (critical above {thresholds.critical:g}ms)")
    stack.write_result(p95_ms=200)
    timeline.until("the critical's decision", lambda: _decided(stack, 2))

    timeline.note("waiting for repeat notifications: they must change nothing")
    repeats = stack.metric("remediator_notifications_total", result="repeat")
    timeline.until("two repeats", lambda: stack.metric(
        "remediator_notifications_total", result="repeat") >= repeats + 2)

    timeline.note("benchmark  p95 = 50ms (normal)")
    stack.write_result(p95_ms=50)
    # Two episodes (the warning's and the critical's) resolve, each with its time.
    timeline.until("the resolve", lambda: stack.firing_episodes() == []
                   and stack.metric("remediator_recovery_seconds_count") >= 2)

    decisions = stack.decisions()
    print()
    print(f"{len(decisions)} decisions, all dry-run (nothing touched a cluster):")
    for decision in decisions:
        print(f"  #{decision['id']} {decision['type']} {decision['target']} -> "
              f"{decision['replicas']} replicas: {decision['outcome']}")
    return 0


def _decided(stack: Stack, count: int) -> bool:
    """At least `count` decisions, carried out (a fresh one is `pending` for a moment)."""
    settled = [d for d in stack.decisions() if d["outcome"] != "pending"]
    return len(settled) >= count


if __name__ == "__main__":
    sys.exit(main())
