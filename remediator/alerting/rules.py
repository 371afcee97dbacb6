"""
Prometheus alerting rules, generated from the settings.

The rules compare the daemon's gauges with the very thresholds `remediator
watch` judges a result by, so the CLI, the rules and the daemon cannot
disagree about a limit. Thresholds stay in our config's units (ms,
fractions, req/s) and are converted here to the gauges' base units, the
same way the daemon converts a result (`ms / 1000`), so a result exactly at
a threshold is exactly at it on both sides, and strict comparisons leave it
quiet on both.

Three groups come out:
- `llm-bench`: an alert per threshold, plus stale and absent results (with
  the recording rule that lists the absent gauges). These are the alerts
  the daemon maps to conditions and acts on.
- `llm-bench-forecast`: an early warning that p95 will soon be critical, for
  people only; the daemon does not act on it.
- `remediator`: the remediator's own health, for people.

Every expression selects gauges by name only (no `job` matcher, so any
scrape job works) and aggregates away `instance` and `pod`, so replicas
exporting the same result raise one alert.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from remediator.config import names
from remediator.config.settings import Settings
from remediator.errors import ConfigError
from remediator.planning import planner
from remediator.planning.actions import Action, ActionType
from remediator.planning.conditions import Condition, Level, Metric

# --- the contract with the daemon: gauge and alert names ---------------------

LATENCY = "llm_bench_latency_seconds"
ERROR_RATIO = "llm_bench_error_ratio"
THROUGHPUT = "llm_bench_throughput_requests_per_second"
SUCCESS_RATIO = "llm_bench_success_ratio"
LAST_RESULT = "llm_bench_last_result_timestamp_seconds"

SELECTOR: dict[Metric, str] = {
    Metric.P95: f'{LATENCY}{{percentile="95"}}',
    Metric.P99: f'{LATENCY}{{percentile="99"}}',
    Metric.ERROR_RATE: ERROR_RATIO,
    Metric.THROUGHPUT: THROUGHPUT,
}

P95_WARNING = "LLMLatencyP95Warning"
P95_CRITICAL = "LLMLatencyP95Critical"
P95_EMERGENCY = "LLMLatencyP95Emergency"
P99_WARNING = "LLMLatencyP99Warning"
P99_CRITICAL = "LLMLatencyP99Critical"
ERROR_WARNING = "LLMErrorRateWarning"
ERROR_CRITICAL = "LLMErrorRateCritical"
THROUGHPUT_WARNING = "LLMThroughputLowWarning"
THROUGHPUT_CRITICAL = "LLMThroughputLowCritical"
STALE = "LLMBenchResultsStale"
MISSING = "LLMBenchMetricsMissing"
FORECAST = "LLMLatencyP95CriticalSoon"
# A series per gauge the remediator does not export, labelled `metric`
# (p95, p99, error_rate, throughput): the one LLMBenchMetricsMissing alert
# counts them, and people query it to see which.
MISSING_GAUGE = "llm_bench:missing_gauge"

# The alerts the daemon maps to conditions, in rule-file order.
BENCH_ALERTS: tuple[str, ...] = (
    P95_WARNING, P95_CRITICAL, P95_EMERGENCY, P99_CRITICAL,
    ERROR_WARNING, ERROR_CRITICAL, THROUGHPUT_WARNING, THROUGHPUT_CRITICAL,
    STALE, MISSING,
)

# Raised only when their threshold is set (none of the defaults sets it); the
# daemon maps them too.
OPTIONAL_BENCH_ALERTS: tuple[str, ...] = (P99_WARNING,)

REMEDIATOR_DOWN = "RemediatorDown"
BREAKER_OPEN = "RemediatorBreakerOpen"
ACTIONS_FAILING = "RemediatorActionsFailing"
WEBHOOK_REJECTED = "RemediatorWebhookRejected"
RESULTS_UNREADABLE = "RemediatorResultsUnreadable"
ALERTS_TRUNCATED = "RemediatorAlertsTruncated"

GROUP_BENCH = "llm-bench"
GROUP_FORECAST = "llm-bench-forecast"
GROUP_HEALTH = "remediator"

# Replicas of the daemon export the same result; these labels tell them apart.
_REPLICA_LABELS = "instance, pod"


# --- thresholds ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Threshold:
    """One alerting limit, in our config's unit (ms, fraction, req/s)."""

    alert: str
    metric: Metric
    level: Level
    limit: float

    @property
    def below(self) -> bool:
        """Whether the metric is bad below the limit (throughput) rather than above."""
        return self.metric is Metric.THROUGHPUT

    @property
    def gauge_limit(self) -> float:
        """The limit in the gauge's base unit, converted as the daemon converts."""
        if self.metric in (Metric.P95, Metric.P99):
            return self.limit / 1000
        return self.limit

    @property
    def shown(self) -> str:
        """The limit as people write it: `150ms`, `5%`, `10 req/s`."""
        if self.metric is Metric.ERROR_RATE:
            return f"{self.limit * 100:g}%"
        if self.metric is Metric.THROUGHPUT:
            return f"{self.limit:g} req/s"
        return f"{self.limit:g}ms"


def thresholds(settings: Settings) -> list[Threshold]:
    """Every threshold alert the settings ask for; an unset warning has none."""
    t = settings.thresholds
    candidates: list[tuple[str, Metric, Level, float | None]] = [
        (P95_WARNING, Metric.P95, Level.WARNING, t.p95_ms.warning),
        (P95_CRITICAL, Metric.P95, Level.CRITICAL, t.p95_ms.critical),
        (P95_EMERGENCY, Metric.P95, Level.EMERGENCY, t.p95_ms.emergency),
        (P99_WARNING, Metric.P99, Level.WARNING, t.p99_ms.warning),
        (P99_CRITICAL, Metric.P99, Level.CRITICAL, t.p99_ms.critical),
        (ERROR_WARNING, Metric.ERROR_RATE, Level.WARNING, t.error_rate.warning),
        (ERROR_CRITICAL, Metric.ERROR_RATE, Level.CRITICAL, t.error_rate.critical),
        (THROUGHPUT_WARNING, Metric.THROUGHPUT, Level.WARNING, t.throughput_rps.warning),
        (THROUGHPUT_CRITICAL, Metric.THROUGHPUT, Level.CRITICAL, t.throughput_rps.critical),
    ]
    return [
        Threshold(alert, metric, level, limit)
        for alert, metric, level, limit in candidates
        if limit is not None
    ]


def inhibitions(settings: Settings) -> list[tuple[str, str]]:
    """(source, target) pairs: the worse alert of a metric silences its milder twin."""
    by_metric: dict[Metric, list[Threshold]] = {}
    for threshold in thresholds(settings):
        by_metric.setdefault(threshold.metric, []).append(threshold)

    pairs: list[tuple[str, str]] = []
    for ladder in by_metric.values():
        ladder.sort(key=lambda threshold: threshold.level)
        pairs.extend((worse.alert, milder.alert) for milder, worse in itertools.pairwise(ladder))
    return pairs


# --- rules --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Recording:
    """A recording rule: an expression Prometheus stores under a new name."""

    record: str
    expr: str

    def document(self) -> dict[str, Any]:
        return {"record": self.record, "expr": self.expr}


@dataclasses.dataclass(frozen=True)
class Rule:
    alert: str
    expr: str
    for_seconds: float
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    keep_firing_for_seconds: float = 0.0

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "alert": self.alert,
            "expr": self.expr,
            "for": duration(self.for_seconds),
        }
        if self.keep_firing_for_seconds:
            document["keep_firing_for"] = duration(self.keep_firing_for_seconds)
        document["labels"] = dict(self.labels)
        document["annotations"] = dict(self.annotations)
        return document


def rule_file(settings: Settings) -> dict[str, Any]:
    """The rule file as a document: `{"groups": [...]}`."""
    # Rules of a group run in order: the recording rule is fresh when the
    # missing alert reads it in the same evaluation.
    groups: list[tuple[str, Sequence[Rule | Recording]]] = [
        (GROUP_BENCH, [missing_gauges(settings), *bench_rules(settings)]),
        (GROUP_FORECAST, [forecast_rule(settings)]),
        (GROUP_HEALTH, health_rules(settings)),
    ]
    return {
        "groups": [
            {"name": name, "rules": [rule.document() for rule in rules]}
            for name, rules in groups
        ]
    }


def all_rules(settings: Settings) -> list[Rule]:
    return [*bench_rules(settings), forecast_rule(settings), *health_rules(settings)]


def bench_rules(settings: Settings) -> list[Rule]:
    """The alerts the daemon acts on: thresholds, stale results, absent gauges."""
    rules = [_threshold_rule(threshold, settings) for threshold in thresholds(settings)]
    rules.append(_stale_rule(settings))
    rules.append(_missing_rule(settings))
    return rules


def forecast_rule(settings: Settings) -> Rule:
    """p95 is on course to cross its critical threshold: a warning for people."""
    r = settings.rules
    limit = _number(settings.thresholds.p95_ms.critical / 1000)
    window = duration(r.predict_window_seconds)
    horizon = duration(r.predict_horizon_seconds)
    p95 = SELECTOR[Metric.P95]
    # A line fitted through a rise and a sudden fall can still point upwards:
    # only a latest result above the window's average counts as rising.
    expr = (
        f"max without({_REPLICA_LABELS}) (\n"
        f"  predict_linear({p95}[{window}], {_number(r.predict_horizon_seconds)})"
        f"\n) > {limit}\n"
        f"and on() (max({p95}) <= {limit})\n"
        f"and on() (max({p95}) > max(avg_over_time({p95}[{window}])))\n"
        f"and on() {_fresh(settings)}\n"
    )
    shown = f"{settings.thresholds.p95_ms.critical:g}ms"
    return Rule(
        alert=FORECAST,
        expr=expr,
        for_seconds=r.for_seconds,
        labels={"severity": "warning", "remediation": "none"},
        annotations={
            "summary": f"p95 latency is forecast to exceed {shown} within {horizon}",
            "description": (
                f"A linear fit of the last {window} of p95 latency reaches "
                "{{ $value | humanizeDuration }} in " + horizon + f", above the critical "
                f"threshold of {shown}. Nothing is remediated until "
                f"{P95_CRITICAL} fires; this is time to look first."
            ),
            "runbook_url": _runbook(settings, FORECAST),
        },
    )


def health_rules(settings: Settings) -> list[Rule]:
    """The remediator's own health: for people, never routed back to it."""
    job = settings.rules.remediator_job
    keep = _REPLICA_LABELS
    rules = [
        (
            REMEDIATOR_DOWN, "critical", 300.0,
            f'max without({keep}) (up{{job="{job}"}}) == 0\n'
            f'or absent(up{{job="{job}"}})\n',
            "The remediator is down",
            f"No instance of scrape job {job} is up: alerts are not remediated and "
            "the benchmark gauges are not exported.",
        ),
        (
            BREAKER_OPEN, "critical", 60.0,
            f"max without({keep}) (remediator_breaker_open) > 0\n",
            "Remediation of {{ $labels.target }} stopped: its breaker is open",
            "Several actions on {{ $labels.target }} did not bring recovery, so the "
            "remediator stopped acting on it. Find out why, then reset the breaker "
            "(or wait for its quiet period to end).",
        ),
        (
            ACTIONS_FAILING, "warning", 60.0,
            # A target's series appears with its first failure, at 1, where
            # increase() sees nothing: the second branch counts a series that
            # did not exist 15 minutes ago by its value.
            f"sum without({keep}) (\n"
            "  (increase(remediator_action_failures_total[15m]) > 0)\n"
            "  or (remediator_action_failures_total\n"
            "      unless remediator_action_failures_total offset 15m)\n"
            ") > 0\n",
            "{{ $labels.type }} actions on {{ $labels.target }} are failing",
            "{{ $value | humanize }} {{ $labels.type }} actions on {{ $labels.target }}"
            " failed in the last 15 minutes. The decision history (remediator actions)"
            " has the reasons.",
        ),
        (
            WEBHOOK_REJECTED, "warning", 60.0,
            f"sum without({keep}) (\n"
            '  increase(remediator_webhook_requests_total{code=~"4..|5.."}[15m])\n'
            ") > 0\n",
            "The remediator answered {{ $labels.code }} to Alertmanager",
            "{{ $value | humanize }} webhook requests got HTTP {{ $labels.code }} in the "
            "last 15 minutes. Alertmanager does not retry a 4xx, so those alerts were "
            "not remediated: check the bearer token (401), the body limit (413) and "
            "the remediator's log.",
        ),
        (
            RESULTS_UNREADABLE, "warning", 60.0,
            f"sum without({keep}) (\n"
            "  increase(remediator_results_read_failures_total[30m])\n"
            ") > 0\n",
            "The benchmark results cannot be read",
            "{{ $value | humanize }} attempts to read the results file failed in the "
            "last 30 minutes; the gauges keep the last good result, which grows stale.",
        ),
        (
            ALERTS_TRUNCATED, "warning", 60.0,
            f"sum without({keep}) (\n"
            "  increase(remediator_truncated_alerts_total[1h])\n"
            ") > 0\n",
            "Alertmanager truncated notifications to the remediator",
            "{{ $value | humanize }} alerts were left out of notifications in the last "
            "hour because a group held more than max_alerts; raise max_alerts or "
            "split the group.",
        ),
    ]
    return [
        Rule(
            alert=alert,
            expr=expr,
            for_seconds=for_seconds,
            labels={"severity": severity, "remediation": "none"},
            annotations={
                "summary": summary,
                "description": description,
                "runbook_url": _runbook(settings, alert),
            },
        )
        for alert, severity, for_seconds, expr, summary, description in rules
    ]


def _threshold_rule(threshold: Threshold, settings: Settings) -> Rule:
    metric = threshold.metric
    how = "min" if threshold.below else "max"
    operator = "<" if threshold.below else ">"
    expr = (
        f"{how} without({_REPLICA_LABELS}) ({SELECTOR[metric]})"
        f" {operator} {_number(threshold.gauge_limit)}\n"
        f"and on() {_fresh(settings)}\n"
    )

    kind = threshold.level.name.lower()
    side = "below" if threshold.below else "above"
    actions = planner.plan([Condition(metric, threshold.level)], settings)
    return Rule(
        alert=threshold.alert,
        expr=expr,
        for_seconds=settings.rules.for_seconds,
        keep_firing_for_seconds=settings.rules.keep_firing_for_seconds,
        labels={
            "severity": "critical" if threshold.level >= Level.CRITICAL else "warning",
            **_remediation_labels(actions),
        },
        annotations={
            "summary": (
                f"{_NOUN[metric]} {_VALUE[metric]} is {side} the {kind} threshold of "
                f"{threshold.shown}"
            ),
            "description": (
                f"The latest benchmark result has {_NOUN[metric]} {_VALUE[metric]}, "
                f"{side} the {kind} threshold of {threshold.shown}. "
                f"{_remedies(actions)}"
            ),
            "runbook_url": _runbook(settings, threshold.alert),
        },
    )


def _stale_rule(settings: Settings) -> Rule:
    limit = settings.alerts.results_stale_seconds
    return Rule(
        alert=STALE,
        expr=(
            f"time() - max without({_REPLICA_LABELS}) ({LAST_RESULT})"
            f" > {_number(limit)}\n"
        ),
        for_seconds=settings.rules.for_seconds,
        labels={"severity": "warning", "remediation": ActionType.INVESTIGATE.value},
        annotations={
            "summary": "The latest benchmark result is {{ $value | humanizeDuration }} old",
            "description": (
                "No new benchmark result for {{ $value | humanizeDuration }}, longer than "
                f"{duration(limit)}: the benchmark job may have stopped. The threshold "
                "alerts stay silent on stale results, so nothing is remediated from old "
                "figures."
            ),
            "runbook_url": _runbook(settings, STALE),
        },
    )


def missing_gauges(settings: Settings) -> Recording:
    """One series per benchmark gauge the remediator does not export."""
    # Not `absent()`: its result would carry no `namespace` label, and the
    # Prometheus Operator routes an AlertmanagerConfig only the alerts of its
    # own namespace. Anchored on the remediator being up, each series keeps
    # the labels of the remediator's scrape target; when it is down,
    # RemediatorDown says so instead. The daemon withdraws the figures of a
    # stale result: then LLMBenchResultsStale speaks, and this stays empty.
    job = settings.rules.remediator_job
    up = f'group without({_REPLICA_LABELS}) (up{{job="{job}"}} == 1)'
    branches = [
        f"label_replace(\n"
        f"  {up}\n"
        f"  unless on(namespace) {SELECTOR[metric]},\n"
        f'  "metric", "{metric.value}", "", ""\n'
        f")"
        for metric in SELECTOR
    ]
    stale = _number(settings.alerts.results_stale_seconds)
    return Recording(
        record=MISSING_GAUGE,
        expr=(
            "(\n"
            + _indent("\nor ".join(branches))
            + "\n)\n"
            f"unless on(namespace) (time() - {LAST_RESULT} > {stale})\n"
        ),
    )


def _missing_rule(settings: Settings) -> Rule:
    # One alert however many gauges are missing: its `for` does not restart
    # when a second gauge goes, and people get one page, not four.
    metrics = list(SELECTOR)
    actions = planner.plan([Condition(metric, Level.UNKNOWN) for metric in metrics], settings)
    nouns = ", ".join(_NOUN[metric] for metric in metrics[:-1]) + f" or {_NOUN[metrics[-1]]}"
    return Rule(
        alert=MISSING,
        expr=f"count without(metric) ({MISSING_GAUGE})\n",
        for_seconds=settings.rules.missing_for_seconds,
        labels={"severity": "warning", **_remediation_labels(actions)},
        annotations={
            "summary": "The remediator does not export every benchmark gauge",
            "description": (
                f"The remediator is up but exports no gauge for one or more of {nouns}: "
                "the latest result did not report them. Missing data is not healthy "
                "data: their threshold alerts cannot fire. The Prometheus query "
                f"{MISSING_GAUGE} lists them by `metric`. {_remedies(actions[:1])}"
            ),
            "runbook_url": _runbook(settings, MISSING),
        },
    )


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


_NOUN: dict[Metric, str] = {
    Metric.P95: "p95 latency",
    Metric.P99: "p99 latency",
    Metric.ERROR_RATE: "error ratio",
    Metric.THROUGHPUT: "throughput",
}

# How each alert's annotations show the value it fired on.
_VALUE: dict[Metric, str] = {
    Metric.P95: "{{ $value | humanizeDuration }}",
    Metric.P99: "{{ $value | humanizeDuration }}",
    Metric.ERROR_RATE: "{{ $value | humanizePercentage }}",
    Metric.THROUGHPUT: "{{ $value | humanize }} req/s",
}


def _fresh(settings: Settings) -> str:
    # Remediating from an old result acts on a past that may be long gone.
    limit = _number(settings.alerts.results_stale_seconds)
    return f"(time() - max({LAST_RESULT}) <= {limit})"


def _remediation_labels(actions: Sequence[Action]) -> dict[str, str]:
    if not actions:
        return {"remediation": "none"}
    labels = {"remediation": ",".join(dict.fromkeys(action.type.value for action in actions))}
    targets = [action.target.key for action in actions if action.target is not None]
    if targets:
        labels["target"] = ",".join(dict.fromkeys(targets))
    return labels


def _remedies(actions: Sequence[Action]) -> str:
    if not actions:
        return "No remediation is configured for it."
    told = [_remedy(action) for action in actions]
    return "Remediation: " + "; ".join(told) + "."


def _remedy(action: Action) -> str:
    """One action in words, e.g. `scale deployment/llm-gateway to 5 replicas`."""
    if action.target is None:
        return "record an investigation, changing nothing"

    where = f"{action.target.ref} in namespace {action.target.namespace}"
    restarts = ", ".join(target.ref for target in action.restarts)
    match action.type:
        case ActionType.SCALE:
            return f"scale {where} to {action.replicas} replicas"
        case ActionType.COMBINED:
            return f"scale {where} to {action.replicas} replicas and roll it back"
        case ActionType.ROLLBACK:
            return f"roll back {where}"
        case ActionType.PATCH_CONFIG:
            text = f"set {action.config_key} to {action.config_value} in {where}"
            return f"{text}, then restart {restarts}" if restarts else text
        case _:
            return f"{action.type.value} {where}"


def _runbook(settings: Settings, alert: str) -> str:
    return f"{settings.rules.runbook_base_url}#{alert.lower()}"


def _number(value: float) -> str:
    """A PromQL number that reads back as exactly `value`."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def duration(seconds: float) -> str:
    """A Prometheus duration: `2h`, `4h30m`, `90s`, `1s500ms`."""
    left = round(seconds * 1000)
    if left == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000),
                       ("ms", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


# --- Kubernetes object and YAML ----------------------------------------------------


def prometheus_rule(settings: Settings, *, namespace: str | None = None) -> dict[str, Any]:
    """The same rules as a Prometheus Operator `PrometheusRule`; `spec` is the rule file."""
    metadata: dict[str, Any] = {"name": "remediator"}
    if namespace is not None:
        metadata["namespace"] = checked_namespace(namespace)
    metadata["labels"] = {
        "app.kubernetes.io/name": "remediator",
        "app.kubernetes.io/component": "alerting",
        # kube-prometheus-stack's Prometheus selects rules by this label.
        "release": settings.rules.release_label,
    }
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": rule_file(settings),
    }


def checked_namespace(value: str) -> str:
    """A `--namespace` value, refused unless it is a valid namespace."""
    if problem := names.label_problem(value):
        raise ConfigError("command line", "--namespace", f"{value!r} {problem}")
    return value


HEADER = (
    "# Generated by `remediator rules` from the remediator's settings: change the\n"
    "# config and regenerate rather than editing this file.\n"
)


def render(document: Mapping[str, Any], *, header: str = HEADER) -> str:
    """Deterministic YAML: keys in the order built, multi-line text as blocks."""
    body = yaml.dump(
        dict(document),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        # One line per annotation, however long: easier to read and to diff.
        width=1 << 16,
    )
    return header + body


class _Dumper(yaml.SafeDumper):
    """Indents lists under their key, as Kubernetes and Prometheus examples do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if "\n" in text:
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", text)


_Dumper.add_representer(str, _represent_text)
