"""
Our own classes for what the Kubernetes API answers when it says no.

This is the one module that catches kubernetes-asyncio's `ApiException` (and
the transport errors under it). Everything above it sees two families:

- `PermanentError`: asking again gives the same answer (403 Forbidden, 404,
  422 Invalid, 400, 401). Reported and recorded, never retried.
- `TemporaryError`: asking again may work (409 Conflict, 429, 5xx, timeouts,
  dropped connections). Each carries the `delay` to wait before the retry;
  a 409 asks for a fresh read first, so its delay is short.

The original exception is always chained with `from`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from remediator.errors import RemediatorError

# Without Retry-After, how long to wait after a throttle or a server error.
DEFAULT_THROTTLE_DELAY = 1.0
DEFAULT_SERVER_DELAY = 0.5
CONFLICT_DELAY = 0.05


@dataclasses.dataclass(frozen=True)
class Request:
    """What we asked the API, in the words of an RBAC rule."""

    verb: str  # get, list, watch, create, patch, update
    resource: str  # with the subresource: "deployments/scale"
    group: str  # "" for the core group
    namespace: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        what = f"{self.resource} {self.name}" if self.name else self.resource
        group = f" (API group {self.group!r})" if self.group else ""
        where = f" in namespace {self.namespace}" if self.namespace else ""
        return f"{self.verb} {what}{group}{where}"


class KubeError(RemediatorError):
    """The API (or the way to it) refused or failed one request."""

    code = "api_error"
    """Short machine reason for histories and metrics labels."""

    def __init__(
        self,
        request: Request,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        self.request = request
        self.message = message
        self.status = status
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        status = f"{self.status} {self.reason}" if self.status else self.reason or "error"
        return f"{self.request} failed: {status}: {self.message}"


class PermanentError(KubeError):
    """Asking again would get the same answer."""


class TemporaryError(KubeError):
    """Asking again may work, after `delay` seconds."""

    delay: float = DEFAULT_SERVER_DELAY

    def __init__(self, request: Request, message: str, *, delay: float | None = None,
                 status: int | None = None, reason: str | None = None) -> None:
        super().__init__(request, message, status=status, reason=reason)
        if delay is not None:
            self.delay = delay


class Forbidden(PermanentError):
    code = "forbidden"

    def __str__(self) -> str:
        # Name exactly what the Role lacks: operators copy it into the rule.
        group = self.request.group or '""'
        where = f" in namespace {self.request.namespace}" if self.request.namespace else ""
        return (
            f"403 Forbidden: cannot {self.request.verb} {self.request.resource}"
            f" (API group {group}){where}; the Role must grant verb {self.request.verb!r}"
            f" on {self.request.resource!r} (server said: {self.message})"
        )


class Unauthorized(PermanentError):
    code = "unauthorized"


class NotFound(PermanentError):
    code = "not_found"


class Invalid(PermanentError):
    code = "invalid"


class BadRequest(PermanentError):
    code = "bad_request"


class Gone(PermanentError):
    """410: a watch asked for a resourceVersion too old; start again from a fresh read."""

    code = "expired"


class Conflict(TemporaryError):
    """The object changed since we read it: read it again and redo the change."""

    code = "conflict"
    delay = CONFLICT_DELAY


class AlreadyExists(Conflict):
    """A create lost a race: the object is there now, read it."""

    code = "already_exists"


class Throttled(TemporaryError):
    code = "throttled"
    delay = DEFAULT_THROTTLE_DELAY


class ServerError(TemporaryError):
    code = "server_error"


class Unreachable(TemporaryError):
    """No answer: refused or dropped connection, or a timeout."""

    code = "unreachable"


_PERMANENT: dict[int, type[PermanentError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    410: Gone,
    422: Invalid,
}


def from_answer(
    request: Request,
    status: int,
    body: bytes | str | None,
    headers: Mapping[str, str] | None = None,
) -> KubeError:
    """Our error for one non-2xx answer (status, Status body, headers)."""
    message, reason, retry_after = _status_fields(body)
    header_delay = _retry_after(headers)
    delay = header_delay if header_delay is not None else retry_after

    if status == 409:
        if reason == "AlreadyExists":
            return AlreadyExists(request, message, status=status, reason=reason)
        return Conflict(request, message, status=status, reason=reason or "Conflict")
    if status == 429:
        return Throttled(request, message, delay=delay, status=status,
                         reason=reason or "TooManyRequests")
    if status >= 500:
        return ServerError(request, message, delay=delay, status=status, reason=reason)
    kind = _PERMANENT.get(status, PermanentError)
    return kind(request, message, status=status, reason=reason)


@contextlib.contextmanager
def translated(request: Request) -> Iterator[None]:
    """Turn whatever the client raises for `request` into one of our errors."""
    try:
        yield
    except ApiException as error:
        if not error.status:
            # kubernetes-asyncio uses status 0 for requests it could not build.
            raise BadRequest(request, str(error.reason)) from error
        headers = dict(error.headers or {})
        raise from_answer(request, int(error.status), error.body, headers) from error
    except TimeoutError as error:
        raise Unreachable(request, "no answer in time", reason="Timeout") from error
    except aiohttp.ClientError as error:
        # Refused, reset or dropped connections: the request may or may not
        # have been applied, so callers re-read before they redo anything.
        raise Unreachable(request, str(error) or type(error).__name__,
                          reason=type(error).__name__) from error


def _status_fields(body: bytes | str | None) -> tuple[str, str | None, float | None]:
    """Message, reason and retryAfterSeconds of a Status body, tolerating any body."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        status: Any = json.loads(body) if body else None
    except ValueError:
        status = None
    if not isinstance(status, dict):
        text = (body or "").strip().splitlines()
        return (text[0][:300] if text else "no details"), None, None
    message = str(status.get("message") or "no details")
    reason = status.get("reason") if isinstance(status.get("reason"), str) else None
    details = status.get("details")
    retry = details.get("retryAfterSeconds") if isinstance(details, dict) else None
    delay = float(retry) if isinstance(retry, int | float) and retry >= 0 else None
    return message, reason, delay


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            with contextlib.suppress(ValueError):
                return max(0.0, float(value))
    return None
