"""
The planner: conditions in, a prioritised, merged and capped list of actions out.

`plan` is a pure function (no I/O, no clock), shared by `remediator watch`
and the daemon. It works in two steps: each condition proposes actions from
the policy table, then the proposals are merged so that the plan never holds
two actions that repeat or contradict each other on one target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from remediator.config.settings import Policy, Role, ScaleRule, Settings, Targets
from remediator.planning.actions import TYPE_ORDER, Action, ActionType, Target
from remediator.planning.conditions import Condition, Level, Metric, worst

_LABEL: dict[Metric, str] = {
    Metric.P95: "P95 latency",
    Metric.P99: "P99 latency",
    Metric.ERROR_RATE: "Error rate",
    Metric.THROUGHPUT: "Throughput",
}


def plan(
    conditions: Iterable[Condition],
    settings: Settings,
    *,
    requested: Sequence[Action] = (),
) -> list[Action]:
    """
    The actions the conditions call for, merged, capped and sorted.

    `requested` holds actions asked for directly (custom alerts); they are
    merged with the proposals under the same rules.
    """
    conditions = list(conditions)
    proposals = propose(conditions, settings.policy, settings.targets, settings)
    return merge([*proposals, *requested], settings.targets)


def propose(
    conditions: Sequence[Condition],
    policy: Policy,
    targets: Targets,
    settings: Settings,
) -> list[Action]:
    """One or more actions per condition, before any merging."""
    describe = _Describer(settings)
    proposals: list[Action] = []

    for condition in sorted(conditions):
        proposals.extend(_for_condition(condition, policy, targets, describe))

    # The combined action answers latency or throughput trouble that comes
    # with errors: more capacity, and away from the release that broke it.
    levels = worst(conditions)
    capacity_critical = any(
        levels.get(metric, Level.OK) >= Level.CRITICAL
        for metric in (Metric.P95, Metric.THROUGHPUT)
    )
    erroring = levels.get(Metric.ERROR_RATE, Level.OK) >= Level.WARNING
    if policy.combined.enabled and capacity_critical and erroring:
        rule = policy.combined
        target = _deployment(targets, rule.target)
        causes = tuple(
            str(c) for c in sorted(conditions)
            if c.level >= Level.WARNING and c.metric is not Metric.P99
        )
        proposals.append(
            Action(
                type=ActionType.COMBINED,
                priority=rule.priority,
                target=target,
                description=f"Scale {target.name} and roll it back",
                rationale=(
                    "Capacity is critical while errors rise: "
                    + "; ".join(describe.why(c) for c in sorted(conditions)
                                if str(c) in causes)
                ),
                replicas=rule.replicas,
                causes=causes,
            )
        )
    return proposals


def merge(actions: Sequence[Action], targets: Targets) -> list[Action]:
    """
    Fold the proposals into one consistent plan.

    One action per (type, target); a combined action absorbs the scale and
    rollback of its Deployment; one scale per Deployment, the largest wins;
    a rollback removes that Deployment's restart from a config patch, which
    is dropped when no restart is left; replicas are capped.
    """
    by_key: dict[str, Action] = {}
    for action in actions:
        earlier = by_key.get(action.key)
        by_key[action.key] = _fold(earlier, action) if earlier else action

    # A combined action carries its Deployment's scale and rollback.
    for combined in [a for a in by_key.values() if a.type is ActionType.COMBINED]:
        assert combined.target is not None
        for absorbed_type in (ActionType.SCALE, ActionType.ROLLBACK):
            key = Action(absorbed_type, 3, combined.target, "", "").key
            absorbed = by_key.pop(key, None)
            if absorbed is not None:
                by_key[combined.key] = _fold(by_key[combined.key], absorbed)

    # Restarting what is being rolled back would race the rollback.
    rolled_back = {a.target for a in by_key.values() if a.rolls_back}
    for key, action in list(by_key.items()):
        if action.type is ActionType.RESTART and action.target in rolled_back:
            del by_key[key]
        if action.type is ActionType.PATCH_CONFIG and action.restarts:
            # Dropped when rollbacks took every restart; a patch configured without
            # restarts (`restart: []`) stands on its own.
            kept = tuple(t for t in action.restarts if t not in rolled_back)
            if not kept:
                del by_key[key]
            elif kept != action.restarts:
                by_key[key] = dataclasses.replace(action, restarts=kept)

    # A config patch at least as urgent restarts its Deployments anyway, after the
    # patch, which is when a restart helps: a separate restart would repeat it.
    # Its causes join the patch, so the alerts behind it are answered by the patch.
    patched = [a for a in by_key.values() if a.type is ActionType.PATCH_CONFIG]
    for key, action in list(by_key.items()):
        if action.type is not ActionType.RESTART:
            continue
        covering = next((p for p in patched if action.target in p.restarts
                         and p.priority <= action.priority), None)
        if covering is not None:
            del by_key[key]
            merged = by_key[covering.key]
            by_key[covering.key] = dataclasses.replace(
                merged, causes=tuple(dict.fromkeys((*merged.causes, *action.causes))))

    capped = [_cap(action, targets) for action in by_key.values()]
    return sorted(capped, key=lambda a: _order(a, targets))


def _unknown_rationale(condition: Condition) -> str:
    label = _LABEL[condition.metric]
    if condition.unusable:
        return f"{label} is unknown: the benchmark's figure was unusable ({condition.unusable})"
    return f"{label} is unknown: the benchmark did not report it"


def _for_condition(
    condition: Condition, policy: Policy, targets: Targets, describe: _Describer
) -> list[Action]:
    metric, level = condition.metric, condition.level

    if level is Level.UNKNOWN:
        if not policy.unknown.enabled:
            return []
        return [
            Action(
                type=ActionType.INVESTIGATE,
                priority=policy.unknown.priority,
                target=None,
                description=f"Investigate missing {_LABEL[metric]}",
                rationale=_unknown_rationale(condition),
                metric=str(metric),
                causes=(str(condition),),
            )
        ]

    scale_rules: dict[tuple[Metric, Level], ScaleRule] = {
        (Metric.P95, Level.WARNING): policy.p95_warning,
        (Metric.P95, Level.CRITICAL): policy.p95_critical,
        (Metric.P95, Level.EMERGENCY): policy.p95_emergency,
        (Metric.P99, Level.CRITICAL): policy.p99_critical,
        (Metric.THROUGHPUT, Level.WARNING): policy.throughput_warning,
        (Metric.THROUGHPUT, Level.CRITICAL): policy.throughput_critical,
    }
    rule = scale_rules.get((metric, level))
    if rule is not None:
        if not rule.enabled:
            return []
        target = _deployment(targets, rule.target)
        return [
            Action(
                type=ActionType.SCALE,
                priority=rule.priority,
                target=target,
                description=f"Increase {rule.target} replicas",
                rationale=describe.why(condition),
                replicas=rule.replicas,
                causes=(str(condition),),
            )
        ]

    if (metric, level) == (Metric.ERROR_RATE, Level.WARNING):
        patch = policy.error_rate_warning
        if not patch.enabled:
            return []
        config = Target("ConfigMap", targets.namespace, targets.config.configmap)
        return [
            Action(
                type=ActionType.PATCH_CONFIG,
                priority=patch.priority,
                target=config,
                description=f"Reduce {targets.config.key} to {patch.max_tokens}",
                rationale=describe.why(condition),
                config_key=targets.config.key,
                config_value=str(patch.max_tokens),
                # Once each, even when both roles name one Deployment.
                restarts=tuple(dict.fromkeys(_deployment(targets, role)
                                             for role in patch.restart)),
                causes=(str(condition),),
            )
        ]

    if (metric, level) == (Metric.ERROR_RATE, Level.CRITICAL):
        rollback = policy.error_rate_critical
        if not rollback.enabled:
            return []
        return [
            Action(
                type=ActionType.ROLLBACK,
                priority=rollback.priority,
                target=_deployment(targets, role),
                description=f"Roll back {role} to its previous version",
                rationale=describe.why(condition),
                causes=(str(condition),),
            )
            for role in rollback.targets
        ]

    return []


def _fold(kept: Action, other: Action) -> Action:
    """Two actions on one target become one: the larger scale, the higher urgency."""
    replicas = kept.replicas
    if other.replicas is not None and (replicas is None or other.replicas > replicas):
        replicas = other.replicas
    if kept.config_value is not None and other.config_value is not None:
        # Two config patches of one key: the lower value is the safer one.
        lowest = min(kept.config_value, other.config_value, key=_as_number)
        kept = dataclasses.replace(kept, config_value=lowest)

    rationale = kept.rationale
    if other.rationale and other.rationale not in rationale:
        rationale = f"{rationale}; {other.rationale}"
    restarts = tuple(dict.fromkeys((*kept.restarts, *other.restarts)))
    causes = tuple(dict.fromkeys((*kept.causes, *other.causes)))
    return dataclasses.replace(
        kept,
        priority=min(kept.priority, other.priority),
        replicas=replicas,
        rationale=rationale,
        restarts=restarts,
        causes=causes,
    )


def _cap(action: Action, targets: Targets) -> Action:
    if action.replicas is None or action.target is None:
        return action
    limit = max_replicas(targets, action.target)
    if action.replicas <= limit:
        return action
    return dataclasses.replace(
        action,
        replicas=limit,
        rationale=f"{action.rationale} (capped at max_replicas {limit})",
    )


def max_replicas(targets: Targets, target: Target) -> int:
    """The replica cap of a Deployment: its own when configured, else the default."""
    for role in ("gateway", "backend"):
        configured = targets.deployment(role)
        if target.namespace == targets.namespace and target.name == configured.deployment:
            return configured.max_replicas
    return targets.default_max_replicas


def _order(action: Action, targets: Targets) -> tuple[int, int, int, str, str, str]:
    """Priority, then type (see TYPE_ORDER), then gateway before backend before others."""
    rank, namespace, name = 2, "", ""
    if action.target is not None:
        namespace, name = action.target.namespace, action.target.name
        if namespace == targets.namespace and name == targets.gateway.deployment:
            rank = 0
        elif namespace == targets.namespace and name == targets.backend.deployment:
            rank = 1
    return (
        action.priority, TYPE_ORDER.index(action.type), rank, namespace, name,
        action.metric or "",
    )


def _deployment(targets: Targets, role: Role) -> Target:
    return Target("Deployment", targets.namespace, targets.deployment(role).deployment)


def _as_number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("inf")


class _Describer:
    """Rationale sentences in the wording of the original report."""

    def __init__(self, settings: Settings) -> None:
        self.thresholds = settings.thresholds

    def why(self, condition: Condition) -> str:
        metric, level, value = condition.metric, condition.level, condition.value
        label = _LABEL[metric]
        limit, kind = self._limit(metric, level)
        shown = _format(metric, value) if value is not None else "alert"
        if value is None:
            return f"{label} {level.name.lower()} alert is firing (threshold {limit})"
        if metric is Metric.THROUGHPUT:
            return f"{label} ({shown}) is below {kind} threshold ({limit})"
        return f"{label} ({shown}) exceeds {kind} threshold ({limit})"

    def _limit(self, metric: Metric, level: Level) -> tuple[str, str]:
        t = self.thresholds
        kind = {Level.WARNING: "warning", Level.CRITICAL: "critical",
                Level.EMERGENCY: "emergency"}.get(level, "")
        if metric is Metric.P95:
            value = {Level.WARNING: t.p95_ms.warning, Level.EMERGENCY: t.p95_ms.emergency}.get(
                level, t.p95_ms.critical
            )
            return f"{value or 0:.1f}ms", kind
        if metric is Metric.P99:
            value = t.p99_ms.warning if level is Level.WARNING else t.p99_ms.critical
            return f"{value or 0:.1f}ms", kind
        if metric is Metric.ERROR_RATE:
            value = t.error_rate.warning if level is Level.WARNING else t.error_rate.critical
            return f"{(value or 0) * 100:g}%", kind
        value = t.throughput_rps.warning if level is Level.WARNING else t.throughput_rps.critical
        return f"{value or 0:.1f} req/s", kind


def _format(metric: Metric, value: float) -> str:
    if metric is Metric.ERROR_RATE:
        return f"{value * 100:.2f}%"
    if metric is Metric.THROUGHPUT:
        return f"{value:.2f} req/s"
    return f"{value:.2f}ms"
