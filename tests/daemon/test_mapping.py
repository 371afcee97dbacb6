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
