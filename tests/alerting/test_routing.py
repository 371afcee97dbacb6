"""The Alertmanager route to the remediator, checked by the real amtool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from remediator.alerting import routing, rules
from remediator.cli import main
from remediator.config import loading
from remediator.config.settings import Settings
from tests.alerting.tools import REPO, run

CONFIG = REPO / "alertmanager" / "alertmanager.yml"
RESOURCE = REPO / "alertmanager" / "alertmanagerconfig.yaml"


def _receiver(config: Path, *labels: str) -> str:
    routed = run("amtool", "config", "routes", "test", f"--config.file={config}", *labels)
    assert routed.returncode == 0, routed.stdout + routed.stderr
    return routed.stdout.strip()


def _settings(**raw: Any) -> Settings:
    return loading.validate(raw, source="test")


class TestAlertmanagerYml:
    def test_the_committed_file_is_what_the_default_config_generates(self) -> None:
        """alertmanager/alertmanager.yml is the generator's output for the defaults."""
        assert routing.alertmanager_config(Settings()) == CONFIG.read_text(encoding="utf-8")

    def test_amtool_accepts_it(self) -> None:
        """`amtool check-config` passes: a route, four inhibitions, two receivers."""
        checked = run("amtool", "check-config", str(CONFIG))

        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "4 inhibit rules" in checked.stdout
        assert "2 receivers" in checked.stdout

    @pytest.mark.parametrize("alert", rules.BENCH_ALERTS)
    def test_the_alerts_the_daemon_maps_reach_it(self, alert: str) -> None:
        """Every alert the remediator acts on is routed to its webhook."""
        assert _receiver(CONFIG, f"alertname={alert}", "namespace=llm") == "remediator"

    @pytest.mark.parametrize(
        "alert", [rules.FORECAST, rules.REMEDIATOR_DOWN, rules.BREAKER_OPEN, "Watchdog"]
    )
    def test_other_alerts_go_to_people(self, alert: str) -> None:
        """The forecast, the remediator's own health and unrelated alerts never reach it."""
        assert _receiver(CONFIG, f"alertname={alert}") == "operators"

    def test_a_name_that_merely_contains_ours_is_not_routed(self) -> None:
        """The alert-name matcher is anchored: a longer name is someone else's alert."""
        assert _receiver(CONFIG, "alertname=LLMLatencyP95CriticalTest") == "operators"

    def test_each_timing_of_the_route_is_explained_in_a_comment(self) -> None:
        """group_by and the three intervals each follow a comment; cooldowns are discussed."""
        lines = CONFIG.read_text(encoding="utf-8").splitlines()
        route = lines[lines.index("    - receiver: remediator"):lines.index("inhibit_rules:")]

        for key in ("group_by", "group_wait", "group_interval", "repeat_interval"):
            (at,) = [i for i, line in enumerate(route) if line.startswith(f"      {key}: ")]
            assert route[at - 1].lstrip().startswith("# "), key
        comments = " ".join(line.strip("# ") for line in route if line.lstrip().startswith("#"))
        assert "Cooldowns" in comments and "escalations" in comments
        assert "alerts.repeat_interval_seconds" in comments

    def test_the_webhook_is_authenticated_and_gets_resolves(self) -> None:
        """Bearer token from a file, send_resolved on, max_alerts bounded."""
        config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
        receiver = next(r for r in config["receivers"] if r["name"] == "remediator")
        webhook = receiver["webhook_configs"][0]

        assert webhook["url"].endswith("/webhook/alertmanager")
        assert webhook["send_resolved"] is True
        assert 0 < webhook["max_alerts"] <= 1000
        assert webhook["http_config"]["authorization"]["type"] == "Bearer"
        assert webhook["http_config"]["authorization"]["credentials_file"]

    def test_repeat_interval_is_the_one_the_daemon_expires_alerts_by(self) -> None:
        """repeat_interval follows alerts.repeat_interval_seconds, from which expiry derives."""
        settings = _settings(alerts={"repeat_interval_seconds": 5400})
        config = yaml.safe_load(routing.alertmanager_config(settings))

        assert config["route"]["routes"][0]["repeat_interval"] == "1h30m"
        assert "4h30m" in routing.alertmanager_config(settings)

    def test_a_critical_alert_silences_its_warning_twin(self) -> None:
        """One inhibition per metric ladder, worse silencing milder, within a namespace."""
        config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
        pairs = [
            (rule["source_matchers"], rule["target_matchers"], rule["equal"])
            for rule in config["inhibit_rules"]
        ]

        assert pairs == [
            (['alertname="LLMLatencyP95Critical"'], ['alertname="LLMLatencyP95Warning"'],
             ["namespace"]),
            (['alertname="LLMLatencyP95Emergency"'], ['alertname="LLMLatencyP95Critical"'],
             ["namespace"]),
            (['alertname="LLMErrorRateCritical"'], ['alertname="LLMErrorRateWarning"'],
             ["namespace"]),
            (['alertname="LLMThroughputLowCritical"'], ['alertname="LLMThroughputLowWarning"'],
             ["namespace"]),
        ]

    def test_a_configured_p99_warning_reaches_the_remediator(self, tmp_path: Path) -> None:
        """The optional alert is routed to us once its threshold exists, never before."""
        config = tmp_path / "alertmanager.yml"
        config.write_text(routing.alertmanager_config(Settings()), encoding="utf-8")
        assert _receiver(config, "alertname=LLMLatencyP99Warning") == "operators"

        settings = _settings(thresholds={"p99_ms": {"warning": 150, "critical": 200}})
        config.write_text(routing.alertmanager_config(settings), encoding="utf-8")

        assert _receiver(config, "alertname=LLMLatencyP99Warning") == "remediator"

    def test_custom_alerts_are_routed_whatever_their_names(self, tmp_path: Path) -> None:
        """Configured custom alerts reach the remediator, special characters and all."""
        settings = _settings(alerts={"custom": [
            {"alertname": "KubePodCrashLooping", "action": "restart"},
            {"alertname": 'odd.name-with "quotes" + \\slash', "action": "rollback"},
        ]})
        config = tmp_path / "alertmanager.yml"
        config.write_text(routing.alertmanager_config(settings), encoding="utf-8")

        checked = run("amtool", "check-config", str(config))

        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert _receiver(config, "alertname=KubePodCrashLooping") == "remediator"
        odd = 'odd.name-with \\"quotes\\" + \\\\slash'
        assert _receiver(config, f'alertname="{odd}"') == "remediator"
        assert _receiver(config, f'alertname="{odd.replace(".", "X")}"') == "operators"

    def test_the_command_prints_it_with_the_url_and_token_file_given(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--webhook-url and --credentials-file land in the receiver."""
        code = main(["rules", "--kind", "alertmanager-config",
                     "--webhook-url", "http://10.0.0.7:8080/webhook/alertmanager",
                     "--credentials-file", "/run/secrets/token"])
        config = yaml.safe_load(capsys.readouterr().out)
        webhook = config["receivers"][1]["webhook_configs"][0]

        assert code == 0
        assert webhook["url"] == "http://10.0.0.7:8080/webhook/alertmanager"
        assert webhook["http_config"]["authorization"]["credentials_file"] == "/run/secrets/token"


class TestAlertmanagerConfigResource:
    def test_the_committed_resource_is_what_the_default_config_generates(self) -> None:
        """alertmanager/alertmanagerconfig.yaml is the generator's output for the defaults."""
        expected = rules.render(routing.alertmanager_config_resource(Settings()))

        assert expected == RESOURCE.read_text(encoding="utf-8")

    def test_it_routes_like_the_plain_config(self) -> None:
        """Same alerts, grouping, timings and inhibitions as alertmanager.yml."""
        plain = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
        route = plain["route"]["routes"][0]
        resource = yaml.safe_load(RESOURCE.read_text(encoding="utf-8"))["spec"]

        assert resource["route"]["matchers"] == [{
            "name": "alertname", "matchType": "=~", "value": routing.alertname_regex(Settings()),
        }]
        assert resource["route"]["groupBy"] == route["group_by"]
        assert resource["route"]["groupWait"] == route["group_wait"]
        assert resource["route"]["groupInterval"] == route["group_interval"]
        assert resource["route"]["repeatInterval"] == route["repeat_interval"]
        assert [(r["sourceMatch"][0]["value"], r["targetMatch"][0]["value"])
                for r in resource["inhibitRules"]] == rules.inhibitions(Settings())

    def test_it_reads_the_token_from_the_remediators_secret(self) -> None:
        """The bearer token comes from the Secret the remediator mounts (k8s/)."""
        resource = yaml.safe_load(RESOURCE.read_text(encoding="utf-8"))
        webhook = resource["spec"]["receivers"][0]["webhookConfigs"][0]

        assert webhook["url"] == "http://remediator.default.svc:8080/webhook/alertmanager"
        assert webhook["sendResolved"] is True
        assert webhook["httpConfig"]["authorization"]["credentials"] == {
            "name": "remediator-webhook", "key": "token",
        }

    def test_namespace_service_and_secret_can_be_chosen(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The flags move the resource, the URL and the Secret together."""
        main(["rules", "--kind", "alertmanagerconfig", "--namespace", "llm",
              "--service", "remediator-api", "--port", "9000", "--secret", "am-token"])
        resource = yaml.safe_load(capsys.readouterr().out)
        webhook = resource["spec"]["receivers"][0]["webhookConfigs"][0]

        assert resource["metadata"]["namespace"] == "llm"
        assert webhook["url"] == "http://remediator-api.llm.svc:9000/webhook/alertmanager"
        assert webhook["httpConfig"]["authorization"]["credentials"]["name"] == "am-token"

    @pytest.mark.parametrize(
        ("flags", "named"),
        [
            (["--namespace", "Bad_Namespace"], "--namespace"),
            (["--service", "svc;reboot"], "--service"),
            (["--port", "70000"], "--port"),
        ],
    )
    def test_bad_flags_are_refused_by_name(
        self, capsys: pytest.CaptureFixture[str], flags: list[str], named: str
    ) -> None:
        """A name that would land in a manifest must be valid; the error names the flag."""
        code = main(["rules", "--kind", "alertmanagerconfig", *flags])

        assert code == 2
        assert named in capsys.readouterr().err
