"""
Operator commands that talk to a running daemon over its authenticated API.

    remediator decisions [--limit N] [--output text|json]
    remediator pause TARGET        remediator resume TARGET
    remediator breaker reset TARGET
    remediator revert-config

TARGET is `namespace/deployment/name` (or `namespace/configmap/name`). The
daemon is found at `--url`, else `$REMEDIATOR_URL`, else the `server.listen`
of `--config` (default http://127.0.0.1:8080); the token comes from
`$REMEDIATOR_WEBHOOK_TOKEN` or `--token-file`, as for the webhook.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from remediator.config import names
from remediator.errors import InputError, RemediatorError

KINDS = ("deployment", "configmap")


class DaemonError(RemediatorError):
    """The daemon could not be reached or refused the request."""


def register(subparsers: Any) -> None:
    decisions = _command(subparsers, "decisions", "list the daemon's recent decisions, newest "
                         "first")
    decisions.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    decisions.add_argument("--output", choices=("text", "json"), default="text")
    decisions.set_defaults(handler=_decisions)

    for verb, text in (("pause", "stop acting on a target until it is resumed"),
                       ("resume", "act on a paused target again")):
        parser = _command(subparsers, verb, text)
        parser.add_argument("target", metavar="TARGET", help="namespace/deployment/name")
        parser.set_defaults(handler=_pause if verb == "pause" else _resume)

    breaker = _command(subparsers, "breaker", "operate a target's circuit breaker")
    breaker.add_argument("operation", choices=("reset",),
                         help="reset: close the breaker; earlier actions stop counting")
    breaker.add_argument("target", metavar="TARGET", help="namespace/deployment/name")
    breaker.set_defaults(handler=_breaker)

    revert = _command(subparsers, "revert-config",
                      "put back the value the last config patch lowered, and restart")
    revert.set_defaults(handler=_revert)


def _command(subparsers: Any, name: str, text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=text, description=text[0].upper() + text[1:] + "."
    )
    parser.add_argument("--url", help="the daemon's address (default: $REMEDIATOR_URL, then "
                        "server.listen of --config)")
    parser.add_argument("--config", metavar="PATH", help="YAML config file of the daemon")
    parser.add_argument("--token-file", metavar="PATH",
                        help="file holding the API token (default: $REMEDIATOR_WEBHOOK_TOKEN)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for the daemon (default 30)")
    return parser


# --- handlers -------------------------------------------------------------------


def _decisions(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 1000:
        raise InputError("command line", "--limit", f"must be 1 to 1000, got {args.limit}")
    history = _call(args, "GET", f"/api/v1/actions?limit={args.limit}")
    if args.output == "json":
        print(json.dumps(history, indent=2))
        return 0
    if not history:
        print("No decisions yet.")
        return 0
    for entry in history:
        target = entry["target"] or entry.get("description", "")
        print(f"{entry['id']:>6}  {entry['time'][:19]}  {entry['type']:<13} {target:<40} "
              f"{entry['outcome']:<9} {entry['reason']}")
    return 0


def _pause(args: argparse.Namespace) -> int:
    state = _call(args, "POST", f"/api/v1/targets/{_target(args.target)}/pause")
    print(f"{state['target']} paused: no actions on it until `remediator resume`.")
    return 0


def _resume(args: argparse.Namespace) -> int:
    state = _call(args, "POST", f"/api/v1/targets/{_target(args.target)}/resume")
    print(f"{state['target']} resumed.")
    return 0


def _breaker(args: argparse.Namespace) -> int:
    state = _call(args, "POST", f"/api/v1/targets/{_target(args.target)}/breaker/reset")
    print(f"breaker of {state['target']} reset: {state['breaker']}.")
    return 0


def _revert(args: argparse.Namespace) -> int:
    decision = _call(args, "POST", "/api/v1/config/revert")
    print(f"{decision['outcome']}: {decision['reason']}")
    return 0 if decision["outcome"] in ("executed", "dry_run") else 1


# --- talking to the daemon ---------------------------------------------------------


def _target(text: str) -> str:
    """`namespace/deployment/name`, validated, as the API path spells it."""
    parts = text.split("/")
    if len(parts) != 3 or parts[1].lower() not in KINDS:
        raise InputError("command line", "TARGET",
                         f"must be namespace/deployment/name (or namespace/configmap/name),"
                         f" got {text!r}")
    namespace, kind, name = parts
    problem = names.label_problem(namespace) or names.subdomain_problem(name)
    if problem:
        raise InputError("command line", "TARGET", f"{text!r}: {problem}")
    return f"{namespace}/{kind.lower()}/{name}"


def _call(args: argparse.Namespace, method: str, path: str) -> Any:
    url = _base_url(args) + path
    # S310: the scheme is checked to be http(s) in _base_url.
    request = urllib.request.Request(url, method=method, headers=_headers(args))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as reply:  # noqa: S310
            return json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        raise DaemonError(_refusal(error, _base_url(args))) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise DaemonError(f"cannot reach the daemon at {_base_url(args)}: {reason}") from None


def _refusal(error: urllib.error.HTTPError, url: str) -> str:
    if error.code == 401:
        return ("the daemon refused the credentials: set REMEDIATOR_WEBHOOK_TOKEN or"
                " --token-file")
    try:
        answer = json.loads(error.read())
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {}
    message = answer.get("error")
    if error.code == 503 and "leader" in answer:
        # A follower: nothing was done; the same command through the Service reaches the leader.
        return (f"the daemon at {url} did nothing: {message}; run the command again with"
                " --url (or REMEDIATOR_URL) set to that Service")
    return f"the daemon answered {error.code}: {message or error.reason}"


def _base_url(args: argparse.Namespace) -> str:
    url = args.url or os.environ.get("REMEDIATOR_URL")
    if not url:
        from remediator.config import loading

        listen = loading.load_settings(args.config).server.listen
        host, _, port = listen.rpartition(":")
        if host in ("0.0.0.0", "::", "[::]"):  # noqa: S104 - reading the address, not binding
            host = "127.0.0.1"
        url = f"http://{host}:{port}"
    if not url.startswith(("http://", "https://")):
        raise InputError("command line", "--url",
                         f"must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


def _headers(args: argparse.Namespace) -> dict[str, str]:
    from remediator.config import loading

    # The file wins; an empty one, or an empty variable, is an error, never "no auth".
    if args.token_file:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise InputError(args.token_file, None, f"cannot read: {error.strerror}") from None
        if not token:
            raise InputError(args.token_file, None, "the token file is empty")
    else:
        token = loading.webhook_token(os.environ) or ""
    headers = {"Accept": "application/json", "User-Agent": "remediator-cli"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers
