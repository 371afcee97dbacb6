"""
From an alert to what it asks for: a condition for the planner, or an action.

The built-in alert names (the ones our generated rules raise) map to the same
conditions that `remediator watch` derives from thresholds, so both paths
plan alike. Custom alerts from `alerts.custom` ask for an action on a target
named in the config or in the alert's labels. Labels are untrusted: a target
name that is not a valid Kubernetes name, or a namespace we may not touch,
gives a rejection, never an action.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

from remediator.config import names
from remediator.config.settings import CustomAction, CustomAlert, Settings
from remediator.planning.actions import Action, ActionType, Target
from remediator.planning.conditions import Condition, Level, Metric

BUILT_IN: dict[str, Condition] = {
    "LLMLatencyP95Warning": Condition(Metric.P95, Level.WARNING),
    "LLMLatencyP95Critical": Condition(Metric.P95, Level.CRITICAL),
    "LLMLatencyP95Emergency": Condition(Metric.P95, Level.EMERGENCY),
    "LLMLatencyP99Warning": Condition(Metric.P99, Level.WARNING),
    "LLMLatencyP99Critical": Condition(Metric.P99, Level.CRITICAL),
    "LLMErrorRateWarning": Condition(Metric.ERROR_RATE, Level.WARNING),
    "LLMErrorRateCritical": Condition(Metric.ERROR_RATE, Level.CRITICAL),
    "LLMThroughputLowWarning": Condition(Metric.THROUGHPUT, Level.WARNING),
    "LLMThroughputLowCritical": Condition(Metric.THROUGHPUT, Level.CRITICAL),
}
METRICS_MISSING = "LLMBenchMetricsMissing"
RESULTS_STALE = "LLMBenchResultsStale"
METRIC_LABEL = "metric"
"""The label of LLMBenchMetricsMissing naming the metric: p95, p99, error_rate, throughput."""

RejectionCode = Literal["invalid_target", "unknown_target", "invalid_action"]
ACTIONS: tuple[CustomAction, ...] = ("scale", "rollback", "restart")
MAX_REPLICAS_LABEL = 1000
"""A replica count a label may ask for; the target's max_replicas caps it further."""


@dataclasses.dataclass(frozen=True)
class Mapped:
    """What one alert asks for: a condition, or an action asked for directly."""

    cause: str
    """The label planned actions carry in `causes`, tying them back to the alert."""

    condition: Condition | None = None
    action: Action | None = None


@dataclasses.dataclass(frozen=True)
class Rejected:
    """An alert that asks for something we refuse to do; logged and recorded, never acted on."""

    alertname: str
    action_type: str
    code: RejectionCode
    reason: str


def known_alertnames(settings: Settings) -> frozenset[str]:
    """Every alertname `map_alert` maps to something; it ignores the others."""
    custom = (c.alertname for c in settings.alerts.custom)
    return frozenset({*BUILT_IN, METRICS_MISSING, RESULTS_STALE, *custom})


def map_alert(labels: Mapping[str, str], settings: Settings) -> Mapped | Rejected | None:
    """The condition or action one alert asks for; None for alerts we do not know."""
    alertname = labels.get("alertname", "")

    # The operator's own mapping wins over a built-in one of the same name.
    for custom in settings.alerts.custom:
        if custom.alertname == alertname:
            return _custom(custom, labels, settings)

    built_in = _BUILT_IN_MAPPED.get(alertname)
    if built_in is not None:
        return built_in

    if alertname == METRICS_MISSING:
        value = labels.get(METRIC_LABEL, "")
        if value in {str(metric) for metric in Metric}:
            missing = Condition(Metric(value), Level.UNKNOWN)
            return Mapped(cause=str(missing), condition=missing)
        return _investigate(
            alertname, settings, subject="metrics",
            description="Investigate missing benchmark metrics",
            rationale="Benchmark metrics are missing from the exported results",
        )

    if alertname == RESULTS_STALE:
        return _investigate(
            alertname, settings, subject="results",
            description="Investigate stale benchmark results",
            rationale="No new benchmark result has arrived for too long: the benchmark job"
            " may have stopped",
        )
    return None


_BUILT_IN_MAPPED = {
    name: Mapped(cause=str(condition), condition=condition)
    for name, condition in BUILT_IN.items()
}
"""Made once: each pass maps every firing alert, thousands of them in a storm."""


def _investigate(alertname: str, settings: Settings, *, subject: str, description: str,
                 rationale: str) -> Mapped | None:
    rule = settings.policy.unknown
    if not rule.enabled:
        return None
    cause = f"alert {alertname}"
    action = Action(
        type=ActionType.INVESTIGATE,
        priority=rule.priority,
        target=None,
        description=description,
        rationale=rationale,
        metric=subject,
        causes=(cause,),
    )
    return Mapped(cause=cause, action=action)


def _custom(custom: CustomAlert, labels: Mapping[str, str], settings: Settings
            ) -> Mapped | Rejected:
    alertname = custom.alertname
    targets = settings.targets

    # The action: fixed in the config, else named by the alert's labels.
    wanted = _wanted(custom, labels)
    if isinstance(wanted, Rejected):
        return wanted
    action_type, replicas = wanted

    # The target: fixed in the config, else read from the alert's labels.
    deployment = custom.deployment or labels.get(custom.deployment_label)
    namespace = custom.namespace or labels.get(custom.namespace_label) or targets.namespace
    if not deployment:
        return Rejected(alertname, action_type, "invalid_target",
                        f"no `{custom.deployment_label}` label names the Deployment")
    problem = names.label_problem(namespace)
    if problem:
        return Rejected(alertname, action_type, "invalid_target",
                        f"namespace {namespace!r} is not a valid name: {problem}")
    problem = names.subdomain_problem(deployment)
    if problem:
        return Rejected(alertname, action_type, "invalid_target",
                        f"Deployment {deployment!r} is not a valid name: {problem}")
    allowed = targets.allowed_namespaces or (targets.namespace,)
    if namespace not in allowed:
        return Rejected(alertname, action_type, "unknown_target",
                        f"namespace {namespace!r} is not one we may act in"
                        f" (targets.allowed_namespaces: {', '.join(allowed)})")

    target = Target("Deployment", namespace, deployment)
    cause = f"alert {alertname} {namespace}/{deployment}"
    why = f"Alert {alertname} is firing for deployment/{deployment} in {namespace}"
    if action_type == "scale":
        action = Action(ActionType.SCALE, custom.priority, target,
                        f"Increase {deployment} replicas", why,
                        replicas=replicas, causes=(cause,))
    elif action_type == "rollback":
        action = Action(ActionType.ROLLBACK, custom.priority, target,
                        f"Roll back {deployment} to its previous version", why, causes=(cause,))
    else:
        action = Action(ActionType.RESTART, custom.priority, target,
                        f"Restart {deployment}", why, causes=(cause,))
    return Mapped(cause=cause, action=action)


def _wanted(custom: CustomAlert, labels: Mapping[str, str]
            ) -> tuple[CustomAction, int | None] | Rejected:
    """The action type and, for a scale, the count: from the config, else from labels."""
    action_type = custom.action
    if action_type is None:
        named = labels.get(custom.action_label, "")
        if named not in ACTIONS:
            return Rejected(custom.alertname, "custom", "invalid_action",
                            f"the `{custom.action_label}` label must be scale, rollback or"
                            f" restart, got {named[:64]!r}")
        action_type = ACTIONS[ACTIONS.index(named)]
    if action_type != "scale":
        return action_type, None
    if custom.replicas is not None:
        return action_type, custom.replicas
    text = labels.get(custom.replicas_label, "")
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_REPLICAS_LABEL):
        return Rejected(custom.alertname, "scale", "invalid_action",
                        f"a scale needs a `{custom.replicas_label}` label with a whole number"
                        f" from 1 to {MAX_REPLICAS_LABEL}, got {text[:64]!r}")
    return action_type, int(text)

