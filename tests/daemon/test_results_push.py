"""
Results from the future, results too old to export, and the push's query parameters.

A result that ends in the future could never go stale, so
`LLMBenchResultsStale` could never fire on it: it is refused, pushed or read
from the file. One that is already old is taken, but its figures are not
exported, and the push's reply has to say so.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.daemon.conftest import Daemon, MakeDaemon


def native(p95_ms: float, finished_at: float | None = None, **extra: object) -> dict[str, object]:
    document: dict[str, object] = {
        "latency_stats": {"p50_ms": 20.0, "p95_ms": p95_ms, "p99_ms": p95_ms + 10},
        "error_rate": 0.0, "throughput_rps": 30.0, **extra}
    if finished_at is not None:
        document["finished_at"] = datetime.fromtimestamp(finished_at, UTC).isoformat()
    return document


def p95(daemon: Daemon) -> float | None:
    return daemon.services.registry.get_sample_value(
        "llm_bench_latency_seconds", {"percentile": "95"})


async def push(daemon: Daemon, document: object, query: str = "") -> tuple[int, dict[str, object]]:
    return await daemon.api("POST", f"/api/v1/results{query}", data=json.dumps(document))


async def test_a_pushed_result_from_the_future_is_refused_naming_the_time(
        daemon: Daemon) -> None:
    """An hour ahead: 400 naming the time, the earlier figures stay, the failure counts."""
    now = daemon.clock()
    accepted, _ = await push(daemon, native(80.0, finished_at=now))

    status, reply = await push(daemon, native(900.0, finished_at=now + 3600))

    assert (accepted, status) == (200, 400)
    assert reply["field"] == "time"
    assert "3600s in the future" in str(reply["error"])
    assert p95(daemon) == pytest.approx(0.080)
    assert daemon.sample("remediator_results_read_failures_total") == 1


async def test_a_little_clock_skew_is_tolerated(daemon: Daemon) -> None:
    """A minute ahead is another host's clock, not a result from the future."""
    status, reply = await push(daemon, native(80.0, finished_at=daemon.clock() + 60))

    assert (status, reply["exported"]) == (200, True)
    assert p95(daemon) == pytest.approx(0.080)


async def test_a_results_file_from_the_future_keeps_the_last_good_values(
        make_daemon: MakeDaemon, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The watched file turns into one from the future: one log line, counted, values kept."""
    path = tmp_path / "bench_results.json"
    daemon = await make_daemon()
    now = daemon.clock()
    path.write_text(json.dumps(native(80.0, finished_at=now)))
    await daemon.services.watcher.check()

    path.write_text(json.dumps(native(900.0, finished_at=now + 86400, note="from the future")))
    with caplog.at_level(logging.WARNING, logger="remediator.results"):
        await daemon.services.watcher.check()
        await daemon.services.watcher.check()

    lines = [r.getMessage() for r in caplog.records if "in the future" in r.getMessage()]
    assert len(lines) == 1 and str(path) in lines[0] and "time" in lines[0]
    assert p95(daemon) == pytest.approx(0.080)
    assert daemon.sample("remediator_results_read_failures_total") == 1


async def test_an_old_pushed_result_is_taken_but_the_reply_says_it_is_not_exported(
        make_daemon: MakeDaemon) -> None:
    """Older than alerts.results_stale_seconds: 200, `exported: false` and why."""
    daemon = await make_daemon(**{"alerts.results_stale_seconds": 7200})

    status, reply = await push(daemon, native(900.0, finished_at=daemon.clock() - 3 * 3600))

    assert status == 200
    assert reply["exported"] is False
    assert reply["reason"] == ("older than alerts.results_stale_seconds (7200 s): only its"
                               " timestamp is exported")
    assert p95(daemon) is None
    assert daemon.sample("llm_bench_last_result_timestamp_seconds") > 0


async def test_unknown_query_parameters_are_refused_by_name(daemon: Daemon) -> None:
    """`?bogus=1` is a 400 naming `bogus`; nothing is taken."""
    status, reply = await push(daemon, native(80.0), "?bogus=1")

    assert status == 400
    assert reply["field"] == "bogus" and "'bogus'" in str(reply["error"])
    assert p95(daemon) is None


async def test_run_picks_one_run_of_a_multi_run_file_as_watch_does(daemon: Daemon) -> None:
    """`?run=0` takes the first run of a JSON-lines file; a bad run number is a 400."""
    lines = "\n".join(json.dumps(native(ms)) for ms in (70.0, 95.0))
    first = await daemon.api("POST", "/api/v1/results?run=0", data=lines)
    bad = await daemon.api("POST", "/api/v1/results?run=x", data=lines)

    assert first[0] == 200 and first[1]["run"] == 0
    assert p95(daemon) == pytest.approx(0.070)
    assert bad[0] == 400 and "run" in str(bad[1]["error"])
