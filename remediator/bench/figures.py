"""
The figures of one run while a reader collects them, checked as they arrive.

Every reader goes through these helpers, so every format gets the same rules:
a value that means "no value" becomes None with a note, a negative latency or
an error rate outside 0..1 stops the read with a `ResultError` naming the
tool's own key, and a run in which every request failed has no latencies.
"""

from __future__ import annotations

import itertools
import math
from datetime import datetime
from typing import NoReturn

from remediator.bench.documents import dig
from remediator.bench.numbers import describe_missing, to_number
from remediator.bench.result import BenchResult, ThroughputBasis
from remediator.errors import ResultError

# How far success_rate + error_rate may stray from 1 before we say so.
_CONSISTENT = 1e-6

_LATENCIES = ("p50_ms", "p95_ms", "p99_ms")

# About 11.6 days: no benchmark waits that long for one request. Values above
# are sentinels that leaked into the output (INT64_MAX, a minimum that was
# never set), and would otherwise scale a Deployment to its maximum.
IMPLAUSIBLE_MS = 1e9


class Figures:
    """One run's figures in our units; readers fill in what their format has."""

    def __init__(self, source: str, *, prefix: str = "", where: str = "") -> None:
        self.source = source
        self.prefix = prefix
        """Put before every field name, e.g. `benchmarks[1].` for the second run."""
        self.where = where
        """Put after every message, e.g. ` (line 3)` for one run of JSON Lines."""

        self.p50_ms: float | None = None
        self.p95_ms: float | None = None
        self.p99_ms: float | None = None
        self.error_rate: float | None = None
        self.success_rate: float | None = None
        self.throughput_rps: float | None = None
        self.throughput_basis: ThroughputBasis = "all"
        self.end_time: datetime | None = None
        self.notes: list[str] = []

    def field(self, *keys: str) -> str:
        """The dotted name of a key, as the error line will show it."""
        return self.prefix + ".".join(keys)

    def fail(self, field: str, message: str) -> NoReturn:
        """Stop reading: the value at `field` is one we will never accept."""
        raise ResultError(self.source, field, message + self.where)

    def note(self, text: str) -> None:
        """Keep a warning for the log; the read goes on."""
        self.notes.append(text + self.where)

    def number(self, doc: object, *keys: str, noted: bool = True) -> float | None:
        """The number at `keys`, None (noted unless `noted` is false) if it has none."""
        value = dig(doc, *keys)
        number = to_number(value, source=self.source, field=self.field(*keys))

        if number is None and noted:
            self.note(f"{self.field(*keys)}: {describe_missing(value)}; left unset")

        return number

    def latency(self, doc: object, *keys: str, scale: float) -> float | None:
        """A latency at `keys`, times `scale` to make it milliseconds."""
        value = self.number(doc, *keys)
        if value is not None and value < 0:
            self.fail(self.field(*keys), f"a latency cannot be negative, got {value:g}")

        return self.scaled(self.field(*keys), value, scale)

    def amount(
        self, doc: object, *keys: str, scale: float = 1.0, noted: bool = True
    ) -> float | None:
        """A count, duration or rate at `keys` (never negative), times `scale`."""
        value = self.number(doc, *keys, noted=noted)
        if value is not None and value < 0:
            self.fail(self.field(*keys), f"cannot be negative, got {value:g}")

        return self.scaled(self.field(*keys), value, scale)

    def fraction(self, doc: object, *keys: str, noted: bool = True) -> float | None:
        """A rate given as a fraction 0..1; a percentage is refused, not rescaled."""
        value = self.number(doc, *keys, noted=noted)
        if value is not None and not 0.0 <= value <= 1.0:
            self.fail(
                self.field(*keys), f"must be a fraction between 0 and 1, got {value:g}"
            )
        return value

    def ratio(self, field: str, part: float | None, whole: float | None) -> float | None:
        """`part / whole` as a fraction 0..1; None if either is unknown or whole is 0."""
        if part is None or whole is None:
            return None
        if whole == 0:
            self.note(f"{field}: no requests counted; error rate left unset")
            return None

        if not (math.isfinite(part) and math.isfinite(whole)):
            self.note(f"{field}: counts out of range; error rate left unset")
            return None

        value = part / whole
        if not 0.0 <= value <= 1.0:
            self.fail(field, f"gives an error rate of {value:g}, outside 0..1")

        return value

    def scaled(self, field: str, value: float | None, scale: float) -> float | None:
        """`value * scale`, None (noted) when that overflows a float."""
        if value is None:
            return None

        result = value * scale
        if not math.isfinite(result):
            self.note(f"{field}: {value:g} is out of range; left unset")
            return None

        return result

    def per_second(
        self, field: str, count: float | None, seconds: float | None
    ) -> float | None:
        """`count / seconds`, None when either is unknown or no time passed."""
        if count is None or seconds is None or seconds <= 0:
            return None

        return self.scaled(field, count / seconds, 1.0)

    def drop_latencies(self, reason: str) -> None:
        """Unset the latencies: they do not describe served requests."""
        kept = [(name, getattr(self, name)) for name in _LATENCIES]
        present = [(name, value) for name, value in kept if value is not None]
        shown = ", ".join(f"{name}={value:g}" for name, value in present)
        if shown:
            self.note(f"latencies dropped ({shown}): {reason}")

        for name in _LATENCIES:
            setattr(self, name, None)

    def finish(
        self, *, format: str, fallback_time: datetime, run_index: int, run_count: int
    ) -> BenchResult:
        """The run as a `BenchResult`, after the rules every format shares."""
        if self.error_rate == 1.0:
            self.drop_latencies("every request failed")
        self._drop_implausible_latencies()

        success_rate = self._success_rate()

        return BenchResult(
            source=self.source,
            format=format,
            time=self.end_time or fallback_time,
            p50_ms=self.p50_ms,
            p95_ms=self.p95_ms,
            p99_ms=self.p99_ms,
            error_rate=self.error_rate,
            throughput_rps=self.throughput_rps,
            success_rate=success_rate,
            throughput_basis=self.throughput_basis,
            run_index=run_index,
            run_count=run_count,
            notes=tuple(self.notes),
        )

    def _drop_implausible_latencies(self) -> None:
        """Sentinels and defaults are no measurement: leave them unset, never export them."""
        for name in _LATENCIES:
            value = getattr(self, name)
            if value is None:
                continue
            # A served request never takes 0 ms: a 0 is a tool's default for a
            # percentile it did not compute, and would read as perfect latency.
            if value == 0:
                self.note(f"{name} is 0, which no served request takes; left unset")
                setattr(self, name, None)
            elif value > IMPLAUSIBLE_MS:
                self.note(f"{name} is {value:g}, far beyond any request; left unset")
                setattr(self, name, None)

        # Percentiles of one distribution never decrease: figures that do are
        # not one run's (a writer swapped or mislabelled them), so none is trusted.
        present = [(name, getattr(self, name)) for name in _LATENCIES]
        ordered = [(name, value) for name, value in present if value is not None]
        for (low, low_value), (high, high_value) in itertools.pairwise(ordered):
            if low_value > high_value * (1 + _CONSISTENT):
                self.drop_latencies(
                    f"{low} {low_value:g} is above {high} {high_value:g}: percentiles of"
                    " one run never decrease"
                )
                return

    def _success_rate(self) -> float | None:
        # The tool's own figure wins; ours is only the complement of the error rate.
        if self.success_rate is None:
            return None if self.error_rate is None else 1.0 - self.error_rate

        total = self.success_rate + (self.error_rate or 0.0)
        if self.error_rate is not None and abs(total - 1.0) > _CONSISTENT:
            self.note(
                f"success rate {self.success_rate:g} and error rate {self.error_rate:g} "
                "do not add up to 1; each kept as the tool gives it"
            )

        return self.success_rate
