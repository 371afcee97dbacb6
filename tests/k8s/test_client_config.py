"""
How the client finds the cluster: the service account in a pod, the
kubeconfig elsewhere, and an explicit kubeconfig or context over both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator.config.settings import Kubernetes
from remediator.k8s import client, errors
from remediator.k8s.client import DEPLOYMENTS, Api
from tests.fakekube.harness import ADMIN_USER, FakeKube
from tests.k8s.helpers import NS, kubeconfig_with_a_dead_default

POD_USER = "system:serviceaccount:remediator:remediator"


def mount_service_account(fake: FakeKube, directory: Path) -> dict[str, str]:
    """A service-account mount as the kubelet makes it, and the pod's environment."""
    assert fake.https_url is not None and fake.ca_path is not None, "the fake needs openssl"
    fake.add_token("pod-token", user=POD_USER)
    fake.cluster.auth.grant("pod-token", "get", "apps/deployments", NS)
    directory.mkdir()
    (directory / "token").write_text("pod-token")
    (directory / "ca.crt").write_bytes(fake.ca_path.read_bytes())
    (directory / "namespace").write_text(NS)
    port = fake.https_url.rsplit(":", 1)[1]
    return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}


async def who_reads(fake: FakeKube, settings: Kubernetes, environ: dict[str, str],
                    service_account: Path) -> str:
    """The user the API saw for one read through the client these settings give."""
    api_client = await client.new_api_client(settings, environ, service_account)
    try:
        await Api(api_client).get(DEPLOYMENTS, NS, "llm-gateway")
    finally:
        await api_client.close()
    return fake.requests[-1].user


async def test_in_a_pod_the_service_account_is_used(fake_kube: FakeKube, tmp_path: Path) -> None:
    """With KUBERNETES_SERVICE_HOST and a mounted token, requests carry that token over TLS."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway")
    environ = mount_service_account(fake_kube, tmp_path / "sa")

    user = await who_reads(fake_kube, Kubernetes(), environ, tmp_path / "sa")

    assert user == POD_USER


async def test_an_explicit_kubeconfig_wins_over_the_service_account(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """kubernetes.kubeconfig set in a pod: the kubeconfig's user, not the pod's, is used."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway")
    environ = mount_service_account(fake_kube, tmp_path / "sa")
    settings = Kubernetes(kubeconfig=str(fake_kube.kubeconfig_path))

    user = await who_reads(fake_kube, settings, environ, tmp_path / "sa")

    assert user == ADMIN_USER


async def test_outside_a_pod_the_kubeconfig_variable_is_used(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """No service account mounted: $KUBECONFIG names the cluster and the credentials."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway")
    environ = {"KUBECONFIG": str(fake_kube.kubeconfig_path)}

    user = await who_reads(fake_kube, Kubernetes(), environ, tmp_path / "no-sa")

    assert user == ADMIN_USER


async def test_the_context_setting_picks_the_cluster(fake_kube: FakeKube, tmp_path: Path) -> None:
    """The kubeconfig's current context is dead; kubernetes.context chooses the live one."""
    fake_kube.cluster.add_deployment(NS, "llm-gateway")
    path = str(kubeconfig_with_a_dead_default(fake_kube, tmp_path / "kubeconfig"))
    no_sa = tmp_path / "no-sa"

    user = await who_reads(fake_kube, Kubernetes(kubeconfig=path, context="fakekube"), {},
                           no_sa)
    with pytest.raises(errors.Unreachable):
        await who_reads(fake_kube, Kubernetes(kubeconfig=path), {}, no_sa)

    assert user == ADMIN_USER


async def test_an_unknown_context_is_a_configuration_error(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """A context the kubeconfig does not have is reported as such, before any request."""
    settings = Kubernetes(kubeconfig=str(fake_kube.kubeconfig_path), context="prod")

    with pytest.raises(client.ClientConfigError, match="prod"):
        await client.new_api_client(settings, {}, tmp_path / "no-sa")

    assert fake_kube.requests == []


@pytest.mark.parametrize(("content", "problem"), [
    (b"\x7fELF\x02\x01\x01\x00\xd0\x80\xd0", "not a text file"),
    (b"a: [b\n  c: {", "not valid YAML: expected ',' or ']', but got ':' at line 2"),
    (b"- 1\n", "not a kubeconfig: a YAML list"),
    (b"clusters: 5\n", "is not usable"),
    (b"a: 1\n" + b"#" * (client.MAX_KUBECONFIG_BYTES + 1), "too large to be a kubeconfig"),
], ids=["binary", "bad-yaml", "a-list", "misshapen", "huge"])
async def test_a_broken_kubeconfig_is_one_line_naming_the_file(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    """A binary, half-edited or misshapen kubeconfig: one sentence with the file, no parser text."""
    path = tmp_path / "kubeconfig"
    path.write_bytes(content)

    for settings, environ in ((Kubernetes(kubeconfig=str(path)), {}),
                              (Kubernetes(), {"KUBECONFIG": str(path)})):
        with pytest.raises(client.ClientConfigError) as raised:
            await client.new_api_client(settings, environ, tmp_path / "no-sa")

        message = str(raised.value)
        assert str(path) in message and problem in message
        assert "\n" not in message
