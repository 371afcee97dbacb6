"""Parsing Alertmanager's v4 webhook payload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from remediator.alerting.payload import (
    RecentBodies,
    canonical_time,
    fingerprint,
    parse_notification,
)
from remediator.errors import PayloadError
from tests.daemon.payloads import ZERO_TIME, alert, body, notification

NOW = datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)


def test_real_samples_parse_with_their_own_status(shared_samples: Path) -> None:
    """Every real Alertmanager 0.25 capture parses, each alert keeping its own status."""
    folder = shared_samples / "alertmanager"
    partly = parse_notification((folder / "real-am-0.25-grouped-partly-resolved.json")
                                .read_bytes(), now=NOW)
    firing = parse_notification((folder / "real-am-0.25-firing.json").read_bytes(), now=NOW)

    assert [a.status for a in partly.alerts] == ["resolved", "firing"]
    assert firing.alerts[0].ends_at is None
    assert firing.alerts[0].fingerprint == "e94494350a6e461c"
    assert firing.group_key == '{}:{alertname="QueueDepthHigh", queue="q0"}'


def test_missing_fingerprint_is_derived_like_alertmanager(shared_samples: Path) -> None:
    """A derived fingerprint equals the one Alertmanager computes for the same labels."""
    real = json.loads((shared_samples / "alertmanager" / "real-am-0.25-grouped-firing.json")
                      .read_bytes())
    for item in real["alerts"]:
        assert fingerprint(item["labels"]) == item["fingerprint"]

    teams = parse_notification(
        (shared_samples / "alertmanager" / "msteams-v4-firing-no-fingerprint.json").read_bytes(),
        now=NOW,
    )
    assert teams.alerts[0].fingerprint == fingerprint(teams.alerts[0].labels)
    assert teams.alerts[0].status == "firing"


def test_status_absent_is_taken_from_ends_at() -> None:
    """Without a per-alert status, a past endsAt means resolved and the zero time firing."""
    past = alert("A", ends_at="2024-05-01T10:00:10Z")
    future = alert("B", ends_at="2024-05-01T10:04:00Z")
    zero = alert("C")
    for item in (past, future, zero):
        del item["status"]

    parsed = parse_notification(body(notification(past, future, zero)), now=NOW)

    assert [a.status for a in parsed.alerts] == ["resolved", "firing", "firing"]


@pytest.mark.parametrize("text", [
    "2018-03-07T06:33:21.873077559-05:00",
    "2026-12-03T19:18:42.935Z",
    "2017-05-09T07:01:37.803000Z",
    ZERO_TIME,
])
def test_timestamps_with_offsets_nanoseconds_and_zero_time_parse(text: str) -> None:
    """Offsets, nanoseconds and Go's zero time parse, and the zero time means no end."""
    item = alert("A", starts_at=text, ends_at=ZERO_TIME)

    parsed = parse_notification(body(notification(item)), now=NOW).alerts[0]

    assert parsed.ends_at is None
    assert canonical_time(parsed.starts_at).endswith("+00:00")


def test_zero_time_survives_a_negative_offset_timezone(tmp_path: Path) -> None:
    """Under TZ=America/New_York the zero endsAt still parses and the alert still fires."""
    script = (
        "from datetime import datetime, UTC\n"
        "from remediator.alerting.payload import parse_notification\n"
        "from tests.daemon.payloads import alert, body, notification\n"
        "n = parse_notification(body(notification(alert('A'))), now=datetime.now(UTC))\n"
        "print(n.alerts[0].status, n.alerts[0].ends_at)\n"
    )
    env = {**os.environ, "TZ": "America/New_York"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=Path(__file__).parents[2], check=False)

    assert (done.returncode, done.stdout.strip()) == (0, "firing None")


def test_same_instant_in_two_spellings_is_one_start() -> None:
    """`Z` and `+00:00`, with or without fractions, give one canonical startsAt."""
    first = parse_notification(body(notification(alert("A", starts_at="2024-05-01T10:00:00Z"))),
                               now=NOW)
    second = parse_notification(
        body(notification(alert("A", starts_at="2024-05-01T12:00:00.000+02:00"))), now=NOW
    )

    assert first.alerts[0].starts_key == second.alerts[0].starts_key


@pytest.mark.parametrize(("document", "field"), [
    ({"version": "3", "alerts": []}, "version"),
    ({"version": 4, "alerts": []}, "version"),
    ({"version": "4"}, "alerts"),
    ({"version": "4", "alerts": {}}, "alerts"),
    ({"version": "4", "alerts": ["x"]}, "alerts[0]"),
    ({"version": "4", "alerts": [{"labels": {"a": 1}, "startsAt": "2024-05-01T10:00:00Z"}]},
     "alerts[0].labels.a"),
    ({"version": "4", "alerts": [{"labels": {"alertname": "A"}}]}, "alerts[0].startsAt"),
    ({"version": "4", "alerts": [{"labels": {}, "startsAt": "yesterday"}]},
     "alerts[0].startsAt"),
    ({"version": "4", "alerts": [{"labels": {}, "startsAt": "2024-05-01T10:00:00Z",
                                  "status": "pending"}]}, "alerts[0].status"),
    ({"version": "4", "truncatedAlerts": -1, "alerts": []}, "truncatedAlerts"),
    ({"version": "4", "status": "pending", "alerts": []}, "status"),
    ({"version": "4", "status": 5, "alerts": []}, "status"),
    ({"version": "4", "groupLabels": 7, "alerts": []}, "groupLabels"),
    ({"version": "4", "commonLabels": {"a": 1}, "alerts": []}, "commonLabels.a"),
    ({"version": "4", "groupKey": 43434343434343434343, "alerts": []}, "groupKey"),
])
def test_bad_payloads_name_the_field(document: dict[str, object], field: str) -> None:
    """Each malformed or legacy body raises PayloadError naming the faulty field."""
    with pytest.raises(PayloadError) as raised:
        parse_notification(json.dumps(document).encode(), now=NOW)

    assert raised.value.field == field


def test_legacy_v3_sample_is_refused(shared_samples: Path) -> None:
    """The real v3 body is refused with a message about the version."""
    data = (shared_samples / "alertmanager" / "prometheus-bot-legacy-v3.json").read_bytes()

    with pytest.raises(PayloadError, match="version"):
        parse_notification(data, now=NOW)


def test_not_json_is_refused() -> None:
    """A body that is not JSON gives one line saying so."""
    with pytest.raises(PayloadError, match="not JSON"):
        parse_notification(b"{nope", now=NOW)


def test_null_maps_from_other_senders_are_empty() -> None:
    """`commonAnnotations: null` and `annotations: null` are accepted as empty."""
    document = notification(alert("A"))
    document["commonAnnotations"] = None
    document["alerts"][0]["annotations"] = None

    parsed = parse_notification(body(document), now=NOW)

    assert parsed.alerts[0].annotations == {}


def test_a_body_sent_again_is_the_notification_parsed_before() -> None:
    """The same bytes again (a retry, a repeat_interval) are not parsed a second time."""
    bodies = RecentBodies()
    data = body(notification(alert("A", pod="a"), alert("B", pod="b")))

    first = bodies.parse(data, now=NOW)
    again = bodies.parse(bytes(data), now=NOW)

    assert again is first
    assert [a.alertname for a in again.alerts] == ["A", "B"]


def test_a_body_without_statuses_is_parsed_again_at_each_send() -> None:
    """Its alerts' status depends on when it comes: once endsAt has passed, resolved."""
    bodies = RecentBodies()
    item = alert("A", ends_at="2024-05-01T10:04:00Z")
    del item["status"]
    data = body(notification(item))

    before = bodies.parse(data, now=NOW)
    after = bodies.parse(data, now=datetime(2024, 5, 1, 10, 5, tzinfo=UTC))

    assert [before.alerts[0].status, after.alerts[0].status] == ["firing", "resolved"]


def test_recent_bodies_keep_the_latest_few_and_never_a_refused_one() -> None:
    bodies = RecentBodies(size=2)
    sent = [body(notification(alert("A", pod=str(n)))) for n in range(3)]
    first = [bodies.parse(data, now=NOW) for data in sent]
    refused = body({"version": "4", "alerts": "none"})

    for _ in range(2):
        with pytest.raises(PayloadError, match="alerts"):
            bodies.parse(refused, now=NOW)

    assert bodies.parse(sent[2], now=NOW) is first[2]
    assert bodies.parse(sent[1], now=NOW) is first[1]
    assert bodies.parse(sent[0], now=NOW) is not first[0]  # the oldest went
