"""
Fixtures for the Kubernetes tests: settings, a fast retry policy and an
executor wired to the fake API server (``fake_kube``).

The fake server itself comes from the plugin the root conftest registers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from kubernetes_asyncio import client

from remediator import __version__
from remediator.config.settings import Settings
from remediator.execution.kube import KubernetesExecutor
from remediator.k8s.retrying import RetryPolicy
from tests.fakekube.harness import FakeKube

# Tests must not wait on real backoff; the number of tries stays realistic.
FAST = RetryPolicy(attempts=5, max_delay=0.02)


@pytest.fixture
def settings() -> Settings:
    return Settings.model_validate({"execution": {"rollout_timeout_seconds": 10.0}})


def remediator_client(fake: FakeKube, token: str | None = None) -> client.ApiClient:
    """
    A client for ``fake`` that names itself as ``new_api_client`` does in a pod,
    so the RBAC audit (tests/k8s/test_role.py) counts its requests as ours.
    """
    api = fake.api_client(token)
    api.user_agent = f"remediator/{__version__}"
    return api


@pytest_asyncio.fixture
async def api_client(fake_kube: FakeKube) -> AsyncIterator[client.ApiClient]:
    """The client our code gets, with the all-allowed token."""
    async with remediator_client(fake_kube) as api:
        yield api


@pytest.fixture
def executor(settings: Settings, api_client: client.ApiClient) -> KubernetesExecutor:
    return KubernetesExecutor(settings, api_client, retry=FAST, identity="test-replica")


@pytest.fixture
def dry_executor(settings: Settings, api_client: client.ApiClient) -> KubernetesExecutor:
    return KubernetesExecutor(settings, api_client, retry=FAST, dry_run=True)
