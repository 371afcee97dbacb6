"""
Fixtures for the Kubernetes tests: settings, a fast retry policy and an
executor wired to the fake API server (``fake_kube``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from kubernetes_asyncio import client

from remediator.config.settings import Settings
from remediator.execution.kube import KubernetesExecutor
from remediator.k8s.retrying import RetryPolicy
from tests.fakekube.harness import FakeKube

PLUGIN = "tests.fakekube.plugin"

# Tests must not wait on real backoff; the number of tries stays realistic.
FAST = RetryPolicy(attempts=5, max_delay=0.02)


def pytest_configure(config: pytest.Config) -> None:
    # Until the root conftest lists the fake's plugin, load it for this folder.
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.import_plugin(PLUGIN)


@pytest.fixture
def settings() -> Settings:
    return Settings.model_validate({"execution": {"rollout_timeout_seconds": 10.0}})


@pytest_asyncio.fixture
async def api_client(fake_kube: FakeKube) -> AsyncIterator[client.ApiClient]:
    async with fake_kube.api_client() as api:
        yield api


@pytest.fixture
def executor(settings: Settings, api_client: client.ApiClient) -> KubernetesExecutor:
    return KubernetesExecutor(settings, api_client, retry=FAST, identity="test-replica")


@pytest.fixture
def dry_executor(settings: Settings, api_client: client.ApiClient) -> KubernetesExecutor:
    return KubernetesExecutor(settings, api_client, retry=FAST, dry_run=True)
