"""
`remediator watch` on fuzzed result files, as a real process: exit code 2
and exactly one line on stderr naming the file, never a traceback.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from remediator.bench.reading import read_result
from remediator.errors import ResultError
from tests.bench.test_fuzz import TREES as READER_TREES

REPO = Path(__file__).resolve().parents[2]
# A process per example: few examples keep the suite fast; the in-process fuzzing of
# the readers (tests/bench/test_fuzz.py) covers the breadth.
PROCESSES = settings(max_examples=25, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])
_numbers = itertools.count()


def unreadable(data: bytes, directory: Path) -> Path | None:
    """The file written, when the readers refuse it; None when it reads as a result."""
    path = directory / f"result-{next(_numbers)}.json"
    path.write_bytes(data)
    try:
        read_result(path)
    except ResultError:
        return path
    return None


@PROCESSES
@given(data=st.binary(max_size=200) | READER_TREES.map(lambda tree: json.dumps(tree).encode()))
@example(data=b"")
@example(data=b"[" * 100_000)
@example(data=b'{"p50_ms": 1, "p95_ms": "12\nms"}')
def test_an_unreadable_result_ends_in_exit_2_and_one_line(tmp_path: Path, data: bytes) -> None:
    """A file no reader accepts makes `remediator watch` exit 2 with one stderr line."""
    path = unreadable(data, tmp_path)
    if path is None:
        return

    done = subprocess.run(
        [sys.executable, "-m", "remediator", "watch", "--results", str(path)],
        capture_output=True, cwd=tmp_path, timeout=60, check=False,
        env={**_clean_environment(), "PYTHONPATH": str(REPO)},
    )

    lines = done.stderr.decode(errors="replace").splitlines()
    assert 2 == done.returncode, done.stderr
    assert 1 == len(lines), lines
    assert lines[0].startswith(f"remediator: error: {path}")


def _clean_environment() -> dict[str, str]:
    """The caller's environment without the variables that would change the settings."""
    return {key: value for key, value in os.environ.items()
            if key not in ("RESULTS_PATH", "AUTO_EXECUTE", "DRY_RUN")
            and not key.startswith("REMEDIATOR_")}
