"""
The real alerting chain on loopback: our daemon, Prometheus and Alertmanager.

Used by the end-to-end test and by `make demo` (scripts/demo.py). The daemon
runs with the dry-run executor, or with the Kubernetes executor on a fake
cluster (tests/alerting/cluster.py), and reads a results file we write; Prometheus
scrapes its gauges every second and evaluates rules generated from the same
config file the daemon reads; Alertmanager routes the alerts back with a
config generated from it too. Every wait polls with a deadline: nothing
sleeps a fixed time to let something happen.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml

from remediator.alerting import routing, rules
from remediator.config import loading
from remediator.config.settings import Settings

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.1
# Environment variables that would change the daemon's settings behind our back.
_SETTINGS_VARIABLES = ("AUTO_EXECUTE", "DRY_RUN", "RESULTS_PATH", "REMEDIATOR_")


class Timeline:
    """What changed along the chain, each line stamped with seconds since the start."""

    def __init__(self, stack: Stack, *, echo: bool = False) -> None:
        self.stack = stack
        self.echo = echo
        self.started = time.monotonic()
        self.lines: list[str] = []
        self._seen: dict[str, Any] = {}

    def note(self, text: str) -> None:
        line = f"{time.monotonic() - self.started:6.1f}s  {text}"
        self.lines.append(line)
        if self.echo:
            print(line, flush=True)

    def baseline(self) -> None:
        """Take the current state as the starting point, without noting it."""
        echo, self.echo = self.echo, False
        self.observe()
        self.lines.clear()
        self.echo = echo

    def observe(self) -> None:
        """Compare each component's state with the last look, and note what moved."""
        stack = self.stack
        self._changes("Prometheus", stack.prometheus_alerts())
        self._changes("Alertmanager", stack.alertmanager_alerts(),
                      first=stack.alertmanager_receivers())
        outcomes: dict[int, str] = self._seen.setdefault("decisions", {})
        for decision in stack.decisions():
            # A decision is written `pending` before the executor runs: note it
            # once it is settled, with the outcome people care about.
            settled = decision["outcome"] != "pending"
            if settled and outcomes.get(decision["id"]) != decision["outcome"]:
                outcomes[decision["id"]] = decision["outcome"]
                cause = (decision.get("alert") or {}).get("alertname", "-")
                command = decision["command"] or decision["type"]
                # A dry run's reason repeats its command: say it once.
                reason = decision["reason"]
                why = "" if reason == f"would run: {command}" else f"; {reason}"
                self.note(f"remediator  {decision['outcome']:<8} {command}  (cause {cause}{why})")
        for result in ("new", "repeat"):
            count = stack.metric("remediator_notifications_total", result=result)
            if count != self._seen.get(result, 0.0):
                self._seen[result] = count
                self.note(f"remediator  notifications {result}: {count:g}")
        recoveries = stack.metric("remediator_recovery_seconds_count")
        if recoveries != self._seen.get("recoveries", 0.0):
            self._seen["recoveries"] = recoveries
            total = stack.metric("remediator_recovery_seconds_sum")
            self.note(f"remediator  episodes recovered: {recoveries:g}"
                      f" (time to recovery, total {total:.1f}s)")

    def until(self, what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
        """Wait like `Stack.wait`, noting every change seen on the way."""
        def observed() -> T | None:
            self.observe()
            return check()

        value = self.stack.wait(what, observed, timeout)
        # What made the check true may have happened after the last look.
        self.observe()
        return value

    def _changes(self, where: str, states: dict[str, str],
                 first: dict[str, str] | None = None) -> None:
        """Note each changed state; `first` adds a word when a name first appears."""
        before: dict[str, str] = self._seen.get(where, {})
        for name in sorted(set(before) | set(states)):
            if before.get(name) != states.get(name):
                extra = (first or {}).get(name) if name not in before else None
                self.note(f"{where:<11} {name}: {before.get(name, '-')} -> "
                          f"{states.get(name, 'gone')}" + (f" ({extra})" if extra else ""))
        self._seen[where] = states


class StackError(AssertionError):
    """Something did not happen in time; carries the logs that say why."""


def free_port() -> int:
    """A loopback port nobody listens on now (never a default one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"{name} is not installed: run `make system-deps`")
    return path


@dataclasses.dataclass
class Stack:
    """One daemon, one Alertmanager and one Prometheus, in `root`."""

    root: Path
    token: str = dataclasses.field(default_factory=lambda: secrets.token_hex(16))
    daemon_port: int = dataclasses.field(default_factory=free_port)
    alertmanager_port: int = dataclasses.field(default_factory=free_port)
    prometheus_port: int = dataclasses.field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = dataclasses.field(default_factory=dict)
    kubeconfig: Path | None = None
    """A fake cluster to act on with the Kubernetes executor; dry-run without one."""
    settings: Settings = dataclasses.field(init=False)

    # --- start and stop -----------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Write the configs, start the three servers and wait until the chain is live."""
        self._write_configs()
        self._start_daemon()
        self.wait(f"the daemon to answer on :{self.daemon_port}",
                  lambda: self._ok(self.daemon("/readyz")), timeout)
        self._start_alertmanager()
        self.wait("Alertmanager to be ready",
                  lambda: self._ok(self.alertmanager_url("/-/ready")), timeout)
        self._start_prometheus()
        self.wait("Prometheus to be ready",
                  lambda: self._ok(self.prometheus_url("/-/ready")), timeout)

        # Prometheus applies its targets and Alertmanagers on a 5 s ticker.
        self.wait("Prometheus to scrape the daemon", self._scraping, timeout)
        self.wait("Prometheus to find Alertmanager", self._notifying, timeout)

    def stop(self) -> None:
        """Stop what we started, newest first; SIGTERM, then SIGKILL if it hangs."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the test or the demo does ---------------------------------------

    def write_result(self, *, p95_ms: float, p99_ms: float | None = None,
                     error_rate: float = 0.0, throughput_rps: float = 100.0) -> None:
        """Replace the results file at once, as a benchmark job would."""
        # Percentiles of one run never decrease: the readers drop a p99 below
        # p95. By default p99 is p95 (at most its 200 ms threshold: quiet).
        p99 = p99_ms if p99_ms is not None else max(p95_ms, 80.0)
        document = {
            "service": "llm-gateway",
            "latency_stats": {"p50_ms": min(40.0, p95_ms), "p95_ms": p95_ms, "p99_ms": p99},
            "error_rate": error_rate,
            "throughput_rps": throughput_rps,
            "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        temporary = self.results.with_suffix(".tmp")
        temporary.write_text(json.dumps(document), encoding="utf-8")
        os.replace(temporary, self.results)

    def decisions(self) -> list[dict[str, Any]]:
        """The daemon's decision history, oldest first."""
        page: list[dict[str, Any]] = self._json(self.daemon("/api/v1/actions?limit=1000"))
        return list(reversed(page))

    def firing_episodes(self) -> list[dict[str, Any]]:
        """The daemon's firing set."""
        firing: list[dict[str, Any]] = self._json(self.daemon("/api/v1/alerts"))
        return firing

    def metric(self, name: str, **labels: str) -> float:
        """One sample of the daemon's /metrics (0 when absent)."""
        with self._open(self.daemon("/metrics")) as response:
            text = response.read().decode()
        wanted = {f'{key}="{value}"' for key, value in labels.items()}
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                series, _, value = line.rpartition(" ")
                inside = series[len(name):].strip("{}")
                if wanted <= set(inside.split(",")) - {""}:
                    return float(value)
        return 0.0

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant PromQL query's result vector."""
        url = self.prometheus_url("/api/v1/query?query=" + urllib.parse.quote(expr))
        result: list[dict[str, Any]] = self._json(url)["data"]["result"]
        return result

    def prometheus_alerts(self) -> dict[str, str]:
        """Alert name to state (`pending`, `firing`) in Prometheus now."""
        body = self._json(self.prometheus_url("/api/v1/alerts"))
        return {a["labels"]["alertname"]: a["state"] for a in body["data"]["alerts"]}

    def alertmanager_alerts(self) -> dict[str, str]:
        """Alert name to state (`active`, `suppressed`) in Alertmanager now."""
        alerts = self._json(self.alertmanager_url("/api/v2/alerts"))
        return {a["labels"]["alertname"]: a["status"]["state"] for a in alerts}

    def alertmanager_receivers(self) -> dict[str, str]:
        """Alert name to where Alertmanager routes it: `to remediator`, `to operators`."""
        alerts = self._json(self.alertmanager_url("/api/v2/alerts"))
        return {
            a["labels"]["alertname"]: "to " + ", ".join(r["name"] for r in a["receivers"])
            for a in alerts
        }

    def wait(self, what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
        """Poll `check` until it returns something truthy, or fail with the logs."""
        deadline = time.monotonic() + timeout
        while True:
            self._alive()
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise StackError(f"timed out after {timeout:g}s waiting for {what}\n{self.logs()}")
            time.sleep(POLL_SECONDS)

    def logs(self, lines: int = 30) -> str:
        """The last lines each server wrote, for failure messages."""
        parts = []
        for name in self.processes:
            path = self.root / f"{name}.log"
            tail = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            parts.append(f"--- {name} ---\n" + "\n".join(tail))
        return "\n".join(parts)

    # --- URLs ---------------------------------------------------------------

    def daemon(self, path: str) -> str:
        return f"http://127.0.0.1:{self.daemon_port}{path}"

    def alertmanager_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}{path}"

    def prometheus_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}{path}"

    @property
    def results(self) -> Path:
        return self.root / "bench_results.json"

    # --- set-up --------------------------------------------------------------

    def _write_configs(self) -> None:
        # One config file: the daemon reads it, and the rules and the route are
        # generated from it, so all three agree on every threshold and timing.
        config = {
            "server": {"listen": f"127.0.0.1:{self.daemon_port}"},
            "state": {"dir": str(self.root / "state")},
            "results": {"path": str(self.results), "poll_seconds": 0.2},
            # Warnings too are acted on (dry-run, or on the fake cluster): escalation shows.
            "execution": {"min_priority": 2, "auto_execute": self.kubeconfig is not None},
            # Short `for` and repeats, so the chain runs in seconds.
            "rules": {"for_seconds": 1},
            "alerts": {"repeat_interval_seconds": 2, "expiry_seconds": 600},
        }
        if self.kubeconfig is not None:
            config["kubernetes"] = {"kubeconfig": str(self.kubeconfig)}
        (self.root / "remediator.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        self.settings = loading.load_settings(self.root / "remediator.yaml", environ={})

        (self.root / "rules.yml").write_text(
            rules.render(rules.rule_file(self.settings)), encoding="utf-8"
        )
        token_file = self.root / "token"
        token_file.write_text(self.token, encoding="utf-8")
        delivery = routing.Delivery(
            url=self.daemon(routing.WEBHOOK_PATH),
            credentials_file=str(token_file),
            group_wait_seconds=1,
            group_interval_seconds=1,
        )
        (self.root / "alertmanager.yml").write_text(
            routing.alertmanager_config(self.settings, delivery), encoding="utf-8"
        )
        prometheus = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": ["rules.yml"],
            "alerting": {"alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{self.alertmanager_port}"]}]}
            ]},
            "scrape_configs": [{
                "job_name": self.settings.rules.remediator_job,
                "static_configs": [{"targets": [f"127.0.0.1:{self.daemon_port}"]}],
            }],
        }
        (self.root / "prometheus.yml").write_text(yaml.safe_dump(prometheus), encoding="utf-8")

    def _start_daemon(self) -> None:
        environ = {
            key: value for key, value in os.environ.items()
            if not key.startswith(_SETTINGS_VARIABLES)
        }
        environ["REMEDIATOR_WEBHOOK_TOKEN"] = self.token
        environ["PYTHONPATH"] = str(REPO)
        self._spawn("daemon", [
            sys.executable, "-m", "remediator", "serve",
            "--config", str(self.root / "remediator.yaml"),
        ], environ)

    def _start_alertmanager(self) -> None:
        url = self.alertmanager_url("")
        self._spawn("alertmanager", [
            binary("prometheus-alertmanager"),
            f"--config.file={self.root / 'alertmanager.yml'}",
            f"--storage.path={self.root / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
            f"--web.external-url={url}",
            # No HA gossip: it would bind 0.0.0.0:9094.
            "--cluster.listen-address=",
        ])

    def _start_prometheus(self) -> None:
        url = self.prometheus_url("")
        self._spawn("prometheus", [
            binary("prometheus"),
            f"--config.file={self.root / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.root / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
            f"--web.external-url={url}",
        ])

    def _spawn(self, name: str, argv: list[str], environ: dict[str, str] | None = None) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            argv, cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=environ,
        )
        log.close()

    # --- probes --------------------------------------------------------------

    def _alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise StackError(f"{name} exited with {process.returncode}\n{self.logs()}")

    def _scraping(self) -> bool:
        job = self.settings.rules.remediator_job
        query = urllib.parse.quote(f'up{{job="{job}"}} == 1')
        body = self._json(self.prometheus_url(f"/api/v1/query?query={query}"), missing={})
        return bool(body.get("data", {}).get("result"))

    def _notifying(self) -> bool:
        body = self._json(self.prometheus_url("/api/v1/alertmanagers"), missing={})
        return bool(body.get("data", {}).get("activeAlertmanagers"))

    def _ok(self, url: str) -> bool:
        try:
            with self._open(url) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False

    def _json(self, url: str, missing: Any = None) -> Any:
        try:
            with self._open(url) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            if missing is None:
                raise
            return missing

    def _open(self, url: str) -> Any:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        return urllib.request.urlopen(request, timeout=10)
