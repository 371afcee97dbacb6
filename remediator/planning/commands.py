"""
The kubectl commands that carry out an action, as argument lists.

These lists are run without a shell by the kubectl executor and quoted with
`shlex` for display and for generated scripts. Every name in them has been
validated as a Kubernetes name before it gets here (`config.names`); this
module checks again, because a name that is not valid must never reach a
command line, whatever path it came by.
"""

from __future__ import annotations

import json
import shlex

from remediator.config import names
from remediator.planning.actions import Action, ActionType, Target

KUBECTL = "kubectl"


class UnsafeName(ValueError):
    """A target name that is not a valid Kubernetes name."""


def checked(target: Target) -> Target:
    """Return the target when its names are valid Kubernetes names; raise otherwise."""
    problem = names.label_problem(target.namespace)
    if problem:
        raise UnsafeName(f"namespace {target.namespace!r}: {problem}")
    problem = names.subdomain_problem(target.name)
    if problem:
        raise UnsafeName(f"{target.kind} name {target.name!r}: {problem}")
    return target


def scale(target: Target, replicas: int) -> list[str]:
    target = checked(target)
    return [KUBECTL, "scale", "deployment", target.name,
            f"--replicas={int(replicas)}", f"--namespace={target.namespace}"]


def rollout(verb: str, target: Target) -> list[str]:
    target = checked(target)
    return [KUBECTL, "rollout", verb, "deployment", target.name,
            f"--namespace={target.namespace}"]


def patch_config(target: Target, key: str, value: str) -> list[str]:
    target = checked(target)
    problem = names.config_key_problem(key)
    if problem:
        raise UnsafeName(f"config key {key!r}: {problem}")
    body = json.dumps({"data": {key: value}}, separators=(",", ":"))
    return [KUBECTL, "patch", "configmap", target.name, f"--namespace={target.namespace}",
            "--type=merge", f"--patch={body}"]


def for_action(action: Action) -> list[list[str]]:
    """The commands of one action, in order; none for `investigate`."""
    target = action.target
    if action.type is ActionType.INVESTIGATE or target is None:
        return []
    if action.type is ActionType.SCALE:
        return [scale(target, _replicas(action))]
    if action.type is ActionType.ROLLBACK:
        return [rollout("undo", target)]
    if action.type is ActionType.RESTART:
        return [rollout("restart", target)]
    if action.type is ActionType.COMBINED:
        return [scale(target, _replicas(action)), rollout("undo", target)]
    if action.type is ActionType.PATCH_CONFIG:
        assert action.config_key is not None and action.config_value is not None
        commands = [patch_config(target, action.config_key, action.config_value)]
        commands += [rollout("restart", restarted) for restarted in action.restarts]
        return commands
    raise ValueError(f"no commands for action type {action.type}")


def as_text(action: Action) -> str | None:
    """The commands as shell-quoted lines, one per command; None when there are none."""
    commands = for_action(action)
    if not commands:
        return None
    return "\n".join(shlex.join(argv) for argv in commands)


def _replicas(action: Action) -> int:
    assert action.replicas is not None
    return action.replicas
