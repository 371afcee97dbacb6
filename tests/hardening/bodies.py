"""
Hypothesis strategies for webhook bodies: hostile, broken, and nearly right.

Random JSON alone rarely gets past the first check of a parser, so most
bodies here start from a real-shaped v4 notification and break one thing
in it (a type, a timestamp, a label, a nesting level). Strings include lone
surrogates, which JSON can spell (`"\\ud800"`) but UTF-8 cannot encode.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Every field name of the payload, so random trees hit the parser's branches.
KEYS = [
    "version", "groupKey", "receiver", "externalURL", "truncatedAlerts", "alerts",
    "status", "labels", "annotations", "startsAt", "endsAt", "fingerprint",
    "generatorURL", "alertname", "groupLabels", "commonLabels", "commonAnnotations",
]

TIMES = st.sampled_from([
    "2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123456789Z", "2024-05-01T12:00:00+02:00",
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00-01:00",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59+14:00",
    "0001-01-01T23:00:00-05:00", "2024-02-30T00:00:00Z", "2024-05-01", "2024-05-01T25:00:00Z",
    "", "now", "1714557600", "2024-05-01T10:00:00+24:00", "2024-05-01T10:00:00\u0000Z",
]) | st.datetimes().map(lambda moment: moment.isoformat()) | st.text(max_size=30)

# Any code point, lone surrogates included (JSON escapes them, UTF-8 refuses them).
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=12)

LEAVES = (
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False) | ANY_TEXT | TIMES
    | st.sampled_from(["4", "3", "firing", "resolved", "pending", "", "LLMLatencyP95Critical"])
)

TREES = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | ANY_TEXT, children, max_size=6),
    max_leaves=25,
)


def valid_alert(index: int = 0) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": "LLMLatencyP95Critical", "instance": f"gw-{index}"},
        "annotations": {"summary": "p95 above its critical threshold"},
        "startsAt": "2024-05-01T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:19090/graph",
        "fingerprint": f"{index:016x}",
    }


def valid_notification(alerts: int = 1) -> dict[str, Any]:
    return {
        "receiver": "remediator",
        "status": "firing",
        "alerts": [valid_alert(index) for index in range(alerts)],
        "groupLabels": {"alertname": "LLMLatencyP95Critical"},
        "commonLabels": {"alertname": "LLMLatencyP95Critical"},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:19093",
        "version": "4",
        "groupKey": '{}:{alertname="LLMLatencyP95Critical"}',
        "truncatedAlerts": 0,
    }


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A real-shaped notification with one field replaced, removed or added."""
    document = valid_notification(draw(st.integers(min_value=1, max_value=3)))
    alert = document["alerts"][draw(st.integers(0, len(document["alerts"]) - 1))]
    where = draw(st.sampled_from(["document", "alert", "labels", "annotations"]))
    node = {"document": document, "alert": alert, "labels": alert["labels"],
            "annotations": alert["annotations"]}[where]
    key = draw(st.sampled_from(sorted(node)) | st.sampled_from(KEYS) | ANY_TEXT)
    if draw(st.booleans()) and key in node:
        del node[key]
    else:
        node[key] = draw(TREES)
    return document


def encode(document: Any) -> bytes:
    """JSON as a sender would write it; lone surrogates come out as `\\udXXX` escapes."""
    return json.dumps(document).encode()


# Deep enough to pass the decoder's recursion limit, short enough to stay fast.
NESTING = st.integers(min_value=1, max_value=5_000).map(
    lambda depth: b'{"alerts":' * depth + b"[]" + b"}" * depth
) | st.integers(min_value=1, max_value=5_000).map(lambda depth: b"[" * depth)

BODIES = st.one_of(
    mutated().map(encode),
    TREES.map(encode),
    st.binary(max_size=200),
    NESTING,
)
"""Bodies of every kind; some are valid, most are not."""
