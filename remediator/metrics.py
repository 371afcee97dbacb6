"""
The daemon's own metrics, all named `remediator_*`, on a registry of ours.

Alert rules and the Grafana dashboard are written against these names, so
they change only with them. Labels take few values (HTTP codes, action
types, outcomes, skip reasons, configured targets), never alert names or
fingerprints.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from remediator.planning.actions import ActionType
from remediator.state.base import OUTCOMES

SKIP_REASONS: tuple[str, ...] = (
    "duplicate", "cooldown", "rate_limit", "breaker_open", "dry_run", "observe",
    "below_priority", "paused", "would_lower_replicas", "unknown_target", "invalid_target",
    "invalid_action", "not_leader", "executor",
)
"""Every value of the `reason` label of `remediator_skips_total` (`executor`: another
skip an executor reported)."""

RESULT_FIGURES: tuple[str, ...] = (
    "p50", "p95", "p99", "error_rate", "throughput", "success_rate",
)
"""Every value of the `metric` label of `remediator_results_missing_figures_total`."""

PRESET_CODES: tuple[str, ...] = ("200", "400", "401", "413", "503")
"""Webhook answers exported at 0 from the start, so the first rejection alerts."""


class SelfMetrics:
    """Every self-metric, created on one registry (each test builds its own)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # No `*_created` series beside each counter and histogram: they double the
        # series scraped, and Prometheus's text format has no use for them (no rule
        # or panel reads them). A switch of prometheus-client for the whole process.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in the library
        self.registry = registry
        self.webhook_requests = Counter(
            "remediator_webhook_requests", "Webhook requests answered, by HTTP status code.",
            ["code"], registry=registry,
        )
        self.notifications = Counter(
            "remediator_notifications",
            "Webhook notifications accepted: new (changed something), repeat (nothing new),"
            " rejected (4xx).",
            ["result"], registry=registry,
        )
        self.alerts = Counter(
            "remediator_alerts", "Alerts received in accepted notifications, by their own status.",
            ["status"], registry=registry,
        )
        self.actions = Counter(
            "remediator_actions", "Decisions recorded, by action type and outcome.",
            ["type", "outcome"], registry=registry,
        )
        self.skips = Counter(
            "remediator_skips", "Actions not executed, by reason.", ["reason"], registry=registry,
        )
        self.action_duration = Histogram(
            "remediator_action_duration_seconds", "Time the executor took per action.",
            ["type"], registry=registry,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600),
        )
        self.recovery = Histogram(
            "remediator_recovery_seconds",
            "Time from an alert episode's start (startsAt) to its resolve (endsAt).",
            registry=registry,
            buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400),
        )
        self.action_failures = Counter(
            "remediator_action_failures",
            "Actions whose execution failed, by type and target (namespace/kind/name): the"
            " target of the actions-failing alert.",
            ["type", "target"], registry=registry,
        )
        self.breaker_open = Gauge(
            "remediator_breaker_open", "1 while the circuit breaker of a target is open.",
            ["target"], registry=registry,
        )
        self.queue_depth = Gauge(
            "remediator_queue_depth", "Alert episodes recorded but not yet evaluated.",
            registry=registry,
        )
        self.truncated_alerts = Counter(
            "remediator_truncated_alerts",
            "Alerts Alertmanager left out of notifications (truncatedAlerts).", registry=registry,
        )
        self.results_read_failures = Counter(
            "remediator_results_read_failures",
            "Benchmark results that could not be read or parsed (last good values kept).",
            registry=registry,
        )
        self.missing_figures = Counter(
            "remediator_results_missing_figures",
            "Benchmark results taken without a figure (not reported, or not a usable"
            " number such as null, 0 ms or a sentinel), by metric; it is not exported.",
            ["metric"], registry=registry,
        )
        self.last_decision = Gauge(
            "remediator_last_decision_timestamp_seconds",
            "When the last decision was recorded (Unix time).", registry=registry,
        )
        self.leader = Gauge(
            "remediator_leader",
            "1 when this replica may act (always 1 without leader election).",
            registry=registry,
        )
        self.firing = Gauge(
            "remediator_episodes_firing", "Alert episodes in the firing set now.",
            registry=registry,
        )
        self.notifier_failures = Counter(
            "remediator_notifier_failures",
            "Notifications to Slack or a webhook that failed after their retries.",
            ["sink"], registry=registry,
        )
        self.unmapped_alerts = Counter(
            "remediator_unmapped_alerts",
            "Alerts of accepted notifications whose alertname maps to nothing (neither"
            " built in nor in alerts.custom); unlabelled, as alertnames are untrusted.",
            registry=registry,
        )
        self.state_errors = Counter(
            "remediator_state_errors",
            "Failures to read or write the state store (the webhook then answers 503).",
            registry=registry,
        )

        self._children: dict[tuple[Counter, str], Any] = {}
        self._preset()

    def count(self, counter: Counter, label: str, amount: float = 1.0) -> None:
        """
        `counter.labels(label).inc(amount)`, for the webhook's path: the labelled
        child is looked up once, not at every request (a lock and a few checks each).
        """
        child = self._children.get((counter, label))
        if child is None:
            child = self._children[(counter, label)] = counter.labels(label)
        child.inc(amount)

    def _preset(self) -> None:
        """
        Export the known label values at 0 before anything happens.

        `increase()` cannot see a series whose first sample is already 1, so
        without this the first failed action or the first rejected webhook
        would never raise the health alerts that watch them.
        """
        for kind in ActionType:
            for outcome in OUTCOMES:
                if outcome != "pending":
                    self.actions.labels(str(kind), outcome)
        for reason in SKIP_REASONS:
            self.skips.labels(reason)
        for code in PRESET_CODES:
            self.webhook_requests.labels(code)
        for result in ("new", "repeat", "rejected"):
            self.notifications.labels(result)
        for figure in RESULT_FIGURES:
            self.missing_figures.labels(figure)
