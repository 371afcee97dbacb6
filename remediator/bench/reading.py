"""
Reading a benchmark results file into one `BenchResult`.

The public entry points: `read_result` for a file, `parse_result` for bytes
pushed over HTTP, `detect_format` to ask which tool wrote something. Any
problem with the input (unreadable, empty, not JSON, unknown format, a bad
value) is a `ResultError` naming the source and, where there is one, the key.

Throughput basis per format (what `throughput_rps` counts):

| Format | `throughput_rps` from | Basis |
|---|---|---|
| native | `throughput_rps` | the file's `throughput_basis`, else all |
| vllm | `request_throughput` (completed / duration) | successful |
| llmperf | `results_num_completed_requests_per_min` / 60 | successful |
| genai-perf | `request_throughput.avg` | all (GenAI-Perf does not say) |
| genai-perf, AIPerf file | `request_throughput.avg` (valid requests / s) | successful |
| guidellm | `request_totals.successful` / `duration` | successful |
| k6 | `http_reqs.rate` x (1 - error rate) | successful |
| k6, no `http_req_failed` | `http_reqs.rate` | all |
| locust | `Requests/s` - `Failures/s` of the Aggregated row | successful |
| oha | 2xx responses / `summary.total` | successful |
| oha, no status counts | `summary.requestsPerSec` | all |
| vegeta | `throughput` (old files: success x requests / time) | successful |
| hey text | 2xx responses / `Total` | successful |
| hey text, no status counts | `Requests/sec` | all |
| hey CSV | 2xx rows / end of the last response | successful |

A file with several runs (vLLM JSON Lines, GuideLLM `benchmarks`) gives its
last run unless `run` picks another (0-based).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISDIR, S_ISREG

from remediator.bench.detection import FORMATS, Detected, detect
from remediator.bench.documents import load
from remediator.bench.figures import Figures
from remediator.bench.protocol import RunDoc
from remediator.bench.result import BenchResult
from remediator.errors import ResultError

__all__ = ["FORMATS", "detect_format", "parse_result", "read_result"]


def read_result(
    path: Path, *, format: str | None = None, run: int | None = None
) -> BenchResult:
    """
    Read the results file at `path`.

    The result's time is the tool's own end time where the format has one,
    else the file's modification time.
    """
    source = str(path)
    data, mtime = _read_file(path, source=source)

    return parse_result(data, source=source, format=format, run=run, mtime=mtime)


def parse_result(
    data: bytes,
    *,
    source: str,
    format: str | None = None,
    run: int | None = None,
    mtime: datetime | None = None,
) -> BenchResult:
    """
    Read results held in memory (an upload); `source` names them in errors.

    `format` None means detect it; `mtime` None means "now" for formats that
    carry no end time of their own.
    """
    document = load(data, source=source)
    detected = detect(document, source=source, format=format)

    runs = _runs(detected, source=source)
    index = _pick(run, len(runs), source=source)
    chosen, where = runs[index]

    fig = Figures(source, prefix=chosen.prefix, where=where)
    if detected.envelope:
        fig.notes.append(f"read from the .{detected.envelope} envelope")
    detected.reader.read(chosen.value, fig)

    return fig.finish(
        format=detected.reader.name,
        fallback_time=_fallback_time(mtime),
        run_index=index,
        run_count=len(runs),
    )


def detect_format(data: bytes, *, source: str = "<data>") -> str:
    """The name of the format `data` is in; ResultError if it is none we know."""
    return detect(load(data, source=source), source=source).reader.name


MAX_BYTES = 256 * 1024 * 1024
"""No benchmark summary is this large; a bigger file is refused before it fills memory."""


def _read_file(path: Path, *, source: str) -> tuple[bytes, datetime]:
    # One open for both data and mtime, so they describe the same file. Non-blocking,
    # so that a FIFO given by mistake is refused instead of waiting for a writer.
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as handle:
            stat = os.fstat(handle.fileno())
            if S_ISDIR(stat.st_mode):
                raise IsADirectoryError(path)
            if not S_ISREG(stat.st_mode):
                raise ResultError(source, None, "is not a regular file (a device or a pipe?)")
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ResultError(source, None, "no such file") from None
    except IsADirectoryError:
        raise ResultError(source, None, "is a directory, not a results file") from None
    except PermissionError:
        raise ResultError(source, None, "permission denied") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise ResultError(source, None, f"cannot read: {reason}") from None

    if len(data) > MAX_BYTES:
        raise ResultError(source, None, f"is larger than {MAX_BYTES // (1024 * 1024)} MiB;"
                          " no benchmark summary is that large")
    return data, datetime.fromtimestamp(stat.st_mtime, tz=UTC)


def _runs(detected: Detected, *, source: str) -> list[tuple[RunDoc, str]]:
    """Every run in the file, with the suffix that locates it in messages."""
    several_documents = len(detected.documents) > 1
    inside = f" (inside .{detected.envelope})" if detected.envelope else ""

    runs: list[tuple[RunDoc, str]] = []
    for value, line in zip(detected.documents, detected.lines, strict=True):
        where = f" (line {line})" if several_documents else inside
        runs.extend((run, where) for run in detected.reader.runs(value, source))

    if not runs:
        raise ResultError(source, None, f"the {detected.reader.name} file holds no run")
    return runs


def _pick(run: int | None, count: int, *, source: str) -> int:
    if run is None:
        return count - 1

    if not 0 <= run < count:
        raise ResultError(
            source,
            "run",
            f"no run {run}: the file holds {count} run{'s' if count != 1 else ''} "
            f"(0..{count - 1})",
        )
    return run


def _fallback_time(mtime: datetime | None) -> datetime:
    if mtime is None:
        return datetime.now(UTC)
    if mtime.tzinfo is None:
        return mtime.replace(tzinfo=UTC)
    return mtime.astimezone(UTC)
