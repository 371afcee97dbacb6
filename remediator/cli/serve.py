"""
`remediator serve`: the daemon.

With no arguments it listens on 127.0.0.1:8080 with the built-in defaults,
the dry-run executor and SQLite state in `.remediator-state/`. SIGTERM (or
Ctrl-C) stops accepting requests, lets the evaluation in progress finish,
closes the state store and exits 0; episodes recorded but not yet evaluated
are evaluated at the next start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
from typing import Any

from remediator.errors import InputError

logger = logging.getLogger("remediator.server")

SHUTDOWN_SECONDS = 10.0
"""How long in-flight HTTP requests may take to finish after SIGTERM."""

BACKLOG = 128
"""Connections the kernel queues before we accept them (aiohttp's own default)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the daemon: gauges, Alertmanager webhook, guarded remediation",
        description="Export benchmark results as Prometheus gauges, receive Alertmanager "
        "webhooks and remediate through the guard. Dry-run unless execution is on "
        "(AUTO_EXECUTE=true or execution.auto_execute).",
    )
    parser.add_argument("--config", metavar="PATH", help="YAML config file")
    parser.add_argument("--listen", metavar="HOST:PORT",
                        help="address to listen on (default 127.0.0.1:8080)")
    parser.add_argument("--results", metavar="PATH",
                        help="benchmark results file to export (default: $RESULTS_PATH, then "
                        "bench/bench_results.json)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where the SQLite state lives (default .remediator-state)")
    parser.add_argument("--kubeconfig", metavar="PATH",
                        help="kubeconfig for execution, leader election and state (default: "
                        "in-cluster config in a pod, else $KUBECONFIG, then ~/.kube/config)")
    parser.add_argument("--context", metavar="NAME",
                        help="kubeconfig context to use (default: its current context)")
    parser.add_argument("--allow-insecure", action="store_true", default=None,
                        help="allow execution with an unauthenticated webhook (logs a warning)")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"),
                        help="log level (default info); logs are JSON lines unless stderr "
                        "is a terminal")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from remediator import allocator, logs
    from remediator.config import loading
    from remediator.leadership import Leadership, elector_for
    from remediator.web.app import create_app

    logs.setup(level=getattr(logging, args.log_level.upper()))
    allocator.return_large_blocks()
    settings = loading.load_settings(
        args.config,
        overrides={
            "server.listen": args.listen,
            "results.path": args.results,
            "state.dir": args.state_dir,
            "server.allow_insecure": args.allow_insecure,
            "kubernetes.kubeconfig": args.kubeconfig,
            "kubernetes.context": args.context,
        },
    )

    # Without leader election this replica may always act; with it, the elector decides.
    elector = elector_for(settings)
    leadership = Leadership(leader=elector is None)
    app = create_app(settings, leadership=leadership, elector=elector)

    host, _, port = settings.server.listen.rpartition(":")
    asyncio.run(_serve(app, host.strip("[]"), int(port)))
    return 0


async def _serve(app: Any, host: str, port: int) -> None:
    from aiohttp import web

    # Signals first: a SIGTERM during start-up still shuts down cleanly.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    # The port first: a daemon that cannot listen must not have opened the state,
    # let alone evaluated or written anything (another daemon may own both).
    listening = _bind(host, port)

    # No access log: one line per webhook would drown the log in a storm.
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=SHUTDOWN_SECONDS)
    try:
        await runner.setup()
    except BaseException:
        listening.close()
        raise
    try:
        await web.SockSite(runner, listening).start()
        for address in runner.addresses:
            where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else address
            logger.info("listening on http://%s", where, extra={"listen": where})
        await stop.wait()
        logger.info("stopping: draining in-flight work")
    finally:
        await runner.cleanup()
    logger.info("stopped")


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on the address, or the one-line error naming it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=BACKLOG)
    except OSError as error:
        reason = error.strerror or str(error)
        raise InputError("command line", "--listen",
                         f"cannot listen on {host}:{port}: {reason}") from None
