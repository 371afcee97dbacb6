"""
The watch report, as text for people and JSON for pipelines.

The text follows the original watcher's layout so that people who read its
output keep reading ours; the emoji become plain markers when the output
cannot carry them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from remediator.bench.result import BenchResult
from remediator.config.settings import Thresholds
from remediator.planning import commands
from remediator.planning.actions import Action
from remediator.planning.conditions import (
    THRESHOLDED,
    Condition,
    Level,
    Metric,
    unusable_note,
)

RULE = "=" * 70
THIN = "-" * 70

# Headings, status markers and priority badges, with and without emoji. Levels
# and priorities are both small integers, so they live in separate tables.
_EMOJI = {"metrics": "📊 ", "status": "🎯 ", "actions": "⚠️  ", "none": "✅ "}
_PLAIN = {"metrics": "", "status": "", "actions": "", "none": ""}
_LEVEL_EMOJI = {
    Level.OK: "✅ OK", Level.WARNING: "⚠️  WARNING", Level.CRITICAL: "🔴 CRITICAL",
    Level.EMERGENCY: "🔴 CRITICAL", Level.UNKNOWN: "❓ UNKNOWN",
}
_LEVEL_PLAIN = {
    Level.OK: "[OK] OK", Level.WARNING: "[!] WARNING", Level.CRITICAL: "[!!] CRITICAL",
    Level.EMERGENCY: "[!!] CRITICAL", Level.UNKNOWN: "[?] UNKNOWN",
}
_BADGE_EMOJI = {1: "🔴 CRITICAL", 2: "🟡 HIGH", 3: "🟢 MEDIUM"}
_BADGE_PLAIN = {1: "CRITICAL", 2: "HIGH", 3: "MEDIUM"}

_NAMES = {
    Metric.P95: "P95 Latency", Metric.P99: "P99 Latency",
    Metric.ERROR_RATE: "Error Rate", Metric.THROUGHPUT: "Throughput",
}


def text(
    result: BenchResult,
    status: dict[Metric, Condition],
    actions: Sequence[Action],
    thresholds: Thresholds,
    *,
    now: datetime,
    emoji: bool = True,
) -> str:
    """The human report of one analysis."""
    marks = _EMOJI if emoji else _PLAIN
    levels = _LEVEL_EMOJI if emoji else _LEVEL_PLAIN
    badges = _BADGE_EMOJI if emoji else _BADGE_PLAIN
    lines = [RULE, "AUTO-REMEDIATION WATCHER REPORT", RULE]
    lines.append(f"Timestamp: {now:%Y-%m-%d %H:%M:%S}")
    lines.append(f"Results File: {result.source}")
    # Numbered as --run and the JSON's run.index count: from 0.
    last = result.run_count - 1
    run = f" (--run {result.run_index} of runs 0..{last})" if result.run_count > 1 else ""
    lines.append(f"Format: {result.format}{run}, finished {result.time:%Y-%m-%d %H:%M:%S %Z}")

    lines += ["", f"{marks['metrics']}Current Metrics:"]
    p50_unusable = unusable_note(("p50",), result.notes) is not None
    lines.append(_row("P50 Latency", _ms(result.p50_ms) if result.p50_ms is not None
                      else _missing(p50_unusable)))
    lines.append(_row("P95 Latency", _shown(_ms, result.p95_ms, status[Metric.P95])))
    lines.append(_row("P99 Latency", _shown(_ms, result.p99_ms, status[Metric.P99])))
    basis = " (successful)" if result.throughput_basis == "successful" else " (all requests)"
    throughput = _shown(_rps, result.throughput_rps, status[Metric.THROUGHPUT])
    lines.append(_row("Throughput", throughput + (basis if result.throughput_rps is not None
                                                   else "")))
    lines.append(_row("Error Rate",
                      _shown(_percent, result.error_rate, status[Metric.ERROR_RATE])))
    lines.append(_row("Success Rate", _percent(result.success_rate)))

    lines += ["", f"{marks['status']}Threshold Status:"]
    for metric in THRESHOLDED:
        level = status[metric].level
        lines.append(_row(_NAMES[metric], f"{levels[level]} ({_limits(metric, thresholds)})"))

    lines.append("")
    if not actions:
        lines.append(f"{marks['none']}No remediation actions needed.")
    else:
        lines.append(f"{marks['actions']}{len(actions)} Remediation Action(s) Recommended:")
        lines.append(THIN)
        for number, action in enumerate(actions, start=1):
            lines.append("")
            lines.append(f"{number}. [{badges[action.priority]}] {action.description}")
            lines.append(f"   Type: {action.type}")
            lines.append(f"   Rationale: {action.rationale}")
            command = commands.as_text(action)
            if command is None:
                lines.append("   Command: (none: investigate by hand)")
            else:
                first, *rest = command.splitlines()
                lines.append(f"   Command: {first}")
                lines.extend(f"            {line}" for line in rest)
    lines += ["", RULE]
    return "\n".join(lines) + "\n"


def as_json(
    result: BenchResult,
    status: dict[Metric, Condition],
    actions: Sequence[Action],
) -> str:
    """The machine report; never contains NaN or Infinity."""
    document: dict[str, Any] = {
        "source": result.source,
        "format": result.format,
        "time": result.time.isoformat(),
        "run": {"index": result.run_index, "count": result.run_count},
        "throughput_basis": result.throughput_basis,
        "metrics": result.metrics(),
        "status": {str(metric): status[metric].level.status for metric in THRESHOLDED},
        "actions": [action_json(action) for action in actions],
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def action_json(action: Action) -> dict[str, Any]:
    target = action.target
    return {
        "priority": action.priority,
        "severity": action.severity,
        "type": str(action.type),
        "target": target.ref if target else None,
        "namespace": target.namespace if target else None,
        "replicas": action.replicas,
        "description": action.description,
        "rationale": action.rationale,
        "command": commands.as_text(action),
    }


def _row(label: str, value: str) -> str:
    return f"  {label + ':':<17}{value}"


def _shown(form: Callable[[float | None], str], value: float | None,
           condition: Condition) -> str:
    """A figure, or why there is none: absent, or found and not used (see the warnings)."""
    return form(value) if value is not None else _missing(condition.unusable is not None)


def _missing(unusable: bool) -> str:
    return "n/a (unusable: see the warnings)" if unusable else "n/a (not reported)"


def _ms(value: float | None) -> str:
    return "n/a (not reported)" if value is None else f"{value:.2f} ms"


def _rps(value: float | None) -> str:
    return "n/a (not reported)" if value is None else f"{value:.2f} req/s"


def _percent(value: float | None) -> str:
    return "n/a (not reported)" if value is None else f"{value * 100:.2f}%"


def _limits(metric: Metric, thresholds: Thresholds) -> str:
    if metric is Metric.THROUGHPUT:
        floor = thresholds.throughput_rps
        parts = [f"{floor.warning:.1f} req/s warning"] if floor.warning is not None else []
        parts.append(f"{floor.critical:.1f} req/s critical")
        return "minimum: " + ", ".join(parts)
    if metric is Metric.ERROR_RATE:
        rate = thresholds.error_rate
        parts = [f"{rate.warning * 100:g}% warning"] if rate.warning is not None else []
        parts.append(f"{rate.critical * 100:g}% critical")
        return "threshold: " + ", ".join(parts)
    limit = thresholds.p95_ms if metric is Metric.P95 else thresholds.p99_ms
    parts = [f"{limit.warning:.1f}ms warning"] if limit.warning is not None else []
    parts.append(f"{limit.critical:.1f}ms critical")
    return "threshold: " + ", ".join(parts)
