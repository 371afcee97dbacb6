"""/metrics: the benchmark gauges and the self-metrics, checked by promtool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.daemon.conftest import Daemon, MakeDaemon
from tests.daemon.payloads import alert, notification

SELF_METRICS = (
    "remediator_webhook_requests_total", "remediator_notifications_total",
    "remediator_alerts_total", "remediator_actions_total", "remediator_skips_total",
    "remediator_action_duration_seconds", "remediator_recovery_seconds",
    "remediator_breaker_open", "remediator_queue_depth", "remediator_truncated_alerts_total",
    "remediator_results_read_failures_total", "remediator_last_decision_timestamp_seconds",
    "remediator_leader", "remediator_episodes_firing", "remediator_state_errors_total",
    "remediator_results_missing_figures_total", "remediator_unmapped_alerts_total",
)


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make system-deps` installs Debian's prometheus"
    return subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          text=True, check=False, timeout=30)


def native(path: Path, **fields: object) -> None:
    """Write a native results file (latencies in ms under latency_stats)."""
    latency = {k: fields.pop(k) for k in ("p50_ms", "p95_ms", "p99_ms") if k in fields}
    path.write_text(json.dumps({"latency_stats": latency, **fields}))


async def test_exposition_passes_promtool_after_traffic(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """After results and a decision, /metrics passes `promtool check metrics`."""
    native(tmp_path / "bench_results.json", p50_ms=40.0, p95_ms=165.0, p99_ms=200.0,
           error_rate=0.005, throughput_rps=15.0)
    daemon = await make_daemon()
    await daemon.post(notification(alert("LLMLatencyP95Critical")))
    await daemon.settle()
    await daemon.post(b"not json")

    text = await daemon.metrics()
    checked = promtool_check(text)

    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
    for name in SELF_METRICS:
        assert name in text, name
    # One series per counter child, not a `*_created` twin beside each.
    assert [line for line in text.splitlines() if "_created" in line] == []


async def test_gauges_in_base_units_with_the_percentile_label(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """Latency in seconds labelled by percentile, ratios as fractions, throughput in req/s."""
    native(tmp_path / "bench_results.json", p50_ms=40.0, p95_ms=165.0, p99_ms=200.0,
           error_rate=0.005, throughput_rps=15.0)
    daemon = await make_daemon()
    await daemon.metrics()

    assert daemon.sample("llm_bench_latency_seconds", percentile="95") == pytest.approx(0.165)
    assert daemon.sample("llm_bench_latency_seconds", percentile="50") == pytest.approx(0.04)
    assert daemon.sample("llm_bench_error_ratio") == pytest.approx(0.005)
    assert daemon.sample("llm_bench_success_ratio") == pytest.approx(0.995)
    assert daemon.sample("llm_bench_throughput_requests_per_second") == pytest.approx(15.0)
    stamp = daemon.services.registry.get_sample_value("llm_bench_last_result_timestamp_seconds")
    assert stamp == pytest.approx(os.stat(tmp_path / "bench_results.json").st_mtime)


@pytest.mark.parametrize("fields", [
    {"p95_ms": 75.0, "error_rate": 0.01, "throughput_rps": 1822.8},          # no p99 (FR 25)
    {"p95_ms": 75.0, "p99_ms": None, "error_rate": 0.01, "throughput_rps": 1822.8},
    {"p95_ms": float("nan"), "p99_ms": float("inf"), "error_rate": 0.0,     # FR 24 a
     "throughput_rps": 5.0},
])
async def test_missing_figure_is_absent_never_zero_or_nan(
        make_daemon: MakeDaemon, tmp_path: Path, fields: dict[str, object]) -> None:
    """A figure the benchmark did not give (or gave as NaN) is absent from the exposition."""
    native(tmp_path / "bench_results.json", **fields)
    daemon = await make_daemon()

    text = await daemon.metrics()

    assert 'percentile="99"' not in text
    assert "NaN" not in text and "+Inf\n" not in text.replace('le="+Inf"', "")
    assert promtool_check(text).returncode == 0


async def test_a_figure_left_unset_is_counted_and_named_in_a_warning(
        make_daemon: MakeDaemon, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """
    Field reports 24 and 25: no p99, and a sentinel p95, are exported as nothing.

    Each is counted by metric in remediator_results_missing_figures_total and
    named in a warning, so the gap is visible without reading the file.
    """
    native(tmp_path / "bench_results.json", p50_ms=40.0, p95_ms=9223372036854776.0,
           error_rate=0.01, throughput_rps=1822.8)

    with caplog.at_level("WARNING", logger="remediator.results"):
        daemon = await make_daemon()
    text = await daemon.metrics()

    assert "llm_bench_latency_seconds{percentile=\"95\"}" not in text
    assert "llm_bench_latency_seconds{percentile=\"99\"}" not in text
    assert daemon.sample("llm_bench_latency_seconds", percentile="50") == pytest.approx(0.04)
    assert daemon.sample("remediator_results_missing_figures_total", metric="p99") == 1
    assert daemon.sample("remediator_results_missing_figures_total", metric="p95") == 1
    assert daemon.sample("remediator_results_missing_figures_total", metric="throughput") == 0
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("p99_ms" in line for line in warned), warned
    assert any("p95_ms" in line and "far beyond" in line for line in warned), warned


async def test_no_data_run_exports_no_latency(make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """A run where nothing completed (all latencies 0) exports no latency gauge (FR 24 c)."""
    native(tmp_path / "bench_results.json", p50_ms=0, p95_ms=0, p99_ms=0, error_rate=0,
           throughput_rps=0)
    daemon = await make_daemon()

    text = await daemon.metrics()

    assert "llm_bench_latency_seconds{" not in text


async def test_bad_file_keeps_the_last_good_values_and_counts(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """A result that fails to parse keeps the last good gauges and counts one failure."""
    path = tmp_path / "bench_results.json"
    native(path, p95_ms=120.0, p99_ms=480.0, error_rate=0.01, throughput_rps=850.0)
    daemon = await make_daemon()

    path.write_text('{"latency_stats": {"p95_ms": -nan}, "throughput_rps": inf}')
    await daemon.services.watcher.check()
    native(path, p95_ms=120.0, error_rate=5, throughput_rps=850.0)   # FR 27 e: not a fraction
    os.utime(path, ns=(1, 1))
    await daemon.services.watcher.check()

    assert daemon.sample("llm_bench_latency_seconds", percentile="95") == pytest.approx(0.12)
    assert daemon.sample("remediator_results_read_failures_total") == 2


async def test_deleted_file_withdraws_its_figures(make_daemon: MakeDaemon,
                                                   tmp_path: Path) -> None:
    """When the results file goes, its figures go; the timestamp stays for the stale rule."""
    path = tmp_path / "bench_results.json"
    native(path, p95_ms=900.0, p99_ms=2500.0, error_rate=0.002, throughput_rps=400.0)
    daemon = await make_daemon()

    path.unlink()
    await daemon.services.watcher.check()
    text = await daemon.metrics()

    assert "llm_bench_latency_seconds" not in text
    assert "llm_bench_last_result_timestamp_seconds" in text


async def test_old_result_exports_only_its_timestamp(make_daemon: MakeDaemon,
                                                      tmp_path: Path) -> None:
    """A result older than alerts.results_stale_seconds is not exported as current (FR 23)."""
    path = tmp_path / "bench_results.json"
    native(path, p95_ms=900.0, p99_ms=2500.0, error_rate=0.002, throughput_rps=400.0,
           finished_at="2024-05-01T09:00:00Z")
    daemon = await make_daemon(**{"alerts.results_stale_seconds": 1800})

    daemon.clock.now = daemon.clock.now + 3 * 3600
    text = await daemon.metrics()

    assert "llm_bench_latency_seconds" not in text
    assert daemon.sample("llm_bench_last_result_timestamp_seconds") == pytest.approx(
        1714554000.0)


async def test_a_result_read_when_already_old_says_why_its_figures_are_missing(
        make_daemon: MakeDaemon, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An old file at start gives one warning naming results_stale_seconds, not silence."""
    native(tmp_path / "bench_results.json", p95_ms=900.0, error_rate=0.0, throughput_rps=40.0,
           finished_at="2024-05-01T07:00:00Z")

    with caplog.at_level("WARNING", logger="remediator.results"):
        daemon = await make_daemon()
        await daemon.metrics()
        text = await daemon.metrics()

    stale = [r.getMessage() for r in caplog.records if "results_stale_seconds" in r.getMessage()]
    assert len(stale) == 1
    assert "finished 2024-05-01T07:00:00+00:00, 10830s ago" in stale[0]
    assert "llm_bench_latency_seconds" not in text


async def test_pushed_result_updates_the_gauges(daemon: Daemon) -> None:
    """POST /api/v1/results with a k6 summary updates the gauges; a bad one is a 400."""
    k6 = {"metrics": {"http_req_duration": {"avg": 41.2, "p(90)": 66.8, "p(95)": 75.0},
                      "http_reqs": {"count": 3699, "rate": 1822.8}}}

    status, reply = await daemon.api("POST", "/api/v1/results", data=json.dumps(k6))
    bad, error = await daemon.api("POST", "/api/v1/results?format=native", data=b"{}")

    assert (status, reply["format"]) == (200, "k6")
    assert daemon.sample("llm_bench_latency_seconds", percentile="95") == pytest.approx(0.075)
    assert 'percentile="99"' not in await daemon.metrics()
    assert bad == 400 and error["error"].startswith("push")


async def test_error_rate_in_percent_is_exported_as_a_fraction(
        make_daemon: MakeDaemon, tmp_path: Path) -> None:
    """`error_rate_percent: 5` is exported as 0.05, always within 0..1 (FR 27 d)."""
    native(tmp_path / "bench_results.json", p95_ms=80.0, error_rate_percent=5,
           throughput_rps=12.0)
    daemon = await make_daemon()

    await daemon.metrics()

    assert daemon.sample("llm_bench_error_ratio") == pytest.approx(0.05)


async def test_counters_the_health_alerts_watch_start_at_zero(daemon: Daemon) -> None:
    """A fresh daemon exports failures and rejections at 0, so `increase()` sees the first one."""
    text = await daemon.metrics()

    assert 'remediator_actions_total{outcome="failed",type="scale"} 0.0' in text
    assert 'remediator_actions_total{outcome="executed",type="rollback"} 0.0' in text
    assert 'remediator_webhook_requests_total{code="401"} 0.0' in text
    assert 'remediator_skips_total{reason="breaker_open"} 0.0' in text
    for reason in ("duplicate", "cooldown", "rate_limit", "dry_run", "would_lower_replicas",
                   "unknown_target", "invalid_target", "executor"):
        assert f'remediator_skips_total{{reason="{reason}"}} 0.0' in text
    assert 'outcome="pending"' not in text
