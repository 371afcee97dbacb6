"""
What the API answers when it says no: permanent errors stop at once and are
recorded, temporary ones are retried a bounded number of times, with waits
that follow the error and never exceed the policy's bound.
"""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from remediator.execution.base import Outcome
from remediator.execution.kube import KubernetesExecutor
from remediator.k8s import errors, scaling
from remediator.k8s.changes import Context, Status
from remediator.k8s.client import Api
from remediator.k8s.errors import Request
from remediator.k8s.retrying import RetryPolicy, retrying
from tests.fakekube.harness import FakeKube
from tests.k8s.conftest import FAST
from tests.k8s.helpers import GATEWAY, NS, reasons, replicas, scale

SCALE = Request("patch", "deployments/scale", "apps", NS, "llm-gateway")


def requests_to(fake: FakeKube, verb: str, resource: str) -> int:
    return sum(1 for r in fake.requests if (r.verb, r.resource) == (verb, resource))


# --- the classes ------------------------------------------------------------------


@pytest.mark.parametrize(("status", "kind"), [
    (400, errors.BadRequest), (401, errors.Unauthorized), (403, errors.Forbidden),
    (404, errors.NotFound), (410, errors.Gone), (422, errors.Invalid),
])
def test_refusals_that_would_repeat_are_permanent(status: int, kind: type) -> None:
    """400, 401, 403, 404, 410 and 422 are permanent: asking again gets the same answer."""
    error = errors.from_answer(SCALE, status, b'{"kind": "Status", "message": "no"}')

    assert isinstance(error, kind)
    assert isinstance(error, errors.PermanentError)


@pytest.mark.parametrize(("status", "kind"), [
    (409, errors.Conflict), (429, errors.Throttled), (500, errors.ServerError),
    (502, errors.ServerError), (503, errors.ServerError), (504, errors.ServerError),
])
def test_answers_that_may_change_are_temporary(status: int, kind: type) -> None:
    """409, 429 and every 5xx are temporary, each with a delay before the next try."""
    error = errors.from_answer(SCALE, status, "not even JSON")

    assert isinstance(error, kind)
    assert isinstance(error, errors.TemporaryError)
    assert error.delay > 0


def test_throttling_takes_its_delay_from_retry_after() -> None:
    """A 429's Retry-After header (or the Status' retryAfterSeconds) is its delay."""
    from_header = errors.from_answer(SCALE, 429, b"{}", {"Retry-After": "7"})
    from_body = errors.from_answer(
        SCALE, 429, b'{"kind": "Status", "details": {"retryAfterSeconds": 3}}')

    assert (from_header.delay, from_body.delay) == (7.0, 3.0)  # type: ignore[attr-defined]


def test_forbidden_names_the_missing_verb_and_resource_of_the_core_group() -> None:
    """A 403 on a ConfigMap says which verb on which resource of which group the Role lacks."""
    request = Request("patch", "configmaps", "", NS, "llm-config")

    text = str(errors.from_answer(request, 403, b'{"message": "configmaps is forbidden"}'))

    assert 'cannot patch configmaps (API group "") in namespace default' in text
    assert "the Role must grant verb 'patch' on 'configmaps'" in text


# --- retries ------------------------------------------------------------------------


class Steps:
    """A step failing with the given errors in turn, then answering "done"."""

    def __init__(self, *failures: errors.KubeError) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.waits: list[float] = []

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_a_long_retry_after_is_cut_to_the_policy_bound() -> None:
    """A server asking for an hour's pause gets the policy's longest wait instead."""
    steps = Steps(errors.Throttled(SCALE, "slow down", delay=3600.0))
    policy = RetryPolicy(attempts=3, max_delay=4.0)

    result = await retrying(steps, what="scale", policy=policy, sleep=steps.sleep)

    assert (result, steps.calls, steps.waits) == ("done", 2, [4.0])


async def test_server_errors_back_off_within_the_bound_then_give_up() -> None:
    """Endless 503s: growing waits, none over the bound, and the error after the last try."""
    steps = Steps(*(errors.ServerError(SCALE, "busy", delay=0.5) for _ in range(10)))
    policy = RetryPolicy(attempts=5, max_delay=2.0)

    with pytest.raises(errors.ServerError):
        await retrying(steps, what="scale", policy=policy, sleep=steps.sleep)

    assert steps.calls == 5
    assert len(steps.waits) == 4
    assert all(0 < wait <= 2.0 for wait in steps.waits)
    assert steps.waits[-1] > steps.waits[0]


async def test_a_permanent_error_is_never_retried() -> None:
    """A 404 goes straight to the caller, without a second try or a wait."""
    steps = Steps(errors.NotFound(SCALE, "gone"))

    with pytest.raises(errors.NotFound):
        await retrying(steps, what="scale", policy=FAST, sleep=steps.sleep)

    assert (steps.calls, steps.waits) == (1, [])


# --- against the fake ----------------------------------------------------------------


async def test_a_missing_deployment_fails_once_as_not_found(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """Scaling a Deployment that does not exist: one read, no retry, recorded as not_found."""
    report = await executor.run(scale(5))

    assert report.outcome is Outcome.FAILED
    assert report.details["code"] == "not_found"
    assert "404" in report.reason and "deployments llm-gateway" in report.reason
    assert requests_to(fake_kube, "get", "deployments") == 1


async def test_an_invalid_write_is_not_retried(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A 422 on the scale write is reported as invalid after that one write."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    fake_kube.faults.inject("error", verb="patch", resource="apps/deployments/scale",
                            status=422, message="spec.replicas: Invalid value")

    report = await executor.run(scale(5))

    assert report.outcome is Outcome.FAILED
    assert report.details["code"] == "invalid"
    assert "spec.replicas: Invalid value" in report.reason
    assert requests_to(fake_kube, "patch", "deployments/scale") == 1
    assert reasons(fake_kube, "llm-gateway") == ["RemediationFailed"]


async def test_throttled_writes_are_retried_until_they_land(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """Two 429 answers, then the scale goes through, once."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    throttle = fake_kube.faults.inject("throttle", verb="patch",
                                       resource="apps/deployments/scale", times=2)

    report = await executor.run(scale(5))

    assert throttle.fired == 2
    assert report.outcome is Outcome.EXECUTED
    assert replicas(fake_kube) == 5
    assert requests_to(fake_kube, "patch", "deployments/scale") == 3


async def test_endless_server_errors_fail_after_the_bounded_tries(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """A scale write that always gets 503 is tried `attempts` times, then recorded as failed."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    fake_kube.faults.inject("error", verb="patch", resource="apps/deployments/scale",
                            status=503)

    report = await executor.run(scale(5))

    assert report.outcome is Outcome.FAILED
    assert report.details["code"] == "server_error"
    assert requests_to(fake_kube, "patch", "deployments/scale") == FAST.attempts
    assert replicas(fake_kube) == 3


async def test_a_request_that_times_out_is_tried_again(
    fake_kube: FakeKube, api_client: client.ApiClient
) -> None:
    """A read that gets no answer within the request timeout is retried, and the scale lands."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    slow = fake_kube.faults.inject("latency", verb="get", resource="apps/deployments/scale",
                                   delay=5.0, times=1)
    ctx = Context(api=Api(api_client, timeout_seconds=1.0), retry=FAST)

    change = await scaling.scale(ctx, GATEWAY, 5, cap=10)

    assert slow.fired == 1
    assert change.status is Status.APPLIED
    assert replicas(fake_kube) == 5
    assert requests_to(fake_kube, "get", "deployments/scale") == 2


async def test_an_event_the_server_fails_to_take_is_written_on_a_retry(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """Two 503s on the Event's create: the scale's Event is still there, once."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    busy = fake_kube.faults.inject("error", verb="create", resource="events", times=2)

    report = await executor.run(scale(5))

    assert busy.fired == 2
    assert report.outcome is Outcome.EXECUTED
    assert reasons(fake_kube, "llm-gateway") == ["RemediationApplied"]


async def test_an_event_whose_answer_is_lost_is_not_written_twice(
    fake_kube: FakeKube, executor: KubernetesExecutor
) -> None:
    """The create lands but its answer is lost: the retry finds it there and stops."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway", replicas=3)
    lost = fake_kube.faults.inject("drop_after", verb="create", resource="events", times=1)

    report = await executor.run(scale(5))

    assert lost.fired == 1
    assert report.outcome is Outcome.EXECUTED
    assert reasons(fake_kube, "llm-gateway") == ["RemediationApplied"]
    assert requests_to(fake_kube, "create", "events") == 2
