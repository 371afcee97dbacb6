"""Fixtures of the deploy tests: the manifests rendered once per session."""

from __future__ import annotations

import pytest

from tests.deploy import manifests
from tests.deploy.manifests import Doc


@pytest.fixture(scope="session")
def base_docs() -> list[Doc]:
    """What `kubectl apply -k k8s/` sends."""
    return manifests.render(manifests.K8S)


@pytest.fixture(scope="session")
def auto_execute_docs() -> list[Doc]:
    """What `kubectl apply -k k8s/overlays/auto-execute` sends."""
    return manifests.render(manifests.AUTO_EXECUTE)
