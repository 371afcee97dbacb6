"""
From raw bytes to what the readers look at: text, or JSON documents.

A results file is either JSON (one document, or several one after another as
vLLM's `--append-result` writes them) or text (Locust CSV, hey's summary).
Which one is decided by the first character, so that a CSV whose first cell
is a number is never mistaken for a broken JSON file.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Final

from remediator.bench.numbers import MISSING
from remediator.errors import ResultError

# Windows tools (PowerShell's `>` in particular) write UTF-16 with a BOM.
_UTF16_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

_SPACE = re.compile(r"\s*")

# Envelopes that runners put around a tool's JSON, tried in this order when
# the top-level object is not itself a known format (see FORMATS.md §2).
ENVELOPES: Final = (("summaryExportField", "value"), ("stdout", "value"))


@dataclasses.dataclass(frozen=True)
class JsonDocument:
    """One JSON value from the file and the line it starts on."""

    value: object
    line: int


@dataclasses.dataclass(frozen=True)
class Document:
    """A decoded results file."""

    text: str
    json: tuple[JsonDocument, ...] | None
    """The JSON values in the file, or None when the file is not JSON."""


def load(data: bytes, *, source: str) -> Document:
    """Decode `data` and parse it as JSON when it looks like JSON."""
    text = decode(data, source=source)

    if not text.strip():
        raise ResultError(source, None, "the file is empty")

    return Document(text=text, json=parse_json(text, source=source))


def decode(data: bytes, *, source: str) -> str:
    """The text of `data`: UTF-8 (BOM optional) or UTF-16 with a BOM."""
    try:
        if data.startswith(_UTF16_BOMS):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ResultError(
            source, None, f"not UTF-8 text (bad byte at offset {error.start})"
        ) from None


def parse_json(text: str, *, source: str) -> tuple[JsonDocument, ...] | None:
    """
    Every JSON value in `text`, one after another; None if `text` is not JSON.

    Python's parser is used on purpose: it accepts the bare `NaN` and
    `Infinity` that llmperf writes, which the readers then treat as missing.
    """
    start = _SPACE.match(text)
    position = start.end() if start else 0
    if text[position : position + 1] not in ("{", "["):
        return None

    decoder = json.JSONDecoder()
    documents: list[JsonDocument] = []
    line, counted_to = 1, 0
    while position < len(text):
        value, end = _decode_one(decoder, text, position, source=source)

        # Count lines incrementally: a JSON Lines file can hold many runs.
        line += text.count("\n", counted_to, position)
        counted_to = position
        documents.append(JsonDocument(value, line))

        space = _SPACE.match(text, end)
        position = space.end() if space else end

    return tuple(documents)


def _decode_one(
    decoder: json.JSONDecoder, text: str, position: int, *, source: str
) -> tuple[object, int]:
    try:
        value, end = decoder.raw_decode(text, position)
    except json.JSONDecodeError as error:
        raise ResultError(
            source,
            None,
            f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
        ) from None
    except ValueError:
        # Integers beyond Python's digit limit land here, not in JSONDecodeError.
        line = text.count("\n", 0, position) + 1
        message = f"not valid JSON near line {line}: a number too long to read" \
                  " (more than 4300 digits)"
        raise ResultError(source, None, message) from None
    except RecursionError:
        raise ResultError(source, None, "not valid JSON: nested too deeply") from None

    return value, end


def dig(value: object, *keys: str) -> object:
    """`value[k1][k2]...`, or MISSING when a step is absent or not an object."""
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return MISSING
        value = value[key]
    return value


def unwrap(value: object) -> list[tuple[str, object]]:
    """`value` itself, then whatever known envelopes it holds, with their paths."""
    candidates: list[tuple[str, object]] = [("", value)]
    for keys in ENVELOPES:
        inner = dig(value, *keys)
        if isinstance(inner, dict):
            candidates.append((".".join(keys), inner))
    return candidates
