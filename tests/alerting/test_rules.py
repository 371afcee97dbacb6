"""The generated Prometheus rules, checked and unit-tested by the real promtool."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from remediator import metrics
from remediator.alerting import mapping, rules
from remediator.bench.result import BenchResult
from remediator.cli import main
from remediator.config import loading
from remediator.config.settings import Settings
from remediator.exporting import BenchGauges
from remediator.planning import planner
from remediator.planning.conditions import FIELD, Condition, Level, Metric, level_of
from tests.alerting.tools import REPO, run

RULES = REPO / "prometheus" / "rules.yml"
UNIT_TESTS = sorted((REPO / "prometheus" / "tests").glob("*.yml"))


def _documents(settings: Settings) -> list[dict[str, Any]]:
    """The alerting rules of the generated file."""
    return [rule for rule in _every_rule(settings) if "alert" in rule]


def _every_rule(settings: Settings) -> list[dict[str, Any]]:
    """Alerting and recording rules, in file order."""
    return [
        rule for group in rules.rule_file(settings)["groups"] for rule in group["rules"]
    ]


def _settings(**raw: Any) -> Settings:
    return loading.validate(raw, source="test")


class TestCommittedRules:
    def test_the_committed_file_is_what_the_default_config_generates(self) -> None:
        """prometheus/rules.yml is `remediator rules` with no config, byte for byte."""
        expected = rules.render(rules.rule_file(Settings()))

        assert expected == RULES.read_text(encoding="utf-8")

    def test_promtool_accepts_the_rules_with_every_lint(self) -> None:
        """`promtool check rules` passes with all lints fatal."""
        checked = run("promtool", "check", "rules", "--lint=all", "--lint-fatal", str(RULES))

        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "SUCCESS: 18 rules found" in checked.stdout

    def test_the_example_prometheus_config_is_valid(self) -> None:
        """`promtool check config` passes on prometheus/prometheus.yml and its rule file."""
        checked = run("promtool", "check", "config", str(REPO / "prometheus" / "prometheus.yml"))

        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "SUCCESS: 1 rule files found" in checked.stdout

    def test_the_promtool_unit_tests_pass(self) -> None:
        """Every scenario under prometheus/tests passes `promtool test rules`."""
        tested = run("promtool", "test", "rules", *map(str, UNIT_TESTS))

        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert tested.stdout.count("SUCCESS") == len(UNIT_TESTS)

    def test_every_alert_is_tested_firing_and_quiet(self) -> None:
        """Each alert has a unit test where it fires and one where it must not."""
        firing: set[str] = set()
        quiet: set[str] = set()
        for path in UNIT_TESTS:
            for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
                for check in case.get("alert_rule_test", []):
                    (firing if check["exp_alerts"] else quiet).add(check["alertname"])

        names = {rule["alert"] for rule in _documents(Settings())}
        assert names - firing == set()
        assert names - quiet == set()


def _duration(text: str) -> float:
    """Seconds in a Prometheus duration such as `2m`, `1h30m` or `90s`."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", text)
    assert parts and "".join(n + u for n, u in parts) == text, text
    return sum(int(number) * units[unit] for number, unit in parts)


def _checks() -> list[tuple[str, str, float, bool]]:
    """(test case, alert, eval time in seconds, firing?) for every alert check."""
    found = []
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            name = f"{path.name}: {case['name']}"
            found += [
                (name, check["alertname"], _duration(check["eval_time"]),
                 bool(check["exp_alerts"]))
                for check in case.get("alert_rule_test", [])
            ]
    return found


class TestTheUnitTestsCoverEveryRule:
    def test_every_alert_fires_waits_out_its_for_and_resolves(self) -> None:
        """
        Each alert has, in one test case, a firing check and quiet checks that
        prove it pending and resolved.

        Firing at F means the alert has been active since F - `for` or earlier,
        so a quiet check at F - `for` <= t < F sees it pending; a quiet check
        after F sees it resolved.
        """
        holds = {rule["alert"]: _duration(rule["for"]) for rule in _documents(Settings())}
        checks = _checks()
        missing = []
        for alert, hold in holds.items():
            mine = [(case, at, firing) for case, name, at, firing in checks if name == alert]
            fired = [(case, at) for case, at, firing in mine if firing]
            quiet = [(case, at) for case, at, firing in mine if not firing]
            pending = any(c == case and f - hold <= q < f for case, f in fired for c, q in quiet)
            resolved = any(c == case and q > f for case, f in fired for c, q in quiet)
            missing += [f"{alert}: {what}" for what, ok in
                        (("firing", fired), ("pending", pending), ("resolving", resolved))
                        if not ok]

        assert missing == []


def _mutants(kind: str) -> dict[str, tuple[str, str]]:
    """
    Per rule (alert or record name), a weakened expression: (original, weakened).

    - strict: a threshold compared with >= or <=, so a value exactly at it fires;
    - fresh: no freshness gate, so a stale result still acts;
    - absent: an absent gauge taken as bad, so missing data fires the alert;
    - fold: instance and pod kept, so two replicas raise two alerts.
    """
    settings = Settings()
    documents = {rule.get("alert") or rule["record"]: rule["expr"]
                 for rule in _every_rule(settings)}
    mutants: dict[str, tuple[str, str]] = {}
    for name, expr in documents.items():
        weakened = expr
        if kind == "strict" and name != rules.FORECAST:
            weakened = re.sub(r"\) ([<>]) (\S+)\n", r") \1= \2\n", expr, count=1)
        elif kind == "fresh":
            weakened = re.sub(r"and on\(\) \(time\(\) - max\(\w+\) <= \d+\)\n", "", expr)
        elif kind == "absent" and name not in (rules.REMEDIATOR_DOWN, rules.MISSING,
                                               rules.MISSING_GAUGE):
            selector = re.search(r"\b(?:llm_bench|remediator)_\w+(?:\{[^}]*\})?", expr)
            assert selector, name
            weakened = f"(\n{expr})\nor on() absent({selector.group(0)})\n"
        elif kind == "fold":
            weakened = expr.replace("without(instance, pod)", "without()")
        if weakened != expr:
            mutants[name] = (expr, weakened)
    return mutants


class TestTheUnitTestsHaveTeeth:
    @pytest.mark.parametrize(
        ("kind", "expected"),
        [
            # Every threshold alert, the staleness limit and the health counters
            # (not the forecast: a fitted line is never exactly at a number).
            ("strict", {*(t.alert for t in rules.thresholds(Settings())), rules.STALE,
                        rules.BREAKER_OPEN, rules.ACTIONS_FAILING,
                        rules.WEBHOOK_REJECTED, rules.RESULTS_UNREADABLE,
                        rules.ALERTS_TRUNCATED}),
            ("fresh", {*(t.alert for t in rules.thresholds(Settings())), rules.FORECAST}),
            ("absent", {name for name in {r.alert for r in rules.all_rules(Settings())}
                        if name not in (rules.REMEDIATOR_DOWN, rules.MISSING)}),
            ("fold", {r.alert for r in rules.all_rules(Settings())}),
        ],
    )
    def test_each_weakened_rule_fails_the_unit_tests(
        self, tmp_path: Path, kind: str, expected: set[str]
    ) -> None:
        """
        Every rule weakened one way fails its own unit tests.

        Alerts do not read each other, so all rules are weakened at once and
        promtool's report must name each of them (the recording rule through
        the missing alert that counts it).
        """
        mutants = _mutants(kind)
        document = rules.rule_file(Settings())
        for group in document["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule["record"]
                if name in mutants:
                    rule["expr"] = mutants[name][1]
        shutil.copytree(REPO / "prometheus", tmp_path / "prometheus")
        (tmp_path / "prometheus" / "rules.yml").write_text(rules.render(document),
                                                           encoding="utf-8")
        weakened_alerts = {rules.MISSING if name == rules.MISSING_GAUGE else name
                           for name in mutants}

        tested = run("promtool", "test", "rules",
                     *(str(tmp_path / "prometheus" / "tests" / p.name) for p in UNIT_TESTS))

        assert weakened_alerts == expected
        assert tested.returncode == 1
        assert set(re.findall(r"alertname: (\w+),", tested.stderr)) >= expected


class TestGeneration:
    def test_thresholds_come_from_the_config(self) -> None:
        """A changed threshold changes the rule; an unset warning drops its alert."""
        settings = _settings(thresholds={
            "p95_ms": {"warning": None, "critical": 250, "emergency_factor": 3},
            "error_rate": {"warning": 0.02, "critical": 0.1},
            "throughput_rps": {"warning": None, "critical": 2.5},
        }, alerts={"results_stale_seconds": 900})
        by_name = {rule["alert"]: rule["expr"] for rule in _documents(settings)}

        assert "LLMLatencyP95Warning" not in by_name
        assert "LLMThroughputLowWarning" not in by_name
        assert "> 0.25\n" in by_name["LLMLatencyP95Critical"]
        assert "> 0.75\n" in by_name["LLMLatencyP95Emergency"]
        assert "> 0.02\n" in by_name["LLMErrorRateWarning"]
        assert "< 2.5\n" in by_name["LLMThroughputLowCritical"]
        assert "<= 900)" in by_name["LLMLatencyP95Critical"]
        assert ") > 900\n" in by_name["LLMBenchResultsStale"]
        assert "> 900)" in next(rule["expr"] for rule in _every_rule(settings)
                                if rule.get("record") == rules.MISSING_GAUGE)
        assert rules.inhibitions(settings) == [
            ("LLMLatencyP95Emergency", "LLMLatencyP95Critical"),
            ("LLMErrorRateCritical", "LLMErrorRateWarning"),
        ]

    def test_results_are_stale_after_two_hours_by_default(self) -> None:
        """LLMBenchResultsStale fires on a result older than 2h, strictly, unless configured."""
        stale = next(rule for rule in _documents(Settings()) if rule["alert"] == rules.STALE)

        assert stale["expr"].endswith(") > 7200\n")
        assert "longer than 2h" in stale["annotations"]["description"]

    def test_a_changed_config_still_passes_promtool(self, tmp_path: Path) -> None:
        """Rules generated from a non-default config are valid for promtool too."""
        settings = _settings(
            thresholds={"p95_ms": {"warning": 80.5, "critical": 123.4}},
            rules={"for_seconds": 90, "missing_for_seconds": 0, "remediator_job": "llm-ops"},
            alerts={"custom": [{"alertname": "KubePodCrashLooping", "action": "restart"}]},
        )
        path = tmp_path / "rules.yml"
        path.write_text(rules.render(rules.rule_file(settings)), encoding="utf-8")

        checked = run("promtool", "check", "rules", "--lint=all", "--lint-fatal", str(path))

        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert 'up{job="llm-ops"}' in path.read_text(encoding="utf-8")

    @pytest.mark.parametrize("milliseconds", [100.0, 150.0, 123.4, 0.1, 99.99, 1234.5678, 7.0])
    def test_a_result_at_the_threshold_is_exactly_at_it_in_the_rule(
        self, milliseconds: float
    ) -> None:
        """The rule's limit equals the gauge the daemon exports for the same figure."""
        settings = _settings(thresholds={"p95_ms": {"warning": None, "critical": milliseconds}})
        expr = next(rule["expr"] for rule in _documents(settings)
                    if rule["alert"] == "LLMLatencyP95Critical")
        limit = float(re.search(r"\) > (\S+)\n", expr).group(1))  # type: ignore[union-attr]

        registry = CollectorRegistry()
        gauges = BenchGauges(registry, max_age_seconds=1e12)
        gauges.update(_result(p95_ms=milliseconds))
        exported = registry.get_sample_value("llm_bench_latency_seconds", {"percentile": "95"})

        assert exported == limit

    def test_gauges_are_selected_by_name_and_replicas_folded(self) -> None:
        """No rule filters a gauge on a job, and each folds instance and pod away."""
        reading = [rule for rule in _every_rule(Settings()) if "llm_bench_" in rule["expr"]]
        for rule in reading:
            name = rule.get("alert") or rule["record"]
            selectors = re.findall(r"llm_bench_\w+(\{[^}]*\})?", rule["expr"])
            assert all("job" not in selector for selector in selectors), name
            assert "without(instance, pod)" in rule["expr"], name
        # The missing alert counts the recording rule, which folds the replicas.
        assert {rule.get("alert") or rule["record"] for rule in reading} == {
            *rules.BENCH_ALERTS, rules.FORECAST, rules.MISSING_GAUGE,
        } - {rules.MISSING}

    def test_every_metric_the_rules_use_is_exported(self) -> None:
        """Field report 21: no rule watches a metric name the daemon does not produce."""
        used: set[str] = set()
        for rule in _documents(Settings()):
            used |= set(re.findall(r"\b(?:llm_bench|remediator)_\w+", rule["expr"]))

        assert used
        assert used - _exported_names() == set()

    def test_every_alert_says_what_it_is_and_how_bad(self) -> None:
        """Each rule has a `for`, a severity, a remediation label and three annotations."""
        for rule in _documents(Settings()):
            assert rule["for"] != "0s", rule["alert"]
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["labels"]["remediation"], rule["alert"]
            assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
            assert rule["annotations"]["runbook_url"].endswith("#" + rule["alert"].lower())

    def test_every_runbook_link_lands_on_a_runbook_in_the_docs(self) -> None:
        """Each `#anchor` is a heading of docs/alerting.md's runbooks, as GitHub spells it."""
        text = (REPO / "docs" / "alerting.md").read_text(encoding="utf-8")
        runbooks = text.split("\n## Runbooks\n", 1)[1].split("\n## ", 1)[0]
        headings = {line[4:].strip().lower() for line in runbooks.splitlines()
                    if line.startswith("### ")}

        # The optional p99 warning too: it has a runbook whenever it is configured.
        every_alert = Settings.model_validate(
            {"thresholds": {"p99_ms": {"warning": 150, "critical": 200}}})
        links = [rule["annotations"]["runbook_url"] for rule in _documents(every_alert)]
        pages = {link.rsplit("#", 1)[0] for link in links}
        anchors = {link.rsplit("#", 1)[1] for link in links}

        assert {page.rsplit("/blob/main/", 1)[1] for page in pages} == {"docs/alerting.md"}
        assert anchors - headings == set()

    def test_the_remediation_labels_name_the_planned_action_and_target(self) -> None:
        """The labels tell people what the remediator will do about each alert."""
        labels = {rule["alert"]: rule["labels"] for rule in _documents(Settings())}

        assert labels["LLMLatencyP95Critical"]["remediation"] == "scale"
        assert labels["LLMLatencyP95Critical"]["target"] == "default/deployment/llm-gateway"
        assert labels["LLMLatencyP99Critical"]["target"] == "default/deployment/llm-backend"
        assert labels["LLMErrorRateWarning"]["remediation"] == "patch_config"
        assert labels["LLMErrorRateCritical"]["remediation"] == "rollback"
        assert labels["LLMBenchResultsStale"]["remediation"] == "investigate"
        assert labels["RemediatorDown"]["remediation"] == "none"

    def test_a_disabled_policy_says_so(self) -> None:
        """With the p95 critical scale disabled, its alert still fires but plans nothing."""
        settings = _settings(policy={"p95_critical": {"enabled": False, "priority": 1,
                                                      "replicas": 5}})
        rule = next(rule for rule in _documents(settings)
                    if rule["alert"] == "LLMLatencyP95Critical")

        assert rule["labels"]["remediation"] == "none"
        assert "No remediation is configured" in rule["annotations"]["description"]


class TestTheRulesAndTheCliAgree:
    @pytest.mark.parametrize("threshold", rules.thresholds(Settings()), ids=lambda t: t.alert)
    def test_at_and_just_past_every_threshold(
        self, tmp_path: Path, threshold: rules.Threshold
    ) -> None:
        """
        A figure exactly at a threshold is quiet for `remediator watch` and for
        the rule alike; a millionth past it is bad for both. The rule sees the
        gauge the daemon exports for that figure, and promtool evaluates it.
        """
        settings = Settings()
        step = threshold.limit * 1e-6
        past = threshold.limit - step if threshold.below else threshold.limit + step
        cases = []
        for figure in (threshold.limit, past):
            cli_bad = level_of(threshold.metric, figure, settings.thresholds) >= threshold.level
            alerts = [{"labels": "{}", "value": 1}] if cli_bad else []
            cases.append({
                "interval": "1m",
                "input_series": _exported_series(threshold.metric, figure),
                "promql_expr_test": [{
                    "expr": f'count(ALERTS{{alertname="{threshold.alert}", '
                            'alertstate="firing"})',
                    "eval_time": "5m",
                    "exp_samples": alerts,
                }],
            })
        scenario = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": cases}
        (tmp_path / "test.yml").write_text(yaml.safe_dump(scenario), encoding="utf-8")

        tested = run("promtool", "test", "rules", "test.yml", cwd=tmp_path)

        assert [case["promql_expr_test"][0]["exp_samples"] != [] for case in cases] == [
            False, True,
        ]
        assert tested.returncode == 0, tested.stdout + tested.stderr


def _exported_series(metric: Metric, figure: float) -> list[dict[str, str]]:
    """promtool input series of what the daemon exports for a result with `figure`."""
    registry = CollectorRegistry()
    gauges = BenchGauges(registry, max_age_seconds=1e12)
    gauges.update(_result(**{FIELD[metric]: figure}))
    series = [{"series": f"{rules.LAST_RESULT}", "values": "0+0x10"}]
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if sample.name.startswith("llm_bench_") and sample.name != rules.LAST_RESULT:
                labels = ", ".join(f'{key}="{value}"' for key, value in sample.labels.items())
                series.append({"series": f"{sample.name}{{{labels}}}",
                               "values": f"{sample.value!r}+0x10"})
    return series


class TestContract:
    def test_the_daemon_maps_every_alert_routed_to_it(self) -> None:
        """The alerts the rules raise for the daemon are exactly the ones it maps."""
        known = {*mapping.BUILT_IN, mapping.METRICS_MISSING, mapping.RESULTS_STALE}
        everything = _settings(thresholds={"p99_ms": {"warning": 150}})

        assert {*rules.BENCH_ALERTS, *rules.OPTIONAL_BENCH_ALERTS} == known
        assert {rule.alert for rule in rules.bench_rules(everything)} == known
        assert {rule.alert for rule in rules.bench_rules(Settings())} == set(rules.BENCH_ALERTS)

    def test_one_missing_alert_asks_the_daemon_for_one_investigation(self) -> None:
        """LLMBenchMetricsMissing, however many gauges it counts, is one investigate action."""
        (rule,) = [rule for rule in rules.bench_rules(Settings()) if rule.alert == rules.MISSING]
        labels = {"alertname": rule.alert, **rule.labels, "job": "remediator"}

        mapped = mapping.map_alert(labels, Settings())

        assert mapping.METRIC_LABEL not in rule.labels
        assert isinstance(mapped, mapping.Mapped)
        assert mapped.action is not None
        assert mapped.action.type.value == rule.labels["remediation"] == "investigate"
        assert planner.plan([], Settings(), requested=[mapped.action]) == [mapped.action]

    def test_the_forecast_and_the_health_alerts_ask_the_daemon_for_nothing(self) -> None:
        """The early warning and the remediator's own health never become an action."""
        others = [rules.forecast_rule(Settings()), *rules.health_rules(Settings())]

        for rule in others:
            labels = {"alertname": rule.alert, **rule.labels}
            assert mapping.map_alert(labels, Settings()) is None, rule.alert
            assert rule.labels["remediation"] == "none", rule.alert


class TestP99Warning:
    """A configured `thresholds.p99_ms.warning` raises an alert, as the report shows it."""

    def test_it_fires_between_warning_and_critical_and_the_daemon_maps_it(
            self, tmp_path: Path) -> None:
        settings = _settings(thresholds={"p99_ms": {"warning": 150}})
        path = tmp_path / "rules.yml"
        path.write_text(rules.render(rules.rule_file(settings)), encoding="utf-8")
        firing = 'count(ALERTS{alertname="%s", alertstate="firing"})'
        cases = [{
            "interval": "1m",
            "input_series": _exported_series(Metric.P99, p99),
            "promql_expr_test": [
                {"expr": firing % rules.P99_WARNING, "eval_time": "5m",
                 "exp_samples": [{"labels": "{}", "value": 1}] if warned else []},
                {"expr": firing % rules.P99_CRITICAL, "eval_time": "5m", "exp_samples": []},
            ],
        } for p99, warned in ((170.0, True), (150.0, False))]
        scenario = {"rule_files": [str(path)], "evaluation_interval": "1m", "tests": cases}
        (tmp_path / "test.yml").write_text(yaml.safe_dump(scenario), encoding="utf-8")

        checked = run("promtool", "check", "rules", "--lint=all", "--lint-fatal", str(path))
        tested = run("promtool", "test", "rules", "test.yml", cwd=tmp_path)
        mapped = mapping.map_alert({"alertname": rules.P99_WARNING}, settings)

        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert isinstance(mapped, mapping.Mapped)
        assert mapped.condition == Condition(Metric.P99, Level.WARNING)
        assert (rules.P99_CRITICAL, rules.P99_WARNING) in rules.inhibitions(settings)

    def test_the_default_config_has_none(self) -> None:
        """No p99 warning by default: the committed rules stay as they are."""
        assert rules.P99_WARNING not in {rule.alert for rule in rules.bench_rules(Settings())}


class TestKeepFiringFor:
    def test_prometheus_2_42_keeps_a_clearing_alert_firing(self, tmp_path: Path) -> None:
        """With rules.keep_firing_for_seconds, a p95 that dips once does not resolve."""
        settings = _settings(rules={"keep_firing_for_seconds": 300})
        (tmp_path / "rules.yml").write_text(rules.render(rules.rule_file(settings)),
                                            encoding="utf-8")
        scenario = {
            "rule_files": ["rules.yml"],
            "evaluation_interval": "1m",
            "tests": [{
                "interval": "1m",
                "input_series": [
                    # Critical, then good results from 10m: still firing at 12m, with
                    # the last value it fired on.
                    {"series": 'llm_bench_latency_seconds{percentile="95"}',
                     "values": "0.2x9 0.05x2 0.2x10"},
                    {"series": "llm_bench_last_result_timestamp_seconds", "values": "0x21"},
                ],
                "alert_rule_test": [
                    {"eval_time": "12m", "alertname": "LLMLatencyP95Critical",
                     "exp_alerts": [{
                         "exp_labels": {"severity": "critical", "remediation": "scale",
                                        "target": "default/deployment/llm-gateway",
                                        "percentile": "95"},
                         "exp_annotations": _annotations_at(settings, "200ms"),
                     }]},
                ],
            }],
        }
        (tmp_path / "test.yml").write_text(yaml.safe_dump(scenario), encoding="utf-8")

        tested = run("promtool", "test", "rules", "test.yml", cwd=tmp_path)

        assert "keep_firing_for: 5m" in (tmp_path / "rules.yml").read_text(encoding="utf-8")
        assert tested.returncode == 0, tested.stdout + tested.stderr

    def test_it_is_off_by_default(self) -> None:
        """By default an alert resolves with its condition: recoveries are not stretched."""
        assert "keep_firing_for" not in RULES.read_text(encoding="utf-8")


class TestCommand:
    def test_it_prints_the_committed_rules(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`remediator rules` prints the rule file to stdout."""
        code = main(["rules"])

        assert code == 0
        assert capsys.readouterr().out == RULES.read_text(encoding="utf-8")

    def test_it_writes_a_file_from_a_config(self, tmp_path: Path) -> None:
        """--config and --output: the file holds the rules of that config."""
        config = tmp_path / "remediator.yaml"
        config.write_text("thresholds:\n  p99_ms: {critical: 350}\n", encoding="utf-8")
        output = tmp_path / "rules.yml"

        code = main(["rules", "--config", str(config), "--output", str(output)])

        assert code == 0
        assert "> 0.35\n" in output.read_text(encoding="utf-8")
        assert output.stat().st_mode & 0o777 == 0o644

    def test_a_bad_config_is_one_line_naming_the_key(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A threshold of the wrong type stops with exit 2 and the key, no traceback."""
        config = tmp_path / "remediator.yaml"
        config.write_text("thresholds:\n  p95_ms: {critical: fast}\n", encoding="utf-8")

        code = main(["rules", "--config", str(config)])

        error = capsys.readouterr().err
        assert code == 2
        assert "thresholds.p95_ms.critical" in error
        assert len(error.strip().splitlines()) == 1

    def test_a_bad_namespace_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--namespace must be a Kubernetes namespace: it lands in a manifest."""
        code = main(["rules", "--kind", "prometheusrule", "--namespace", "Shop; rm -rf /"])

        assert code == 2
        assert "--namespace" in capsys.readouterr().err

    def test_the_prometheusrule_holds_the_same_rules(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The PrometheusRule's spec is the rule file, labelled for kube-prometheus-stack."""
        main(["rules", "--kind", "prometheusrule", "--namespace", "llm"])
        resource = yaml.safe_load(capsys.readouterr().out)

        assert resource["kind"] == "PrometheusRule"
        assert resource["metadata"]["namespace"] == "llm"
        assert resource["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert resource["spec"] == yaml.safe_load(RULES.read_text(encoding="utf-8"))


def _annotations_at(settings: Settings, value: str) -> dict[str, str]:
    """The critical p95 alert's annotations as Prometheus renders them for `value`."""
    rule = next(rule for rule in rules.bench_rules(settings)
                if rule.alert == "LLMLatencyP95Critical")
    shown = "{{ $value | humanizeDuration }}"
    return {key: text.replace(shown, value) for key, text in rule.annotations.items()}


def _result(**figures: float) -> BenchResult:
    return BenchResult(source="test", format="native", time=datetime.now(UTC), **figures)


def _exported_names() -> set[str]:
    """Every sample name the daemon can expose: its gauges and its self-metrics."""
    registry = CollectorRegistry()
    metrics.SelfMetrics(registry)
    gauges = BenchGauges(registry, max_age_seconds=1e12)
    gauges.update(_result(p50_ms=1, p95_ms=2, p99_ms=3, error_rate=0.1,
                          throughput_rps=4, success_rate=0.9))

    names = set()
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            if kind == "histogram":
                names |= {name + suffix for suffix in ("_bucket", "_count", "_sum")}
            elif kind == "counter":
                names.add(name if name.endswith("_total") else f"{name}_total")
            else:
                names.add(name)
    return names
