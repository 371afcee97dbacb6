"""
Locust `--csv PREFIX` statistics: `PREFIX_stats.csv`.

The row used is the total: `Name` "Aggregated" (0.9 and older: "Total") with
an empty `Type` (hand-made files write "None"). Locust >= 1.0 writes
`Type,Name,Request Count,Failure Count,...`; older versions quote every
header and call the columns `"# requests"`, `"# failures"`,
`"Requests Failed/s"`. Times are milliseconds.

- Latency: the `50%` (else `Median Response Time`), `95%` and `99%`
  columns. Locust's percentiles are rounded to two significant digits; a
  column missing from a custom percentile list, or `N/A`, is left unset.
- Error rate: `Failure Count / Request Count` (`Request Count` includes failures).
- Throughput: `Requests/s - Failures/s`: successful requests (`Requests/s`,
  all requests, if the file has neither `Failures/s` nor a failure count).
- Time: none in the file.

Windows line ends (`\\r\\n`, and `\\r\\r\\n` from a CSV written in text mode on
Windows) give blank rows, which are skipped.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Final

from remediator.bench.figures import Figures
from remediator.bench.protocol import Reader, RunDoc
from remediator.errors import ResultError

_TOTAL_NAMES: Final = ("Aggregated", "Total")
_TOTAL_TYPES: Final = ("", "None")

# Before 1.0 every header was quoted; before 0.10 the first column was Method.
_OLD_HEADERS: Final = (
    '"Type","Name","# requests","# failures"',
    '"Method","Name","# requests","# failures"',
)


# Locust's other CSV files, which hold no run summary.
_OTHER_FILES: Final = (
    ("Timestamp,User Count,", "a Locust _stats_history.csv"),
    ("Method,Name,Error,Occurrences", "a Locust _failures.csv"),
    ("Count,Message,Traceback,Nodes", "a Locust _exceptions.csv"),
)


@dataclasses.dataclass(frozen=True)
class Columns:
    """The names one Locust generation gives the columns we read."""

    requests: str
    failures: str
    median: str
    failures_per_s: str


NEW: Final = Columns(
    "Request Count", "Failure Count", "Median Response Time", "Failures/s"
)
OLD: Final = Columns(
    "# requests", "# failures", "Median response time", "Requests Failed/s"
)


@dataclasses.dataclass(frozen=True)
class Row:
    """The total row of a stats file, by column name."""

    cells: dict[str, str]
    columns: Columns


def columns_of(text: object) -> Columns | None:
    """Which Locust generation wrote the header of `text`, if any."""
    if not isinstance(text, str):
        return None

    first_line = text.lstrip("\r\n").split("\n", 1)[0].strip()
    if first_line.startswith("Type,Name,Request Count,Failure Count"):
        return NEW
    if first_line.startswith(_OLD_HEADERS):
        return OLD
    return None


def other_file(value: object) -> str | None:
    """What other Locust output `value` is, for a clearer error than "unknown format"."""
    if _is_json_stats(value):
        return "Locust --json output (raw stats, no percentiles)"

    if not isinstance(value, str):
        return None

    first_line = value.lstrip("\r\n").split("\n", 1)[0]
    for start, kind in _OTHER_FILES:
        if first_line.startswith(start):
            return kind
    return None


def _is_json_stats(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(item, dict) and "num_requests" in item for item in value)
    )


def matches(value: object) -> bool:
    """Whether `value` is the text of a Locust `_stats.csv`."""
    return isinstance(value, str) and columns_of(value) is not None


def runs(value: object, source: str) -> list[RunDoc]:
    """The one run of a stats file: its total row."""
    columns = columns_of(value)
    if columns is None or not isinstance(value, str):
        raise ResultError(source, None, "not a Locust _stats.csv header")

    rows = _rows(value, source)
    totals = [
        row for row in rows
        if row.get("Name") in _TOTAL_NAMES and row.get("Type", "") in _TOTAL_TYPES
    ]
    if not totals:
        raise ResultError(source, "Name", "no Aggregated row")

    return [RunDoc(Row(totals[-1], columns), prefix="Aggregated.")]


def read(value: object, fig: Figures) -> None:
    """Read the total row of a Locust stats file into `fig`."""
    if not isinstance(value, Row):
        fig.fail("Name", "no Aggregated row")
    row, names = value.cells, value.columns

    median = "50%" if "50%" in row else names.median
    fig.p50_ms = fig.latency(row, median, scale=1.0)
    fig.p95_ms = fig.latency(row, "95%", scale=1.0)
    fig.p99_ms = fig.latency(row, "99%", scale=1.0)

    requests = fig.amount(row, names.requests, noted=False)
    failures = fig.amount(row, names.failures, noted=False)
    if failures is not None and requests is not None and failures > requests:
        message = f"{failures:g} failures of {requests:g} requests"
        fig.fail(fig.field(names.failures), message)
    fig.error_rate = fig.ratio(fig.field(names.failures), failures, requests)

    _throughput(row, names, fig)

    if requests == 0:
        fig.drop_latencies(f"{names.requests} is 0")


def _throughput(row: dict[str, str], names: Columns, fig: Figures) -> None:
    all_rate = fig.amount(row, "Requests/s")
    fail_rate = fig.amount(row, names.failures_per_s, noted=False)

    if all_rate is not None and fail_rate is not None:
        if fail_rate > all_rate:
            fig.fail(fig.field(names.failures_per_s), "exceeds Requests/s")
        fig.throughput_rps, fig.throughput_basis = all_rate - fail_rate, "successful"
    elif all_rate is not None and fig.error_rate is not None:
        fig.throughput_rps = all_rate * (1.0 - fig.error_rate)
        fig.throughput_basis = "successful"
    else:
        fig.throughput_rps, fig.throughput_basis = all_rate, "all"


def _rows(text: str, source: str) -> list[dict[str, str]]:
    # newline="" lets the csv module see every \r; blank rows are then dropped.
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if any(row)]
    except csv.Error as error:
        raise ResultError(source, None, f"not valid CSV: {error}") from None

    header, body = rows[0], rows[1:]
    return [dict(zip(header, row, strict=False)) for row in body]


READER = Reader(name="locust", matches=matches, read=read, runs=runs)
