"""Whatever fires together, the plan never repeats or contradicts itself on one target."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from remediator.config.settings import Settings
from remediator.planning import planner
from remediator.planning.actions import SEVERITY, TYPE_ORDER, Action, ActionType
from remediator.planning.conditions import Condition, Level, Metric

LEVELS = {
    Metric.P95: (Level.UNKNOWN, Level.WARNING, Level.CRITICAL, Level.EMERGENCY),
    Metric.P99: (Level.UNKNOWN, Level.CRITICAL),
    Metric.ERROR_RATE: (Level.UNKNOWN, Level.WARNING, Level.CRITICAL),
    Metric.THROUGHPUT: (Level.UNKNOWN, Level.WARNING, Level.CRITICAL),
}

# Any subset of the conditions alerts can raise: overlapping levels of one metric included.
firing = st.sets(st.sampled_from(
    [Condition(metric, level) for metric, levels in LEVELS.items() for level in levels]))
caps = st.integers(min_value=1, max_value=12)


def configured(gateway_cap: int, backend_cap: int) -> Settings:
    return Settings.model_validate({"targets": {
        "gateway": {"deployment": "llm-gateway", "max_replicas": gateway_cap},
        "backend": {"deployment": "llm-backend", "max_replicas": backend_cap},
    }})


def ref(action: Action) -> str:
    return action.target.key if action.target else f"metric/{action.metric}"


@settings(max_examples=300, deadline=None)
@given(firing, caps, caps)
def test_plan_is_consistent(conditions: set[Condition], gateway_cap: int,
                            backend_cap: int) -> None:
    settings_ = configured(gateway_cap, backend_cap)
    actions = planner.plan(sorted(conditions), settings_)
    caps_by_name = {"llm-gateway": gateway_cap, "llm-backend": backend_cap}

    # One action per (type, target), one replica count per Deployment.
    assert not [k for k, n in Counter((a.type, ref(a)) for a in actions).items() if n > 1]
    sizing = Counter(ref(a) for a in actions if a.replicas is not None)
    assert all(n == 1 for n in sizing.values()), actions

    # Nothing restarts what is being rolled back; a config patch keeps a restart.
    rolled_back = {a.target for a in actions if a.rolls_back}
    for action in actions:
        if action.type is ActionType.RESTART:
            assert action.target not in rolled_back
        if action.type is ActionType.PATCH_CONFIG:
            assert action.restarts and not set(action.restarts) & rolled_back

    # Counts within the cap; order by priority, then the documented type order.
    for action in actions:
        if action.replicas is not None and action.target is not None:
            assert 1 <= action.replicas <= caps_by_name[action.target.name]
        assert SEVERITY[action.priority] == action.severity
    keys = [(a.priority, TYPE_ORDER.index(a.type)) for a in actions]
    assert keys == sorted(keys)


@settings(max_examples=200, deadline=None)
@given(firing)
def test_combined_takes_the_largest_count_of_the_gateway(conditions: set[Condition]) -> None:
    """The combined action's count is the largest of 6 and every gateway scale it absorbed."""
    actions = planner.plan(sorted(conditions), Settings())
    [combined] = [a for a in actions if a.type is ActionType.COMBINED] or [None]
    if combined is None:
        return

    asked = [a.replicas for a in planner.propose(sorted(conditions), Settings().policy,
                                                 Settings().targets, Settings())
             if a.type is ActionType.SCALE and a.target == combined.target]
    assert combined.replicas == min(10, max([6, *[n for n in asked if n is not None]]))
    assert not any(a.type in (ActionType.SCALE, ActionType.ROLLBACK)
                   and a.target == combined.target for a in actions)
