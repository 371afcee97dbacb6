"""
Turning the numbers tools write into floats we can trust.

Tools write numbers as JSON numbers, as strings (llmperf's `default=str`, CSV
cells, vLLM metadata), and as markers for "no value" (NaN, Infinity, null,
`N/A`). Everything that means "no value" becomes None here, so no reader can
let a NaN through to a gauge, where it would make every alert comparison false.
"""

from __future__ import annotations

import math
import re
from typing import Final

from remediator.errors import ResultError

# Unit factors into our units (milliseconds); applied per format, never guessed
# from a value's magnitude.
MS_PER_S: Final = 1000.0
MS_PER_US: Final = 1e-3
MS_PER_NS: Final = 1e-6
S_PER_MIN: Final = 60.0

# Strings tools use for "no value": Locust `N/A`, C and Python spellings of
# NaN and infinity, and the empty CSV cell.
_MISSING_WORDS: Final = frozenset(
    {"", "n/a", "na", "nan", "-nan", "+nan", "null", "none",
     "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
)

# A plain decimal number; stricter than float(), which also takes "1_000".
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class Missing:
    """The marker for a key that is not in the document at all."""

    _instance: Missing | None = None

    def __new__(cls) -> Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing()


def to_number(value: object, *, source: str, field: str) -> float | None:
    """
    The finite float `value` stands for, or None when it means "no value".

    Raises ResultError for anything else: a word, a boolean, a list, an object.
    """
    if value is None or value is MISSING:
        return None

    # bool is an int subclass; `true` where a latency belongs is an error.
    if isinstance(value, bool):
        raise ResultError(source, field, f"expected a number, got {_show(value)}")

    if isinstance(value, int):
        return _finite(_int_to_float(value))

    if isinstance(value, float):
        return _finite(value)

    if isinstance(value, str):
        return _from_text(value, source=source, field=field)

    raise ResultError(source, field, f"expected a number, got {_kind(value)}")


def describe_missing(value: object) -> str:
    """How to say in a note why `value` gave no number."""
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"{value!r}"
    return "not finite"


def is_missing_marker(value: object) -> bool:
    """Whether `value` is one of the ways tools write "no value"."""
    if value is None or value is MISSING:
        return True
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, str) and value.strip().lower() in _MISSING_WORDS


def _from_text(text: str, *, source: str, field: str) -> float | None:
    word = text.strip()
    if word.lower() in _MISSING_WORDS:
        return None

    if not _NUMBER.fullmatch(word):
        raise ResultError(source, field, f"expected a number, got {_show(text)}")

    return _finite(float(word))


def _int_to_float(value: int) -> float:
    # An integer too large for a float is garbage, not a measurement.
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
