"""Helpers shared by the reader tests: where the fixtures are, and reading them."""

from __future__ import annotations

import json
from pathlib import Path

from remediator.bench.reading import parse_result, read_result
from remediator.bench.result import BenchResult

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Path:
    """The path of a fixture file written for these tests."""
    return FIXTURES / name


def read(
    name: str, *, format: str | None = None, run: int | None = None
) -> BenchResult:
    """Read a fixture file the way the CLI would."""
    return read_result(fixture(name), format=format, run=run)


def parse_json(doc: object, *, format: str | None = None) -> BenchResult:
    """Parse a JSON document given as a Python value, as an upload."""
    return parse_result(json.dumps(doc).encode(), source="upload", format=format)


def edited(name: str, *path: str | int, value: object) -> bytes:
    """A JSON fixture with the value at `path` replaced, as bytes."""
    doc = json.loads(fixture(name).read_text())
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(doc).encode()
