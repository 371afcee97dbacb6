"""
API errors as the apiserver reports them: a ``Status`` object and an HTTP code.

Messages copy the real wording, because clients (kubectl, our daemon's error
classification, log assertions) read them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.fakekube.resources import ResourceType

# Status reasons by HTTP code, for errors built without a specific reason.
REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclasses.dataclass(frozen=True)
class FieldError:
    """One cause of an Invalid error: ``spec.replicas: Invalid value: -1: ...``."""

    field: str
    reason: str  # FieldValueInvalid, FieldValueRequired, ...
    detail: str

    @property
    def message(self) -> str:
        return f"{self.field}: {self.detail}"


class ApiError(Exception):
    """An error answer; ``status()`` is the body, ``code`` the HTTP status."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(rtype: ResourceType, name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if rtype.group:
        details["group"] = rtype.group
    details["kind"] = rtype.plural
    return details


def not_found(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(
        404, f'{rtype.qualified} "{name}" not found', details=_details(rtype, name)
    )


def no_such_path() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", details={})


def already_exists(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        f'{rtype.qualified} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(rtype, name),
    )


def conflict(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {rtype.qualified} "{name}": the object has'
        " been"
        " modified; please apply your changes to the latest version and try again",
        details=_details(rtype, name),
    )


def invalid(rtype: ResourceType, name: str, causes: list[FieldError]) -> ApiError:
    # One cause reads "X is invalid: f: msg"; several are bracketed and joined.
    if len(causes) == 1:
        summary = causes[0].message
    else:
        summary = "[" + ", ".join(cause.message for cause in causes) + "]"
    details = _details(rtype, name)
    details["kind"] = rtype.kind
    details["causes"] = [
        {"reason": cause.reason, "message": cause.detail, "field": cause.field}
        for cause in causes
    ]
    return ApiError(
        422, f'{rtype.qualified_kind} "{name}" is invalid: {summary}', details=details
    )


def unprocessable(server_message: str) -> ApiError:
    """What a failing JSON patch gets: a generic 422 carrying the patch error."""
    return ApiError(
        422,
        "the server rejected our request due to an error in our request",
        details={
            "causes": [{"reason": "UnexpectedServerResponse", "message": server_message}]
        },
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, details={})


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized")


def forbidden(
    rtype: ResourceType,
    *,
    user: str,
    verb: str,
    resource: str,
    namespace: str | None,
    name: str | None,
) -> ApiError:
    subject = f'{rtype.qualified} "{name}"' if name else rtype.qualified
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}"'
        f' in API group "{rtype.group}" {scope}'
    )
    return ApiError(403, message, details=_details(rtype, name))


def forbidden_path(user: str, path: str) -> ApiError:
    return ApiError(403, f'forbidden: User "{user}" cannot get path "{path}"', details={})


def method_not_allowed() -> ApiError:
    return ApiError(
        405, "the server does not allow this method on the requested resource", details={}
    )


def unsupported_media_type(content_type: str) -> ApiError:
    # Server-side apply (application/apply-patch+yaml) is not implemented here.
    return ApiError(
        415,
        "the body of the request was in an unknown format - accepted media types"
        " include: application/json-patch+json, application/merge-patch+json,"
        " application/strategic-merge-patch+json",
        details={},
    )


def name_mismatch(body_name: object, url_name: str) -> ApiError:
    return bad_request(
        f"the name of the object ({body_name}) does not match the name on the URL"
        f" ({url_name})"
    )


def namespace_mismatch() -> ApiError:
    return bad_request(
        "the namespace of the provided object does not match the namespace sent on"
        " the request"
    )


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "Too many requests, please try again later.",
        details={"retryAfterSeconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def internal_error(message: str = "fake fault") -> ApiError:
    return ApiError(
        500,
        f"Internal error occurred: {message}",
        details={"causes": [{"message": message}]},
    )


def service_unavailable(
    message: str = "the server is currently unable to handle the request",
) -> ApiError:
    return ApiError(503, message, details={})


def injected(code: int, message: str, rtype: ResourceType, name: str | None) -> ApiError:
    """An injected failure, shaped as the apiserver answers with that code."""
    if code == 409:
        return conflict(rtype, name or "")
    if code == 429:
        return too_many_requests(1)
    if code == 500:
        return internal_error(message)
    if code == 503:
        return service_unavailable(message)
    if code == 504:
        return ApiError(
            504,
            "the server was unable to return a response in the time allotted,"
            " but may still be processing the request",
            details={},
        )
    return ApiError(code, message, details={})


def expired(resource_version: str, oldest: int) -> ApiError:
    return ApiError(
        410, f"too old resource version: {resource_version} ({oldest})", reason="Expired"
    )
