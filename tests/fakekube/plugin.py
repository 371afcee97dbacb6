"""
pytest plugin: the ``fake_kube`` fixture and the session-wide request log.

Load it with ``pytest_plugins = ["tests.fakekube.plugin"]`` in the root
conftest. Options come from a marker::

    @pytest.mark.fake_kube(allow_all=True, rollout_delay=0.2, hang_rollouts=True)
    async def test_x(fake_kube: FakeKube) -> None: ...

Every resource request any fake server sees during the session is added to
one set (``session_requests()``, or the ``fake_kube_requests`` fixture), so a
test or a CI step can compare what the code used with what the shipped RBAC
Role grants. If ``FAKEKUBE_REQUEST_LOG`` names a file, the set is written
there as JSON when the session ends.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from kubernetes_asyncio import client

from tests.fakekube.harness import FakeKube
from tests.fakekube.rbac import RequestRecord

REQUEST_LOG_ENV = "FAKEKUBE_REQUEST_LOG"
_SESSION_REQUESTS: set[RequestRecord] = set()


def session_requests() -> set[RequestRecord]:
    """A copy of every resource request recorded so far in this session."""
    return set(_SESSION_REQUESTS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fake_kube(**options): FakeKube options for the fake_kube fixture"
        " (allow_all, version, rollout_delay, hang_rollouts, token, user)",
    )
    config.addinivalue_line("markers", "kubectl: the test runs the real kubectl binary")


@pytest_asyncio.fixture
async def fake_kube(request: pytest.FixtureRequest) -> AsyncIterator[FakeKube]:
    """A started fake API server on a free 127.0.0.1 port; stopped after the test."""
    marker = request.node.get_closest_marker("fake_kube")
    options = dict(marker.kwargs) if marker else {}
    async with FakeKube(**options) as fake:
        fake.cluster.on_request.append(_SESSION_REQUESTS.add)
        yield fake


@pytest_asyncio.fixture
async def fake_kube_api(fake_kube: FakeKube) -> AsyncIterator[client.ApiClient]:
    """A kubernetes-asyncio ApiClient for ``fake_kube`` with the all-allowed token."""
    async with fake_kube.api_client() as api:
        yield api


@pytest.fixture(scope="session")
def fake_kube_requests() -> set[RequestRecord]:
    """The live session-wide set of recorded requests (it keeps growing)."""
    return _SESSION_REQUESTS


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(REQUEST_LOG_ENV)
    if not target:
        return
    # Parallel workers would overwrite each other: one file each.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    path = Path(f"{target}.{worker}") if worker else Path(target)
    records = [record.as_dict() for record in sorted(_SESSION_REQUESTS)]
    path.write_text(json.dumps(records, indent=1) + "\n")
