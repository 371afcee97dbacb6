"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

# The fake Kubernetes API server, for every folder that needs a cluster.
pytest_plugins = ["tests.fakekube.plugin"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RUN_LAST = "rbac_audit"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{RUN_LAST}: judges what the whole session did; runs after every other test",
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The RBAC audit compares the Role with the requests of every test before
    # it (tests/k8s/test_role.py); everything else keeps its order.
    audits = [item for item in items if item.get_closest_marker(RUN_LAST)]
    if audits:
        others = [item for item in items if not item.get_closest_marker(RUN_LAST)]
        items[:] = others + audits


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def shared_samples() -> Path:
    """The real samples beside the repository; tests that need them skip without."""
    samples = SHARED / "samples"
    if not samples.is_dir():
        pytest.skip(f"{samples} is not there: the shared samples are only beside a checkout")
    return samples
