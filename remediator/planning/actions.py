"""
Actions: what the planner asks to be done, to which target, and why.

An action is a value: it says nothing about whether it will run. The guard
decides that, and the executor carries it out.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Literal


class ActionType(enum.StrEnum):
    SCALE = "scale"
    PATCH_CONFIG = "patch_config"
    ROLLBACK = "rollback"
    RESTART = "restart"
    COMBINED = "combined"
    INVESTIGATE = "investigate"


SEVERITY: dict[int, str] = {1: "critical", 2: "high", 3: "medium"}
BADGE: dict[int, str] = {1: "CRITICAL", 2: "HIGH", 3: "MEDIUM"}

# Tie order within one priority: the most decisive change first, because a
# rollback or combined action changes what the later actions act upon.
TYPE_ORDER: tuple[ActionType, ...] = (
    ActionType.COMBINED,
    ActionType.ROLLBACK,
    ActionType.SCALE,
    ActionType.PATCH_CONFIG,
    ActionType.RESTART,
    ActionType.INVESTIGATE,
)

Kind = Literal["Deployment", "ConfigMap"]


@dataclasses.dataclass(frozen=True, order=True)
class Target:
    """A Kubernetes object we may change."""

    kind: Kind
    namespace: str
    name: str

    @property
    def key(self) -> str:
        """A stable identity for state keys: `namespace/kind/name`."""
        return f"{self.namespace}/{self.kind.lower()}/{self.name}"

    @property
    def ref(self) -> str:
        """The kubectl spelling: `deployment/llm-gateway`."""
        return f"{self.kind.lower()}/{self.name}"

    def __str__(self) -> str:
        return f"{self.ref} in namespace {self.namespace}"


@dataclasses.dataclass(frozen=True)
class Action:
    type: ActionType
    priority: int
    target: Target | None
    description: str
    rationale: str
    replicas: int | None = None
    """scale and combined: the count to reach (never lower than the live one)."""

    config_key: str | None = None
    config_value: str | None = None
    """patch_config: the key to set in the target ConfigMap, and its new value."""

    restarts: tuple[Target, ...] = ()
    """patch_config: Deployments restarted so they read the new value."""

    metric: str | None = None
    """investigate: the metric whose value is unknown."""

    causes: tuple[str, ...] = ()
    """The conditions or alerts that asked for this action."""

    @property
    def severity(self) -> str:
        return SEVERITY[self.priority]

    @property
    def badge(self) -> str:
        return BADGE[self.priority]

    @property
    def key(self) -> str:
        """What cooldowns and locks are keyed on: type and target, never the alert."""
        where = self.target.key if self.target else f"metric/{self.metric}"
        return f"{self.type}:{where}"

    @property
    def rolls_back(self) -> bool:
        return self.type in (ActionType.ROLLBACK, ActionType.COMBINED)

    def sort_key(self) -> tuple[int, int, tuple[str, str, str], str]:
        target = self.target
        where = (target.namespace, target.kind, target.name) if target else ("", "", "")
        return (self.priority, TYPE_ORDER.index(self.type), where, self.metric or "")
