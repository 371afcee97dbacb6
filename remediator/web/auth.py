"""
Who may post webhooks and use the API: a bearer token and, optionally, basic auth.

Secrets come from the environment (`REMEDIATOR_WEBHOOK_TOKEN`) or from files
(a mounted Secret), never from the config file itself. Comparisons take
constant time. `/metrics` and the probes stay open, as Prometheus and the
kubelet expect.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from remediator.config.loading import TOKEN_VARIABLE, webhook_token
from remediator.config.settings import Settings
from remediator.errors import ConfigError

logger = logging.getLogger("remediator.server")


class Authenticator:
    def __init__(self, *, token: str | None = None, basic: tuple[str, str] | None = None) -> None:
        self._token = token.encode() if token else None
        self._basic = (basic[0].encode(), basic[1].encode()) if basic else None

    @property
    def configured(self) -> bool:
        return self._token is not None or self._basic is not None

    def allows(self, request: web.Request) -> bool:
        """Whether the request carries a valid credential (always, when none is configured)."""
        if not self.configured:
            return True
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self._token is not None:
            # The header as it came on the wire: a byte that is not UTF-8 is a mismatch,
            # not an encoding error (aiohttp hands such bytes over as surrogates).
            sent = value.strip().encode("utf-8", "surrogateescape")
            return hmac.compare_digest(sent, self._token)
        if scheme == "basic" and self._basic is not None:
            try:
                decoded = base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            user, _, password = decoded.partition(b":")
            # Both comparisons always run, so timing says nothing about which failed.
            user_ok = hmac.compare_digest(user, self._basic[0])
            password_ok = hmac.compare_digest(password, self._basic[1])
            return user_ok and password_ok
        return False

    def challenge(self) -> web.HTTPUnauthorized:
        schemes = []
        if self._token is not None:
            schemes.append('Bearer realm="remediator"')
        if self._basic is not None:
            schemes.append('Basic realm="remediator"')
        return web.HTTPUnauthorized(
            headers={"WWW-Authenticate": ", ".join(schemes)},
            text='{"error": "authentication required"}', content_type="application/json",
        )


def from_settings(settings: Settings, environ: Mapping[str, str]) -> Authenticator:
    """Read the token and basic-auth password; ConfigError names the file that fails."""
    server = settings.server
    token = webhook_token(environ)
    if token is None and server.webhook_token_file:
        token = _secret(server.webhook_token_file, "server.webhook_token_file")
    basic = None
    if server.basic_auth_username:
        if not server.basic_auth_password_file:
            raise ConfigError("config", "server.basic_auth_password_file",
                              "basic auth needs a password file")
        basic = (server.basic_auth_username,
                 _secret(server.basic_auth_password_file, "server.basic_auth_password_file"))
    return Authenticator(token=token, basic=basic)


def check_startup(settings: Settings, auth: Authenticator) -> None:
    """Refuse to execute with an open webhook unless explicitly allowed, loudly."""
    if auth.configured or not settings.executing():
        return
    if not settings.server.allow_insecure:
        raise ConfigError(
            "config", "server.webhook_token_file",
            "execution is on but the webhook has no authentication: set"
            f" {TOKEN_VARIABLE} or server.webhook_token_file (or basic auth), or start with"
            " --allow-insecure",
        )
    logger.warning("execution is on and the webhook accepts anyone: anybody who can reach"
                   " %s can trigger cluster changes", settings.server.listen)


def _secret(path: str, key: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(path, None, f"cannot read {key}: {error.strerror}") from None
    if not value:
        raise ConfigError(path, None, f"{key} is empty")
    return value
