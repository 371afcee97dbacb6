"""Tests of the public entry points: detection, run selection, unreadable input."""

from __future__ import annotations

import codecs
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remediator.bench.reading import FORMATS, detect_format, parse_result, read_result
from remediator.errors import ResultError
from tests.bench.support import fixture, read

DETECTED = [
    ("native-full.json", "native"),
    ("vllm-serve-e2el.json", "vllm"),
    ("vllm-sweep.jsonl", "vllm"),
    ("llmperf-summary.json", "llmperf"),
    ("genai-perf-export.json", "genai-perf"),
    ("aiperf-export.json", "genai-perf"),
    ("guidellm-sweep.json", "guidellm"),
    ("k6-handlesummary.json", "k6"),
    ("k6-export-no-p99.json", "k6"),
    ("k6-machine-summary.json", "k6"),
    ("k6-export-wrapped.json", "k6"),
    ("locust-windows-stats.csv", "locust"),
    ("locust-old-stats.csv", "locust"),
    ("oha-report.json", "oha"),
    ("vegeta-report.json", "vegeta"),
    ("vegeta-legacy.json", "vegeta"),
    ("hey-summary.txt", "hey"),
    ("hey-requests.csv", "hey"),
]


def test_formats_lists_every_reader() -> None:
    """FORMATS names the readers, ours first."""

    expected = (
        "native", "vllm", "llmperf", "genai-perf", "guidellm", "k6", "locust", "oha",
        "vegeta", "hey",
    )
    assert expected == FORMATS


@pytest.mark.parametrize(("name", "expected"), DETECTED)
def test_each_format_is_detected(name: str, expected: str) -> None:
    """detect_format recognises every fixture's tool."""

    assert expected == detect_format(fixture(name).read_bytes())


@pytest.mark.parametrize(("name", "expected"), DETECTED)
def test_explicit_format_that_fits_is_read(name: str, expected: str) -> None:
    """Naming the right format reads the file like detection would."""

    assert expected == read(name, format=expected).format


def test_explicit_format_that_does_not_fit_names_it() -> None:
    """format="vegeta" on a native file says it is not vegeta and what it looks like."""
    with pytest.raises(ResultError) as caught:
        read("native-full.json", format="vegeta")

    assert "format" == caught.value.field
    assert "not a vegeta result; it looks like native" == caught.value.message


def test_unknown_format_name_lists_the_formats() -> None:
    """An unknown format name is refused with the known ones."""
    with pytest.raises(ResultError) as caught:
        read("native-full.json", format="jmeter")

    assert "jmeter" in caught.value.message
    assert "native, vllm" in caught.value.message


def test_json_of_no_known_format_lists_the_formats() -> None:
    """A JSON object no reader knows gives one line listing the formats."""
    with pytest.raises(ResultError) as caught:
        parse_result(b'{"p95": 12}', source="up")

    assert None is caught.value.field
    assert "matches no known result format" in caught.value.message
    assert ", ".join(FORMATS) in caught.value.message


def test_text_of_no_known_format_lists_the_formats() -> None:
    """Plain text no reader knows gives the same error."""
    with pytest.raises(ResultError) as caught:
        parse_result(b"hello\nworld\n", source="up")

    assert "matches no known result format" in caught.value.message


def test_run_selection_and_counts() -> None:
    """run=N picks run N (0-based); None picks the last."""
    first = read("vllm-sweep.jsonl", run=0)
    last = read("vllm-sweep.jsonl")

    assert (0, 3) == (first.run_index, first.run_count)
    assert (2, 3) == (last.run_index, last.run_count)


@pytest.mark.parametrize("run", [3, -1, 100])
def test_out_of_range_run_names_run(run: int) -> None:
    """A run the file does not hold is refused, naming `run`."""
    with pytest.raises(ResultError) as caught:
        read("vllm-sweep.jsonl", run=run)

    assert "run" == caught.value.field
    assert "3 runs (0..2)" in caught.value.message


def test_single_run_file_accepts_run_0_only() -> None:
    """A one-run file has run 0 and nothing else."""
    assert 0 == read("oha-report.json", run=0).run_index

    with pytest.raises(ResultError) as caught:
        read("oha-report.json", run=1)

    assert "run" == caught.value.field


def test_empty_file_is_refused(tmp_path: Path) -> None:
    """An empty (or blank) file is a ResultError, not a traceback."""
    path = tmp_path / "empty.json"
    path.write_bytes(b"  \n")

    with pytest.raises(ResultError) as caught:
        read_result(path)

    assert "the file is empty" == caught.value.message


def test_directory_is_refused(tmp_path: Path) -> None:
    """A directory given as the results file is refused."""
    with pytest.raises(ResultError) as caught:
        read_result(tmp_path)

    assert str(tmp_path) == caught.value.source
    assert "directory" in caught.value.message


def test_missing_file_is_refused(tmp_path: Path) -> None:
    """A path that does not exist is refused."""
    with pytest.raises(ResultError) as caught:
        read_result(tmp_path / "nope.json")

    assert "no such file" == caught.value.message


def test_unreadable_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file we may not open is refused (simulated: tests may run as root)."""
    path = tmp_path / "secret.json"
    path.write_bytes(b"{}")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    with pytest.raises(ResultError) as caught, monkeypatch.context() as patched:
        patched.setattr(os, "open", refuse)
        read_result(path)

    assert "permission denied" == caught.value.message


def test_a_pipe_or_device_is_refused_without_waiting(tmp_path: Path) -> None:
    """A FIFO (which would block for a writer) or /dev/zero (endless) is not a results file."""
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)

    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(ResultError) as caught:
            read_result(path)
        assert "is not a regular file (a device or a pipe?)" == caught.value.message


def test_a_file_too_large_to_be_a_summary_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the size limit the file is refused before it is parsed."""
    from remediator.bench import reading

    path = tmp_path / "huge.json"
    path.write_bytes(b"[" + b"0," * 600_000 + b"0]")
    monkeypatch.setattr(reading, "MAX_BYTES", 1024 * 1024)

    with pytest.raises(ResultError) as caught:
        read_result(path)

    assert "is larger than 1 MiB" in caught.value.message


def test_invalid_json_names_line_and_column() -> None:
    """Broken JSON is reported with its line and column."""
    with pytest.raises(ResultError) as caught:
        parse_result(b'{\n  "latency_stats": {"p50_ms": 1,}\n}', source="up")

    assert "line 2 column 33" in caught.value.message


def test_bytes_that_are_not_text_are_refused() -> None:
    """Bytes that are not UTF-8 are refused with their offset."""
    with pytest.raises(ResultError) as caught:
        parse_result(b'{"a": "\xff"}', source="up")

    assert "not UTF-8" in caught.value.message


def test_utf8_bom_and_utf16_are_read() -> None:
    """Files from Windows tools (UTF-8 BOM, UTF-16 with BOM) are read."""
    text = fixture("native-full.json").read_text()

    with_bom = parse_result(codecs.BOM_UTF8 + text.encode(), source="up")
    utf16 = parse_result(text.encode("utf-16"), source="up")

    assert 41.5 == with_bom.p50_ms
    assert 41.5 == utf16.p50_ms


def test_file_time_is_the_mtime_when_the_tool_has_none(tmp_path: Path) -> None:
    """oha has no end time, so the file's mtime is the result's time."""
    path = tmp_path / "oha.json"
    path.write_bytes(fixture("oha-report.json").read_bytes())
    stamp = datetime(2024, 6, 1, 12, 0, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))

    assert datetime(2024, 6, 1, 12, 0, tzinfo=UTC) == read_result(path).time


def test_pushed_data_without_time_is_stamped_now() -> None:
    """parse_result without mtime uses the current time for formats without one."""
    before = datetime.now(UTC)

    result = parse_result(fixture("oha-report.json").read_bytes(), source="push")

    assert before - timedelta(seconds=1) <= result.time <= datetime.now(UTC)
    assert "push" == result.source


def test_tool_time_wins_over_mtime() -> None:
    """A format with its own end time ignores the mtime passed in."""
    mtime = datetime(2030, 1, 1, tzinfo=UTC)

    result = parse_result(
        fixture("llmperf-summary.json").read_bytes(), source="x", mtime=mtime
    )

    assert datetime(2024, 5, 1, 9, 0, tzinfo=UTC) == result.time


def test_unknown_envelope_is_not_guessed() -> None:
    """Only the known envelopes are unwrapped; others are unknown format."""
    inner = fixture("oha-report.json").read_text()

    with pytest.raises(ResultError) as caught:
        parse_result(('{"payload": {"value": ' + inner + "}}").encode(), source="up")

    assert "matches no known result format" in caught.value.message
