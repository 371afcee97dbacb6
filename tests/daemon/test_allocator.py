"""The daemon fixes glibc's mmap threshold at start, unless the operator tuned it."""

from __future__ import annotations

import subprocess
import sys

from tests.support.serving import REPO

CHECK = "from remediator import allocator; print(allocator.return_large_blocks())"


def run_check(**environ: str) -> str:
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                            check=True, cwd=REPO, env={"PATH": "/usr/bin:/bin", **environ})
    return result.stdout.strip()


def test_the_threshold_is_fixed_on_glibc() -> None:
    """On this Debian machine (glibc), large freed blocks go back to the system."""
    assert run_check() == "True"


def test_an_operators_own_threshold_is_left_alone() -> None:
    assert run_check(MALLOC_MMAP_THRESHOLD_="1048576") == "False"
