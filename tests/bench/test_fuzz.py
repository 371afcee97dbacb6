"""
Property tests: whatever bytes arrive, the readers answer with a result that
obeys our units or with a ResultError, never with another exception.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediator.bench.reading import parse_result
from remediator.bench.result import BenchResult
from remediator.errors import ResultError
from tests.bench.support import FIXTURES

# Keys the readers look for, so random trees reach past detection.
KEYS = [
    "latency_stats", "p50_ms", "p95_ms", "p99_ms", "error_rate", "error_rate_percent",
    "throughput_rps", "success_rate", "finished_at", "timestamp", "completed",
    "failed", "num_prompts", "request_throughput", "median_e2el_ms", "p99_ttft_ms",
    "date", "version", "results_error_rate", "request_latency", "unit", "avg", "p50",
    "input_config", "benchmarks", "metrics", "successful", "request_totals",
    "http_req_duration", "type", "values", "med", "p(95)", "http_req_failed",
    "passes", "fails", "http_reqs", "rate", "summary", "successRate", "total",
    "latencyPercentiles", "statusCodeDistribution", "errorDistribution", "latencies",
    "50th", "99th", "status_codes", "stdout", "value", "summaryExportField",
    "results", "success", "name",
]

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["N/A", "", "NaN", "12", "-3", "2023-08-31", "1.0.0", "ms", "x"])
    | st.text(max_size=8)
)

TREES = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=6
        )
    ),
    max_leaves=30,
)

JSON_FIXTURES = sorted(
    path
    for path in FIXTURES.iterdir()
    if path.suffix == ".json" and path.name != "native-c-nan.json"
)
TEXT_FIXTURES = sorted(
    path for path in FIXTURES.iterdir() if path.suffix in (".csv", ".txt")
)

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def check(data: bytes) -> None:
    """parse_result either raises ResultError or returns a result in our units."""
    try:
        result = parse_result(data, source="fuzz")
    except ResultError:
        return

    assert_sane(result)


def assert_sane(result: BenchResult) -> None:
    """Every figure is None or finite and non-negative; rates lie in 0..1."""
    for name, value in result.metrics().items():
        assert value is None or (math.isfinite(value) and value >= 0), (name, value)
    for rate in (result.error_rate, result.success_rate):
        assert rate is None or 0.0 <= rate <= 1.0
    assert result.time.tzinfo is not None
    assert 0 <= result.run_index < result.run_count


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    """Random bytes never raise anything but ResultError."""
    check(data)


@SETTINGS
@given(TREES)
def test_arbitrary_json_trees(tree: object) -> None:
    """Random JSON built from the readers' own keys never crashes a reader."""
    check(json.dumps(tree).encode())


def paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every key path inside a JSON value."""
    found: list[tuple[object, ...]] = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replace(value: object, path: tuple[object, ...], new: object) -> object:
    """A copy of `value` with the node at `path` replaced by `new`."""
    if not path:
        return new
    head, *rest = path
    if isinstance(value, dict):
        return {**value, head: replace(value[head], tuple(rest), new)}
    assert isinstance(value, list) and isinstance(head, int)
    copy = list(value)
    copy[head] = replace(copy[head], tuple(rest), new)
    return copy


@SETTINGS
@given(st.sampled_from(JSON_FIXTURES), st.data())
def test_fixtures_with_one_node_replaced(path: Path, data: st.DataObject) -> None:
    """A real-shaped file with any one value swapped for junk never crashes."""
    lines = (
        [json.loads(line) for line in path.read_text().split("\n") if line.strip()]
        if path.suffix == ".jsonl"
        else [json.loads(path.read_text())]
    )
    doc = lines[-1]
    where = data.draw(st.sampled_from(paths(doc)))
    junk = data.draw(TREES)

    check(json.dumps(replace(doc, where, junk)).encode())


@SETTINGS
@given(st.sampled_from(TEXT_FIXTURES), st.data())
def test_text_fixtures_with_a_cell_replaced(path: Path, data: st.DataObject) -> None:
    """A CSV or text summary with any one token swapped for junk never crashes."""
    text = path.read_bytes().decode()
    tokens = text.replace("\t", ",").replace("\r", ",").replace("\n", ",").split(",")
    token = data.draw(st.sampled_from([token for token in tokens if token]))
    junk = data.draw(
        st.text(max_size=10) | st.sampled_from(["N/A", "-1", "NaN", "1e999"])
    )

    check(text.replace(token, junk, 1).encode())


@pytest.mark.parametrize("path", [*JSON_FIXTURES, *TEXT_FIXTURES], ids=lambda p: p.name)
def test_every_fixture_gives_a_sane_result(path: Path) -> None:
    """Every well-formed fixture reads into figures that obey our units."""

    assert_sane(parse_result(path.read_bytes(), source=path.name))
