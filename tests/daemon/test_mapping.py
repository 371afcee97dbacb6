"""From alert labels to conditions and actions."""

from __future__ import annotations

import pytest

from remediator.alerting.mapping import BUILT_IN, Mapped, Rejected, map_alert
from remediator.planning.actions import ActionType, Target
from remediator.planning.conditions import Condition, Level, Metric
from tests.daemon.support import make_settings


@pytest.mark.parametrize(("alertname", "condition"), [
    ("LLMLatencyP95Warning", Condition(Metric.P95, Level.WARNING)),
    ("LLMLatencyP95Critical", Condition(Metric.P95, Level.CRITICAL)),
    ("LLMLatencyP95Emergency", Condition(Metric.P95, Level.EMERGENCY)),
    ("LLMLatencyP99Critical", Condition(Metric.P99, Level.CRITICAL)),
    ("LLMErrorRateWarning", Condition(Metric.ERROR_RATE, Level.WARNING)),
    ("LLMErrorRateCritical", Condition(Metric.ERROR_RATE, Level.CRITICAL)),
    ("LLMThroughputLowWarning", Condition(Metric.THROUGHPUT, Level.WARNING)),
    ("LLMThroughputLowCritical", Condition(Metric.THROUGHPUT, Level.CRITICAL)),
])
def test_built_in_names_map_to_the_clis_conditions(alertname: str,
                                                   condition: Condition) -> None:
    """Each built-in alert gives the condition `remediator watch` would derive."""
    mapped = map_alert({"alertname": alertname}, make_settings())

    assert mapped == Mapped(cause=str(condition), condition=condition)
    assert alertname in BUILT_IN


def test_metrics_missing_names_its_metric_or_asks_to_investigate() -> None:
    """LLMBenchMetricsMissing with a known metric is UNKNOWN of it, otherwise investigate."""
    settings = make_settings()

    known = map_alert({"alertname": "LLMBenchMetricsMissing", "metric": "throughput"}, settings)
    vague = map_alert({"alertname": "LLMBenchMetricsMissing", "metric": "p42"}, settings)

    assert isinstance(known, Mapped) and known.condition == Condition(Metric.THROUGHPUT,
                                                                      Level.UNKNOWN)
    assert isinstance(vague, Mapped) and vague.action is not None
    assert vague.action.type is ActionType.INVESTIGATE


def test_unknown_alert_maps_to_nothing() -> None:
    """An alert we have no mapping for asks for nothing."""
    assert map_alert({"alertname": "DiskSpace"}, make_settings()) is None


def test_custom_alert_with_a_fixed_target_ignores_the_labels() -> None:
    """A custom mapping naming its Deployment in the config acts on that one only."""
    settings = make_settings({"alerts": {"custom": [
        {"alertname": "QueueDepthHigh", "action": "scale", "replicas": 3,
         "deployment": "worker"}]}})

    mapped = map_alert({"alertname": "QueueDepthHigh", "deployment": "other",
                        "namespace": "default"}, settings)

    assert isinstance(mapped, Mapped) and mapped.action is not None
    assert (mapped.action.target, mapped.action.replicas) == (
        Target("Deployment", "default", "worker"), 3)


def test_custom_alert_without_a_deployment_label_is_rejected() -> None:
    """A custom alert that names no Deployment is an invalid target, not a guess."""
    settings = make_settings({"alerts": {"custom": [
        {"alertname": "KubePodCrashLooping", "action": "restart"}]}})

    mapped = map_alert({"alertname": "KubePodCrashLooping", "namespace": "default"}, settings)

    assert isinstance(mapped, Rejected) and mapped.code == "invalid_target"


LABELLED = {"alerts": {"custom": [{"alertname": "ServingDegraded", "priority": 1}]},
            "targets": {"allowed_namespaces": ["shop"]}}


@pytest.mark.parametrize(("labels", "expected"), [
    ({"action": "restart"}, (ActionType.RESTART, None)),
    ({"action": "rollback"}, (ActionType.ROLLBACK, None)),
    ({"action": "scale", "replicas": "7"}, (ActionType.SCALE, 7)),
])
def test_custom_alert_labels_name_the_action(labels: dict[str, str],
                                             expected: tuple[ActionType, int | None]) -> None:
    """Without an action in the config, the rule's own labels name it (and a scale's count)."""
    mapped = map_alert({"alertname": "ServingDegraded", "namespace": "shop",
                        "deployment": "api", **labels}, make_settings(LABELLED))

    assert isinstance(mapped, Mapped) and mapped.action is not None
    assert (mapped.action.type, mapped.action.replicas) == expected
    assert mapped.action.target == Target("Deployment", "shop", "api")
    assert mapped.action.priority == 1


@pytest.mark.parametrize(("labels", "problem"), [
    ({}, "the `action` label must be scale, rollback or restart, got ''"),
    ({"action": "delete; rm -rf /"}, "got 'delete; rm -rf /'"),
    ({"action": "scale"}, "a scale needs a `replicas` label with a whole number"),
    ({"action": "scale", "replicas": "1e9"}, "got '1e9'"),
    ({"action": "scale", "replicas": "5000"}, "from 1 to 1000, got '5000'"),
])
def test_custom_alert_with_a_bad_action_label_is_rejected(labels: dict[str, str],
                                                          problem: str) -> None:
    """An action label we do not know, or a scale without a sane count, is never acted on."""
    mapped = map_alert({"alertname": "ServingDegraded", "namespace": "shop",
                        "deployment": "api", **labels}, make_settings(LABELLED))

    assert isinstance(mapped, Rejected) and mapped.code == "invalid_action"
    assert problem in mapped.reason


def test_label_names_for_action_and_count_are_settings() -> None:
    """`action_label` and `replicas_label` pick other label names."""
    settings = make_settings({"alerts": {"custom": [
        {"alertname": "ServingDegraded", "action_label": "remediate",
         "replicas_label": "to", "deployment": "api"}]}})

    mapped = map_alert({"alertname": "ServingDegraded", "remediate": "scale", "to": "3",
                        "action": "rollback"}, settings)

    assert isinstance(mapped, Mapped) and mapped.action is not None
    assert (mapped.action.type, mapped.action.replicas) == (ActionType.SCALE, 3)


@pytest.mark.parametrize(("custom", "problem"), [
    ([{"alertname": "A", "action": "restart"}, {"alertname": "A", "action": "rollback"}],
     "alerts.custom: alert 'A' is mapped twice"),
    ([{"alertname": "", "action": "restart"}], "alerts.custom.0.alertname: String should have"),
    ([{"alertname": "A", "action": "scale"}], "a scale action needs `replicas`"),
    ([{"alertname": "A", "action": "restart", "deployment_label": "app.kubernetes.io/name"}],
     "alerts.custom.0.deployment_label: 'app.kubernetes.io/name' is not a Prometheus label"),
])
def test_custom_mappings_are_checked_when_loading(custom: list[dict[str, str]],
                                                  problem: str) -> None:
    """A duplicate or empty alert name, or a scale without a count, stops the load."""
    from remediator.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        make_settings({"alerts": {"custom": custom}})

    assert problem in str(caught.value)
