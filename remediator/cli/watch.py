"""
`remediator watch`: one analysis of one results file, for CI and the CronJob.

It reads the result, judges it against the thresholds, plans, prints the
report, optionally writes a kubectl script, and executes only when asked.
Exit codes, the first that applies: 2 for unreadable or invalid input or
config, 3 when an action it tried to execute failed, 1 when `--fail-on`
finds an action at or above its level, 0 when the analysis ran.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from remediator.errors import InputError

FAIL_ON = {"critical": 1, "warning": 2}
EXIT_FAIL_ON = 1
EXIT_EXECUTION_FAILED = 3

EPILOG = """exit status, the first that applies:
  2  unreadable or invalid results, config or arguments
  3  an action it tried to execute failed (one line each on stderr)
  1  --fail-on found an action at or above its level
  0  the analysis ran"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="analyse one benchmark results file and plan remediation",
        description="Analyse one benchmark results file, print the report and the planned "
        "actions, optionally write a kubectl script or execute the critical actions.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--results", metavar="PATH",
                        help="results file (default: $RESULTS_PATH, then "
                        "bench/bench_results.json)")
    parser.add_argument("--format", metavar="F",
                        help="results format; detected when omitted "
                        "(native, vllm, llmperf, genai-perf, guidellm, k6, locust, oha, vegeta, "
                        "hey)")
    parser.add_argument("--run", type=int, metavar="N",
                        help="which run of a multi-run file to judge (0-based; default: last)")
    parser.add_argument("--config", metavar="PATH", help="YAML config file")
    parser.add_argument("--generate-script", metavar="PATH",
                        help="write a bash script of kubectl commands for the plan")
    parser.add_argument("--dry-run", action="store_true", default=None,
                        help="show what would be executed, change nothing")
    parser.add_argument("--auto-execute", action="store_true", default=None,
                        help="execute actions at or above execution.min_priority "
                        "(CRITICAL by default)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="apply cooldowns, rate limit and breaker from this state "
                        "directory, as the daemon does")
    parser.add_argument("--kubeconfig", metavar="PATH",
                        help="kubeconfig for execution (default: in-cluster config in a pod, "
                        "else $KUBECONFIG, then ~/.kube/config)")
    parser.add_argument("--context", metavar="NAME",
                        help="kubeconfig context for execution (default: its current context)")
    parser.add_argument("--output", choices=("text", "json"), default="text",
                        help="report format on stdout")
    parser.add_argument("--fail-on", choices=tuple(FAIL_ON),
                        help="exit 1 when an action at or above this level is planned")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from remediator.bench import reading
    from remediator.config import loading
    from remediator.planning import conditions, planner, report

    # Settings: defaults, file, environment, then these flags.
    settings = loading.load_settings(
        args.config,
        overrides={
            "results.path": args.results,
            "results.format": args.format,
            "execution.auto_execute": args.auto_execute,
            "execution.dry_run": args.dry_run,
            "state.dir": args.state_dir,
            "kubernetes.kubeconfig": args.kubeconfig,
            "kubernetes.context": args.context,
        },
    )
    if args.run is not None and args.run < 0:
        raise InputError("command line", "--run", f"must be 0 or more, got {args.run}")

    # Judge the result and plan.
    result = reading.read_result(
        Path(settings.results.path), format=settings.results.format, run=args.run
    )
    for note in result.notes:
        print(f"warning: {settings.results.path}: {note}", file=sys.stderr)
    status = conditions.evaluate(result, settings.thresholds)
    actions = planner.plan(status.values(), settings)
    now = datetime.now(UTC).astimezone()

    # A file someone else wrote, or a state directory a daemon holds, is
    # refused before anything is printed or run.
    if args.generate_script and actions:
        _refuse_a_foreign_file(Path(args.generate_script))
    deciding = settings.execution.auto_execute or settings.execution.dry_run
    if deciding and _uses_state(args, settings) and settings.state.backend == "sqlite":
        _refuse_a_held_state_dir(Path(settings.state.dir))

    # Report on stdout; side notes go to stderr when stdout carries JSON.
    notes = sys.stderr if args.output == "json" else sys.stdout
    if args.output == "json":
        sys.stdout.write(report.as_json(result, status, actions))
    else:
        emoji = _is_utf8(sys.stdout)
        sys.stdout.write(report.text(result, status, actions, settings.thresholds,
                                     now=now, emoji=emoji))

    if args.generate_script:
        _write_script(args.generate_script, actions, result, now, settings, notes)

    failed = 0
    if settings.execution.auto_execute or settings.execution.dry_run:
        failed = _execute(actions, settings, args, notes)
    if failed:
        return EXIT_EXECUTION_FAILED

    threshold = FAIL_ON.get(args.fail_on or "")
    if threshold and any(action.priority <= threshold for action in actions):
        return EXIT_FAIL_ON
    return 0


def _write_script(path: str, actions: Any, result: Any, now: datetime, settings: Any,
                  notes: TextIO) -> None:
    from remediator.planning import script

    if not actions:
        print(f"No actions planned: no script written to {path}.", file=notes)
        _remove_stale_script(Path(path), notes)
        return
    text = script.generate(actions, result, now=now,
                           rollout_timeout_seconds=settings.execution.rollout_timeout_seconds)
    target = Path(path)
    try:
        target.write_text(text, encoding="utf-8")
        target.chmod(0o755)
    except OSError as error:
        raise InputError(path, None, f"cannot write the script: {error.strerror}") from None
    print(f"📝 Remediation script saved to: {path}" if _is_utf8(notes)
          else f"Remediation script saved to: {path}", file=notes)


def _remove_stale_script(path: Path, notes: TextIO) -> None:
    """
    Delete a script an earlier run left at `path`, when it is one of ours.

    A CI step or CronJob that runs "the script, if there is one" would
    otherwise replay an old plan against a platform that is healthy now.
    A file we did not write is never touched.
    """
    ours = _is_our_script(path)
    if ours is None:
        return
    if not ours:
        print(f"{path} is not a remediator script: left as it is.", file=notes)
        return

    try:
        path.unlink()
    except OSError as error:
        raise InputError(str(path), None,
                         f"cannot remove the previous script: {error.strerror}") from None
    print(f"Removed the previous run's script at {path}.", file=notes)


def _refuse_a_foreign_file(path: Path) -> None:
    """Overwrite only a script of ours: the path may name someone's own file."""
    if _is_our_script(path) is False:
        raise InputError(str(path), None, "is not a remediator script; not overwritten")


def _is_our_script(path: Path) -> bool | None:
    """Whether the file at `path` is a script we generated; None when there is none."""
    from remediator.planning import script

    try:
        with path.open("rb") as existing:
            head = existing.read(512).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return False
    except OSError as error:
        raise InputError(str(path), None, f"cannot read it: {error.strerror}") from None
    return script.is_generated(head)


def _refuse_a_held_state_dir(directory: Path) -> None:
    """
    Fail now, as the store would later, when another process holds `directory`.

    The lock is taken and let go at once: the store takes it again for the
    run, and a process that grabs it in between is still refused there.
    """
    from remediator.state.lock import DirectoryLock

    if not directory.is_dir():
        return  # a new directory: the store creates it, and nobody can hold it yet
    lock = DirectoryLock(directory)
    lock.acquire()
    lock.release()


def _execute(actions: Any, settings: Any, args: argparse.Namespace, notes: TextIO) -> int:
    """Carry the plan out (or dry-run it), list each decision; how many failed."""
    from remediator.execution import runner
    from remediator.execution.base import Outcome

    decisions = asyncio.run(runner.carry_out_once(actions, settings,
                                                  use_state=_uses_state(args, settings)))
    if not decisions:
        print("Nothing to execute.", file=notes)
        return 0
    heading = "Dry run, nothing changed:" if not settings.executing() else "Execution:"
    print(heading, file=notes)
    for number, (action, outcome, reason) in enumerate(decisions, start=1):
        print(f"  {number}. {_named(action)}: {outcome} - {reason}", file=notes)

    # A CronJob or CI step reads stderr and the exit status, not the report.
    failed = [(action, reason) for action, outcome, reason in decisions
              if outcome == str(Outcome.FAILED)]
    for action, reason in failed:
        print(f"error: {_named(action)} failed: {reason}", file=sys.stderr)
    return len(failed)


def _named(action: Any) -> str:
    return f"{action.type} {action.target.ref if action.target else '-'}"


def _uses_state(args: argparse.Namespace, settings: Any) -> bool:
    """
    Whether this run honours the daemon's cooldowns, rate limit and breakers.

    It does when a state directory is configured (by --state-dir,
    REMEDIATOR_STATE_DIR, or a `state.dir` in the config file other than the
    built-in default, which the example file shows) or the state lives in
    Kubernetes; the original watcher was stateless.
    """
    from remediator.config.settings import State

    configured = settings.state.dir != State().dir or "REMEDIATOR_STATE_DIR" in os.environ
    return bool(args.state_dir) or configured or settings.state.backend == "kubernetes"


def _is_utf8(stream: TextIO) -> bool:
    """Whether the stream can carry the report's emoji (any spelling of UTF-8)."""
    try:
        return codecs.lookup(getattr(stream, "encoding", None) or "ascii").name == "utf-8"
    except LookupError:
        return False

