"""
``FakeKube``: one fake cluster served on a free loopback port, with the files
and clients a test needs to talk to it (kubeconfig, kubectl, kubernetes-asyncio).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes_asyncio import client

from tests.fakekube import kubectl, tls
from tests.fakekube.cluster import Cluster
from tests.fakekube.faults import Faults
from tests.fakekube.rbac import Permission, RequestRecord, permissions_from_rules
from tests.fakekube.server import ApiServer

ADMIN_TOKEN = "fakekube-admin-token"
ADMIN_USER = "system:admin"


class FakeKube:
    def __init__(
        self,
        *,
        allow_all: bool = False,
        version: tuple[int, int] = (1, 32),
        rollout_delay: float = 0.0,
        hang_rollouts: bool = False,
        token: str = ADMIN_TOKEN,
        user: str = ADMIN_USER,
    ) -> None:
        """
        Args:
            allow_all: accept any request, with or without a known token, as admin.
            version: the Kubernetes version /version reports (picks kubectl's build).
            rollout_delay: seconds before new pods are ready.
            hang_rollouts: new pods never become ready until ``hang_rollouts(False)``.
            token: the bearer token allowed everything (``.token``).
        """
        self.cluster = Cluster(version=version)
        self.cluster.auth.allow_all = allow_all
        self.cluster.rollout.delay = rollout_delay
        self.cluster.rollout.hang = hang_rollouts
        self.cluster.auth.add_token(token, user)
        self.token = token
        self.server = ApiServer(self.cluster)
        self._workdir: Path | None = None
        self.ca_path: Path | None = None
        """The HTTPS listener's self-signed certificate, to trust it."""

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> FakeKube:
        self._workdir = Path(tempfile.mkdtemp(prefix="fakekube-"))
        (self._workdir / "cache").mkdir()
        certificate = await tls.make_certificate(self._workdir)
        context = tls.server_context(*certificate) if certificate else None
        self.ca_path = certificate[0] if certificate else None
        await self.server.start(tls=context)
        self.kubeconfig_for(self.token)
        return self

    async def stop(self) -> None:
        await self.server.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    async def __aenter__(self) -> FakeKube:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- where and how to connect ------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def workdir(self) -> Path:
        assert self._workdir is not None, "FakeKube is not started"
        return self._workdir

    @property
    def https_url(self) -> str | None:
        """The TLS listener (kubectl sends tokens only over TLS); None without openssl."""
        return self.server.https_url

    @property
    def kubeconfig_path(self) -> Path:
        """
        A kubeconfig with ``.token``, namespace ``default`` and the HTTPS server
        (its CA inlined), or the plain one when there is no TLS listener.
        """
        return self.workdir / "kubeconfig"

    @property
    def cache_dir(self) -> Path:
        return self.workdir / "cache"

    def kubeconfig_for(self, token: str, namespace: str = "default") -> Path:
        """A kubeconfig file for a token (e.g. a restricted one) and namespace."""
        if token == self.token and namespace == "default":
            path = self.kubeconfig_path
        else:
            safe = "".join(char if char.isalnum() else "_" for char in token)
            path = self.workdir / f"kubeconfig-{safe}-{namespace}"
        return kubectl.write_kubeconfig(
            path, self.https_url or self.url, token, namespace, ca_path=self.ca_path
        )

    def configuration(self, token: str | None = None) -> client.Configuration:
        """
        A client configuration for this server. kubernetes-asyncio 36 sends the
        ``BearerToken`` api key (``{"authorization": ...}`` is ignored by it), which
        is also what ``config.load_kube_config`` sets.
        """
        return client.Configuration(
            host=self.url, api_key={"BearerToken": f"Bearer {token or self.token}"}
        )

    def api_client(self, token: str | None = None) -> client.ApiClient:
        """A kubernetes-asyncio client; use ``async with`` or close it."""
        return client.ApiClient(configuration=self.configuration(token))

    async def kubectl(
        self,
        *args: str,
        token: str | None = None,
        namespace: str = "default",
        timeout_seconds: float = 60.0,
        stdin: str | None = None,
    ) -> kubectl.KubectlResult:
        """Run the real kubectl: ``await fake_kube.kubectl("get", "deploy", "x")``."""
        config = self.kubeconfig_path
        if token is not None or namespace != "default":
            config = self.kubeconfig_for(token or self.token, namespace)
        return await kubectl.run(
            *args,
            kubeconfig=config,
            cache_dir=self.cache_dir,
            timeout_seconds=timeout_seconds,
            stdin=stdin,
        )

    # --- permissions ---------------------------------------------------------------

    def add_token(
        self,
        token: str,
        *,
        user: str,
        permissions: Iterable[Permission] | None = None,
        role_rules: Iterable[Mapping[str, Any]] | None = None,
        namespace: str = "*",
    ) -> None:
        """
        Register a token. With neither ``permissions`` nor ``role_rules`` it may
        do nothing (grant later with ``cluster.auth.grant``); ``role_rules`` are a
        Role's ``rules``, bound in ``namespace``.
        """
        granted: set[Permission] = set(permissions or ())
        if role_rules is not None:
            granted |= permissions_from_rules(role_rules, namespace)
        self.cluster.auth.add_token(token, user, granted)

    # --- shortcuts ------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self.cluster.faults

    @property
    def requests(self) -> list[RequestRecord]:
        return self.cluster.requests
