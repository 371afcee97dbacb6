"""
Kubernetes name rules.

Every name that reaches the API or a generated script passes through here
first, whether it came from our config or from an alert's labels, so that a
label such as `x; rm -rf /` never becomes an argument.
"""

from __future__ import annotations

import re

# RFC 1123 label: namespaces, and the stricter rule for Services.
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# RFC 1123 subdomain: Deployments, ConfigMaps and most object names.
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# ConfigMap data keys.
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def label_problem(value: str) -> str | None:
    """Why `value` is not an RFC 1123 label (a namespace), or None when it is."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 63:
        return "must be at most 63 characters"
    if not _LABEL.fullmatch(value):
        return "must be lower-case letters, digits and '-', starting and ending alphanumeric"
    return None


def subdomain_problem(value: str) -> str | None:
    """Why `value` is not an RFC 1123 subdomain (an object name), or None when it is."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 253:
        return "must be at most 253 characters"
    if not _SUBDOMAIN.fullmatch(value):
        return "must be lower-case letters, digits, '-' and '.', starting and ending alphanumeric"
    return None


def config_key_problem(value: str) -> str | None:
    """Why `value` is not a valid ConfigMap key, or None when it is."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 253:
        return "must be at most 253 characters"
    if not _CONFIG_KEY.fullmatch(value) or value in (".", ".."):
        return "must consist of letters, digits, '-', '_' and '.'"
    return None


def is_namespace(value: str) -> bool:
    return label_problem(value) is None


def is_object_name(value: str) -> bool:
    return subdomain_problem(value) is None
