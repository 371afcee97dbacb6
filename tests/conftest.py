"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

# The fake Kubernetes API server, for every folder that needs a cluster.
pytest_plugins = ["tests.fakekube.plugin"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


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
