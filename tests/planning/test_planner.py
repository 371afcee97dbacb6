"""The planner: conditions in, merged and ordered actions out."""

from __future__ import annotations

import pytest

from remediator.config import loading
from remediator.config.settings import Settings
from remediator.planning import conditions, planner
from remediator.planning.actions import Action, ActionType, Target
from remediator.planning.conditions import Condition, Level, Metric
from tests.planning.helpers import plan_for, result, summary


def test_high_latency_example_scales_gateway_to_five() -> None:
    """Original example 1: p95 165 / p99 200 / 0.5% / 15 req/s is one CRITICAL scale to 5."""
    actions = plan_for(result(p95=165, p99=200, error_rate=0.005, throughput=15))

    assert [(1, "scale", "llm-gateway", 5)] == summary(actions)
    assert "critical" == actions[0].severity


def test_high_error_rate_example_rolls_back_both_then_scales() -> None:
    """Original example 2: two CRITICAL rollbacks, then the HIGH throughput scale to 4."""
    actions = plan_for(result(p95=80, p99=100, error_rate=0.08, throughput=12))

    assert [
        (1, "rollback", "llm-gateway", None),
        (1, "rollback", "llm-backend", None),
        (2, "scale", "llm-gateway", 4),
    ] == summary(actions)


def test_multiple_issues_example_gives_combined_then_config_patch_of_backend() -> None:
    """Original example 3: combined (gateway to 6, undo), then MAX_TOKENS with backend restart."""
    actions = plan_for(result(p95=140, p99=180, error_rate=0.02, throughput=8))

    assert [(1, "combined", "llm-gateway", 6), (2, "patch_config", "llm-config", None)] == (
        summary(actions)
    )
    patch = actions[1]
    assert ("MAX_TOKENS", "50") == (patch.config_key, patch.config_value)
    assert ["llm-backend"] == [t.name for t in patch.restarts]


def test_sample_report_values_give_one_high_scale() -> None:
    """The original sample report: p95 128.5 gives one HIGH scale of the gateway to 4."""
    actions = plan_for(result(p95=128.5, p99=145.3, error_rate=0.005, throughput=18.5))

    assert [(2, "scale", "llm-gateway", 4)] == summary(actions)
    assert "P95 latency (128.50ms) exceeds warning threshold (100.0ms)" == actions[0].rationale


@pytest.mark.parametrize(
    ("metric", "value", "expected"),
    [
        (Metric.P95, 100.0, Level.OK),
        (Metric.P95, 100.01, Level.WARNING),
        (Metric.P95, 150.0, Level.WARNING),
        (Metric.P95, 300.0, Level.CRITICAL),
        (Metric.P95, 300.5, Level.EMERGENCY),
        (Metric.P99, 200.0, Level.OK),
        (Metric.P99, 200.1, Level.CRITICAL),
        (Metric.ERROR_RATE, 0.01, Level.OK),
        (Metric.ERROR_RATE, 0.05, Level.WARNING),
        (Metric.ERROR_RATE, 0.0501, Level.CRITICAL),
        (Metric.THROUGHPUT, 15.0, Level.OK),
        (Metric.THROUGHPUT, 14.99, Level.WARNING),
        (Metric.THROUGHPUT, 10.0, Level.WARNING),
        (Metric.THROUGHPUT, 9.99, Level.CRITICAL),
        (Metric.P99, None, Level.UNKNOWN),
    ],
)
def test_limits_are_exceeded_only_strictly(
    metric: Metric, value: float | None, expected: Level
) -> None:
    """A figure exactly at a threshold is not past it."""
    assert expected == conditions.level_of(metric, value, Settings().thresholds)


def test_emergency_latency_scales_gateway_to_ten() -> None:
    """p95 above twice its critical threshold asks for the emergency scale."""
    assert [(1, "scale", "llm-gateway", 10)] == summary(plan_for(result(p95=301)))


def test_p99_scales_backend() -> None:
    """Tail latency scales the backend, not the gateway."""
    assert [(1, "scale", "llm-backend", 5)] == summary(plan_for(result(p99=250)))


def test_unknown_metrics_ask_for_investigation_without_commands() -> None:
    """A missing figure is UNKNOWN: one MEDIUM investigate action per metric, never 'OK'."""
    actions = plan_for(result(p99=None, throughput=None))

    assert [(3, "investigate", "p99", None), (3, "investigate", "throughput", None)] == (
        summary(actions)
    )
    assert all(a.target is None for a in actions)


def test_warning_and_critical_alerts_of_one_metric_make_one_scale_at_the_larger_count() -> None:
    """Overlapping conditions (as alerts give them) fold into one scale: the largest wins."""
    firing = [Condition(Metric.P95, Level.WARNING), Condition(Metric.P95, Level.CRITICAL)]

    actions = planner.plan(firing, Settings())

    assert [(1, "scale", "llm-gateway", 5)] == summary(actions)
    assert ("p95 CRITICAL", "p95 WARNING") == tuple(sorted(actions[0].causes))


def test_error_warning_and_critical_together_drop_the_config_patch() -> None:
    """Rollbacks of both Deployments remove both restarts, so the config patch goes."""
    firing = [Condition(Metric.ERROR_RATE, Level.WARNING),
              Condition(Metric.ERROR_RATE, Level.CRITICAL)]

    actions = planner.plan(firing, Settings())

    assert [(1, "rollback", "llm-gateway", None), (1, "rollback", "llm-backend", None)] == (
        summary(actions)
    )


def test_combined_absorbs_a_larger_scale_of_the_gateway() -> None:
    """The combined action's count is the largest of its own and the absorbed scales."""
    actions = plan_for(result(p95=400, error_rate=0.02))

    assert (1, "combined", "llm-gateway", 10) == summary(actions)[0]
    assert not any(a.type is ActionType.SCALE and a.target and a.target.name == "llm-gateway"
                   for a in actions)


def test_replicas_are_capped_at_max_replicas(tmp_path: object) -> None:
    """A policy count above the target's cap is lowered to the cap, and says so."""
    settings = Settings.model_validate(
        {"targets": {"gateway": {"deployment": "llm-gateway", "max_replicas": 7}}}
    )

    actions = plan_for(result(p95=400), settings)

    assert [(1, "scale", "llm-gateway", 7)] == summary(actions)
    assert "capped at max_replicas 7" in actions[0].rationale


def test_requested_actions_merge_with_proposals_on_the_same_target() -> None:
    """A custom alert's scale of the gateway and the p95 scale become one action."""
    gateway = Target("Deployment", "default", "llm-gateway")
    requested = Action(ActionType.SCALE, 2, gateway, "custom", "custom alert", replicas=8)

    actions = planner.plan([Condition(Metric.P95, Level.CRITICAL)], Settings(),
                           requested=[requested])

    assert [(1, "scale", "llm-gateway", 8)] == summary(actions)


def test_a_rollback_removes_a_requested_restart_of_the_same_deployment() -> None:
    """Restarting a Deployment that is being rolled back would race the rollback."""
    backend = Target("Deployment", "default", "llm-backend")
    restart = Action(ActionType.RESTART, 2, backend, "restart", "custom alert")

    actions = planner.plan([Condition(Metric.ERROR_RATE, Level.CRITICAL)], Settings(),
                           requested=[restart])

    assert ["rollback", "rollback"] == [str(a.type) for a in actions]


def test_two_config_patches_keep_the_lower_value() -> None:
    """Two patches of one key fold into one with the safer, lower value."""
    config = Target("ConfigMap", "default", "llm-config")
    backend = Target("Deployment", "default", "llm-backend")
    first = Action(ActionType.PATCH_CONFIG, 2, config, "a", "a", config_key="MAX_TOKENS",
                   config_value="50", restarts=(backend,))
    second = Action(ActionType.PATCH_CONFIG, 2, config, "b", "b", config_key="MAX_TOKENS",
                    config_value="30", restarts=(backend,))

    actions = planner.merge([first, second], Settings().targets)

    assert ["30"] == [a.config_value for a in actions]


def test_disabled_rules_propose_nothing(tmp_path: object) -> None:
    """A rule switched off in the config is not planned."""
    settings = Settings.model_validate(
        {"policy": {"p95_warning": {"enabled": False, "priority": 2, "replicas": 4}}}
    )

    assert [] == plan_for(result(p95=120), settings)


def test_configured_policy_changes_counts_and_targets(tmp_path: object) -> None:
    """Counts, priorities and targets come from the config, not the code."""
    path = tmp_path / "c.yaml"  # type: ignore[operator]
    path.write_text(
        "policy:\n  p95_warning: {priority: 1, target: backend, replicas: 3}\n"
        "targets:\n  namespace: llm\n  backend: {deployment: vllm, max_replicas: 4}\n"
    )
    settings = loading.load_settings(path, environ={})

    actions = plan_for(result(p95=120), settings)

    assert [(1, "scale", "vllm", 3)] == summary(actions)
    assert "llm" == actions[0].target.namespace  # type: ignore[union-attr]


def test_plan_orders_by_priority_then_type_then_gateway_first() -> None:
    """Ties sort combined, rollback, scale, patch_config, restart, investigate; gateway first."""
    actions = plan_for(result(p95=140, p99=250, error_rate=0.02, throughput=8, p50=None))

    assert [
        (1, "combined", "llm-gateway", 6),
        (1, "scale", "llm-backend", 5),
        (2, "patch_config", "llm-config", None),
    ] == summary(actions)


def test_a_config_patch_without_restarts_is_planned_on_its_own() -> None:
    """restart: [] patches MAX_TOKENS only; it is not mistaken for a patch emptied by rollbacks."""
    settings = Settings.model_validate(
        {"policy": {"error_rate_warning": {"restart": []}}}
    )

    actions = plan_for(result(error_rate=0.02), settings)

    assert [(2, "patch_config", "llm-config", None)] == summary(actions)
    assert () == actions[0].restarts


def test_one_deployment_in_both_roles_is_restarted_once() -> None:
    """Gateway and backend set to one Deployment: its restart is not listed twice."""
    settings = Settings.model_validate({"targets": {
        "gateway": {"deployment": "llm"}, "backend": {"deployment": "llm"}}})

    actions = plan_for(result(error_rate=0.02), settings)

    assert ["llm"] == [t.name for t in actions[0].restarts]


@pytest.mark.parametrize(("restart_priority", "expected"), [
    (2, ["patch_config"]),
    (1, ["restart", "patch_config"]),
])
def test_a_requested_restart_the_config_patch_does_anyway_is_dropped(
        restart_priority: int, expected: list[str]) -> None:
    """The patch restarts the gateway after lowering MAX_TOKENS; a second restart repeats it,
    unless it was asked for more urgently than the patch."""
    gateway = Target("Deployment", "default", "llm-gateway")
    restart = Action(ActionType.RESTART, restart_priority, gateway, "restart", "custom alert",
                     causes=("alert PodStuck default/llm-gateway",))

    actions = planner.plan([Condition(Metric.ERROR_RATE, Level.WARNING)], Settings(),
                           requested=[restart])

    assert expected == [str(a.type) for a in actions]
    patch = actions[-1]
    assert ("alert PodStuck default/llm-gateway" in patch.causes) is (len(actions) == 1)
