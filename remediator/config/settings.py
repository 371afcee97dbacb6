"""
Every setting, grouped by concern, with the defaults the product ships.

One YAML file fills these models (`loading.load_settings`); with no file at
all the defaults below apply, and they equal the table in the README. The
models are frozen: settings are read once at start and passed explicitly.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from remediator.config import names

Seconds = Annotated[float, Field(gt=0)]
Replicas = Annotated[int, Field(ge=1, le=1000)]
Priority = Annotated[int, Field(ge=1, le=3)]
# YAML has lists, not tuples: accept a list here, and only here, for a tuple.
Lax = Field(strict=False)


class _Model(BaseModel):
    # Unknown keys are typos we must report, and "100" is not a number.
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True
    )


# --- thresholds -------------------------------------------------------------


class UpperLimit(_Model):
    """A figure that is bad when strictly above a limit (latency, error rate)."""

    warning: Annotated[float, Field(ge=0)] | None = None
    critical: Annotated[float, Field(ge=0)]

    @model_validator(mode="after")
    def _warning_not_above_critical(self) -> Self:
        if self.warning is not None and self.warning > self.critical:
            raise ValueError(
                f"warning ({self.warning:g}) must not be above critical ({self.critical:g})"
            )
        return self


class LatencyP95(UpperLimit):
    warning: Annotated[float, Field(ge=0)] | None = 100.0
    critical: Annotated[float, Field(ge=0)] = 150.0
    emergency_factor: Annotated[float, Field(gt=1)] = 2.0
    """p95 above critical times this is an emergency (default: twice critical)."""

    @property
    def emergency(self) -> float:
        return self.critical * self.emergency_factor


class LatencyP99(UpperLimit):
    warning: Annotated[float, Field(ge=0)] | None = None
    critical: Annotated[float, Field(ge=0)] = 200.0


class ErrorRate(UpperLimit):
    """Fractions 0..1: 0.01 is 1 %."""

    warning: Annotated[float, Field(ge=0, le=1)] | None = 0.01
    critical: Annotated[float, Field(ge=0, le=1)] = 0.05


class Throughput(_Model):
    """Requests per second; bad when strictly below a limit."""

    warning: Annotated[float, Field(ge=0)] | None = 15.0
    critical: Annotated[float, Field(ge=0)] = 10.0

    @model_validator(mode="after")
    def _warning_not_below_critical(self) -> Self:
        # For a lower limit the warning sits above the critical floor.
        if self.warning is not None and self.warning < self.critical:
            raise ValueError(
                f"warning ({self.warning:g}) must not be below critical ({self.critical:g})"
                " for a minimum"
            )
        return self


class Thresholds(_Model):
    p95_ms: LatencyP95 = LatencyP95()
    p99_ms: LatencyP99 = LatencyP99()
    error_rate: ErrorRate = ErrorRate()
    throughput_rps: Throughput = Throughput()


# --- targets ----------------------------------------------------------------


def _check_name(value: str, problem: str | None) -> str:
    if problem:
        raise ValueError(f"{value!r} is not a valid Kubernetes name: {problem}")
    return value


class DeploymentTarget(_Model):
    deployment: str
    max_replicas: Replicas = 10
    """Scaling never goes above this, whatever the policy asks."""

    @field_validator("deployment")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name(value, names.subdomain_problem(value))


class ConfigTarget(_Model):
    configmap: str = "llm-config"
    key: str = "MAX_TOKENS"

    @field_validator("configmap")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name(value, names.subdomain_problem(value))

    @field_validator("key")
    @classmethod
    def _valid_key(cls, value: str) -> str:
        return _check_name(value, names.config_key_problem(value))


Role = Literal["gateway", "backend"]


class Targets(_Model):
    namespace: str = "default"
    gateway: DeploymentTarget = DeploymentTarget(deployment="llm-gateway")
    backend: DeploymentTarget = DeploymentTarget(deployment="llm-backend")
    config: ConfigTarget = ConfigTarget()
    default_max_replicas: Replicas = 10
    """Cap for Deployments named by custom alerts rather than listed here."""

    allowed_namespaces: Annotated[tuple[str, ...], Lax] | None = None
    """Namespaces custom alerts may name; None allows only `namespace`."""

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, value: str) -> str:
        return _check_name(value, names.label_problem(value))

    @field_validator("allowed_namespaces")
    @classmethod
    def _valid_namespaces(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for item in value or ():
            _check_name(item, names.label_problem(item))
        return value

    def deployment(self, role: Role) -> DeploymentTarget:
        return self.gateway if role == "gateway" else self.backend


# --- policy -----------------------------------------------------------------


class ScaleRule(_Model):
    enabled: bool = True
    priority: Priority
    target: Role = "gateway"
    replicas: Replicas


class PatchConfigRule(_Model):
    enabled: bool = True
    priority: Priority = 2
    max_tokens: Annotated[int, Field(ge=1)] = 50
    """The value written to the config key; only ever lowers the live value."""

    restart: Annotated[tuple[Role, ...], Lax] = ("gateway", "backend")


class RollbackRule(_Model):
    enabled: bool = True
    priority: Priority = 1
    targets: Annotated[tuple[Role, ...], Lax] = ("gateway", "backend")


class CombinedRule(_Model):
    enabled: bool = True
    priority: Priority = 1
    target: Role = "gateway"
    replicas: Replicas = 6


class InvestigateRule(_Model):
    enabled: bool = True
    priority: Priority = 3


class Policy(_Model):
    """Which action each condition asks for; the README has the table."""

    p95_warning: ScaleRule = ScaleRule(priority=2, replicas=4)
    p95_critical: ScaleRule = ScaleRule(priority=1, replicas=5)
    p95_emergency: ScaleRule = ScaleRule(priority=1, replicas=10)
    throughput_warning: ScaleRule = ScaleRule(priority=2, replicas=4)
    throughput_critical: ScaleRule = ScaleRule(priority=1, replicas=5)
    p99_critical: ScaleRule = ScaleRule(priority=1, target="backend", replicas=5)
    error_rate_warning: PatchConfigRule = PatchConfigRule()
    error_rate_critical: RollbackRule = RollbackRule()
    combined: CombinedRule = CombinedRule()
    unknown: InvestigateRule = InvestigateRule()


# --- alerts -----------------------------------------------------------------

ActionType = Literal["scale", "patch_config", "rollback", "restart", "combined", "investigate"]


CustomAction = Literal["scale", "rollback", "restart"]
_PROMETHEUS_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class CustomAlert(_Model):
    """
    An alert of the operator's own, mapped to one action.

    The action and the target are fixed here, or read from the alert's labels
    (set next to the rule; the label names are configurable), so one rule can
    serve many Deployments.
    """

    alertname: Annotated[str, Field(min_length=1)]
    action: CustomAction | None = None
    """None: the alert's `action_label` label names it (scale, rollback or restart)."""

    priority: Priority = 2
    replicas: Replicas | None = None
    """For `scale`: the count to reach (never lowers); None: the `replicas_label` label."""

    deployment: str | None = None
    namespace: str | None = None
    deployment_label: str = "deployment"
    namespace_label: str = "namespace"
    action_label: str = "action"
    replicas_label: str = "replicas"

    @field_validator("deployment_label", "namespace_label", "action_label", "replicas_label")
    @classmethod
    def _label_name(cls, value: str) -> str:
        # A name Prometheus could never put on an alert would silently match nothing.
        if not _PROMETHEUS_LABEL.fullmatch(value):
            raise ValueError(f"{value!r} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.action == "scale" and self.replicas is None:
            raise ValueError("a scale action needs `replicas`")
        if self.deployment is not None:
            _check_name(self.deployment, names.subdomain_problem(self.deployment))
        if self.namespace is not None:
            _check_name(self.namespace, names.label_problem(self.namespace))
        return self


class Alerts(_Model):
    repeat_interval_seconds: Seconds = 3600.0
    """Alertmanager's repeat_interval in our shipped config."""

    expiry_seconds: Seconds | None = None
    """An alert not re-sent for this long leaves the firing set; default 3 x repeat."""

    results_stale_seconds: Seconds = 7200.0
    """No new benchmark result for this long raises LLMBenchResultsStale."""

    custom: Annotated[tuple[CustomAlert, ...], Lax] = ()

    @field_validator("custom")
    @classmethod
    def _one_mapping_per_name(cls, value: tuple[CustomAlert, ...]) -> tuple[CustomAlert, ...]:
        # Two mappings of one alert name: only the first would ever apply.
        seen: set[str] = set()
        for custom in value:
            if custom.alertname in seen:
                raise ValueError(f"alert {custom.alertname!r} is mapped twice")
            seen.add(custom.alertname)
        return value

    @property
    def expiry(self) -> float:
        return self.expiry_seconds or 3 * self.repeat_interval_seconds


# --- guard and execution ----------------------------------------------------


class Cooldowns(_Model):
    """Seconds before the same action type may act on the same target again."""

    scale: Seconds = 600.0
    patch_config: Seconds = 900.0
    rollback: Seconds = 1800.0
    restart: Seconds = 600.0
    combined: Seconds = 1800.0
    investigate: Seconds = 3600.0

    def of(self, action_type: str) -> float:
        return float(getattr(self, action_type))


class RateLimit(_Model):
    actions: Annotated[int, Field(ge=1)] = 6
    per_seconds: Seconds = 3600.0


class Breaker(_Model):
    max_actions: Annotated[int, Field(ge=1)] = 3
    """Actions on one target within the window, without recovery, that open it."""

    window_seconds: Seconds = 3600.0
    quiet_seconds: Seconds = 3600.0
    """An open breaker closes by itself after this long without a new trip."""


class Guard(_Model):
    cooldowns: Cooldowns = Cooldowns()
    rate_limit: RateLimit = RateLimit()
    breaker: Breaker = Breaker()
    dedup_retention_seconds: Seconds = 7 * 24 * 3600.0
    """How long episode keys are kept; bounds the state store's size."""


Mode = Literal["observe", "dry-run", "execute"]


class Modes(_Model):
    """Per action type: record only, dry-run, or execute (when execution is on)."""

    scale: Mode = "execute"
    patch_config: Mode = "execute"
    rollback: Mode = "execute"
    restart: Mode = "execute"
    combined: Mode = "execute"

    def of(self, action_type: str) -> Mode:
        mode: Mode = getattr(self, action_type, "observe")
        return mode


class Execution(_Model):
    auto_execute: bool = False
    """Nothing changes a cluster unless this (or AUTO_EXECUTE=true) says so."""

    dry_run: bool = False
    """With auto_execute on, still only show what would run (DRY_RUN=true)."""

    min_priority: Priority = 1
    """Execute actions at or above this priority (1 = CRITICAL only)."""

    executor: Literal["kubernetes", "kubectl"] = "kubernetes"
    modes: Modes = Modes()
    gitops: Literal["act-and-warn", "skip"] = "act-and-warn"
    """What to do with a Deployment that Argo CD or Flux manages."""

    rollout_timeout_seconds: Seconds = 300.0


# --- daemon -----------------------------------------------------------------


class Server(_Model):
    listen: str = "127.0.0.1:8080"
    body_limit_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    webhook_token_file: str | None = None
    basic_auth_username: str | None = None
    basic_auth_password_file: str | None = None
    allow_insecure: bool = False
    """Start with execution on and no webhook authentication (logs a warning)."""

    queue_size: Annotated[int, Field(ge=1)] = 10000

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isascii() or not port.isdigit():
            raise ValueError(f"{value!r} must be HOST:PORT")
        if not 1 <= int(port) <= 65535:
            raise ValueError(f"{value!r}: the port must be 1-65535, got {port}")
        return value


class State(_Model):
    backend: Literal["sqlite", "kubernetes"] = "sqlite"
    dir: str = ".remediator-state"
    configmap: str = "remediator-state"
    """For the kubernetes backend: the ConfigMap holding our state (in kubernetes.namespace)."""

    @field_validator("configmap")
    @classmethod
    def _valid_configmap(cls, value: str) -> str:
        return _check_name(value, names.subdomain_problem(value))


class LeaderElection(_Model):
    enabled: bool = False
    lease_name: str = "remediator-leader"
    """The coordination.k8s.io Lease the replicas compete for (in kubernetes.namespace)."""

    lease_duration_seconds: Seconds = 15.0
    """How long followers wait, after the last renewal they saw, before taking over."""

    renew_deadline_seconds: Seconds = 10.0
    """A leader that could not renew for this long stops acting (before its lease ends)."""

    retry_period_seconds: Seconds = 2.0
    """How often the leader renews and followers look."""

    @field_validator("lease_name")
    @classmethod
    def _valid_lease_name(cls, value: str) -> str:
        return _check_name(value, names.subdomain_problem(value))

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        # A leader must give up before a follower may take over, and get at
        # least one retry within its renew deadline.
        if not self.retry_period_seconds < self.renew_deadline_seconds \
                < self.lease_duration_seconds:
            raise ValueError(
                "need retry_period_seconds < renew_deadline_seconds < lease_duration_seconds"
            )
        return self


class Kubernetes(_Model):
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    """
    Where our own objects live (state ConfigMap, Lease). Default: the pod's
    namespace (POD_NAMESPACE, or the service account's), else targets.namespace.
    """

    leader_election: LeaderElection = LeaderElection()

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, value: str | None) -> str | None:
        return value if value is None else _check_name(value, names.label_problem(value))


class Notify(_Model):
    slack_webhook_url_file: str | None = None
    webhook_url: str | None = None
    timeout_seconds: Seconds = 5.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        # Caught here, a typo stops the start; caught at the first action, it is a lost message.
        if value is not None and not re.fullmatch(r"https?://[^\s/]+\S*", value):
            raise ValueError(f"{value!r} must be an http:// or https:// URL")
        return value


ResultFormat = Literal[
    "native", "vllm", "llmperf", "genai-perf", "guidellm", "k6", "locust", "oha", "vegeta", "hey",
]
"""The readers of `remediator.bench` (a test keeps the two lists equal)."""


class Results(_Model):
    path: str = "bench/bench_results.json"
    format: ResultFormat | None = None
    """None: detected from the content."""

    poll_seconds: Seconds = 5.0

    @field_validator("path")
    @classmethod
    def _a_path(cls, value: str) -> str:
        # An empty path would read the current directory.
        if not value.strip():
            raise ValueError("must name a results file, got an empty path")
        return value


class Rules(_Model):
    """How the generated Prometheus rules and Operator objects are labelled."""

    release_label: str = "kube-prometheus-stack"
    runbook_base_url: str = "https://github.com/example/remediator/blob/main/docs/alerting.md"
    for_seconds: Annotated[float, Field(ge=0)] = 120.0
    """How long a threshold must hold before its alert fires (rule `for`)."""

    missing_for_seconds: Annotated[float, Field(ge=0)] = 600.0
    """How long a gauge must be absent before LLMBenchMetricsMissing fires (restarts)."""

    predict_window_seconds: Seconds = 3600.0
    """How much p95 history the early-warning rule fits its line to."""

    predict_horizon_seconds: Seconds = 3600.0
    """How far ahead the early-warning rule looks for a critical p95."""

    remediator_job: str = "remediator"
    """The scrape job of the remediator itself, watched by RemediatorDown."""

    keep_firing_for_seconds: Annotated[float, Field(ge=0)] = 0.0
    """Threshold alerts keep firing this long after their condition clears (rule
    `keep_firing_for`): fewer resolve/re-fire episodes from results that hover at
    a threshold, at the price of later resolves and longer recorded recoveries."""


class Settings(_Model):
    thresholds: Thresholds = Thresholds()
    targets: Targets = Targets()
    policy: Policy = Policy()
    alerts: Alerts = Alerts()
    guard: Guard = Guard()
    execution: Execution = Execution()
    server: Server = Server()
    state: State = State()
    kubernetes: Kubernetes = Kubernetes()
    notify: Notify = Notify()
    results: Results = Results()
    rules: Rules = Rules()

    def executing(self) -> bool:
        """Whether actions may change the cluster at all."""
        return self.execution.auto_execute and not self.execution.dry_run
