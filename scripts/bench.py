"""
`make bench`: how fast remediator decides, how much it holds, side by side with its stack.

Every figure is measured next to a baseline taken in the same run, since
these machines are noisy: a bare aiohttp handler that only parses the same
JSON (tests/support/bare.py), plain `json.loads` of the same file, or the
waits Prometheus and Alertmanager are configured with. It prints one table:
figure, measured, baseline, ratio, target, pass or fail; exit 1 when a
target is missed. Traffic goes to 127.0.0.1 only. docs/performance.md says
what each figure measures and why.

    python scripts/bench.py                  # everything, about 3.5 minutes
    python scripts/bench.py --quick          # shorter runs, rougher figures
    python scripts/bench.py throughput vllm  # only these figures
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

# The harnesses live with the tests, which run the same daemon and servers.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from remediator.bench.reading import read_result
from remediator.state.sqlite import FILENAME
from tests.alerting.stack import Stack
from tests.support.bare import Bare
from tests.support.load import (
    STORM_ALERTS,
    Run,
    notification_body,
    real_alert,
    steady,
    storm_body,
    sustained_body,
)
from tests.support.serving import Serve

TOKEN = "bench-webhook-token"  # noqa: S105 - a throwaway token for a loopback daemon
MB = 1024 * 1024
SETTLE_SECONDS = 120.0
POLL_SECONDS = 0.01


@dataclasses.dataclass
class Row:
    figure: str
    measured: float
    baseline: float | None
    unit: str
    target: str
    passed: bool | None
    """None for a figure without a target (shown for context)."""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.measured / self.baseline


@dataclasses.dataclass(frozen=True)
class Scale:
    """How long each figure runs: the default, or `--quick`."""

    wrk_seconds: int
    wrk_rounds: int
    latency_seconds: int
    episodes: int
    e2e_trials: int
    sustained_seconds: int


FULL = Scale(wrk_seconds=3, wrk_rounds=4, latency_seconds=10, episodes=100_000, e2e_trials=3,
             sustained_seconds=60)
QUICK = Scale(wrk_seconds=2, wrk_rounds=2, latency_seconds=3, episodes=100_000, e2e_trials=1,
              sustained_seconds=15)


# --- the figures -------------------------------------------------------------------------

def throughput(work: Path, scale: Scale) -> list[Row]:
    """
    POST /webhook/alertmanager of a known 3-alert notification, with wrk, vs the
    bare handler: the same bytes each time (a retry, a repeat_interval), and
    bodies that differ at each send though their alerts do not (an annotation
    templated from `$value` changes with every evaluation), which the daemon
    must parse again.
    """
    body = storm_body(0)
    same = _wrk_script(work / "same.lua", [body])
    changing = _wrk_script(work / "changing.lua", [
        body.replace(b"over its threshold", f"over its threshold ({n})".encode())
        for n in range(CHANGING_BODIES)
    ])

    # Both up at once and measured in turns, best of each: other load on the
    # machine then hits both alike instead of whichever ran when it came.
    rows = []
    with Bare(work / "bare.log") as bare, _daemon(work, "throughput") as daemon:
        # The first post makes its three episodes known; every later one repeats them.
        _post(daemon, body)
        _settled(daemon)
        _wrk(bare.url, same, 1)
        _wrk(daemon.url, same, 1)
        for script, what in ((same, "the same body"), (changing, "bodies that differ")):
            bare_runs, daemon_runs, failed = [], [], 0
            for _ in range(scale.wrk_rounds):
                bare_runs.append(_wrk(bare.url, script, scale.wrk_seconds)[0])
                rate, errors = _wrk(daemon.url, script, scale.wrk_seconds)
                daemon_runs.append(rate)
                failed += errors
            baseline, measured = max(bare_runs), max(daemon_runs)
            rows.append(Row(
                f"webhook throughput, repeats: {what} (3 alerts, {len(body) / 1024:.1f} KB;"
                f" {failed} failed)", measured, baseline, "req/s", ">= 70% of bare",
                measured >= 0.7 * baseline and failed == 0,
            ))
    return rows


CHANGING_BODIES = 1000
"""More than the daemon keeps parsed (`RecentBodies`), so none is a body seen lately."""


def latency(work: Path, scale: Scale) -> list[Row]:
    """Webhook arrival to recorded decision, under a steady 500 req/s of new episodes."""
    rate, count = 500, 500 * scale.latency_seconds

    with Bare(work / "bare-latency.log") as bare:
        bare_run = asyncio.run(steady(bare.url + "/webhook/alertmanager", storm_body,
                                      rate=rate, count=count))
    reply_ms = sorted((r.answered - r.sent) * 1000 for r in bare_run.replies)

    state = work / "latency-state"
    with _daemon(work, "latency", state=state) as daemon:
        run = asyncio.run(steady(daemon.url + "/webhook/alertmanager", storm_body,
                                 rate=rate, count=count, headers=daemon.headers))
        _settled(daemon)
        daemon.stop()
    failures = len(run.failures)
    decided, undecided = _decision_latencies(state)
    p50, p99 = _percentile(decided, 50), _percentile(decided, 99)
    if failures:
        kinds = collections.Counter(str(r.status or r.error) for r in run.failures)
        NOTES.append(f"decision latency: {failures} of {count} requests failed: "
                     + ", ".join(f"{n} x {kind}" for kind, n in kinds.most_common(3)))

    fine = failures == 0 and undecided == 0
    return [
        Row(f"decision latency p50, {rate} req/s of new episodes (3 a request)", p50,
            _percentile(reply_ms, 50), "ms", "-", None),
        Row(f"decision latency p99 ({len(decided)} episodes, {undecided} undecided,"
            f" {failures} requests failed)", p99, _percentile(reply_ms, 99), "ms", "< 5 ms",
            p99 < 5 and fine),
    ]


def big(work: Path, scale: Scale) -> list[Row]:
    """One notification of 10,000 new alerts: accepted, fully decided, memory afterwards."""
    alerts = [real_alert(STORM_ALERTS[n % 3], n) for n in range(10_000)]
    body = notification_body(alerts)

    with Bare(work / "bare-big.log") as bare:
        parse_seconds = min(_timed_post(bare.url, body, {}) for _ in range(3))

    with _daemon(work, "big") as daemon:
        _post(daemon, storm_body(10_001))
        _settled(daemon)
        before = daemon.rss_bytes()
        started = time.monotonic()
        _post(daemon, body)
        accepted = time.monotonic() - started
        _settled(daemon)
        processed = time.monotonic() - started
        peak = daemon.peak_rss_bytes()
        after = daemon.rss_bytes()
        # The same notification again, all repeats: what the first one freed is reused.
        _post(daemon, body)
        _settled(daemon)
        again = daemon.rss_bytes()

    grown, kept, regrown = (peak - before) / MB, (after - before) / MB, (again - after) / MB
    return [
        Row(f"10,000 alerts in one notification ({len(body) / MB:.1f} MB): accepted",
            accepted, parse_seconds, "s", "-", None),
        Row("10,000 alerts: fully processed (decided)", processed, parse_seconds, "s", "< 1 s",
            processed < 1),
        Row(f"10,000 alerts: memory kept afterwards (peak +{grown:.0f} MB)", kept, grown, "MB",
            "-", None),
        Row("10,000 alerts: growth when they come again (repeats)", regrown, kept, "MB",
            "< 5 MB", regrown < 5),
    ]


def memory(work: Path, scale: Scale) -> list[Row]:
    """
    Resident size idle, and its growth after 100,000 distinct episodes: as a
    storm that fires all of them at once, and as they come and go (each
    notification of 1,000 firing alerts followed by their resolve), where
    what stays is the dedup memory of the episodes that went.
    """
    # 1,000 alerts a notification: the most the shipped Alertmanager route sends at once.
    per_notification = 1000
    groups = [
        [real_alert(STORM_ALERTS[n % 3], n) for n in range(start, start + per_notification)]
        for start in range(0, scale.episodes, per_notification)
    ]
    # Each notification its own Alertmanager group, since one group's notification
    # carries all its alerts (up to max_alerts).
    bodies = [notification_body(alerts, group=f', shard="{n}"') for n, alerts in enumerate(groups)]
    churn = [body for n, alerts in enumerate(groups)
             for body in (notification_body(alerts, group=f', shard="{n}"'),
                          notification_body(_resolved(alerts), group=f', shard="{n}"'))]

    with Bare(work / "bare-memory.log") as bare:
        bare_idle = bare.rss_bytes()
        asyncio.run(_post_all(bare.url, bodies, {}))
        bare_grown = bare.rss_bytes() - bare_idle

    with _daemon(work, "memory") as daemon:
        idle = daemon.rss_bytes()
        asyncio.run(_post_all(daemon.url, bodies, daemon.headers))
        _settled(daemon)
        grown = daemon.rss_bytes() - idle

    with _daemon(work, "memory-churn") as daemon:
        churn_idle = daemon.rss_bytes()
        for body in churn:  # in order: each resolve after its firing
            _post(daemon, body)
        _settled(daemon)
        churned = daemon.rss_bytes() - churn_idle

    return [
        Row("resident memory, idle", idle / MB, bare_idle / MB, "MB", "-", None),
        Row(f"memory growth after {scale.episodes:,} distinct episodes, all firing at once",
            grown / MB, bare_grown / MB, "MB", "< 30 MB", grown < 30 * MB),
        Row(f"memory growth after {scale.episodes:,} distinct episodes that fired and resolved",
            churned / MB, bare_grown / MB, "MB", "< 30 MB", churned < 30 * MB),
    ]


def _resolved(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same alerts resolved, as Alertmanager sends them once the rule stops firing."""
    return [{**alert, "status": "resolved", "endsAt": "2024-05-01T10:30:00Z"} for alert in alerts]


def vllm(work: Path, scale: Scale) -> list[Row]:
    """A vLLM result with 100,000 per-request entries, read, vs json.loads of the file."""
    path = work / "vllm-detailed.json"
    path.write_text(json.dumps(_vllm_document(100_000)), encoding="utf-8")

    baseline = min(_seconds(lambda: json.loads(path.read_bytes())) for _ in range(3))
    measured = min(_seconds(lambda: read_result(path)) for _ in range(3))
    size = path.stat().st_size / MB
    return [
        Row(f"vLLM result, 100,000 per-request entries ({size:.0f} MB)", measured, baseline,
            "s", "< 1 s", measured < 1),
    ]


def e2e(work: Path, scale: Scale) -> list[Row]:
    """Result written to action recorded, with the real Prometheus and Alertmanager."""
    # A chain of its own for each trial: in a fresh Alertmanager the alert makes a
    # new group, which waits group_wait (an existing group sends at its next tick).
    steps = [
        ({"p95_ms": 200}, "LLMLatencyP95Critical"),
        ({"p99_ms": 250}, "LLMLatencyP99Critical"),
        ({"error_rate": 0.1}, "LLMErrorRateCritical"),
    ][:scale.e2e_trials]

    totals, remainders = [], []
    for trial, (figures, alertname) in enumerate(steps):
        stack = Stack(work / f"e2e-{trial}")
        stack.root.mkdir()
        with stack:
            stack.write_result(p95_ms=50)
            stack.wait("a healthy result in Prometheus", lambda stack=stack: stack.query(
                'llm_bench_latency_seconds{percentile="95"} == 0.05'))

            written = time.time()
            stack.write_result(**{"p95_ms": 50, **figures})
            decision = stack.wait(f"the decision on {alertname}",
                                  lambda stack=stack, name=alertname: _new_decision(
                                      stack, name))
            decided = _epoch(decision["time"])
            fired = _epoch(_active_at(stack, alertname)) + FOR_SECONDS
            totals.append(decided - written)
            # Past the moment Prometheus fired and group_wait ran out: nobody's waiting.
            remainders.append(decided - fired - GROUP_WAIT_SECONDS)

    waits = 1 + 1 + FOR_SECONDS + GROUP_WAIT_SECONDS + POLL_RESULTS
    total = statistics.median(totals)
    remainder = statistics.median(remainders)
    NOTES.append("end to end, each trial (s): "
                 + ", ".join(f"{t:.2f} in all, {r * 1000:.0f} ms after group_wait"
                             for t, r in zip(totals, remainders, strict=True)))
    return [
        Row(f"end to end: result written to action recorded ({len(totals)} trials)", total,
            waits, "s", "-", None),
        Row("end to end: overhead = that minus the configured waits", total - waits, waits,
            "s", "< 1 s", total - waits < 1),
        Row("end to end: action recorded after Prometheus fired + group_wait", remainder,
            waits, "s", "< 1 s", remainder < 1),
    ]


def sustained(work: Path, scale: Scale) -> list[Row]:
    """The slow test's load, 1,000 req/s of an alert storm: failures and the memory curve."""
    rate, count = 1000, 1000 * scale.sustained_seconds

    with _daemon(work, "sustained") as daemon:
        start = daemon.rss_bytes()
        run, curve = asyncio.run(_sampled(daemon, steady(
            daemon.url + "/webhook/alertmanager", sustained_body, rate=rate, count=count,
            headers=daemon.headers)))
        _settled(daemon)
        curve.append(daemon.rss_bytes())

    NOTES.append("memory curve of the sustained load (MB, every 5 s): "
                 + ", ".join(f"{rss / MB:.0f}" for rss in curve[::5]))
    failed = len(run.failures)
    return [
        Row(f"sustained {rate:,} req/s for {scale.sustained_seconds} s: requests failed"
            f" (sender lag at most {run.late * 1000:.0f} ms)", failed, None, "", "0",
            failed == 0),
        Row(f"sustained: resident memory at the end (peak {max(curve) / MB:.0f} MB)",
            curve[-1] / MB, start / MB, "MB", "-", None),
    ]


async def _sampled(daemon: Serve, load: Coroutine[Any, Any, Run]) -> tuple[Run, list[int]]:
    """Run the load while reading the daemon's resident memory every second."""
    curve: list[int] = []

    async def sample() -> None:
        while True:
            curve.append(daemon.rss_bytes())
            await asyncio.sleep(1)

    sampler = asyncio.create_task(sample())
    try:
        run = await load
    finally:
        sampler.cancel()
    return run, curve


# The waits Stack configures: scrape 1 s, evaluation 1 s, `for` 1 s, group_wait 1 s,
# results poll 0.2 s.
FOR_SECONDS = 1.0
GROUP_WAIT_SECONDS = 1.0
POLL_RESULTS = 0.2

FIGURES: dict[str, Callable[[Path, Scale], list[Row]]] = {
    "throughput": throughput, "latency": latency, "big": big, "memory": memory,
    "vllm": vllm, "e2e": e2e, "sustained": sustained,
}
NOTES: list[str] = []
"""Lines printed under the table: what a figure has beyond one number."""


# --- the daemon and the load ---------------------------------------------------------------

@contextmanager
def _daemon(work: Path, name: str, state: Path | None = None) -> Iterator[Serve]:
    """`remediator serve` with its defaults (dry-run, SQLite) and a webhook token."""
    folder = work / name
    folder.mkdir()
    with Serve(folder, state_dir=state or folder / "state", token=TOKEN) as daemon:
        daemon.ready()
        yield daemon


def _settled(daemon: Serve) -> None:
    """Wait until nothing recorded awaits evaluation."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while daemon.metric("remediator_queue_depth") > 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"the daemon did not settle within {SETTLE_SECONDS:g}s")
        time.sleep(POLL_SECONDS)


def _post(daemon: Serve, body: bytes) -> None:
    _timed_post(daemon.url, body, daemon.headers)


def _timed_post(url: str, body: bytes, headers: dict[str, str]) -> float:
    request = urllib.request.Request(  # noqa: S310 - see below
        url + "/webhook/alertmanager", data=body, method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    started = time.monotonic()
    # Only http://127.0.0.1 URLs of the servers this script started reach here.
    with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310
        reply.read()
    return time.monotonic() - started


async def _post_all(url: str, bodies: list[bytes], headers: dict[str, str]) -> None:
    """Each body once, eight at a time; any reply but 200 stops the run."""
    queue = list(reversed(bodies))
    async with aiohttp.ClientSession(headers={"Content-Type": "application/json",
                                              **headers}) as session:
        async def sender() -> None:
            while queue:
                async with session.post(url + "/webhook/alertmanager",
                                        data=queue.pop()) as reply:
                    if reply.status != 200:
                        raise SystemExit(f"webhook answered {reply.status}: "
                                         f"{(await reply.text())[:200]}")
        await asyncio.gather(*(sender() for _ in range(8)))


def _wrk_script(script: Path, bodies: list[bytes]) -> Path:
    """A wrk script posting the bodies in turn, with the daemon's token."""
    if len(bodies) == 1:
        # wrk's own static request: no Lua call per request to slow the generator.
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n'
            f"wrk.body = [==[{bodies[0].decode()}]==]\n",
            encoding="utf-8",
        )
        return script
    quoted = ",\n".join(f"[==[{body.decode()}]==]" for body in bodies)
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n'
        f"local bodies = {{{quoted}}}\n"
        "local next_body = 0\n"
        "request = function()\n"
        "  next_body = next_body % #bodies + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[next_body])\n"
        "end\n",
        encoding="utf-8",
    )
    return script


def _wrk(url: str, script: Path, seconds: int) -> tuple[float, int]:
    """Requests per second, and how many failed (non-2xx, socket errors)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install -y --no-install-recommends wrk")
    output = subprocess.run(
        [wrk, "-t1", "-c32", f"-d{seconds}s", "-s", str(script), url + "/webhook/alertmanager"],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate is None:
        raise SystemExit(f"wrk printed no rate:\n{output}")
    failed = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    failed += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    return float(rate.group(1)), failed


# --- reading what the daemon recorded ---------------------------------------------------------

def _decision_latencies(state: Path) -> tuple[list[float], int]:
    """Per episode, ms from its arrival (first_seen) to the first decision naming it."""
    with sqlite3.connect(state / FILENAME) as db:
        arrived = {key: json.loads(data)["first_seen"]
                   for key, data in db.execute("SELECT key, data FROM episodes")}
        first: dict[str, float] = {}
        for (data,) in db.execute("SELECT data FROM decisions ORDER BY id"):
            decision = json.loads(data)
            for key in decision["episodes"]:
                first.setdefault(key, decision["time"])
    latencies = sorted((first[key] - seen) * 1000 for key, seen in arrived.items()
                       if key in first)
    return latencies, len(arrived) - len(latencies)


def _new_decision(stack: Stack, alertname: str) -> dict[str, Any] | None:
    """The first decision `alertname` caused."""
    caused = [d for d in stack.decisions()
              if (d.get("alert") or {}).get("alertname") == alertname]
    return caused[0] if caused else None


def _active_at(stack: Stack, alertname: str) -> str:
    """When Prometheus found the alert's expression true (it fires `for` later)."""
    url = stack.prometheus_url("/api/v1/alerts")
    with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - our loopback Prometheus
        body = json.loads(reply.read())
    for alert in body["data"]["alerts"]:
        if alert["labels"]["alertname"] == alertname:
            return str(alert["activeAt"])
    raise SystemExit(f"Prometheus has no {alertname} alert")


def _epoch(text: str) -> float:
    # Prometheus writes nanoseconds; fromisoformat takes at most microseconds.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed).timestamp()


# --- small helpers -------------------------------------------------------------------------

def _vllm_document(requests: int) -> dict[str, Any]:
    """`vllm bench serve --save-result --save-detailed`: the summary and per-request lists."""
    return {
        "date": "20250301-120000", "backend": "openai-chat", "model_id": "m/tiny",
        "num_prompts": requests, "duration": 600.0, "completed": requests - 10,
        "failed": 10, "request_throughput": (requests - 10) / 600.0,
        "mean_ttft_ms": 80.0, "median_ttft_ms": 75.0, "p99_ttft_ms": 140.0,
        "mean_e2el_ms": 2100.0, "median_e2el_ms": 2000.0, "p95_e2el_ms": 2700.5,
        "p99_e2el_ms": 3100.25,
        "input_lens": [512 + n % 97 for n in range(requests)],
        "output_lens": [128 + n % 31 for n in range(requests)],
        "ttfts": [0.05 + (n % 100) / 1000 for n in range(requests)],
        "itls": [[0.011 + (n + i) % 7 / 1000 for i in range(16)] for n in range(requests)],
        "generated_texts": [f"Answer {n}: " + "the model wrote these words. " * 6
                            for n in range(requests)],
        "errors": ["" if n >= 10 else "upstream timeout" for n in range(requests)],
    }


def _seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return float("nan")
    rank = max(0, min(len(values) - 1, round(percent / 100 * len(values) + 0.5) - 1))
    return values[rank]


def _table(rows: list[Row]) -> str:
    header = ("figure", "measured", "baseline", "ratio", "target", "")
    lines = [header]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        baseline = "-" if row.baseline is None else _number(row.baseline, row.unit)
        verdict = {True: "pass", False: "FAIL", None: ""}[row.passed]
        lines.append((row.figure, _number(row.measured, row.unit), baseline, ratio,
                      row.target, verdict))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                + " |" for line in lines]
    rendered.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(rendered)


def _number(value: float, unit: str) -> str:
    if not unit:
        return f"{value:,.0f}"
    if unit == "req/s":
        return f"{value:,.0f} {unit}"
    if unit == "s" and abs(value) < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:,.{1 if unit != 'ms' else 2}f} {unit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("figures", nargs="*", metavar="FIGURE",
                        help=f"only these figures ({', '.join(FIGURES)}); default all")
    parser.add_argument("--quick", action="store_true", help="shorter runs, rougher figures")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (logs, state) afterwards")
    args = parser.parse_args()

    unknown = [name for name in args.figures if name not in FIGURES]
    if unknown:
        parser.error(f"unknown figure {unknown[0]!r}: choose from {', '.join(FIGURES)}")

    scale = QUICK if args.quick else FULL
    work = Path(tempfile.mkdtemp(prefix="remediator-bench-"))
    rows: list[Row] = []
    try:
        for name in args.figures or list(FIGURES):
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            rows += FIGURES[name](work, scale)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"working directory kept: {work}", file=sys.stderr)

    print(_table(rows))
    for note in NOTES:
        print(note)
    return 0 if all(row.passed is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
