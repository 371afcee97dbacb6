"""
The HTTP face of the fake: routing, authentication, RBAC, faults, watches.

Each request goes through the apiserver's stages in its order: parse the
path into request attributes (verb, group, resource, namespace, name), then
authenticate (401), record, apply injected faults (latency, 5xx, 429, a
dropped connection), authorize (403), and run the handler, whose
``errors.ApiError`` becomes a ``Status`` answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import ssl
from typing import Any

from aiohttp import web

from tests.fakekube import discovery, errors, protobuf, rbac, resources, tables
from tests.fakekube.cluster import AccessLogEntry, Cluster
from tests.fakekube.rbac import Account, RequestRecord
from tests.fakekube.resources import ResourceType
from tests.fakekube.selectors import FieldSelector, LabelSelector
from tests.fakekube.store import Event

# The real server ends a watch after 30-60 minutes when no timeout is asked.
DEFAULT_WATCH_SECONDS = 1800.0
_PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz"}
# Request key: a ``drop_after`` fault fired, abort once the handler has run.
_DROP_AFTER = web.RequestKey("fakekube.drop_after", bool)


@dataclasses.dataclass(frozen=True)
class RequestInfo:
    """The attributes the apiserver derives from a resource request's URL."""

    verb: str
    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def resource(self) -> str:
        if self.subresource:
            return f"{self.rtype.plural}/{self.subresource}"
        return self.rtype.plural


def _is_true(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


def parse_resource_path(method: str, path: str, query: Any) -> RequestInfo:
    """Map ``/apis/<group>/<version>/namespaces/<ns>/<plural>/<name>/<sub>``."""
    segments = [segment for segment in path.split("/") if segment]
    if len(segments) >= 2 and segments[0] == "api":
        group, version, rest = "", segments[1], segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis":
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        raise errors.no_such_path()

    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise errors.no_such_path()
    rtype = resources.by_path(group, version, rest[0])
    if rtype is None or (namespace is not None and not rtype.namespaced):
        raise errors.no_such_path()
    if rtype.namespaced and namespace is None and len(rest) > 1:
        raise errors.no_such_path()  # a namespaced object needs its namespace
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    allowed_verbs = rtype.verbs
    if subresource is not None:
        sub = rtype.subresource(subresource)
        if sub is None:
            raise errors.no_such_path()
        allowed_verbs = sub.verbs

    if method == "GET":
        verb = "get" if name else ("watch" if _is_true(query.get("watch")) else "list")
    elif method == "POST" and name is None:
        verb = "create"
    elif method == "PUT" and name:
        verb = "update"
    elif method == "PATCH" and name:
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        raise errors.method_not_allowed()
    if verb not in allowed_verbs:
        raise errors.method_not_allowed()
    return RequestInfo(verb, rtype, namespace, name, subresource)


def _json(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _dry_run(query: Any) -> bool:
    values = query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(
                f'Invalid dry run value: {value!r}; only "All" is supported'
            )
    return bool(values)


async def _json_body(request: web.Request) -> Any:
    media_type = (
        request.headers.get("Content-Type", "application/json").split(";")[0].strip()
    )
    if media_type not in ("application/json", ""):
        # Protobuf and CBOR bodies are not decoded here.
        raise errors.ApiError(
            415,
            "the body of the request was in an unknown format - accepted media types"
            " include: application/json",
            details={},
        )
    raw = await request.read()
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise errors.bad_request(
            f"error decoding the request body as JSON: {exc}"
        ) from exc


async def _review_body(request: web.Request) -> Any:
    """An access review, which kubectl sends as protobuf."""
    if request.headers.get("Content-Type", "").startswith(protobuf.MEDIA_TYPE):
        try:
            return protobuf.decode_access_review(await request.read())
        except (ValueError, KeyError, IndexError) as exc:
            raise errors.bad_request(f"cannot decode the protobuf body: {exc}") from exc
    return await _json_body(request)


def _without_type_meta(obj: dict[str, Any]) -> dict[str, Any]:
    # Items of a list carry no kind/apiVersion on the wire.
    return {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}


class _WatchResponse(web.StreamResponse):
    """A watch stream (told apart for the access log)."""


class ApiServer:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.app = web.Application(client_max_size=16 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner: web.AppRunner | None = None
        self.host = ""
        self.port = 0
        self.https_port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def https_url(self) -> str | None:
        return f"https://{self.host}:{self.https_port}" if self.https_port else None

    async def start(
        self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> str:
        """
        Listen on free ports chosen by the OS, plain HTTP and, given a TLS
        context, HTTPS too; return the plain base URL.
        """
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((host, 0))
        self.host, self.port = sock.getsockname()[:2]
        await web.SockSite(self._runner, sock).start()
        if tls is not None:
            tls_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tls_sock.bind((host, 0))
            self.https_port = tls_sock.getsockname()[1]
            await web.SockSite(self._runner, tls_sock, ssl_context=tls).start()
        self.cluster.controller.start()
        return self.url

    async def stop(self) -> None:
        self.cluster.store.close()  # ends open watch streams first
        await self.cluster.controller.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- the pipeline --------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response: web.StreamResponse
        try:
            response = await self._serve(request)
        except errors.ApiError as error:
            response = _json(error.status(), error.code, error.headers)
        if not isinstance(response, _WatchResponse):  # a watch logs itself when it starts
            self._log_access(request, response.status)
        return response

    def _log_access(self, request: web.Request, status: int) -> None:
        self.cluster.access_log.append(
            AccessLogEntry(
                request.method,
                request.path_qs,
                status,
                request.headers.get("Content-Type", ""),
                request.headers.get("User-Agent", ""),
            )
        )

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in _PUBLIC_PATHS:
            return self._public(path)

        account = self.cluster.auth.authenticate(request.headers.get("Authorization"))
        if account is None:
            raise errors.unauthorized()
        document = self._discovery(path)
        if document is not None or path.startswith("/openapi"):
            if account.user == rbac.ANONYMOUS:
                # Discovery is for authenticated users only (system:discovery).
                raise errors.forbidden_path(account.user, path)
            if document is None:
                raise errors.no_such_path()  # no OpenAPI; kubectl copes without it
            return _json(document)

        info = parse_resource_path(request.method, path, request.query)
        record = RequestRecord(
            info.verb,
            info.rtype.group,
            info.resource,
            info.namespace or "",
            info.name or "",
            account.user,
            request.headers.get("User-Agent", ""),
        )
        self.cluster.record(record)
        dropped = await self._faults(request, record, info)
        if dropped is not None:
            return dropped
        allowed = self.cluster.auth.allowed(account, record)
        if not allowed and not self._always_allowed(info):
            raise errors.forbidden(
                info.rtype,
                user=account.user,
                verb=info.verb,
                resource=info.resource,
                namespace=info.namespace,
                name=info.name,
            )
        if self.cluster.faults.take_conflict(record):
            raise errors.conflict(info.rtype, info.name or "")
        response = await self._resource(request, info, account)
        if request.get(_DROP_AFTER) and request.transport is not None:
            # The write has landed; the answer is lost on the way back.
            request.transport.abort()
        return response

    @staticmethod
    def _always_allowed(info: RequestInfo) -> bool:
        # Every authenticated user may ask what it may do (system:basic-user).
        return info.rtype is resources.SELF_SUBJECT_ACCESS_REVIEWS

    def _public(self, path: str) -> web.StreamResponse:
        if path == "/version":
            return _json(discovery.version(*self.cluster.version))
        return web.Response(text="ok")

    def _discovery(self, path: str) -> dict[str, Any] | None:
        segments = [segment for segment in path.split("/") if segment]
        if segments == ["api"]:
            return discovery.core_versions(f"{self.host}:{self.port}")
        if segments == ["api", "v1"]:
            return discovery.resource_list("", "v1")
        if segments == ["apis"]:
            return discovery.group_list()
        if len(segments) == 2 and segments[0] == "apis":
            found = discovery.group(segments[1])
            if found is None:
                raise errors.no_such_path()
            return found
        if len(segments) == 3 and segments[0] == "apis":
            found = discovery.resource_list(segments[1], segments[2])
            if found is None:
                raise errors.no_such_path()
            return found
        return None

    async def _faults(
        self, request: web.Request, record: RequestRecord, info: RequestInfo
    ) -> web.StreamResponse | None:
        firing = self.cluster.faults.firing(record)
        for fault in firing:
            if fault.action == "latency":
                await asyncio.sleep(fault.delay)
        for fault in firing:
            if fault.action == "drop_after":
                request[_DROP_AFTER] = True
            if fault.action == "drop":
                # Abort the socket; aiohttp then sees a premature disconnect and
                # sends nothing, so the client gets a reset, not an HTTP answer.
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
            if fault.action == "throttle":
                raise errors.too_many_requests(fault.retry_after)
            if fault.action == "error":
                raise errors.injected(fault.status, fault.message, info.rtype, info.name)
        return None

    # --- resource handlers -----------------------------------------------------------

    async def _resource(
        self, request: web.Request, info: RequestInfo, account: Account
    ) -> web.StreamResponse:
        registry = self.cluster.registry
        rtype, namespace, name, sub = (
            info.rtype,
            info.namespace,
            info.name,
            info.subresource,
        )
        query = request.query

        if info.verb == "get":
            assert name is not None
            if sub == "scale":
                return _json(registry.get_scale(rtype, namespace, name))
            return self._maybe_table(
                request, rtype, [registry.get(rtype, namespace, name)], None
            )
        if info.verb == "list":
            return self._list(request, rtype, namespace)
        if info.verb == "watch":
            return await self._watch(request, rtype, namespace)

        dry_run = _dry_run(query)
        if info.verb == "create":
            if rtype is resources.SELF_SUBJECT_ACCESS_REVIEWS:
                return _json(
                    self._access_review(await _review_body(request), account), 201
                )
            body = await _json_body(request)
            return _json(registry.create(rtype, namespace, body, dry_run=dry_run), 201)

        assert name is not None
        if info.verb == "update":
            body = await _json_body(request)
            if sub == "scale":
                return _json(
                    registry.update_scale(rtype, namespace, name, body, dry_run=dry_run)
                )
            return _json(
                registry.update(
                    rtype, namespace, name, body, subresource=sub, dry_run=dry_run
                )
            )
        if info.verb == "patch":
            content_type = request.headers.get("Content-Type", "")
            raw = await request.read()
            if sub == "scale":
                return _json(
                    registry.patch_scale(
                        rtype, namespace, name, content_type, raw, dry_run=dry_run
                    )
                )
            return _json(
                registry.patch(
                    rtype,
                    namespace,
                    name,
                    content_type,
                    raw,
                    subresource=sub,
                    dry_run=dry_run,
                )
            )
        if info.verb == "delete":
            return _json(registry.delete(rtype, namespace, name, dry_run=dry_run))
        raise errors.method_not_allowed()

    def _maybe_table(
        self,
        request: web.Request,
        rtype: ResourceType,
        objects: list[dict[str, Any]],
        list_version: str | None,
    ) -> web.Response:
        """Answer a Table when kubectl asks for one for printing, else the object(s)."""
        if tables.wanted(request.headers.get("Accept", "")):
            return _json(
                tables.table(
                    rtype, objects, list_version or self.cluster.store.resource_version
                )
            )
        if list_version is None:
            return _json(objects[0])
        return _json(
            {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version,
                "metadata": {"resourceVersion": list_version},
                "items": [_without_type_meta(obj) for obj in objects],
            }
        )

    def _list(
        self, request: web.Request, rtype: ResourceType, namespace: str | None
    ) -> web.Response:
        labels = LabelSelector.parse(request.query.get("labelSelector"))
        fields = FieldSelector.parse(request.query.get("fieldSelector"), rtype.kind)
        version = self.cluster.store.resource_version
        items = self.cluster.store.list(rtype, namespace, labels, fields)
        return self._maybe_table(request, rtype, items, version)

    async def _watch(
        self, request: web.Request, rtype: ResourceType, namespace: str | None
    ) -> web.StreamResponse:
        query = request.query
        labels = LabelSelector.parse(query.get("labelSelector"))
        fields = FieldSelector.parse(query.get("fieldSelector"), rtype.kind)
        since_text = query.get("resourceVersion") or ""
        # "" and "0" mean: start with the current state (synthetic ADDED events).
        since = int(since_text) if since_text.isdigit() and since_text != "0" else None
        timeout = float(query.get("timeoutSeconds") or DEFAULT_WATCH_SECONDS)

        response = _WatchResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        self._log_access(request, response.status)
        try:
            watcher = self.cluster.store.watch(rtype, namespace, labels, fields, since)
        except errors.ApiError as error:
            # A too-old resourceVersion is reported inside the stream, as ERROR.
            await response.write(self._event_line("ERROR", error.status()))
            await response.write_eof()
            return response

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while (remaining := deadline - loop.time()) > 0:
                if request.transport is None or request.transport.is_closing():
                    break  # the client went away
                try:
                    event = await asyncio.wait_for(
                        watcher.queue.get(), min(remaining, 0.5)
                    )
                except TimeoutError:
                    continue
                if event is None:
                    break
                await response.write(self._event(event))
        except ConnectionError:
            return response
        finally:
            self.cluster.store.unwatch(watcher)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    @staticmethod
    def _event_line(event_type: str, obj: dict[str, Any]) -> bytes:
        line = json.dumps({"type": event_type, "object": obj}, separators=(",", ":"))
        return line.encode() + b"\n"

    def _event(self, event: Event) -> bytes:
        return self._event_line(event.type, event.obj)

    def _access_review(self, body: Any, account: Account) -> dict[str, Any]:
        """SelfSubjectAccessReview: answer from the caller's permission table."""
        if not isinstance(body, dict):
            raise errors.bad_request("SelfSubjectAccessReview must be a JSON object")
        spec = body.get("spec") or {}
        attributes = spec.get("resourceAttributes")
        if attributes is None:
            allowed = True  # non-resource URLs: discovery is open to every user
        else:
            resource = attributes.get("resource", "")
            if attributes.get("subresource"):
                resource = f"{resource}/{attributes['subresource']}"
            record = RequestRecord(
                attributes.get("verb", ""),
                attributes.get("group", ""),
                resource,
                attributes.get("namespace", ""),
                attributes.get("name", ""),
                account.user,
            )
            allowed = self.cluster.auth.allowed(account, record)
        status: dict[str, Any] = {"allowed": allowed}
        if allowed:
            status["reason"] = (
                f'allowed by the fake permission table for "{account.user}"'
            )
        return {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": status,
        }
