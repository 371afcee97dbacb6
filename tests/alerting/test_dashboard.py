"""The Grafana dashboard, validated offline against Grafana's own schema."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from remediator.alerting import dashboard, rules
from remediator.cli import main
from remediator.config import loading
from remediator.config.settings import Settings
from tests.alerting.test_rules import _exported_names
from tests.alerting.tools import REPO

COMMITTED = REPO / "grafana" / "dashboard.json"
SCHEMAS = REPO / "grafana" / "schema"
# Panel types as Grafana names them, and as the schema files do.
PANEL_SCHEMAS = {"timeseries": "timeseries", "stat": "stat", "state-timeline": "statetimeline"}


@cache
def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return loaded


def problems(document: dict[str, Any]) -> list[str]:
    """Every schema violation of a dashboard: its own schema, then each panel's."""
    validator = jsonschema.Draft7Validator(_schema("dashboard.schema.json"))
    found = [
        f"{leaf.json_path}: {leaf.message}"
        for error in validator.iter_errors(document) for leaf in _leaves(error)
    ]
    for index, panel in enumerate(document.get("panels", [])):
        kind = PANEL_SCHEMAS.get(panel.get("type"))
        if panel.get("type") != "row" and kind is None:
            found.append(f"$.panels[{index}]: no schema for panel type {panel.get('type')!r}")
            continue
        parts = {
            "Options": panel.get("options", {}),
            "FieldConfig": panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {}),
        }
        for part, instance in parts.items():
            path = SCHEMAS / f"{kind}.{part}.schema.json"
            if kind is None or not path.exists():
                continue
            validator = jsonschema.Draft7Validator(_schema(path.name))
            found += [
                f"$.panels[{index}].{part}{error.json_path[1:]}: {error.message}"
                for error in validator.iter_errors(instance)
            ]
    return found


def _leaves(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    # A panel is "a Panel or a RowPanel": the reasons are inside the anyOf.
    if not error.context:
        return [error]
    return [leaf for inner in error.context for leaf in _leaves(inner)]


def _panel(document: dict[str, Any], title: str) -> dict[str, Any]:
    return next(panel for panel in document["panels"] if panel["title"] == title)


def _steps(panel: dict[str, Any]) -> list[tuple[float | None, str]]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(step["value"], step["color"]) for step in steps]


class TestCommittedDashboard:
    def test_the_committed_json_is_what_the_default_config_generates(self) -> None:
        """grafana/dashboard.json is `remediator rules --kind dashboard`, byte for byte."""
        generated = json.dumps(dashboard.dashboard(Settings()), indent=2, sort_keys=True) + "\n"

        assert generated == COMMITTED.read_text(encoding="utf-8")

    def test_it_is_valid_for_grafanas_schema(self) -> None:
        """The dashboard and each panel's options validate against Grafana 11.6's types."""
        assert problems(json.loads(COMMITTED.read_text(encoding="utf-8"))) == []

    @pytest.mark.parametrize(
        ("path", "value", "complaint"),
        [
            (("panels", 1, "gridPos", "h"), "nine", "'nine' is not of type 'number'"),
            (("panels", 1, "options", "legend", "displayMode"), "sideways", "'sideways'"),
            (("panels", 1, "fieldConfig", "defaults", "custom", "lineWidht"), 2,
             "Additional properties are not allowed"),
            (("schemaVersion",), "41", "'41' is not of type 'number'"),
        ],
    )
    def test_the_validation_catches_a_broken_dashboard(
        self, path: tuple[Any, ...], value: Any, complaint: str
    ) -> None:
        """A corrupted copy fails, so the check above has teeth."""
        broken = copy.deepcopy(json.loads(COMMITTED.read_text(encoding="utf-8")))
        node = broken
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

        assert any(complaint in problem for problem in problems(broken))


class TestContent:
    def test_the_five_gauges_are_drawn_with_the_rules_thresholds(self) -> None:
        """Threshold lines sit where the alerts fire, in the gauges' base units."""
        document = dashboard.dashboard(Settings())

        assert _steps(_panel(document, "p95 latency")) == [
            (None, "green"), (0.1, "yellow"), (0.15, "orange"), (0.3, "red"),
        ]
        assert _steps(_panel(document, "p99 latency")) == [(None, "green"), (0.2, "orange")]
        assert _steps(_panel(document, "Error ratio")) == [
            (None, "green"), (0.01, "yellow"), (0.05, "orange"),
        ]
        assert _steps(_panel(document, "Throughput")) == [
            (None, "orange"), (10, "yellow"), (15, "green"),
        ]
        assert _steps(_panel(document, "Success ratio")) == [
            (None, "orange"), (0.95, "yellow"), (0.99, "green"),
        ]
        assert _steps(_panel(document, "Age of the latest result")) == [
            (None, "green"), (7200, "red"),
        ]

    def test_a_changed_threshold_moves_its_line(self) -> None:
        """The dashboard follows the config, as the rules do."""
        settings = loading.validate(
            {"thresholds": {"p95_ms": {"warning": None, "critical": 250}}}, source="test"
        )
        document = dashboard.dashboard(settings)

        assert _steps(_panel(document, "p95 latency")) == [
            (None, "green"), (0.25, "orange"), (0.5, "red"),
        ]
        assert problems(document) == []

    def test_remediation_is_shown_by_type_outcome_reason_breaker_and_recovery(self) -> None:
        """The remediation row covers decisions, skips, breakers and time to recovery."""
        exprs = {
            panel["title"]: " ".join(target["expr"] for target in panel.get("targets", []))
            for panel in dashboard.dashboard(Settings())["panels"]
        }

        assert "by (type, outcome)" in exprs["Decisions by type and outcome"]
        assert "remediator_skips_total" in exprs["Skips by reason"]
        assert "remediator_breaker_open" in exprs["Breaker per target"]
        assert "remediator_recovery_seconds_bucket" in exprs["Time to recovery"]

    def test_actions_appear_as_annotations(self) -> None:
        """Each executed or dry-run action becomes an annotation tagged with its type."""
        annotation = dashboard.dashboard(Settings())["annotations"]["list"][0]

        assert "remediator_actions_total" in annotation["expr"]
        assert annotation["titleFormat"] == "{{type}}: {{outcome}}"
        assert annotation["tagKeys"] == "type,outcome"

    def test_every_metric_it_queries_is_exported(self) -> None:
        """No panel watches a metric name the daemon does not produce."""
        document = dashboard.dashboard(Settings())
        exprs = [target["expr"] for panel in document["panels"]
                 for target in panel.get("targets", [])]
        exprs += [annotation["expr"] for annotation in document["annotations"]["list"]]
        used = {name for expr in exprs
                for name in re.findall(r"\b(?:llm_bench|remediator)_\w+", expr)}

        assert used - _exported_names() == set()


class TestConfigMap:
    def test_the_sidecar_configmap_carries_the_dashboard(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The ConfigMap has the grafana_dashboard label and the committed JSON."""
        code = main(["rules", "--kind", "dashboard-configmap", "--namespace", "monitoring"])
        config_map = yaml.safe_load(capsys.readouterr().out)

        assert code == 0
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["namespace"] == "monitoring"
        (text,) = config_map["data"].values()
        assert text == COMMITTED.read_text(encoding="utf-8")

    def test_the_configmap_is_a_valid_kubernetes_object(self) -> None:
        """kubernetes-validate (offline, strict) accepts it."""
        config_map = dashboard.config_map(Settings(), namespace="monitoring")

        kubernetes_validate.validate(config_map, "1.32", strict=True)

    def test_the_dashboard_json_fits_in_a_configmap(self) -> None:
        """Well under the 1 MiB limit of a ConfigMap (and of kubectl apply's annotation)."""
        assert len(COMMITTED.read_bytes()) < 256 * 1024

    def test_the_dashboard_names_the_gauges_the_rules_use(self) -> None:
        """The panels use the rules' selectors, so both read the same series."""
        exprs = json.dumps(dashboard.dashboard(Settings()))

        for selector in rules.SELECTOR.values():
            assert json.dumps(selector)[1:-1] in exprs
