"""
The `Store` contract, for any backend.

A backend's test module defines a `store` fixture (an open store on fresh
storage) and a `reopen` fixture (a coroutine function that closes it and
returns a new store on the same storage), then imports these tests:
`from tests.state.contract import *  # noqa: F403`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from remediator.state.base import (
    AlertRef,
    DecisionRecord,
    EpisodeRecord,
    Store,
    TargetState,
)

Reopen = Callable[[], Awaitable[Store]]

GROUP_KEY = '{}/{severity=~"^(?:page)$"}:{alertname="HighLatencyP99", namespace="shop"}'


def episode(fingerprint: str = "a1b2c3d4e5f60708", *, status: str = "firing",
            seen: float = 1000.0, labels: dict[str, str] | None = None) -> EpisodeRecord:
    return EpisodeRecord(
        fingerprint=fingerprint,
        starts_at="2024-05-01T10:00:00.000000+00:00",
        alertname="LLMLatencyP95Critical",
        labels={"alertname": "LLMLatencyP95Critical", **(labels or {})},
        status=status,  # type: ignore[arg-type]
        first_seen=seen,
        last_seen=seen,
        resolved_at=seen if status == "resolved" else None,
    )


def decision(time: float, **fields: object) -> DecisionRecord:
    values: dict[str, object] = {
        "time": time, "type": "scale", "action_key": "scale:default/deployment/llm-gateway",
        "target": "default/deployment/llm-gateway", "outcome": "dry_run",
        "reason": "would run: kubectl scale", "counted": True, "covering": True,
        "episodes": ["a1b2c3d4e5f60708@2024-05-01T10:00:00.000000+00:00"],
        "alert": AlertRef("LLMLatencyP95Critical", "a1b2c3d4e5f60708",
                          "2024-05-01T10:00:00.000000+00:00"),
    }
    values.update(fields)
    return DecisionRecord(**values)  # type: ignore[arg-type]


async def test_episodes_round_trip_across_a_reopen(store: Store, reopen: Reopen) -> None:
    """Saved episodes come back equal after the store is closed and opened again."""
    labels = {"team": "équipe-paiement", "group": GROUP_KEY, "quote": "it's \"x\"\n"}
    saved = [episode("1111111111111111", labels=labels), episode("2222222222222222",
                                                             status="resolved")]
    await store.save_episodes(saved)

    again = await reopen()

    assert sorted(await again.load_episodes(), key=lambda e: e.key) == saved


async def test_saving_an_episode_again_replaces_it(store: Store) -> None:
    """An episode saved twice under one key is kept once, in its latest state."""
    first = episode()
    await store.save_episodes([first])
    await store.save_episodes([episode(status="resolved", seen=2000.0)])

    kept = await store.load_episodes()

    assert [(e.key, e.status) for e in kept] == [(first.key, "resolved")]


async def test_an_episode_saved_without_labels_keeps_those_stored(store: Store) -> None:
    """The daemon lets go of labels once an alert is mapped: its later saves must not lose them."""
    first = episode(labels={"pod": "llm-gateway-1"})
    await store.save_episodes([first])
    later = episode(status="resolved", seen=2000.0)
    later.labels = None
    await store.save_episodes([later])

    [kept] = await store.load_episodes()
    labels = await store.episode_labels([first.key, "ffffffffffffffff@2024-05-01"])

    assert (kept.status, kept.labels) == ("resolved", first.labels)
    assert labels == {first.key: first.labels}


async def test_an_episode_is_flagged_evaluated_only_in_the_state_evaluated(
        store: Store, reopen: Reopen) -> None:
    """
    The worker flags what it evaluated without waiting: a change stored
    meanwhile (here a resolve) is neither overwritten nor flagged.
    """
    evaluated, untouched = episode("1111111111111111"), episode("2222222222222222")
    await store.save_episodes([evaluated, untouched])
    changed = episode("1111111111111111", status="resolved", seen=2000.0)
    await store.save_episodes([changed, episode("3333333333333333")])

    await store.mark_handled([evaluated, episode("2222222222222222"),
                              episode("9999999999999999")])
    again = await reopen()

    kept = {e.fingerprint: (e.status, e.handled) for e in await again.load_episodes()}
    assert kept == {"1111111111111111": ("resolved", False),
                    "2222222222222222": ("firing", True),
                    "3333333333333333": ("firing", False)}


async def test_decision_ids_increase_and_list_newest_first(store: Store) -> None:
    """Ids grow with each decision; the history pages newest first."""
    added = [await store.add_decision(decision(1000.0 + n)) for n in range(5)]

    newest = await store.decisions(limit=2)
    older = await store.decisions(limit=10, before_id=newest[-1].id)

    assert [d.id for d in added] == sorted({d.id for d in added})
    assert [d.id for d in newest] == [added[4].id, added[3].id]
    assert [d.id for d in older] == [added[2].id, added[1].id, added[0].id]


async def test_decisions_added_together_get_ids_in_their_order(store: Store,
                                                               reopen: Reopen) -> None:
    """A pass's deferrals are stored in one call: after the one before, in order."""
    before = await store.add_decision(decision(1000.0))
    together = await store.add_decisions([decision(1001.0, type="restart"),
                                          decision(1002.0, type="rollback")])

    again = await reopen()
    listed = await again.decisions(limit=10)

    assert before.id < together[0].id < together[1].id
    assert [(d.id, d.type) for d in listed] == [
        (together[1].id, "rollback"), (together[0].id, "restart"), (before.id, "scale")]


async def test_updated_decision_survives_a_reopen(store: Store, reopen: Reopen) -> None:
    """A pending decision given its outcome reads back with that outcome and JSON-able."""
    pending = await store.add_decision(decision(1000.0, outcome="pending"))
    pending.outcome = "executed"
    pending.details = {"before": 3, "after": 5}
    await store.update_decision(pending)

    again = await reopen()
    [back] = await again.decisions_since(0.0)

    assert back == pending
    assert json.loads(json.dumps(back.to_json()))["alert"]["startsAt"].startswith("2024-05-01")


async def test_decisions_since_is_oldest_first_from_the_time(store: Store) -> None:
    """decisions_since gives the decisions at or after a time, oldest first."""
    for t in (100.0, 200.0, 300.0):
        await store.add_decision(decision(t))

    since = await store.decisions_since(200.0)

    assert [d.time for d in since] == [200.0, 300.0]


async def test_targets_round_trip(store: Store, reopen: Reopen) -> None:
    """Target states are kept by target, the latest save winning."""
    await store.save_target(TargetState("shop/deployment/checkout", paused=True))
    await store.save_target(TargetState("shop/deployment/checkout", breaker_opened_at=5.0))

    again = await reopen()

    assert await again.load_targets() == [
        TargetState("shop/deployment/checkout", breaker_opened_at=5.0)
    ]


async def test_prune_forgets_what_is_older_than_retention(store: Store) -> None:
    """Pruning removes old resolved episodes and old decisions, keeps recent ones."""
    await store.save_episodes([episode("1111111111111111", status="resolved", seen=100.0),
                               episode("2222222222222222", seen=900.0)])
    await store.add_decision(decision(100.0))
    await store.add_decision(decision(900.0))

    removed = await store.prune(before=500.0)

    assert removed == 2
    assert [e.fingerprint for e in await store.load_episodes()] == ["2222222222222222"]
    assert [d.time for d in await store.decisions_since(0.0)] == [900.0]
    assert (await store.add_decision(decision(950.0))).id == 3
