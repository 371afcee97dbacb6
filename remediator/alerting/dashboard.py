"""
The Grafana dashboard, generated from the settings with grafana-foundation-sdk.

The threshold lines drawn on the benchmark panels are the thresholds the
rules fire on (`rules.thresholds`), so what people see and what is acted on
cannot drift apart. The SDK is a development dependency: the committed
`grafana/dashboard.json` is this module's output for the default config,
and a test keeps the two equal.
"""

from __future__ import annotations

import json
from typing import Any

from remediator.alerting import rules
from remediator.config.settings import Settings
from remediator.errors import RemediatorError
from remediator.planning.conditions import Level, Metric

try:
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.builders import dashboard as builders
    from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
    from grafana_foundation_sdk.cog import encoder
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import dashboard as models
except ImportError:  # pragma: no cover - depends on the installation
    SDK_MISSING = True
else:
    SDK_MISSING = False

UID = "llm-remediator"
TITLE = "LLM serving: benchmark and remediation"
CONFIGMAP_NAME = "remediator-dashboard"
CONFIGMAP_KEY = "llm-remediator.json"
# The kube-prometheus-stack Grafana sidecar loads ConfigMaps with this label.
SIDECAR_LABEL = "grafana_dashboard"

_COLOR = {
    Level.OK: "green",
    Level.WARNING: "yellow",
    Level.CRITICAL: "orange",
    Level.EMERGENCY: "red",
}
_REPLICAS = "instance, pod"


def dashboard(settings: Settings) -> dict[str, Any]:
    """The dashboard as a JSON document (what Grafana imports)."""
    if SDK_MISSING:
        raise RemediatorError(
            "the dashboard generator needs grafana-foundation-sdk==1769699379!11.6.0 "
            "(pip install -e '.[dev]'); the generated grafana/dashboard.json is committed"
        )

    # Build with the SDK, then add what its models lack.
    built = _build(settings).build()
    document: dict[str, Any] = json.loads(json.dumps(built, cls=encoder.JSONEncoder))
    _prometheus_annotation_fields(document)
    return document


def config_map(settings: Settings, *, namespace: str | None = None) -> dict[str, Any]:
    """The dashboard in a ConfigMap that the kube-prometheus-stack sidecar loads."""
    metadata: dict[str, Any] = {"name": CONFIGMAP_NAME}
    if namespace is not None:
        metadata["namespace"] = rules.checked_namespace(namespace)
    metadata["labels"] = {
        "app.kubernetes.io/name": "remediator",
        "app.kubernetes.io/component": "dashboard",
        SIDECAR_LABEL: "1",
    }
    text = json.dumps(dashboard(settings), indent=2, sort_keys=True) + "\n"
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
            "data": {CONFIGMAP_KEY: text}}


# --- building ----------------------------------------------------------------


def _build(settings: Settings) -> builders.Dashboard:
    datasource = models.DataSourceRef(type_val="prometheus", uid="${datasource}")
    board = (
        builders.Dashboard(TITLE)
        .uid(UID)
        .tags(["llm", "remediator"])
        .description(
            "Benchmark results the remediator exports, with the thresholds its alerts fire "
            "on, and what it did about them."
        )
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(
            builders.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .annotation(
            builders.AnnotationQuery()
            .name("Remediation actions")
            .datasource(datasource)
            .enable(True)
            .icon_color("purple")
            .expr(
                "sum by (type, outcome) (changes(remediator_actions_total"
                '{outcome=~"executed|dry_run|failed|refused"}[2m])) > 0'
            )
        )
    )

    # Fixed panel ids keep links to a panel stable across regenerations.
    ids = iter(range(1, 100))
    board = board.with_row(builders.Row("Benchmark results").id(next(ids)))
    for panel in _benchmark_panels(settings, datasource):
        board = board.with_panel(panel.id(next(ids)))
    board = board.with_row(builders.Row("Remediation").id(next(ids)))
    for panel in _remediation_panels(settings, datasource):
        board = board.with_panel(panel.id(next(ids)))
    return board


def _benchmark_panels(settings: Settings, datasource: models.DataSourceRef) -> list[Any]:
    t = settings.thresholds
    p95 = (
        _series("p95 latency", "s", datasource, _steps(settings, Metric.P95))
        .description("p95 latency of the latest result; lines at the warning, critical "
                     f"and emergency thresholds ({_limits(settings, Metric.P95)}).")
        .with_target(_query(f'max without({_REPLICAS}) ({rules.SELECTOR[Metric.P95]})', "p95"))
        .with_target(_query(
            f'max without({_REPLICAS}) ({rules.LATENCY}{{percentile="50"}})', "p50", "B"
        ))
    )
    p99 = (
        _series("p99 latency", "s", datasource, _steps(settings, Metric.P99))
        .description(f"p99 latency; line at the critical threshold ({t.p99_ms.critical:g}ms).")
        .with_target(_query(f'max without({_REPLICAS}) ({rules.SELECTOR[Metric.P99]})', "p99"))
    )
    errors = (
        _series("Error ratio", "percentunit", datasource, _steps(settings, Metric.ERROR_RATE))
        .description("Failed requests / requests of the latest result; lines at "
                     f"{_limits(settings, Metric.ERROR_RATE)}.")
        .with_target(_query(f"max without({_REPLICAS}) ({rules.ERROR_RATIO})", "error ratio"))
        .min(0)
    )
    throughput = (
        _series("Throughput", "reqps", datasource, _steps(settings, Metric.THROUGHPUT))
        .description("Requests per second of the latest result; bad below the lines at "
                     f"{_limits(settings, Metric.THROUGHPUT)}.")
        .with_target(_query(f"min without({_REPLICAS}) ({rules.THROUGHPUT})", "throughput"))
        .min(0)
    )
    success = (
        _series("Success ratio", "percentunit", datasource, _success_steps(settings))
        .description("Successful requests / requests; lines where the error ratio reaches "
                     "its thresholds.")
        .with_target(_query(f"min without({_REPLICAS}) ({rules.SUCCESS_RATIO})", "success"))
        .max(1)
    )
    age = (
        stat.Panel()
        .title("Age of the latest result")
        .description("Time since the benchmark run behind the gauges ended; red from the "
                     f"{rules.duration(settings.alerts.results_stale_seconds)} after which "
                     f"{rules.STALE} fires and the threshold alerts fall silent.")
        .datasource(datasource)
        .unit("s")
        .height(8)
        .span(8)
        .thresholds(_thresholds([
            (None, "green"), (settings.alerts.results_stale_seconds, "red"),
        ]))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(_query(f"time() - max({rules.LAST_RESULT})", "age"))
    )
    return [p95, p99, errors, throughput, success, age]


def _remediation_panels(settings: Settings, datasource: models.DataSourceRef) -> list[Any]:
    decisions = (
        _bars("Decisions by type and outcome", datasource)
        .description("Every decision the remediator took: executed, dry_run, skipped, "
                     "refused, failed.")
        .with_target(_query(
            "sum by (type, outcome) (increase(remediator_actions_total[$__rate_interval]))",
            "{{type}} {{outcome}}",
        ))
    )
    skips = (
        _bars("Skips by reason", datasource)
        .description("Why actions were not taken: duplicate, cooldown, rate limit, "
                     "breaker open, dry-run, would lower replicas, unknown target.")
        .with_target(_query(
            "sum by (reason) (increase(remediator_skips_total[$__rate_interval]))",
            "{{reason}}",
        ))
    )
    breaker = (
        statetimeline.Panel()
        .title("Breaker per target")
        .description("Open: the remediator stopped acting on the target until an operator "
                     "resets it or its quiet period ends.")
        .datasource(datasource)
        .height(8)
        .span(8)
        .legend(_legend())
        .tooltip(_tooltip())
        .mappings([
            models.ValueMap(options={
                "0": models.ValueMappingResult(text="closed", color="green", index=0),
                "1": models.ValueMappingResult(text="open", color="red", index=1),
            })
        ])
        .with_target(_query("max by (target) (remediator_breaker_open)", "{{target}}"))
    )
    recovery = (
        stat.Panel()
        .title("Time to recovery")
        .description("From the start of an alert episode the remediator acted on to its "
                     "resolve, over the dashboard's time range.")
        .datasource(datasource)
        .unit("s")
        .height(8)
        .span(8)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(_instant(
            "histogram_quantile(0.5, sum by (le) "
            "(increase(remediator_recovery_seconds_bucket[$__range])))", "median",
        ))
        .with_target(_instant(
            "histogram_quantile(0.95, sum by (le) "
            "(increase(remediator_recovery_seconds_bucket[$__range])))", "p95", "B",
        ))
    )
    notifications = (
        _bars("Notifications from Alertmanager", datasource)
        .description("new: something changed; repeat: counted only; rejected: refused "
                     "with a 4xx, which Alertmanager does not retry.")
        .with_target(_query(
            "sum by (result) (increase(remediator_notifications_total[$__rate_interval]))",
            "{{result}}",
        ))
    )
    queue = (
        _series("Queue depth and leadership", "short", datasource, _thresholds([(None, "green")]))
        .description("Notifications waiting for the worker, and which replica leads.")
        .with_target(_query(f"max without({_REPLICAS}) (remediator_queue_depth)", "queued"))
        .with_target(_query("sum(remediator_leader)", "leaders", "B"))
        .min(0)
    )
    return [decisions, skips, breaker, recovery, notifications, queue]


# --- pieces ------------------------------------------------------------------


def _series(
    title: str, unit: str, datasource: models.DataSourceRef,
    steps: builders.ThresholdsConfig,
) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .datasource(datasource)
        .unit(unit)
        .height(8)
        .span(8)
        .thresholds(steps)
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common.GraphThresholdsStyleMode.DASHED
            )
        )
        .legend(_legend())
        .tooltip(_tooltip())
        # A result holds until the next one: draw steps, not slopes.
        .line_interpolation(common.LineInterpolation.STEP_AFTER)
    )


def _bars(title: str, datasource: models.DataSourceRef) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .datasource(datasource)
        .unit("short")
        .height(8)
        .span(8)
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        .legend(_legend())
        .tooltip(_tooltip())
        .min(0)
    )


def _legend() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def _tooltip() -> common_builders.VizTooltipOptions:
    return (
        common_builders.VizTooltipOptions()
        .mode(common.TooltipDisplayMode.MULTI)
        .sort(common.SortOrder.DESCENDING)
    )


def _query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)


def _instant(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return _query(expr, legend, ref).instant()


def _steps(settings: Settings, metric: Metric) -> builders.ThresholdsConfig:
    """Colour steps at the metric's thresholds, in the gauge's unit."""
    limits = [t for t in rules.thresholds(settings) if t.metric is metric]
    if metric is Metric.THROUGHPUT:
        # Bad below: the worst colour first, better from each limit upwards.
        ordered = sorted(limits, key=lambda t: t.gauge_limit)
        steps: list[tuple[float | None, str]] = [(None, _COLOR[ordered[0].level])]
        better = [_COLOR[t.level] for t in ordered[1:]] + [_COLOR[Level.OK]]
        steps += [(t.gauge_limit, color) for t, color in zip(ordered, better, strict=True)]
        return _thresholds(steps)
    steps = [(None, _COLOR[Level.OK])]
    steps += [(t.gauge_limit, _COLOR[t.level]) for t in sorted(limits, key=lambda t: t.level)]
    return _thresholds(steps)


def _success_steps(settings: Settings) -> builders.ThresholdsConfig:
    # The error-ratio limits, seen from the other side: success = 1 - error ratio.
    limits = sorted(
        (t for t in rules.thresholds(settings) if t.metric is Metric.ERROR_RATE),
        key=lambda t: t.level, reverse=True,
    )
    steps: list[tuple[float | None, str]] = [(None, _COLOR[limits[0].level])]
    better = [_COLOR[t.level] for t in limits[1:]] + [_COLOR[Level.OK]]
    steps += [(round(1 - t.limit, 12), color) for t, color in zip(limits, better, strict=True)]
    return _thresholds(steps)


def _thresholds(steps: list[tuple[float | None, str]]) -> builders.ThresholdsConfig:
    return builders.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE).steps(
        [models.Threshold(value=value, color=color) for value, color in steps]
    )


def _limits(settings: Settings, metric: Metric) -> str:
    return ", ".join(
        f"{t.level.name.lower()} {t.shown}"
        for t in rules.thresholds(settings) if t.metric is metric
    )


def _prometheus_annotation_fields(document: dict[str, Any]) -> None:
    # The SDK's AnnotationQuery has `expr` but not the Prometheus data source's
    # other annotation fields, which say how a series becomes an annotation.
    for annotation in document.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            annotation.update({
                "step": "60s",
                "titleFormat": "{{type}}: {{outcome}}",
                "tagKeys": "type,outcome",
                "useValueForTime": False,
            })
