"""
Load settings from a YAML file and the environment.

A bad value stops the program with one line that names the file, the key
and the value; nothing falls back silently to a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
import yaml

from remediator.config.settings import Settings
from remediator.errors import ConfigError

# Environment variables the original watcher documented, plus a few of ours.
# Each maps to a dotted settings key; booleans accept true/false/1/0/yes/no.
ENVIRONMENT: dict[str, str] = {
    "AUTO_EXECUTE": "execution.auto_execute",
    "DRY_RUN": "execution.dry_run",
    "RESULTS_PATH": "results.path",
    "REMEDIATOR_LISTEN": "server.listen",
    "REMEDIATOR_STATE_DIR": "state.dir",
    "REMEDIATOR_STATE_BACKEND": "state.backend",
    "REMEDIATOR_EXECUTOR": "execution.executor",
    "REMEDIATOR_MIN_PRIORITY": "execution.min_priority",
    # Set from the pod's own namespace in k8s/, where the Role grants access.
    "REMEDIATOR_TARGET_NAMESPACE": "targets.namespace",
}

TOKEN_VARIABLE = "REMEDIATOR_WEBHOOK_TOKEN"  # noqa: S105 - a variable name, not a secret
"""The webhook and API token, for `serve` and the control commands."""

# The flags of `watch` and `serve` that set a settings key, to name them in errors.
FLAGS: dict[str, str] = {
    "results.path": "--results",
    "results.format": "--format",
    "execution.auto_execute": "--auto-execute",
    "execution.dry_run": "--dry-run",
    "state.dir": "--state-dir",
    "server.listen": "--listen",
    "server.allow_insecure": "--allow-insecure",
    "kubernetes.kubeconfig": "--kubeconfig",
    "kubernetes.context": "--context",
}

_EMPTY_IS_UNSET = {"RESULTS_PATH"}

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys instead of keeping the last."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {line})", key_node.start_mark
            )
        seen[key] = loader.construct_object(value_node, deep=True)
    return seen


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def load_settings(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """
    Build the settings: defaults, then the file, then the environment, then flags.

    `overrides` holds dotted keys from command-line flags, which win over
    everything else.
    """
    source = str(path) if path is not None else "<defaults>"
    raw = _read_yaml(Path(path)) if path is not None else {}

    # Remember where each override came from, so an error names the variable or
    # the flag the bad value was given by, not a file that never held it.
    origins: dict[str, str] = {}
    env = os.environ if environ is None else environ
    webhook_token(env)
    for variable, dotted in ENVIRONMENT.items():
        # `RESULTS_PATH=` in a unit file or CronJob means "not set", not the cwd.
        if variable in _EMPTY_IS_UNSET and not env.get(variable, "").strip():
            continue
        if variable in env:
            _set_dotted(raw, dotted, _env_value(variable, dotted, env[variable]))
            origins[dotted] = f"environment {variable}"
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, dotted, value)
            origins[dotted] = "command line"

    try:
        return validate(raw, source=source)
    except ConfigError as error:
        origin = _origin(error.field, origins)
        if origin is None:
            raise
        # On the command line the user typed a flag, not a settings key.
        field = FLAGS.get(error.field or "", error.field) if origin == "command line" \
            else error.field
        raise ConfigError(origin, field, error.message) from None


def webhook_token(environ: Mapping[str, str]) -> str | None:
    """
    The token from the environment, None when the variable is not set.

    Set but empty is refused, as an empty token file is: an unfilled Secret or
    a `VAR=` left in a unit file would otherwise switch authentication off.
    """
    if TOKEN_VARIABLE not in environ:
        return None
    token = environ[TOKEN_VARIABLE].strip()
    if not token:
        raise ConfigError("environment", TOKEN_VARIABLE,
                          "is set but empty: give the token, or unset the variable")
    return token


def validate(raw: Any, *, source: str) -> Settings:
    """Turn a parsed document into settings, or raise one ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError(source, None, f"must be a mapping of settings, got {_kind(raw)}")
    try:
        settings = Settings.model_validate(raw)
    except pydantic.ValidationError as error:
        raise _first_problem(error, source) from None

    contradiction = _first_contradiction(settings)
    if contradiction is not None:
        key, message = contradiction
        raise ConfigError(source, key, message)
    return settings


def _first_contradiction(settings: Settings) -> tuple[str, str] | None:
    """
    Settings that are each valid but cannot hold together, as (key, message).

    Each would otherwise show up only at run time: alerts dropped from the
    firing set between two re-sends, a custom alert always refused as
    `unknown_target`, a replica count nobody will ever use.
    """
    alerts, targets = settings.alerts, settings.targets
    repeat = alerts.repeat_interval_seconds
    if alerts.expiry_seconds is not None and alerts.expiry_seconds <= repeat:
        return ("alerts.expiry_seconds",
                f"{alerts.expiry_seconds:g} must be longer than alerts.repeat_interval_seconds"
                f" ({repeat:g}), the interval between re-sends it is meant to outlast")

    # The same rule the mapping applies to each alert (alerting/mapping.py).
    allowed = targets.allowed_namespaces or (targets.namespace,)
    allowed_by = ("targets.allowed_namespaces" if targets.allowed_namespaces
                  else "targets.namespace")
    for index, custom in enumerate(alerts.custom):
        key = f"alerts.custom.{index}"
        if custom.namespace is not None and custom.namespace not in allowed:
            return (f"{key}.namespace",
                    f"{custom.namespace!r} is outside {allowed_by} ({', '.join(allowed)}):"
                    f" alert {custom.alertname!r} would always be refused")
        if custom.replicas is not None and custom.action not in (None, "scale"):
            return (f"{key}.replicas",
                    f"{custom.replicas} is given, but alert {custom.alertname!r} asks for a"
                    f" {custom.action}, not a scale")
    return None


def _origin(field: str | None, origins: Mapping[str, str]) -> str | None:
    """The variable or flag that set `field` (or the setting it lies under), if any."""
    if field is None:
        return None
    for dotted, origin in origins.items():
        if field == dotted or field.startswith(f"{dotted}."):
            return origin
    return None


MAX_CONFIG_BYTES = 4 * 1024 * 1024
"""Far above any real config; a larger file (or /dev/zero) is refused, not read."""


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        # A FIFO or device would block or never end: only a regular file is a config.
        if path.exists() and not path.is_dir() and not path.is_file():
            raise ConfigError(str(path), None, "is not a regular file (a device or a pipe?)")
        if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(str(path), None, "is too large to be a config file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, "no such file") from None
    except IsADirectoryError:
        raise ConfigError(str(path), None, "is a directory, not a config file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), None, f"cannot be read: {error}") from None

    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(str(path), None, f"invalid YAML: {where}{problem}") from None

    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(str(path), None, f"must be a mapping of settings, got {_kind(document)}")
    return document


def _env_value(variable: str, dotted: str, text: str) -> Any:
    if dotted in ("execution.auto_execute", "execution.dry_run"):
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError("environment", variable, f"{text!r} is not true or false")
    if dotted == "execution.min_priority":
        if not text.strip().isdigit():
            raise ConfigError("environment", variable, f"{text!r} is not a priority 1..3")
        return int(text)
    return text


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


def _first_problem(error: pydantic.ValidationError, source: str) -> ConfigError:
    # One line is what a person reads; the first problem is the one to fix.
    problem = error.errors()[0]
    key = ".".join(str(part) for part in problem["loc"]) or None
    message = str(problem["msg"]).removeprefix("Value error, ")
    kind = problem["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind not in ("value_error", "assertion_error") and "input" in problem:
        message = f"{message}, got {_shown(problem['input'])}"
    return ConfigError(source, key, message)


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )
