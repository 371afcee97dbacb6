"""
Field reports (the shared FIELD-REPORTS.md) across the exporter and the
shipped rules: a benchmark document goes through the reader and the gauges,
the exposition becomes promtool's input series, and the real promtool
evaluates the shipped rules on it (generated from the default config, which
tests/alerting/test_rules.py keeps identical to prometheus/rules.yml). So a
figure the exporter leaves out (19, 25) or scales (27) is judged by the
rules as a user's Prometheus would.

docs/field-reports.md maps every entry to its tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from remediator.alerting import rules
from remediator.bench.reading import parse_result
from remediator.config.settings import Settings
from remediator.exporting import BenchGauges
from tests.alerting.tools import run

SCRAPED = {"job": "remediator", "instance": "10.0.0.1:8080"}
MINUTES = 20
# Results finish at Unix time 0, where promtool's clock starts: fresh for the scenario.
EPOCH = "1970-01-01T00:00:00Z"
# Every figure but the error rate, each inside its thresholds.
HEALTHY = {"latency_stats": {"p95_ms": 80, "p99_ms": 100}, "throughput_rps": 20}


def exposition(document: dict[str, Any]) -> list[dict[str, str]]:
    """promtool input series for what the daemon exports for `document`, scraped 20m."""
    registry = CollectorRegistry()
    gauges = BenchGauges(registry, max_age_seconds=7200, clock=lambda: 0.0)
    gauges.update(parse_result(json.dumps(document).encode(), source="bench_results.json"))

    series = [{"series": 'up{job="remediator", instance="10.0.0.1:8080"}',
               "values": f"1+0x{MINUTES}"}]
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            labels = ", ".join(f'{k}="{v}"' for k, v in {**sample.labels, **SCRAPED}.items())
            series.append({"series": f"{sample.name}{{{labels}}}",
                           "values": f"{sample.value!r}+0x{MINUTES}"})
    return series


def evaluate(tmp_path: Path, series: list[dict[str, str]], checks: list[dict[str, Any]],
             firing: list[str]) -> None:
    """
    Run promtool test rules on the shipped rules; fail with its output.

    `checks` are promtool's alert tests at 20m; `firing` is every alert name
    that fires then, so nothing else may.
    """
    (tmp_path / "rules.yml").write_text(rules.render(rules.rule_file(Settings())),
                                        encoding="utf-8")
    names = {"expr": 'group by(alertname) (ALERTS{alertstate="firing"})',
             "eval_time": f"{MINUTES}m",
             "exp_samples": [{"labels": f'{{alertname="{name}"}}', "value": 1}
                             for name in firing]}
    scenario = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": checks,
                   "promql_expr_test": [names]}],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(scenario), encoding="utf-8")

    tested = run("promtool", "test", "rules", "test.yml", cwd=tmp_path)

    assert tested.returncode == 0, tested.stdout + tested.stderr


def expected(alert: str, value: str | None = None, **labels: str) -> dict[str, Any]:
    """An alert as the shipped rule raises it, its `$value` rendered as `value`."""
    rule = next(rule for rule in rules.bench_rules(Settings())
                if rule.alert == alert and all(rule.labels.get(k, v) == v
                                               for k, v in labels.items()))
    annotations = dict(rule.annotations)
    if value is not None:
        annotations = {key: text.replace("{{ $value | humanizePercentage }}", value)
                       for key, text in annotations.items()}
    return {"exp_labels": {**rule.labels, "job": "remediator"},
            "exp_annotations": annotations}


@pytest.mark.parametrize("document", [
    # 19 / 25 c: our format with p99 null.
    {"latency_stats": {"p95_ms": 75.0, "p99_ms": None}, "error_rate": 0.01,
     "throughput_rps": 1822.8, "finished_at": EPOCH},
    # 25 a: no p99 at all.
    {"latency_stats": {"p95_ms": 75.0}, "error_rate": 0.01, "throughput_rps": 1822.8,
     "finished_at": EPOCH},
    # 24 a: p99 as Infinity.
    {"latency_stats": {"p95_ms": 75.0, "p99_ms": float("inf")}, "error_rate": 0.01,
     "throughput_rps": 1822.8, "finished_at": EPOCH},
])
def test_a_p99_the_benchmark_lacks_raises_the_missing_alert_never_a_healthy_p99(
        tmp_path: Path, document: dict[str, Any]) -> None:
    """
    Field reports 19 and 25: no p99, or none that is a number, is exported as nothing.

    The p99 alert cannot fire on it, and the companion alert says so after
    its `for`: LLMBenchMetricsMissing is the only alert firing then.
    """
    series = exposition(document)

    exported = " ".join(entry["series"] for entry in series)
    assert 'percentile="99"' not in exported
    assert 'percentile="95"' in exported and "llm_bench_error_ratio{" in exported
    evaluate(tmp_path, series, [
        {"eval_time": f"{MINUTES}m", "alertname": "LLMLatencyP99Critical", "exp_alerts": []},
        {"eval_time": f"{MINUTES}m", "alertname": "LLMBenchMetricsMissing",
         "exp_alerts": [expected("LLMBenchMetricsMissing", metric="p99")]},
    ], firing=["LLMBenchMetricsMissing"])


@pytest.mark.parametrize(("document", "warning", "critical"), [
    # 27 d: a percentage written as such is 0.05: warning, not above the 5 % critical.
    ({**HEALTHY, "error_rate_percent": 5}, "5%", False),
    # 27 c: the fraction 0.06.
    ({**HEALTHY, "error_rate": 0.06}, "6%", True),
])
def test_the_exported_error_ratio_meets_the_rule_thresholds_as_a_fraction(
        tmp_path: Path, document: dict[str, Any], warning: str, critical: bool) -> None:
    """
    Field report 27: the exporter's ratio and the rules' thresholds agree on 0..1.

    5 % in percent is exported as 0.05: above the 1 % warning, not above the
    5 % critical (strictly greater); 6 % fires both.
    """
    series = exposition({**document, "finished_at": EPOCH})

    evaluate(tmp_path, series, [
        {"eval_time": f"{MINUTES}m", "alertname": "LLMErrorRateWarning",
         "exp_alerts": [expected("LLMErrorRateWarning", warning)]},
        {"eval_time": f"{MINUTES}m", "alertname": "LLMErrorRateCritical",
         "exp_alerts": [expected("LLMErrorRateCritical", warning)] if critical else []},
    ], firing=sorted(["LLMErrorRateWarning", *(["LLMErrorRateCritical"] if critical else [])]))
