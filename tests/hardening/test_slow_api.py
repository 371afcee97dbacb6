"""
A Kubernetes API that takes 5 s per call while Alertmanager keeps sending the
same notification: the webhook answers at once, every time, and the action
runs once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from remediator.execution.base import ExecutionReport
from remediator.execution.kube import KubernetesExecutor
from remediator.k8s.retrying import RetryPolicy
from remediator.planning.actions import Action
from tests.daemon.conftest import Daemon, MakeDaemon
from tests.daemon.payloads import alert, body, notification
from tests.fakekube.harness import FakeKube
from tests.k8s.helpers import replicas

TOKEN = "slow-api-webhook-token"
API_SECONDS = 5.0
# Bounded waits for what must happen; generous, they are not what is measured.
DEADLINE_SECONDS = 120.0
RETRIES = 3


class Timeline:
    """Events in the order they happened."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def __call__(self, event: str) -> None:
        self.events.append(event)

    def index(self, event: str) -> int:
        return self.events.index(event)

    async def wait_for(self, event: str) -> None:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while event not in self.events:
            assert time.monotonic() < deadline, f"{event!r} did not happen: {self.events}"
            await asyncio.sleep(0.01)


class ObservedExecutor:
    """The Kubernetes executor, with the start and end of each run on the timeline."""

    name = "kubernetes"

    def __init__(self, executor: KubernetesExecutor, note: Callable[[str], None]) -> None:
        self.executor = executor
        self.note = note

    async def run(self, action: Action) -> ExecutionReport:
        self.note(f"execution of {action.type} started")
        report = await self.executor.run(action)
        self.note(f"execution of {action.type} ended: {report.outcome}")
        return report


async def test_slow_api_does_not_hold_the_webhook_and_the_action_runs_once(
        make_daemon: MakeDaemon, fake_kube: FakeKube) -> None:
    """With each API call taking 5 s, every webhook send is answered first; one scale runs."""
    fake_kube.cluster.add_deployment("default", "llm-gateway", replicas=2)
    fake_kube.faults.inject("latency", delay=API_SECONDS)
    timeline = Timeline()
    fake_kube.cluster.on_request.append(
        lambda record: timeline(f"api {record.verb} {record.resource}")
    )
    daemon = await make_daemon(
        environ={"REMEDIATOR_WEBHOOK_TOKEN": TOKEN}, **{"execution.auto_execute": True},
    )
    async with fake_kube.api_client() as api:
        _use(daemon, ObservedExecutor(
            KubernetesExecutor(daemon.services.settings, api,
                               retry=RetryPolicy(attempts=3, max_delay=0.05)),
            timeline,
        ))
        send = _sender(daemon, timeline)

        # The first send, then Alertmanager's re-sends while the API call hangs.
        await send(1)
        await timeline.wait_for("api get deployments")
        for attempt in range(2, RETRIES + 2):
            await send(attempt)
        await timeline.wait_for("execution of scale ended: executed")
        await daemon.settle()

    answers = [timeline.index(f"webhook answered send {n}") for n in range(1, RETRIES + 2)]
    started = timeline.index("execution of scale started")
    first_call = timeline.index("api get deployments")
    ended = timeline.index("execution of scale ended: executed")
    # The decision may start before the first send is answered (it does not wait for
    # the write), but no answer waits for the API.
    assert started < first_call < answers[1] < answers[-1] < ended, timeline.events
    assert answers[0] < ended, timeline.events
    assert 1 == sum(event == "execution of scale started" for event in timeline.events)
    assert 1 == sum(event == "api patch deployments/scale" for event in timeline.events)
    assert 5 == replicas(fake_kube)
    assert ["executed"] == [d.outcome for d in await daemon.decisions()]


def _use(daemon: Daemon, executor: ObservedExecutor) -> None:
    """Put the executor in the running daemon, where the worker will take it."""
    daemon.services.executor = executor
    daemon.services.remediation.decider.executor = executor


def _sender(daemon: Daemon, note: Callable[[str], None]) -> Callable[[int], Awaitable[None]]:
    document = body(notification(alert("LLMLatencyP95Critical")))

    async def send(attempt: int) -> None:
        status, _ = await daemon.post(document, headers={"Authorization": f"Bearer {TOKEN}"})
        assert 200 == status
        note(f"webhook answered send {attempt}")

    return send
