"""The real Prometheus and Alertmanager tools, run as the tests need them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Generous: each of these tools answers in well under a second.
TIMEOUT_SECONDS = 60


def binary(name: str) -> str:
    """The path of a Debian tool, or a failure saying how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make system-deps` (Debian's prometheus "
                    "and prometheus-alertmanager packages)")
    return path


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool without a shell; never raises on a non-zero exit."""
    return subprocess.run(
        [binary(argv[0]), *argv[1:]], cwd=cwd, capture_output=True, text=True,
        timeout=TIMEOUT_SECONDS, check=False,
    )
