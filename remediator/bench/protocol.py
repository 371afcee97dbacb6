"""
What every format module provides, so detection and run selection are shared.

A format module exposes one `Reader`: a test that says whether a parsed
document (a JSON value, or the text of a CSV or text file) is in its format,
how to split the document into runs, and how to read one run into `Figures`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from remediator.bench.figures import Figures


@dataclasses.dataclass(frozen=True)
class RunDoc:
    """One run inside a document, with the key path that leads to it."""

    value: object
    prefix: str = ""
    """Put before field names in errors, e.g. `benchmarks[2].`."""


def single_run(value: object, source: str) -> list[RunDoc]:
    """The runs of a format that holds one run per document: the document."""
    return [RunDoc(value)]


@dataclasses.dataclass(frozen=True)
class Reader:
    """One format: how to recognise it, split it into runs, and read a run."""

    name: str
    matches: Callable[[object], bool]
    """Whether a document is in this format; never raises."""

    read: Callable[[object, Figures], None]
    """Fill in `Figures` from one run; raises ResultError on bad values."""

    runs: Callable[[object, str], list[RunDoc]] = single_run
    """The runs of one matching document (the source is for error messages)."""
