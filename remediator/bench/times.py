"""
The end times tools write, as UTC-aware datetimes.

A results file's time decides whether its figures are still current, so a
time we cannot read is reported (the caller falls back to the file's mtime)
rather than guessed.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Final

# vLLM's `date`: `YYYYMMDD-HHMMSS`, local time of the benchmark host.
_COMPACT: Final = re.compile(r"(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})")


def from_iso(text: str) -> tuple[datetime, bool] | None:
    """
    The time an ISO 8601 / RFC 3339 string names, and whether it had a zone.

    A time without a zone is taken as UTC. None when the string is no time.
    Python 3.11 accepts `Z` and more than six fraction digits (it drops them).
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None

    zoned = moment.tzinfo is not None
    utc = _to_utc(moment if zoned else moment.replace(tzinfo=UTC))
    return None if utc is None else (utc, zoned)


def from_epoch(seconds: float) -> datetime | None:
    """The UTC time `seconds` after the Unix epoch; None when out of range."""
    if not math.isfinite(seconds):
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_compact(text: str) -> datetime | None:
    """vLLM's `YYYYMMDD-HHMMSS`, read as UTC because it carries no zone."""
    match = _COMPACT.fullmatch(text.strip())
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


def _to_utc(moment: datetime) -> datetime | None:
    # Year 1 or 9999 with an offset can fall outside datetime's range in UTC.
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None
