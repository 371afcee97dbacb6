"""
An executor that drives the `kubectl` binary.

Commands are argument lists run without a shell. Like every executor it
reads the live object first and refuses what would make things worse: a
scale that would lower replicas, a MAX_TOKENS value that would rise, a
restart of a paused Deployment.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Sequence

from remediator.execution.base import ExecutionReport, Outcome
from remediator.planning import commands
from remediator.planning.actions import Action, ActionType, Target

logger = logging.getLogger("remediator.execution")


class KubectlFailed(Exception):
    """A kubectl command exited non-zero or could not be started."""


class KubectlExecutor:
    name = "kubectl"

    def __init__(self, *, kubectl: str = "kubectl", timeout_seconds: float = 60.0,
                 rollout_timeout_seconds: float = 300.0, extra_args: Sequence[str] = ()):
        self.kubectl = kubectl
        self.timeout_seconds = timeout_seconds
        self.rollout_timeout_seconds = rollout_timeout_seconds
        self.extra_args = tuple(extra_args)
        """Global flags such as `--context=...` or `--kubeconfig=...`."""

    async def run(self, action: Action) -> ExecutionReport:
        command: str | None = None
        try:
            target = action.target
            if action.type is ActionType.INVESTIGATE or target is None:
                return ExecutionReport(Outcome.SKIPPED, "nothing to run for investigate", None)

            # The name is checked before any command line is built from it.
            commands.checked(target)
            command = commands.as_text(action)
            return await self._carry_out(action, target, command)
        except commands.UnsafeName as error:
            return ExecutionReport(Outcome.REFUSED, f"invalid target name: {error}", None)
        except KubectlFailed as error:
            return ExecutionReport(Outcome.FAILED, str(error), command)

    async def _carry_out(self, action: Action, target: Target, command: str | None
                         ) -> ExecutionReport:
        if action.type is ActionType.SCALE:
            return await self._scale(target, _replicas(action), command)

        if action.type is ActionType.ROLLBACK:
            await self._undo(target)
            return ExecutionReport(Outcome.EXECUTED, f"rolled back {target.ref}", command)

        if action.type is ActionType.RESTART:
            refusal = await self._paused(target)
            if refusal:
                return ExecutionReport(Outcome.REFUSED, refusal, command)
            await self._restart(target)
            return ExecutionReport(Outcome.EXECUTED, f"restarted {target.ref}", command)

        if action.type is ActionType.COMBINED:
            scaled = await self._scale(target, _replicas(action), command)
            await self._undo(target)
            return ExecutionReport(
                Outcome.EXECUTED, f"{scaled.reason}; rolled back {target.ref}", command
            )

        if action.type is ActionType.PATCH_CONFIG:
            return await self._patch_config(action, target, command)

        raise ValueError(f"kubectl cannot carry out {action.type}")

    async def _scale(self, target: Target, wanted: int, command: str | None) -> ExecutionReport:
        live = await self._kubectl(_get(target, "{.spec.replicas}"))
        current = int(live) if live.strip().isdigit() else 0
        if current >= wanted:
            return ExecutionReport(
                Outcome.SKIPPED,
                f"would_lower_replicas: {target.ref} has {current} replicas, plan asks"
                f" {wanted}; scaling never lowers replicas",
                command,
                {"current": current, "wanted": wanted},
            )
        await self._kubectl(commands.scale(target, wanted))
        return ExecutionReport(
            Outcome.EXECUTED, f"scaled {target.ref} from {current} to {wanted}", command,
            {"before": current, "after": wanted},
        )

    async def _patch_config(self, action: Action, target: Target, command: str | None
                            ) -> ExecutionReport:
        assert action.config_key is not None and action.config_value is not None
        key, value = action.config_key, action.config_value

        # The value is only ever lowered: leave a live value at or below ours.
        live = (await self._kubectl(
            _get(target, "{.data." + key.replace(".", "\\.") + "}"))).strip()
        if live and (not live.isdigit() or int(live) <= int(value)):
            return ExecutionReport(
                Outcome.SKIPPED,
                f"{key} in {target.ref} is {live!r}; it is only ever lowered to {value}",
                command,
            )
        await self._kubectl(commands.patch_config(target, key, value))

        # Restarts make the Deployments read the new value; report partial work.
        done: list[str] = []
        refused: list[str] = []
        for restarted in action.restarts:
            refusal = await self._paused(restarted)
            if refusal:
                refused.append(refusal)
                continue
            try:
                await self._restart(restarted)
            except KubectlFailed as error:
                return ExecutionReport(
                    Outcome.FAILED,
                    f"partially applied: {key} set to {value}, restarted"
                    f" {', '.join(done) or 'nothing'}; restart of {restarted.ref} failed: {error}",
                    command,
                )
            done.append(restarted.ref)
        restarted_list = ", ".join(done) or "none"
        reason = f"set {key} from {live or 'unset'} to {value}; restarted {restarted_list}"
        if refused:
            reason += "; " + "; ".join(refused)
        return ExecutionReport(Outcome.EXECUTED, reason, command)

    async def _paused(self, target: Target) -> str | None:
        paused = await self._kubectl(_get(target, "{.spec.paused}"))
        if paused.strip() == "true":
            return f"{target.ref} is paused; not restarted (resume it first)"
        return None

    async def _undo(self, target: Target) -> None:
        await self._kubectl(commands.rollout("undo", target))
        await self._wait(target)

    async def _restart(self, target: Target) -> None:
        await self._kubectl(commands.rollout("restart", target))
        await self._wait(target)

    async def _wait(self, target: Target) -> None:
        timeout = f"--timeout={int(self.rollout_timeout_seconds)}s"
        await self._kubectl([*commands.rollout("status", target), timeout],
                            limit_seconds=self.rollout_timeout_seconds + 10)

    async def _kubectl(self, argv: list[str], *, limit_seconds: float | None = None) -> str:
        argv = [self.kubectl, *self.extra_args, *argv[1:]]
        logger.debug("running %s", shlex.join(argv))
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except OSError as error:
            raise KubectlFailed(f"cannot run {argv[0]}: {error.strerror}") from error
        try:
            out, err = await asyncio.wait_for(
                process.communicate(), limit_seconds or self.timeout_seconds
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            raise KubectlFailed(f"{shlex.join(argv[:4])} timed out") from None
        if process.returncode != 0:
            message = err.decode(errors="replace").strip().splitlines()
            raise KubectlFailed(
                f"{shlex.join(argv[:4])} exited {process.returncode}: "
                + (message[-1] if message else "no output")
            )
        return out.decode(errors="replace")


def _get(target: Target, jsonpath: str) -> list[str]:
    return [commands.KUBECTL, "get", target.kind.lower(), target.name,
            f"--namespace={target.namespace}", "-o", f"jsonpath={jsonpath}"]


def _replicas(action: Action) -> int:
    assert action.replicas is not None
    return action.replicas
