"""
The episode book: episodes that left the firing set are remembered by key
only, and still deduplicate, revive and resolve as full records did, also
after a reload from the store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remediator.alerting import mapping
from remediator.alerting.mapping import Mapped
from remediator.alerting.payload import parse_notification
from remediator.config.settings import Settings
from remediator.remediation.episodes import Absorbed, Cause, EpisodeBook, Joined
from remediator.state.base import EpisodeRecord
from remediator.state.sqlite import SqliteStore
from tests.daemon.payloads import alert, body, notification, resolved

EXPIRY = 3600.0
T = 1714557600.0
P95 = "LLMLatencyP95Critical"


def send(book: EpisodeBook, *alerts: dict[str, Any], now: float,
         stored: list[EpisodeRecord] | None = None) -> Absorbed:
    """
    Absorb, commit, and evaluate at once, as the daemon does with a quiet worker;
    the records the daemon would store go to `stored`.
    """
    parsed = parse_notification(body(notification(*alerts)),
                                now=datetime.fromtimestamp(now, UTC))
    changes = book.absorb(parsed, now=now)
    book.commit(changes)
    handled = book.mark_handled(changes.writes)
    book.expire(now=now)
    if stored is not None:
        stored.extend(handled)
    return changes


def test_a_resolved_episode_is_kept_as_its_key_and_stays_resolved() -> None:
    """Once resolved and evaluated, the full record goes; a late firing copy is a repeat."""
    book = EpisodeBook(expiry_seconds=EXPIRY)
    firing = alert(P95, pod="a")
    send(book, firing, now=T)
    send(book, resolved(firing), now=T + 60)

    late = send(book, firing, now=T + 61)

    assert book.episodes == {}
    assert book.known_count == 1
    assert not late.news and late.writes == []


def test_a_lapsed_episode_comes_back_with_its_first_seen_and_can_resolve() -> None:
    """Expired from the firing set, then re-sent: revived as it was; then resolved."""
    book = EpisodeBook(expiry_seconds=EXPIRY)
    firing = alert(P95, pod="a")
    send(book, firing, now=T)
    book.expire(now=T + EXPIRY + 1)
    assert book.episodes == {} and book.firing(now=T + EXPIRY + 1) == []

    back = send(book, firing, now=T + EXPIRY + 2)
    gone = send(book, resolved(firing), now=T + EXPIRY + 3)

    assert [e.first_seen for e in back.revived] == [T]
    assert [e.labels["pod"] for e in back.revived] == ["a"]
    assert [e.first_seen for e in gone.resolved] == [T]
    assert book.firing(now=T + EXPIRY + 3) == []


def test_the_resolve_of_a_lapsed_episode_is_taken() -> None:
    """A lost resolve that finally comes, after the expiry, still closes the episode."""
    book = EpisodeBook(expiry_seconds=EXPIRY)
    firing = alert(P95, pod="a")
    send(book, firing, now=T)
    book.expire(now=T + EXPIRY + 1)

    late = send(book, resolved(firing), now=T + EXPIRY + 2)
    again = send(book, firing, now=T + EXPIRY + 3)

    assert [(e.status, e.first_seen) for e in late.resolved] == [("resolved", T)]
    assert not again.news


def test_settled_keys_are_forgotten_after_the_retention() -> None:
    book = EpisodeBook(expiry_seconds=EXPIRY)
    one, two = alert(P95, pod="a"), alert(P95, pod="b")
    send(book, one, two, now=T)
    send(book, resolved(one), now=T + 10)
    book.expire(now=T + EXPIRY + 1)

    gone = book.forget(before=T + EXPIRY + 100)

    assert gone == [send(EpisodeBook(expiry_seconds=EXPIRY), two, now=T).new[0].key]
    assert book.known_count == 0
    assert send(book, one, now=T + EXPIRY + 200).new
    assert send(book, two, now=T + EXPIRY + 200).new


async def test_after_a_reload_settled_episodes_deduplicate_as_before(tmp_path: Path) -> None:
    """The store keeps full records; a book loaded from it settles them again."""
    store = SqliteStore(tmp_path)
    await store.open()
    book = EpisodeBook(expiry_seconds=EXPIRY)
    gone, still = alert(P95, pod="a"), alert(P95, pod="b")
    stored: list[EpisodeRecord] = []
    send(book, gone, still, now=T, stored=stored)
    send(book, resolved(gone), now=T + 10, stored=stored)
    await store.save_episodes(stored)

    reloaded = EpisodeBook(expiry_seconds=EXPIRY)
    reloaded.load(await store.load_episodes())
    await store.close()

    assert reloaded.known_count == 2
    assert [e.labels["pod"] for e in reloaded.firing(now=T + 20)] == ["b"]
    assert not send(reloaded, gone, still, now=T + 20).news


def mapped_book() -> EpisodeBook:
    settings = Settings()
    return EpisodeBook(expiry_seconds=EXPIRY,
                       mapper=lambda labels: mapping.map_alert(labels, settings))


def test_a_mapped_episode_lets_go_of_its_labels_and_keeps_its_cause() -> None:
    """The store keeps the labels; the book keeps only what they map to."""
    book = mapped_book()
    changes = send(book, alert(P95, pod="a"), alert(P95, pod="b"), now=T)

    [cause] = book.causes(now=T).values()

    assert [e.labels for e in book.firing(now=T)] == [None, None]
    assert sorted(cause.episodes) == sorted(e.key for e in changes.new)
    assert cause.mapped.condition is not None and cause.mapped.condition.metric == "p95"


def test_an_episode_back_from_the_expiry_is_mapped_again_from_its_alert() -> None:
    """Lapsed before it was evaluated, then re-sent: the resend's labels say what it asks."""
    book = mapped_book()
    parsed = parse_notification(body(notification(alert(P95, pod="a"))),
                                now=datetime.fromtimestamp(T, UTC))
    book.commit(book.absorb(parsed, now=T))  # recorded, not evaluated yet
    book.expire(now=T + EXPIRY + 1)
    assert book.causes(now=T + EXPIRY + 1) == {}

    back = send(book, alert(P95, pod="a"), now=T + EXPIRY + 2)

    [cause] = book.causes(now=T + EXPIRY + 2).values()
    assert [e.key for e in back.revived] == list(cause.episodes)


def test_an_alert_left_out_before_it_was_evaluated_leaves_at_the_next_notification() -> None:
    """Evaluated first, whatever its group does: then the group's next send takes it out."""
    book = mapped_book()
    group = '{}:{deployment="llm-gateway"}'
    one, two = alert(P95, pod="a"), alert(P95, pod="b")

    def absorbed(*alerts: dict[str, Any], now: float) -> Absorbed:
        parsed = parse_notification(body(notification(*alerts, group_key=group)),
                                    now=datetime.fromtimestamp(now, UTC))
        changes = book.absorb(parsed, now=now)
        book.commit(changes)
        return changes

    first = absorbed(one, two, now=T)
    early = absorbed(two, now=T + 1)  # before the worker looked at either
    still = sorted(e.key for e in book.firing(now=T + 1))
    book.mark_handled(first.new)
    later = absorbed(two, now=T + 2)

    assert early.absent == [] and len(still) == 2
    assert later.absent == [first.new[0].key]
    assert [e.key for e in book.firing(now=T + 2)] == [first.new[1].key]


def test_a_group_that_sends_no_more_is_forgotten() -> None:
    """Grouped by pod, pods come and go: what the book remembers of groups stays bounded."""
    book = mapped_book()
    for pod in range(3):
        parsed = parse_notification(
            body(notification(alert(P95, pod=str(pod)), group_key=f'{{}}:{{pod="{pod}"}}')),
            now=datetime.fromtimestamp(T, UTC))
        changes = book.absorb(parsed, now=T)
        book.commit(changes)
        book.mark_handled(changes.new)
    book.expire(now=T + EXPIRY + 1)

    book.forget(before=T - 1)

    assert book.group_count == 0


def test_the_episodes_of_several_causes_read_as_one_mapping_kept_up_to_date() -> None:
    """
    An action of two causes sees both causes' episodes, the newest of the last
    first, and what joins, leaves or moves between the indexes as it happens.
    """
    def record(fingerprint: str) -> EpisodeRecord:
        return EpisodeRecord(fingerprint, "2024-05-01T10:00:00.000000+00:00", "A", None,
                             "firing", 1.0, 1.0)

    def cause(*fingerprints: str) -> Cause:
        episodes = {e.key: e for e in map(record, fingerprints)}
        return Cause(mapped=Mapped(cause="unused"), first=min(episodes), episodes=episodes)

    book: dict[str, Cause] = {"p95": cause("a1", "a2"), "errors": cause("b1")}
    flying: dict[str, Cause] = {"errors": cause("b2")}
    joined = Joined((book, flying), ("p95", "errors"))
    before = [joined[key].fingerprint for key in reversed(joined)]
    landed = flying.pop("errors").episodes
    book["errors"].episodes.update(landed)  # its write landed: from one index to the other
    late = record("b3")
    flying["errors"] = Cause(mapped=Mapped(cause="unused"), first=late.key,
                             episodes={late.key: late})
    del book["p95"]  # its episodes resolved

    assert before == ["b2", "b1", "a2", "a1"]
    assert [joined[key].fingerprint for key in reversed(joined)] == ["b3", "b2", "b1"]
    assert len(joined) == 3 and late.key in joined and "nothing@x" not in joined
    assert joined.get("nothing@x") is None
