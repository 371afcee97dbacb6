"""Loading and validating the configuration file and environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from remediator.config import loading
from remediator.config.settings import Settings
from remediator.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "remediator.yaml"
    path.write_text(text)
    return path


def test_no_file_gives_the_documented_defaults() -> None:
    """Without a file the thresholds and targets equal the README's table."""
    settings = loading.load_settings(None, environ={})

    assert 100.0 == settings.thresholds.p95_ms.warning
    assert 150.0 == settings.thresholds.p95_ms.critical
    assert 300.0 == settings.thresholds.p95_ms.emergency
    assert 200.0 == settings.thresholds.p99_ms.critical
    assert (0.01, 0.05) == (settings.thresholds.error_rate.warning,
                            settings.thresholds.error_rate.critical)
    assert (15.0, 10.0) == (settings.thresholds.throughput_rps.warning,
                            settings.thresholds.throughput_rps.critical)
    assert "default" == settings.targets.namespace
    assert "llm-gateway" == settings.targets.gateway.deployment
    assert "llm-backend" == settings.targets.backend.deployment
    assert ("llm-config", "MAX_TOKENS") == (settings.targets.config.configmap,
                                            settings.targets.config.key)
    assert 10 == settings.targets.gateway.max_replicas
    assert settings.execution.auto_execute is False
    assert 1 == settings.execution.min_priority


def test_example_config_equals_the_defaults(repo_root: Path) -> None:
    """The shipped example file documents the defaults, so loading it changes nothing."""
    settings = loading.load_settings(repo_root / "remediator.example.yaml", environ={})

    assert Settings() == settings


def test_example_config_shows_every_setting(repo_root: Path) -> None:
    """A newcomer finds every key in the example file, not only in the code."""
    shown = yaml.safe_load((repo_root / "remediator.example.yaml").read_text())

    def keys(tree: object, prefix: str = "") -> set[str]:
        if not isinstance(tree, dict):
            return set()
        found = set()
        for key, value in tree.items():
            found.add(prefix + key)
            found |= keys(value, f"{prefix}{key}.")
        return found

    every = keys(Settings().model_dump(mode="json"))
    # Policy rows may leave `enabled` out; the file says so once.
    optional = {key for key in every if key.startswith("policy.") and key.endswith(".enabled")}
    assert sorted(every - optional - keys(shown)) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thresholds:\n  p95_ms: {warning: 200}\n",
         "thresholds.p95_ms: warning (200) must not be above critical (150)"),
        ("thresholds:\n  throughput_rps: {warning: 5}\n",
         "thresholds.throughput_rps: warning (5) must not be below critical (10)"),
        ("thresholds:\n  p99_ms: {critical: -3}\n",
         "thresholds.p99_ms.critical: Input should be greater than or equal to 0, got -3"),
        ("thresholds:\n  p95_ms: {critical: '150'}\n",
         "thresholds.p95_ms.critical: Input should be a valid number, got '150'"),
        ("thresholds:\n  error_rate: {critical: 5}\n",
         "thresholds.error_rate.critical: Input should be less than or equal to 1, got 5"),
        ("treshold: {}\n", "treshold: unknown key"),
        ("targets:\n  gateway: {deployment: 'gw; rm -rf /'}\n",
         "targets.gateway.deployment: 'gw; rm -rf /' is not a valid Kubernetes name"),
        ("targets:\n  namespace: Prod\n", "targets.namespace: 'Prod' is not a valid"),
        ("targets:\n  config: {key: 'a/b'}\n", "targets.config.key: 'a/b' is not a valid"),
        ("execution:\n  auto_execute: 'yes please'\n",
         "execution.auto_execute: Input should be a valid boolean"),
        ("- just\n- a list\n", "must be a mapping of settings, got a list"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("thresholds: [\n", "invalid YAML: line 2"),
        ("notify: {webhook_url: 'hooks.example.com/x'}\n",
         "notify.webhook_url: 'hooks.example.com/x' must be an http:// or https:// URL"),
        ("results: {format: k7}\n", "results.format: Input should be 'native'"),
    ],
)
def test_bad_values_end_as_one_line_naming_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Each bad value is reported with the file and the dotted key, on one line."""
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        loading.load_settings(path, environ={})

    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    """A config path that does not exist is an error, not a silent default."""
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file"):
        loading.load_settings(tmp_path / "nope.yaml", environ={})


def test_environment_switches_execution_on_and_flags_win(tmp_path: Path) -> None:
    """AUTO_EXECUTE and DRY_RUN are read from the environment; explicit flags override."""
    settings = loading.load_settings(
        None, environ={"AUTO_EXECUTE": "true", "DRY_RUN": "0", "RESULTS_PATH": "x.json"}
    )
    assert settings.executing()
    assert "x.json" == settings.results.path

    flagged = loading.load_settings(
        None, environ={"AUTO_EXECUTE": "true"}, overrides={"execution.dry_run": True}
    )
    assert not flagged.executing()


def test_bad_environment_boolean_names_the_variable() -> None:
    """A value that is neither true nor false is refused, naming the variable."""
    with pytest.raises(ConfigError, match=r"environment: AUTO_EXECUTE: 'maybe' is not true"):
        loading.load_settings(None, environ={"AUTO_EXECUTE": "maybe"})


def test_every_default_of_the_issue_tables() -> None:
    """The policy table, the guard's brakes and the daemon's limits as the issues give them."""
    settings = loading.load_settings(None, environ={})
    policy = settings.policy

    assert [(rule.priority, rule.target, rule.replicas) for rule in (
        policy.p95_warning, policy.p95_critical, policy.p95_emergency,
        policy.throughput_warning, policy.throughput_critical, policy.p99_critical,
        policy.combined,
    )] == [(2, "gateway", 4), (1, "gateway", 5), (1, "gateway", 10), (2, "gateway", 4),
           (1, "gateway", 5), (1, "backend", 5), (1, "gateway", 6)]
    patch = policy.error_rate_warning
    assert (patch.priority, patch.max_tokens, patch.restart) == (2, 50, ("gateway", "backend"))
    rollback = policy.error_rate_critical
    assert (rollback.priority, rollback.targets) == (1, ("gateway", "backend"))
    assert 3 == policy.unknown.priority
    assert 10 == settings.targets.backend.max_replicas

    guard = settings.guard
    assert (guard.cooldowns.scale, guard.cooldowns.patch_config, guard.cooldowns.rollback) == (
        600, 900, 1800)
    assert (guard.rate_limit.actions, guard.rate_limit.per_seconds) == (6, 3600)
    assert (guard.breaker.max_actions, guard.breaker.window_seconds) == (3, 3600)
    assert 10 * 1024 * 1024 == settings.server.body_limit_bytes
    assert 3 * 3600 == settings.alerts.expiry
    assert "127.0.0.1:8080" == settings.server.listen
    assert ".remediator-state" == settings.state.dir
    assert "bench/bench_results.json" == settings.results.path
    assert not settings.executing()


def test_dry_run_from_the_environment_keeps_execution_off() -> None:
    """AUTO_EXECUTE=true with DRY_RUN=true still only shows."""
    settings = loading.load_settings(None, environ={"AUTO_EXECUTE": "yes", "DRY_RUN": "true"})

    assert settings.execution.auto_execute and settings.execution.dry_run
    assert not settings.executing()


def test_bad_environment_value_names_the_variable_not_a_file(tmp_path: Path) -> None:
    """A value a variable set is blamed on the variable, even when a file is loaded too."""
    path = write(tmp_path, "execution: {min_priority: 2}\n")

    with pytest.raises(ConfigError) as caught:
        loading.load_settings(path, environ={"REMEDIATOR_MIN_PRIORITY": "7"})

    assert str(caught.value) == (
        "environment REMEDIATOR_MIN_PRIORITY: execution.min_priority: Input should be less"
        " than or equal to 3, got 7")


def test_bad_flag_value_names_the_command_line_flag() -> None:
    """A bad --listen is reported as the flag the user typed, with what is wrong with it."""
    with pytest.raises(ConfigError) as caught:
        loading.load_settings(None, environ={}, overrides={"server.listen": "127.0.0.1:99999"})
    with pytest.raises(ConfigError) as unsplit:
        loading.load_settings(None, environ={}, overrides={"server.listen": "localhost"})
    with pytest.raises(ConfigError) as format_:
        loading.load_settings(None, environ={}, overrides={"results.format": "NATIVE"})

    assert str(caught.value) == (
        "command line: --listen: '127.0.0.1:99999': the port must be 1-65535, got 99999")
    assert str(unsplit.value) == "command line: --listen: 'localhost' must be HOST:PORT"
    assert str(format_.value).startswith("command line: --format: Input should be 'native'")


def test_an_empty_results_path_is_unset_or_named() -> None:
    """RESULTS_PATH= means the default; an empty --results is refused naming the flag."""
    settings = loading.load_settings(None, environ={"RESULTS_PATH": ""})
    with pytest.raises(ConfigError) as caught:
        loading.load_settings(None, environ={}, overrides={"results.path": ""})

    assert "bench/bench_results.json" == settings.results.path
    assert str(caught.value) == (
        "command line: --results: must name a results file, got an empty path")


def test_results_format_is_checked_when_loading(tmp_path: Path) -> None:
    """A format no reader has stops the load, instead of failing every later read."""
    from typing import get_args

    from remediator.bench.detection import FORMATS
    from remediator.config.settings import ResultFormat

    path = write(tmp_path, "results: {format: bogus}\n")

    with pytest.raises(ConfigError, match=r"results\.format: Input should be 'native', "):
        loading.load_settings(path, environ={})
    assert FORMATS == get_args(ResultFormat)


def test_a_pipe_or_device_is_not_read_as_a_config(tmp_path: Path) -> None:
    """A FIFO would block the start and /dev/zero never end: both are refused at once."""
    import os

    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)

    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(ConfigError, match="is not a regular file"):
            loading.load_settings(path, environ={})


@pytest.mark.parametrize("value", ["", "  ", "\n"])
def test_a_set_but_empty_webhook_token_names_the_variable(value: str) -> None:
    """An empty REMEDIATOR_WEBHOOK_TOKEN is a mistake, like an empty token file, not "no auth"."""
    with pytest.raises(ConfigError, match="REMEDIATOR_WEBHOOK_TOKEN: is set but empty"):
        loading.load_settings(None, environ={"REMEDIATOR_WEBHOOK_TOKEN": value})

    assert "tok" == loading.webhook_token({"REMEDIATOR_WEBHOOK_TOKEN": " tok\n"})
    assert loading.webhook_token({}) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("alerts: {repeat_interval_seconds: 3600, expiry_seconds: 1800}\n",
     "alerts.expiry_seconds: 1800 must be longer than alerts.repeat_interval_seconds (3600)"),
    ("alerts: {repeat_interval_seconds: 600, expiry_seconds: 600}\n",
     "alerts.expiry_seconds: 600 must be longer"),
    ("alerts: {custom: [{alertname: A, action: rollback, deployment: web, namespace: prod}]}\n",
     "alerts.custom.0.namespace: 'prod' is outside targets.namespace (default)"),
    ("targets: {allowed_namespaces: [a, b]}\n"
     "alerts: {custom: [{alertname: A, action: restart, namespace: a},"
     " {alertname: B, action: restart, namespace: default}]}\n",
     "alerts.custom.1.namespace: 'default' is outside targets.allowed_namespaces (a, b)"),
    ("alerts: {custom: [{alertname: A, action: rollback, replicas: 4}]}\n",
     "alerts.custom.0.replicas: 4 is given, but alert 'A' asks for a rollback, not a scale"),
])
def test_contradictory_settings_are_refused_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Each setting is valid alone, but together they could only fail at run time."""
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        loading.load_settings(path, environ={})

    assert str(caught.value).startswith(f"{path}: {expected}"), str(caught.value)
    assert "\n" not in str(caught.value)


def test_settings_that_agree_with_the_runtime_still_load(tmp_path: Path) -> None:
    """What the mapping accepts loads: allowed namespaces, label-led alerts."""
    path = write(tmp_path, (
        "targets: {allowed_namespaces: [default, prod]}\n"
        "alerts:\n  repeat_interval_seconds: 600\n  expiry_seconds: 601\n"
        "  custom:\n"
        "    - {alertname: A, action: scale, replicas: 4, namespace: prod}\n"
        "    - {alertname: B, replicas: 3}\n"
        "    - {alertname: C, action: rollback}\n"
    ))

    settings = loading.load_settings(path, environ={})

    assert 601 == settings.alerts.expiry
    assert ["A", "B", "C"] == [custom.alertname for custom in settings.alerts.custom]
