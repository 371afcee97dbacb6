"""
The whole chain with the real servers: result -> gauges -> Prometheus rules ->
Alertmanager -> webhook -> dry-run decisions -> resolve -> time to recovery.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediator.alerting import rules
from remediator.planning.conditions import Metric
from tests.alerting.cluster import ClusterThread
from tests.alerting.stack import Stack, Timeline

GATEWAY = "default/deployment/llm-gateway"
P95 = rules.SELECTOR[Metric.P95]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(tmp_path) as running:
        yield running


@pytest.fixture
def cluster() -> Iterator[ClusterThread]:
    with ClusterThread() as running:
        yield running


def _scales(decisions: list[dict[str, Any]], outcome: str) -> list[int]:
    """The replica counts the gateway was scaled to (in dry-run, or executed), in order."""
    return [
        decision["replicas"] for decision in decisions
        if decision["type"] == "scale" and decision["target"] == GATEWAY
        and decision["outcome"] == outcome
    ]


def _scaled_to(stack: Stack, replicas: int, outcome: str) -> list[dict[str, Any]] | None:
    decisions = stack.decisions()
    return decisions if replicas in _scales(decisions, outcome) else None


@pytest.mark.parametrize("arrival", ["together", "apart"])
def test_a_critical_p95_ends_with_the_gateway_at_five_replicas_once(
    stack: Stack, arrival: str
) -> None:
    """Warning and critical, together or apart: scaled to 5, nothing more, then recovery."""
    _narrated(stack, arrival, "dry_run")


def test_on_a_fake_cluster_the_gateway_is_scaled_to_five_once(
    tmp_path: Path, cluster: ClusterThread
) -> None:
    """The Kubernetes executor acts on the fake API: 3 -> 4 -> 5 replicas, two writes."""
    with Stack(tmp_path, kubeconfig=cluster.kubeconfig) as stack:
        _narrated(stack, "apart", "executed")

    assert cluster.replicas("llm-gateway") == 5
    assert cluster.replicas("llm-backend") == 2
    assert [write.name for write in cluster.scale_writes()] == ["llm-gateway"] * 2


def _narrated(stack: Stack, arrival: str, outcome: str) -> None:
    """Run the story; a failure carries the timeline of what the chain did."""
    timeline = Timeline(stack)
    try:
        _run(stack, timeline, arrival, outcome)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\ntimeline:\n" + "\n".join(timeline.lines)) from None


def _run(stack: Stack, timeline: Timeline, arrival: str, outcome: str) -> None:
    # A warning first (apart), or straight to critical (together).
    if arrival == "apart":
        # From a normal p95, the rise also raises the forecast: for people only.
        stack.write_result(p95_ms=50)
        timeline.until("p95 in Prometheus", lambda: stack.query(f"{P95} == 0.05"))
        stack.write_result(p95_ms=120)
        timeline.until("the warning's scale to 4", lambda: _scaled_to(stack, 4, outcome))
        timeline.until("the forecast in Alertmanager",
                       lambda: stack.alertmanager_alerts().get(rules.FORECAST) == "active")
        received = {episode["alertname"] for episode in stack.firing_episodes()}
        assert received == {"LLMLatencyP95Warning"}
    stack.write_result(p95_ms=200)
    decisions = timeline.until("the scale to 5", lambda: _scaled_to(stack, 5, outcome))

    assert _scales(decisions, outcome) == ([4, 5] if arrival == "apart" else [5])
    # p99 sits exactly at its 200 ms threshold: strict, so the backend is left alone.
    assert {decision["target"] for decision in decisions} == {GATEWAY}
    assert {decision["alert"]["alertname"] for decision in decisions} <= {
        "LLMLatencyP95Warning", "LLMLatencyP95Critical",
    }
    assert decisions[-1]["alert"]["alertname"] == "LLMLatencyP95Critical"
    assert "--replicas=5" in decisions[-1]["command"]
    # Alertmanager shows people the critical alert; its warning twin is inhibited.
    timeline.until(
        "the warning to be inhibited",
        lambda: stack.alertmanager_alerts().get("LLMLatencyP95Warning") == "suppressed",
    )

    # While the alerts keep firing, repeats arrive and change nothing.
    repeats = stack.metric("remediator_notifications_total", result="repeat")
    timeline.until(
        "two repeat notifications",
        lambda: stack.metric("remediator_notifications_total", result="repeat") >= repeats + 2,
    )
    assert stack.decisions() == decisions

    # Back to normal: the resolve closes the episodes and records recovery.
    stack.write_result(p95_ms=50)
    timeline.until("the firing set to empty", lambda: stack.firing_episodes() == [])
    timeline.until("a time to recovery",
                   lambda: stack.metric("remediator_recovery_seconds_count") >= 1)

    assert stack.metric("remediator_recovery_seconds_sum") > 0
    assert stack.metric("remediator_alerts_total", status="resolved") >= 1
    assert stack.decisions() == decisions
