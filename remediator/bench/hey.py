"""
hey (rakyll/hey): its default text summary, or `-o csv` (one row per response).

Times are seconds (`%4.4f`, so 0.1 ms resolution).

Text summary:

- Latency: the `50% in`, `95% in`, `99% in` lines of "Latency distribution"
  x 1000 (over responses, non-2xx included). hey omits a percentile it has
  no data for; it stays unset.
- Error rate: (errors + non-2xx responses) / (responses + errors), from
  "Status code distribution" and "Error distribution".
- Throughput: 2xx responses / `Total`: successful requests (`Requests/sec`,
  which counts errors too, only for output without a status distribution).

CSV (`-o csv`):

- Latency: percentiles of `response-time` x 1000 over all rows, picked the
  way hey picks them for its text summary (the first sample whose rank
  reaches the percentage).
- Error rate: unset; the CSV lists responses only, transport errors are absent.
- Throughput: 2xx rows / the end of the last response
  (max of `offset + response-time`): successful requests.

Neither has a time.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Final

from remediator.bench.figures import Figures
from remediator.bench.numbers import MS_PER_S, to_number
from remediator.bench.protocol import Reader

CSV_HEADER: Final = (
    "response-time,DNS+dialup,DNS,Request-write,"
    "Response-delay,Response-read,status-code,offset"
)

_TOTAL = re.compile(r"^\s*Total:\s*(\S+)\s+secs", re.MULTILINE)
_RPS = re.compile(r"^\s*Requests/sec:\s*(\S+)", re.MULTILINE)
# hey prints "50%% in" through fmt.Fprintf, which leaves one "%".
_PERCENTILE = re.compile(r"^\s*(\d{1,3})%{1,2} in (\S+) secs", re.MULTILINE)
_STATUS = re.compile(r"^\s*\[(\d{1,3})\]\s+(\S+) responses", re.MULTILINE)
_ERROR = re.compile(r"^\s*\[(\S+)\]\s+\S", re.MULTILINE)

_WANTED: Final = (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99))


def is_csv(text: object) -> bool:
    """Whether `text` is hey's `-o csv` output."""
    return isinstance(text, str) and text.lstrip().startswith(CSV_HEADER)


def matches(value: object) -> bool:
    """Whether `value` is hey's text summary or its CSV."""
    if is_csv(value):
        return True
    return isinstance(value, str) and "Summary:" in value and "Requests/sec:" in value


def read(value: object, fig: Figures) -> None:
    """Read hey's output into `fig`."""
    if not isinstance(value, str):
        fig.fail("Summary", "not hey output")

    if is_csv(value):
        _read_csv(value, fig)
    else:
        _read_text(value, fig)


def _read_text(text: str, fig: Figures) -> None:
    found = {f"{int(pct)}% in": raw for pct, raw in _PERCENTILE.findall(text)}
    for name, pct in _WANTED:
        value = fig.latency(found, f"{pct}% in", scale=MS_PER_S)
        if value == 0:
            fig.note(f"{pct}% in: 0.0000 secs, hey's mark for no data; left unset")
            value = None
        setattr(fig, name, value)

    if "Status code distribution:" not in text:
        fig.note("no status code distribution; error rate left unset")
        fig.throughput_rps = _match_number(_RPS, text, "Requests/sec", fig)
        return

    statuses, errors_part = _sections(text)
    succeeded, other = _status_counts(statuses, fig)
    error_counts = _ERROR.findall(errors_part)
    errors = sum(_count(fig, "Error distribution", raw) for raw in error_counts)
    attempted = succeeded + other + errors
    fig.error_rate = fig.ratio("Status code distribution", other + errors, attempted)

    total = _match_number(_TOTAL, text, "Total", fig)
    fig.throughput_rps = fig.per_second("Total", succeeded, total)
    fig.throughput_basis = "successful"

    if succeeded == 0:
        fig.drop_latencies("no 2xx response")


def _sections(text: str) -> tuple[str, str]:
    """(status code section, error section) of a text summary."""
    _, _, after_status = text.partition("Status code distribution:")
    statuses, _, errors = after_status.partition("Error distribution:")
    return statuses, errors


def _status_counts(section: str, fig: Figures) -> tuple[float, float]:
    succeeded = other = 0.0
    for code, raw in _STATUS.findall(section):
        count = _count(fig, f"Status code distribution.[{code}]", raw)
        if 200 <= int(code) < 300:
            succeeded += count
        else:
            other += count
    return succeeded, other


def _count(fig: Figures, field: str, raw: str) -> float:
    value = to_number(raw, source=fig.source, field=field)
    if value is None or value < 0:
        fig.fail(field, f"expected a count, got {raw!r:.40}")
    return value


def _match_number(
    pattern: re.Pattern[str], text: str, field: str, fig: Figures
) -> float | None:
    match = pattern.search(text)
    if match is None:
        fig.note(f"{field}: missing; left unset")
        return None
    return fig.amount({field: match.group(1)}, field)


def _read_csv(text: str, fig: Figures) -> None:
    times: list[float] = []
    succeeded = 0
    end = 0.0
    for line, row in _csv_rows(text, fig):
        took = _cell(fig, row, "response-time", line)
        offset = _cell(fig, row, "offset", line)
        status = _cell(fig, row, "status-code", line)
        times.append(took)
        end = max(end, offset + took)
        succeeded += 200 <= status < 300

    times.sort()
    for name, pct in _WANTED:
        setattr(fig, name, _hey_percentile(times, pct, fig))

    fig.note("hey CSV lists responses only; error rate left unset")
    fig.throughput_rps = fig.per_second("offset", float(succeeded), end)
    fig.throughput_basis = "successful"

    if succeeded == 0:
        fig.drop_latencies("no 2xx response")


def _csv_rows(text: str, fig: Figures) -> list[tuple[int, dict[str, str]]]:
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip(), newline="")))
    except csv.Error as error:
        fig.fail("", f"not valid CSV: {error}")

    header = rows[0]
    return [
        (number, dict(zip(header, row, strict=False)))
        for number, row in enumerate(rows[1:], start=2)
        if any(row)
    ]


def _cell(fig: Figures, row: dict[str, str], column: str, line: int) -> float:
    field = f"line {line}.{column}"
    value = to_number(row.get(column), source=fig.source, field=field)
    if value is None or value < 0:
        fig.fail(field, f"expected a non-negative number, got {row.get(column)!r:.40}")
    return value


def _hey_percentile(times: list[float], pct: int, fig: Figures) -> float | None:
    # hey takes the first sample whose rank i satisfies i * 100 / n >= pct.
    index = -(-pct * len(times) // 100)
    if index >= len(times):
        fig.note(f"{pct}%: too few responses for this percentile; left unset")
        return None
    return fig.scaled("response-time", times[index], MS_PER_S)


READER = Reader(name="hey", matches=matches, read=read)
