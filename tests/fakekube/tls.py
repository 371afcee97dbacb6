"""
A self-signed certificate for the fake's HTTPS listener.

client-go (so kubectl) sends a kubeconfig's bearer token only over TLS; over
plain http it sends no credentials at all. To exercise RBAC with kubectl the
fake therefore also listens with TLS, using a certificate for 127.0.0.1 made
by the ``openssl`` command line tool. Without openssl there is no HTTPS
listener, and kubectl reaches the fake anonymously.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
from pathlib import Path

# One certificate serves every fake server of the process: making one costs
# an openssl run.
_made: tuple[bytes, bytes] | None = None


async def make_certificate(directory: Path) -> tuple[Path, Path] | None:
    """Write ``tls.crt`` and ``tls.key`` for 127.0.0.1; None without openssl."""
    global _made
    cert, key = directory / "tls.crt", directory / "tls.key"
    if _made is None:
        if not await _generate(cert, key):
            return None
        _made = cert.read_bytes(), key.read_bytes()
    cert.write_bytes(_made[0])
    key.write_bytes(_made[1])
    key.chmod(0o600)
    return cert, key


async def _generate(cert: Path, key: Path) -> bool:
    openssl = shutil.which("openssl")
    if openssl is None:
        return False
    process = await asyncio.create_subprocess_exec(
        openssl,
        "req",
        "-x509",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-keyout",
        str(key),
        "-out",
        str(cert),
        "-days",
        "2",
        "-subj",
        "/CN=fakekube",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"openssl could not make a certificate: {stderr.decode()}")
    return True


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
