"""
Which tool wrote a results file, checked in the order of FORMATS.md §2.

The first reader whose test fits wins. A JSON object that fits none is
looked into once more through the envelopes runners are known to put around
a tool's output (`.summaryExportField.value`, `.stdout.value`); unknown
envelopes are not guessed at. A file of several JSON documents (JSON Lines)
must hold the same format on every line.
"""

from __future__ import annotations

import dataclasses

from remediator.bench import (
    genaiperf,
    guidellm,
    hey,
    k6,
    llmperf,
    locust,
    native,
    oha,
    vegeta,
    vllm,
)
from remediator.bench.documents import Document, JsonDocument, unwrap
from remediator.bench.protocol import Reader
from remediator.errors import ResultError

# Detection order. JSON readers ignore text and text readers ignore JSON, so
# only the order within each kind matters.
READERS: tuple[Reader, ...] = (
    native.READER,
    vllm.READER,
    llmperf.READER,
    genaiperf.READER,
    guidellm.READER,
    k6.READER,
    locust.READER,
    oha.READER,
    vegeta.READER,
    hey.READER,
)

FORMATS: tuple[str, ...] = tuple(reader.name for reader in READERS)


@dataclasses.dataclass(frozen=True)
class Detected:
    """A recognised file: its reader and the documents to read runs from."""

    reader: Reader
    documents: tuple[object, ...]
    lines: tuple[int, ...]
    """The line each document starts on (1 for text and single documents)."""

    envelope: str = ""
    """The dotted path of the envelope the document was unwrapped from, if any."""


def detect(document: Document, *, source: str, format: str | None = None) -> Detected:
    """The reader for `document`; `format` restricts the choice to one reader."""
    readers = _candidates(format, source=source)

    if document.json is None:
        return _detect_text(document.text, readers, source=source, format=format)

    if len(document.json) == 1:
        only = document.json[0].value
        return _detect_object(only, readers, source=source, format=format)

    return _detect_lines(document.json, readers, source=source, format=format)


def _candidates(format: str | None, *, source: str) -> tuple[Reader, ...]:
    if format is None:
        return READERS

    chosen = tuple(reader for reader in READERS if reader.name == format)
    if not chosen:
        raise ResultError(
            source, "format", f"unknown format {format!r}; known: {', '.join(FORMATS)}"
        )
    return chosen


def _detect_text(
    text: str, readers: tuple[Reader, ...], *, source: str, format: str | None
) -> Detected:
    for reader in readers:
        if reader.matches(text):
            return Detected(reader, (text,), (1,))

    raise _no_match(text, source=source, format=format)


def _detect_object(
    value: object, readers: tuple[Reader, ...], *, source: str, format: str | None
) -> Detected:
    for envelope, inner in unwrap(value):
        for reader in readers:
            if reader.matches(inner):
                return Detected(reader, (inner,), (1,), envelope)

    raise _no_match(value, source=source, format=format)


def _detect_lines(
    documents: tuple[JsonDocument, ...],
    readers: tuple[Reader, ...],
    *,
    source: str,
    format: str | None,
) -> Detected:
    first, *rest = documents

    reader = next((reader for reader in readers if reader.matches(first.value)), None)
    if reader is None:
        raise _no_match(first.value, source=source, format=format, where=" (line 1)")

    for other in rest:
        if not reader.matches(other.value):
            raise ResultError(
                source,
                None,
                f"line {other.line}: not a {reader.name} result like line {first.line}; "
                "every JSON document in a file must be a run of the same tool",
            )

    values = tuple(doc.value for doc in documents)
    return Detected(reader, values, tuple(doc.line for doc in documents))


def _no_match(
    value: object, *, source: str, format: str | None, where: str = ""
) -> ResultError:
    locust_file = locust.other_file(value)
    if locust_file:
        message = f"is {locust_file}, which holds no run summary"
        return ResultError(source, None, message + "; read Locust's _stats.csv")

    if k6.is_sample_stream(value):
        message = "is k6's --out json sample stream, which holds no summary"
        return ResultError(source, None, message + "; use --summary-export")

    if format is None:
        return ResultError(
            source,
            None,
            f"matches no known result format{where}; known: {', '.join(FORMATS)}",
        )

    looks_like = _guess(value)
    hint = f"; it looks like {looks_like}" if looks_like else ""
    return ResultError(source, "format", f"not a {format} result{where}{hint}")


def _guess(value: object) -> str | None:
    for envelope, inner in unwrap(value):
        for reader in READERS:
            if reader.matches(inner):
                return reader.name + (f" inside .{envelope}" if envelope else "")
    return None
