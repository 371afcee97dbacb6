"""
The API client: how we reach the cluster, and raw-JSON requests through it.

In a pod we use the service account (in-cluster config); elsewhere the
kubeconfig (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`) and its context.

`Api` sends requests through kubernetes-asyncio's `ApiClient` (its auth,
TLS and token refresh) but keeps bodies as plain JSON: our patches are
strategic-merge, merge or JSON patches that we build ourselves, and the
rollback copies a pod template verbatim, which typed models would reshape.
Every request names its RBAC verb and resource, so a 403 says exactly what
the Role lacks.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
import yaml
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from remediator import __version__
from remediator.config import names
from remediator.config.settings import Kubernetes, Settings
from remediator.errors import RemediatorError
from remediator.k8s import errors
from remediator.k8s.errors import Request

logger = logging.getLogger("remediator.k8s")

JsonObject = dict[str, Any]
PatchType = Literal["strategic", "merge", "json"]

_CONTENT_TYPES: dict[PatchType, str] = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where a pod finds its service account's token, CA certificate and namespace."""

FIELD_MANAGER = "remediator"

MAX_KUBECONFIG_BYTES = 16 * 1024 * 1024
"""Far above any real kubeconfig; a binary named by mistake is refused, not parsed."""


class ClientConfigError(RemediatorError):
    """No usable cluster configuration (kubeconfig, context or service account)."""


@dataclasses.dataclass(frozen=True)
class Kind:
    """A resource type as its URL and RBAC rules spell it."""

    group: str
    version: str
    plural: str

    def path(self, namespace: str, name: str | None = None,
             subresource: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path = f"{base}/namespaces/{quote(namespace, safe='')}/{self.plural}"
        if name is not None:
            path += f"/{quote(name, safe='')}"
        if subresource is not None:
            path += f"/{subresource}"
        return path

    def request(self, verb: str, namespace: str, name: str | None = None,
                subresource: str | None = None) -> Request:
        resource = f"{self.plural}/{subresource}" if subresource else self.plural
        return Request(verb, resource, self.group, namespace, name)


DEPLOYMENTS = Kind("apps", "v1", "deployments")
REPLICASETS = Kind("apps", "v1", "replicasets")
CONFIGMAPS = Kind("", "v1", "configmaps")
EVENTS = Kind("", "v1", "events")
HPAS = Kind("autoscaling", "v2", "horizontalpodautoscalers")
LEASES = Kind("coordination.k8s.io", "v1", "leases")


def own_namespace(settings: Settings, environ: Mapping[str, str] = os.environ,
                  service_account: Path = SERVICE_ACCOUNT) -> str:
    """
    Where our own objects (state ConfigMap, Lease) live: `kubernetes.namespace`,
    else the pod's namespace (POD_NAMESPACE, the service account's), else the
    targets' namespace.
    """
    if settings.kubernetes.namespace:
        return settings.kubernetes.namespace
    candidates = [environ.get("POD_NAMESPACE", "")]
    if (service_account / "namespace").exists():
        candidates.append((service_account / "namespace").read_text().strip())
    for candidate in candidates:
        if candidate and names.is_namespace(candidate):
            return candidate
    return settings.targets.namespace


def in_cluster(environ: Mapping[str, str] = os.environ,
               service_account: Path = SERVICE_ACCOUNT) -> bool:
    """Whether we run in a pod with a service account mounted."""
    return bool(environ.get("KUBERNETES_SERVICE_HOST")) and (service_account / "token").exists()


async def new_api_client(
    settings: Kubernetes,
    environ: Mapping[str, str] = os.environ,
    service_account: Path = SERVICE_ACCOUNT,
) -> k8s_client.ApiClient:
    """
    An `ApiClient` for the configured cluster; the caller closes it.

    An explicit kubeconfig or context always wins; otherwise a pod uses its
    service account, and anything else the default kubeconfig. The
    service-account token is read again as the kubelet rotates it.
    """
    configuration = k8s_client.Configuration()
    explicit = settings.kubeconfig is not None or settings.context is not None
    try:
        if not explicit and in_cluster(environ, service_account):
            # The library leaves this one function unannotated.
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration,
                token_filename=str(service_account / "token"),
                cert_filename=str(service_account / "ca.crt"),
                environ=dict(environ),
            )
        else:
            path = settings.kubeconfig or environ.get("KUBECONFIG") or str(
                Path.home() / ".kube" / "config"
            )
            _require_a_kubeconfig(path, explicit=settings.kubeconfig is not None)
            await _load_kubeconfig(path, settings.context, configuration)
    except (k8s_config.ConfigException, OSError) as error:
        where = ("in-cluster" if not explicit and in_cluster(environ, service_account)
                 else "kubeconfig")
        raise ClientConfigError(
            f"kubernetes {where} configuration: {_one_line(str(error))}"
        ) from error
    api_client = k8s_client.ApiClient(configuration)
    api_client.user_agent = f"remediator/{__version__}"
    return api_client


async def _load_kubeconfig(path: str, context: str | None,
                           configuration: k8s_client.Configuration) -> None:
    """
    Load the kubeconfig list at `path`, refusing a broken file in one line.

    The library parses each file itself and lets YAML, decoding and type
    errors through as they are (a binary file, a half-edited YAML document, a
    list where a mapping belongs); each becomes one sentence naming the file.
    """
    for file in _existing_files(path):
        _check_kubeconfig_file(file)
    try:
        await k8s_config.load_kube_config(
            config_file=path, context=context,
            client_configuration=configuration, persist_config=False,
        )
    except (yaml.YAMLError, UnicodeDecodeError, TypeError, AttributeError, KeyError,
            ValueError, IndexError) as error:
        raise ClientConfigError(
            f"kubernetes configuration: kubeconfig {path} is not usable: "
            f"{_one_line(str(error)) or type(error).__name__}"
        ) from error


def _check_kubeconfig_file(file: str) -> None:
    """Refuse a kubeconfig file that is not UTF-8 YAML holding a mapping."""
    path = Path(file).expanduser()
    try:
        if path.stat().st_size > MAX_KUBECONFIG_BYTES:
            raise ClientConfigError(
                f"kubernetes configuration: kubeconfig {file}: too large to be a kubeconfig"
            )
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        problem = "not a text file (not UTF-8)"
    except yaml.YAMLError as error:
        problem = f"not valid YAML: {_yaml_problem(error)}"
    except OSError as error:
        problem = f"cannot read it: {error.strerror}"
    else:
        if document is None or isinstance(document, dict):
            return
        problem = f"not a kubeconfig: a YAML {type(document).__name__}, not a mapping"
    raise ClientConfigError(f"kubernetes configuration: kubeconfig {file}: {problem}")


def _yaml_problem(error: yaml.YAMLError) -> str:
    """The parser's complaint and where, without its multi-line excerpt."""
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if not problem:
        return _one_line(str(error))
    if mark is None:
        return _one_line(str(problem))
    return f"{_one_line(str(problem))} at line {mark.line + 1}, column {mark.column + 1}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _existing_files(path: str) -> list[str]:
    """The files of a kubeconfig list (os.pathsep-separated) that exist."""
    files = [part for part in path.split(os.pathsep) if part]
    return [file for file in files if Path(file).expanduser().is_file()]


def _require_a_kubeconfig(path: str, *, explicit: bool) -> None:
    """
    Refuse, in one sentence, a kubeconfig list none of whose files exists.

    The library would otherwise print its own warning and then complain of a
    missing `current-context`, which names neither the file nor the remedy.
    KUBECONFIG may list several files, as kubectl allows.
    """
    if _existing_files(path):
        return
    source = "--kubeconfig" if explicit else "KUBECONFIG or ~/.kube/config"
    raise ClientConfigError(
        f"kubernetes configuration: no kubeconfig file at {path} ({source}), and not"
        " running in a pod; set --kubeconfig or KUBECONFIG"
    )


class Api:
    """Raw-JSON requests with our errors; one per `ApiClient`."""

    def __init__(self, api_client: k8s_client.ApiClient, *,
                 timeout_seconds: float = 15.0) -> None:
        self.api_client = api_client
        self.timeout_seconds = timeout_seconds
        """Bound on every request but watches, so a hung server cannot stall us."""

    async def get(self, kind: Kind, namespace: str, name: str,
                  subresource: str | None = None) -> JsonObject:
        request = kind.request("get", namespace, name, subresource)
        return await self._call(request, "GET", kind.path(namespace, name, subresource))

    async def list_objects(self, kind: Kind, namespace: str, *, label_selector: str | None = None,
                   field_selector: str | None = None) -> JsonObject:
        query = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        request = kind.request("list", namespace)
        return await self._call(request, "GET", kind.path(namespace), query=query)

    async def create(self, kind: Kind, namespace: str, body: JsonObject, *,
                     dry_run: bool = False) -> JsonObject:
        request = kind.request("create", namespace)
        return await self._call(request, "POST", kind.path(namespace), body=body,
                                query=_write_query(dry_run))

    async def replace(self, kind: Kind, namespace: str, name: str, body: JsonObject, *,
                      dry_run: bool = False) -> JsonObject:
        """PUT: fails with a 409 when `body` carries an outdated resourceVersion."""
        request = kind.request("update", namespace, name)
        return await self._call(request, "PUT", kind.path(namespace, name), body=body,
                                query=_write_query(dry_run))

    async def patch(self, kind: Kind, namespace: str, name: str,
                    body: JsonObject | list[JsonObject], *, patch: PatchType,
                    subresource: str | None = None, dry_run: bool = False) -> JsonObject:
        request = kind.request("patch", namespace, name, subresource)
        return await self._call(
            request, "PATCH", kind.path(namespace, name, subresource), body=body,
            query=_write_query(dry_run), content_type=_CONTENT_TYPES[patch],
        )

    async def watch(self, kind: Kind, namespace: str, *, field_selector: str,
                    resource_version: str | None,
                    timeout_seconds: int) -> AsyncGenerator[tuple[str, JsonObject], None]:
        """
        The (type, object) events of one watch stream, until the server ends it.

        An `ERROR` event (410 Expired, usually) is raised as our error.
        """
        request = kind.request("watch", namespace)
        query = [("watch", "true"), ("fieldSelector", field_selector),
                 ("timeoutSeconds", str(int(timeout_seconds))),
                 ("allowWatchBookmarks", "false")]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        limit = aiohttp.ClientTimeout(total=timeout_seconds + self.timeout_seconds)
        with errors.translated(request):
            response = await self.api_client.call_api(
                kind.path(namespace), "GET", query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"], _preload_content=False,
                _request_timeout=limit,
            )
        try:
            if response.status >= 300:
                with errors.translated(request):
                    body = await response.read()
                raise errors.from_answer(request, response.status, body,
                                         dict(response.headers))
            while True:
                with errors.translated(request):
                    line = await response.content.readline()
                if not line:
                    return
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError as error:
                    raise errors.ServerError(request, "unreadable watch event") from error
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    code = status.get("code") if isinstance(status, dict) else None
                    raise errors.from_answer(request, code if isinstance(code, int) else 500,
                                             json.dumps(status))
                yield str(event.get("type")), event.get("object") or {}
        finally:
            response.release()

    async def _call(
        self,
        request: Request,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: JsonObject | list[JsonObject] | None = None,
        content_type: str = "application/json",
    ) -> JsonObject:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        logger.debug("%s %s", method, path)
        with errors.translated(request):
            answer = await self.api_client.call_api(
                path, method, query_params=query or [], header_params=headers, body=body,
                response_types_map={200: "object", 201: "object", 202: "object"},
                auth_settings=["BearerToken"], _return_http_data_only=True,
                _request_timeout=self.timeout_seconds,
            )
        return answer if isinstance(answer, dict) else {}


def _write_query(dry_run: bool) -> list[tuple[str, str]]:
    query = [("fieldManager", FIELD_MANAGER)]
    if dry_run:
        # Server-side dry run: admission and RBAC run, nothing is stored.
        query.append(("dryRun", "All"))
    return query
