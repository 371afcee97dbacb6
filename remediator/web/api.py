"""
The authenticated API under `/api/v1/`: history, results push, operator controls.

- `GET  /api/v1/actions?limit=N&before=ID`: decisions, newest first; the
  `Link` header points at the next page.
- `GET  /api/v1/alerts`: the firing set.
- `GET  /api/v1/targets`: paused targets and breakers.
- `POST /api/v1/targets/{namespace}/{kind}/{name}/pause` (and `/resume`,
  `/breaker/reset`): operator controls; `kind` is `deployment` or `configmap`.
- `POST /api/v1/config/revert`: put back the value the last config patch lowered.
- `POST /api/v1/results?format=F&run=N`: a benchmark result, any format the CLI reads.

The operator controls change what the leader acts on, and only the leader
acts and reads the shared store (when it becomes leader), so on a follower
they answer 503, naming the leader when the Lease says who it is: the
operator sends them again through the Service, which routes to the leader.
Reads are answered by every replica.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from remediator.config import names
from remediator.config.settings import Settings
from remediator.errors import ResultError
from remediator.execution.base import ExecutionReport, Outcome
from remediator.planning.actions import Target
from remediator.state.base import DecisionRecord, EpisodeRecord, TargetState
from remediator.web.services import Services, read_body, require_auth, services

logger = logging.getLogger("remediator.server")

DEFAULT_LIMIT = 100
PUSH_PARAMETERS = frozenset({"format", "run"})
"""The query parameters of a results push, as `watch` has `--format` and `--run`."""
HISTORY_PARAMETERS = frozenset({"limit", "before"})
MAX_LIMIT = 1000
KINDS = {"deployment": "Deployment", "configmap": "ConfigMap"}
NOT_LEADER = "not the leader; send it to the leader's Service"
LEADER_LOOKUP_SECONDS = 2.0
"""How long a follower may spend reading the Lease to name the leader in its 503."""


async def actions(request: web.Request) -> web.Response:
    require_auth(request)
    _known_parameters(request, HISTORY_PARAMETERS)
    limit = _whole(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    before = _whole(request, "before", None, low=1, high=2**62)

    page = await services(request).store.decisions(limit=limit, before_id=before)

    headers = {}
    if len(page) == limit and page[-1].id > 1:
        url = request.rel_url.update_query(limit=limit, before=page[-1].id)
        headers["Link"] = f'<{url}>; rel="next"'
    return web.json_response([decision_json(d) for d in page], headers=headers)


async def alerts(request: web.Request) -> web.Response:
    require_auth(request)
    daemon = services(request)
    firing = sorted(daemon.remediation.book.firing(now=daemon.clock()), key=lambda e: e.key)
    # The book lets go of labels once an alert is mapped; the store keeps them.
    stored = await daemon.store.episode_labels([e.key for e in firing if e.labels is None])
    return web.json_response([
        episode_json(e, e.labels if e.labels is not None else stored.get(e.key, {}))
        for e in firing
    ])


async def targets(request: web.Request) -> web.Response:
    require_auth(request)
    states = services(request).remediation.decider.guard.targets.values()
    return web.json_response([target_json(s) for s in sorted(states, key=lambda s: s.target)])


async def pause(request: web.Request) -> web.Response:
    return await _pause(request, paused=True)


async def resume(request: web.Request) -> web.Response:
    return await _pause(request, paused=False)


async def reset_breaker(request: web.Request) -> web.Response:
    require_auth(request)
    daemon = services(request)
    await _require_leader(daemon)
    target = _target(request)
    state = await daemon.remediation.decider.reset_breaker(target.key)
    daemon.remediation.wake()
    return web.json_response(target_json(state))


async def revert_config(request: web.Request) -> web.Response:
    """Revert the ConfigMap of the last config patch in the history."""
    require_auth(request)
    daemon = services(request)
    await _require_leader(daemon)

    last = await _last_config_patch(daemon)
    if last is None or last.target is None:
        return _error(409, "no config patch was carried out: nothing to revert")
    namespace, _, name = last.target.split("/", 2)
    configmap = Target("ConfigMap", namespace, name)

    # Execution reverts through the executor; a dry run records what it would do, asking
    # the API server (dryRun=All) when execution is on but held back, as decisions do.
    executing = daemon.settings.executing()
    runs = daemon.executor if executing else daemon.remediation.decider.dry_run
    revert = getattr(runs, "revert_config", None)
    if revert is not None:
        report: ExecutionReport = await revert(configmap)
    elif executing:
        return _error(501, f"the {daemon.executor.name} executor cannot revert a config"
                      f" patch; restore {configmap} by hand")
    else:
        previous = last.details.get("before")
        report = ExecutionReport(
            Outcome.DRY_RUN,
            f"would revert the config patch of decision {last.id} in {configmap}"
            + (f" to {previous}" if previous is not None else ""),
        )
    decision = await daemon.remediation.decider.record_operator(
        "revert_config", configmap, report, reverts=last.id,
    )
    status = 200 if report.outcome in (Outcome.EXECUTED, Outcome.DRY_RUN) else 409
    return web.json_response(decision_json(decision), status=status)


async def push_results(request: web.Request) -> web.Response:
    require_auth(request)
    daemon = services(request)
    _known_parameters(request, PUSH_PARAMETERS)
    format = request.query.get("format") or None
    run = _whole(request, "run", None, low=0, high=1_000_000)
    data = await read_body(request)
    try:
        result = await daemon.watcher.push(data, format=format, run=run)
    except ResultError as error:
        logger.warning("pushed results rejected: %s", error)
        return web.json_response({"error": str(error), "field": error.field}, status=400)

    reply: dict[str, Any] = {
        "format": result.format,
        "time": result.time.isoformat(),
        "run": result.run_index,
        "metrics": result.metrics(),
        "exported": not daemon.watcher.gauges.stale(),
    }
    # Accepted but too old: say so here, not only in the log, or the figures seem lost.
    if not reply["exported"]:
        stale = daemon.settings.alerts.results_stale_seconds
        reply["reason"] = (f"older than alerts.results_stale_seconds ({stale:.0f} s): only"
                           " its timestamp is exported")
    return web.json_response(reply)


# --- JSON shapes --------------------------------------------------------------


def decision_json(decision: DecisionRecord) -> dict[str, Any]:
    return {
        "id": decision.id,
        "time": _rfc3339(decision.time),
        "type": decision.type,
        "target": decision.target,
        "outcome": decision.outcome,
        "reason": decision.reason,
        "command": decision.command,
        "alert": decision.alert.to_json() if decision.alert else None,
        "priority": decision.priority,
        "description": decision.description,
        "replicas": decision.replicas,
        "skip": decision.skip,
        "executor": decision.executor,
        "details": decision.details,
    }


def episode_json(episode: EpisodeRecord, labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "alertname": episode.alertname,
        "fingerprint": episode.fingerprint,
        "startsAt": episode.starts_at,
        "labels": dict(labels),
        "firstSeen": _rfc3339(episode.first_seen),
        "lastSeen": _rfc3339(episode.last_seen),
    }


def target_json(state: TargetState) -> dict[str, Any]:
    opened = state.breaker_opened_at
    return {
        "target": state.target,
        "paused": state.paused,
        "breaker": "open" if opened is not None else "closed",
        "breakerOpenedAt": _rfc3339(opened) if opened is not None else None,
    }


# --- helpers -----------------------------------------------------------------


async def _pause(request: web.Request, *, paused: bool) -> web.Response:
    require_auth(request)
    daemon = services(request)
    await _require_leader(daemon)
    target = _target(request)
    state = await daemon.remediation.decider.set_paused(target.key, paused)
    if not paused:
        daemon.remediation.wake()
    return web.json_response(target_json(state))


async def _require_leader(daemon: Services) -> None:
    """
    Refuse an operator control on a follower with a 503 the operator can act on.

    A follower would store it where the leader never looks while it leads (a
    pause, a breaker reset), or act although only the leader may (a revert).
    """
    if daemon.leadership.leader:
        return
    leader = await _current_leader(daemon.settings)
    message = NOT_LEADER + (f" (the leader is {leader})" if leader else "")
    logger.warning("operator request refused: %s", message)
    raise web.HTTPServiceUnavailable(
        text=json.dumps({"error": message, "leader": leader}),
        content_type="application/json",
    )


async def _current_leader(settings: Settings) -> str | None:
    """The Lease's holder; None without leader election, or when the Lease cannot be read."""
    election = settings.kubernetes.leader_election
    if not election.enabled:
        return None
    from remediator.k8s import client, errors
    from remediator.k8s.changes import spec

    try:
        async with asyncio.timeout(LEADER_LOOKUP_SECONDS):
            api_client = await client.new_api_client(settings.kubernetes)
            try:
                api = client.Api(api_client, timeout_seconds=LEADER_LOOKUP_SECONDS)
                lease = await api.get(client.LEASES, client.own_namespace(settings),
                                      election.lease_name)
            finally:
                await api_client.close()
    except (client.ClientConfigError, errors.KubeError, TimeoutError) as error:
        logger.info("cannot tell who leads: %s", error)
        return None
    holder = spec(lease).get("holderIdentity")
    return holder if isinstance(holder, str) and holder else None


def _target(request: web.Request) -> Target:
    """The target named in the path, with its names validated as Kubernetes names."""
    namespace = request.match_info["namespace"]
    kind = request.match_info["kind"].lower()
    name = request.match_info["name"]
    if kind not in KINDS:
        raise _http_error(400, f"kind must be deployment or configmap, got {kind!r}")
    problem = names.label_problem(namespace)
    if problem:
        raise _http_error(400, f"namespace {namespace!r}: {problem}")
    problem = names.subdomain_problem(name)
    if problem:
        raise _http_error(400, f"{kind} name {name!r}: {problem}")
    return Target(KINDS[kind], namespace, name)  # type: ignore[arg-type]


async def _last_config_patch(daemon: Services) -> DecisionRecord | None:
    before = None
    while True:
        page = await daemon.store.decisions(limit=500, before_id=before)
        for decision in page:
            if decision.type == "patch_config" and decision.outcome in ("executed", "dry_run"):
                return decision
        if len(page) < 500:
            return None
        before = page[-1].id


def _known_parameters(request: web.Request, known: frozenset[str]) -> None:
    """400 for a query parameter we do not read, or one given twice: never ignored."""
    for key in sorted(set(request.query)):
        if key not in known:
            raise _http_error(400, f"unknown query parameter {key!r}"
                                   f" (known: {', '.join(sorted(known))})", field=key)
        if len(request.query.getall(key)) > 1:
            raise _http_error(400, f"query parameter {key!r} is given more than once",
                              field=key)


def _whole(request: web.Request, key: str, default: int | None, *, low: int, high: int
           ) -> Any:
    text = request.query.get(key)
    if text is None:
        return default
    # ASCII digits only: str.isdigit() also takes '²', which int() refuses; and
    # few enough of them that int() never meets Python's digit limit.
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or not low <= int(text) <= high:
        raise _http_error(400, f"{key} must be a whole number from {low} to {high},"
                               f" got {_shown(text)}", field=key)
    return int(text)


def _shown(text: str, limit: int = 40) -> str:
    """A value quoted in an error, cut short: a 5,000-digit one is not echoed whole."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _http_error(status: int, message: str, *, field: str | None = None) -> web.HTTPException:
    error = web.HTTPBadRequest if status == 400 else web.HTTPConflict
    body: dict[str, str] = {"error": message}
    if field is not None:
        body["field"] = field
    return error(text=json.dumps(body), content_type="application/json")
