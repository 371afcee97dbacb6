"""
The webhook endpoint under fuzzing, through the whole aiohttp app: an
invalid body gets a 4xx naming the field and leaves no trace in the state;
no body at all gets a 5xx. The same holds for results pushed to the API.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from remediator.alerting.payload import parse_notification
from remediator.errors import PayloadError
from tests.bench.test_fuzz import TREES as READER_TREES
from tests.daemon.conftest import Daemon
from tests.hardening.bodies import BODIES, encode

NOW = datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)
# One daemon serves every example of a test: that is the point (nothing accumulates).
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def invalid(body: bytes) -> bool:
    try:
        parse_notification(body, now=NOW)
    except PayloadError:
        return True
    return False


@FUZZ
@given(body=BODIES.filter(invalid))
@example(body=b"[" * 100_000)
async def test_invalid_bodies_get_a_4xx_and_leave_nothing(daemon: Daemon, body: bytes) -> None:
    """Every body the parser refuses is answered 400 with the field, and nothing is stored."""
    status, reply = await daemon.post(body)

    assert status == 400
    assert reply["error"].startswith("webhook: ")
    assert daemon.sample("remediator_notifications_total", result="rejected") > 0
    assert [] == await daemon.services.store.load_episodes()
    assert 0 == daemon.sample("remediator_alerts_total", status="firing")
    assert 0 == daemon.sample("remediator_alerts_total", status="resolved")


@FUZZ
@given(body=BODIES)
async def test_no_body_gets_a_5xx(daemon: Daemon, body: bytes) -> None:
    """Valid or not, no body makes the daemon answer with a server error."""
    status, _ = await daemon.post(body)

    assert status < 500
    assert status in (200, 400)


@FUZZ
@given(body=st.binary(max_size=300) | READER_TREES.map(encode),
       format=st.none() | st.sampled_from(["vllm", "k6", "locust", "native", "nope", "../x"]))
async def test_pushed_results_get_a_4xx_or_are_taken(daemon: Daemon, body: bytes,
                                                     format: str | None) -> None:
    """A result pushed to the API is read or refused with 400, never a server error."""
    query = {"format": format} if format else {}

    reply = await daemon.client.post("/api/v1/results", data=body, params=query)

    assert reply.status in (200, 400)
