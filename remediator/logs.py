"""
Logging: named loggers per area, JSON lines in a cluster, text in a terminal.

Areas: `remediator.webhook` (notifications), `remediator.remediation`
(decisions and actions), `remediator.guard`, `remediator.execution`,
`remediator.results`, `remediator.state`, `remediator.notify`,
`remediator.server`. Variable parts travel as `extra` fields, so a log
backend can filter on them; the JSON formatter writes every such field.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import IO, Any

from aiohttp.http_exceptions import HttpProcessingError

# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {
    "message", "asctime", "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human text for a terminal; extra fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = [
            f"{key}={value}" for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        ]
        return f"{text}  [{' '.join(extras)}]" if extras else text


def setup(*, level: int = logging.INFO, stream: IO[str] | None = None,
          json_lines: bool | None = None) -> None:
    """Send the `remediator` loggers to stderr: JSON unless stderr is a terminal."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not stream.isatty()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())

    root = logging.getLogger("remediator")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False

    # aiohttp's and asyncio's own lines (a malformed request, say) go the same way, as
    # one line each, instead of Python's bare fallback printing a traceback. aiohttp's
    # access log writes a line per request: a storm would drown the log, so it stays quiet.
    for name in ("aiohttp", "asyncio"):
        library = logging.getLogger(name)
        for old in list(library.handlers):
            library.removeHandler(old)
        library.addHandler(handler)
        library.setLevel(logging.WARNING)
        library.propagate = False
    request_errors = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientErrorFilter) for f in request_errors.filters):
        request_errors.addFilter(ClientErrorFilter())


class ClientErrorFilter(logging.Filter):
    """
    A request aiohttp could not parse (a header too long, bad framing) is the client's
    fault: one warning line naming it, not an error with our server's traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError) and error.code < 500:
            detail = " ".join(str(error.message).split())
            record.msg = f"{record.getMessage()}: HTTP {error.code}: {detail[:200]}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class AlertLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that adds one alert's alertname, fingerprint and target to every line."""

    def __init__(self, logger: logging.Logger, fields: Mapping[str, Any]) -> None:
        super().__init__(logger, dict(fields))

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def for_alert(logger: logging.Logger, *, alertname: str, fingerprint: str,
              target: str | None = None) -> AlertLogger:
    fields: dict[str, Any] = {"alertname": alertname, "fingerprint": fingerprint}
    if target:
        fields["target"] = target
    return AlertLogger(logger, fields)
