"""
The webhook parser under fuzzing: every body is either a notification the
daemon can record as it stands, or a PayloadError naming what is wrong.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from remediator.alerting import mapping
from remediator.alerting.payload import Notification, parse_notification
from remediator.config.settings import Settings
from remediator.errors import PayloadError
from remediator.remediation.episodes import EpisodeBook
from tests.hardening.bodies import BODIES, encode, valid_alert, valid_notification

NOW = datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def recordable(notification: Notification) -> None:
    """What the daemon does with an accepted notification before answering must not fail."""
    book = EpisodeBook(expiry_seconds=3600.0)
    changes = book.absorb(notification, now=NOW.timestamp())
    for episode in changes.writes:
        # The SQLite store keeps records as UTF-8 JSON text.
        json.dumps(episode.to_json(), ensure_ascii=False, allow_nan=False).encode()
        mapping.map_alert(episode.labels, Settings())


def _alert_with(**fields: object) -> bytes:
    document = valid_notification()
    document["alerts"][0].update(fields)
    return encode(document)


def _labels_with(labels: dict[str, object]) -> bytes:
    document = valid_notification()
    document["alerts"][0]["labels"] = labels
    del document["alerts"][0]["fingerprint"]
    return encode(document)


@FUZZ
@given(BODIES)
# Found by this test: nesting deeper than the JSON decoder's recursion limit.
@example(b"[" * 100_000)
# Found by this test: a lone surrogate in a label cannot be hashed or stored as UTF-8.
@example(_labels_with({"alertname": "X", "pod": "\ud800"}))
@example(_labels_with({"\udfff": "x"}))
# Found by this test: a label name with a newline split the error message in two lines.
@example(_labels_with({"alertname": "X", "a\nb": 1}))
# Found by this test: a start late on 9999-12-31 west of UTC is year 10000 in UTC.
@example(_alert_with(startsAt="9999-12-31T23:59:59-01:00"))
@example(_alert_with(status="resolved", endsAt="9999-12-31T23:59:59-10:00"))
def test_any_body_parses_into_something_recordable_or_a_payload_error(body: bytes) -> None:
    """Whatever the bytes, the parser returns a recordable notification or a PayloadError."""
    try:
        notification = parse_notification(body, now=NOW, source="webhook")
    except PayloadError as error:
        assert str(error).startswith("webhook: ")
        assert "\n" not in str(error)
        return

    recordable(notification)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.builds(valid_alert, st.integers(0, 2**32)), min_size=0, max_size=20))
def test_valid_notifications_keep_every_alert(alerts: list[dict[str, object]]) -> None:
    """A well-formed notification loses no alert, whatever their number."""
    document = valid_notification()
    document["alerts"] = alerts

    notification = parse_notification(encode(document), now=NOW)

    assert len(alerts) == len(notification.alerts)
    recordable(notification)
