"""
Running the real ``kubectl`` against a fake server.

``/usr/bin/kubectl`` here is gcloud's dispatcher: it GETs ``/version`` and then
runs the kubectl build matching the server. Discovery is cached per host:port
in ``--cache-dir``, so each fake server gets a fresh one. The call runs as an
asyncio subprocess: the fake serves on the same event loop and must keep
running while kubectl waits for it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import shutil
from pathlib import Path

KUBECTL = os.environ.get("FAKEKUBE_KUBECTL", "/usr/bin/kubectl")


def available(binary: str = KUBECTL) -> bool:
    return Path(binary).is_file() or shutil.which(binary) is not None


@dataclasses.dataclass(frozen=True)
class KubectlResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def check(self) -> KubectlResult:
        """Fail the test with kubectl's own words unless it exited 0."""
        if self.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(self.args)} exited {self.returncode}\n"
                f"stdout: {self.stdout}\nstderr: {self.stderr}"
            )
        return self


def write_kubeconfig(
    path: Path,
    server: str,
    token: str,
    namespace: str = "default",
    *,
    ca_path: Path | None = None,
) -> Path:
    """A kubeconfig for a server and a bearer token (JSON is valid YAML)."""
    cluster: dict[str, str] = {"server": server}
    if ca_path is not None and server.startswith("https:"):
        cluster["certificate-authority-data"] = base64.b64encode(
            ca_path.read_bytes()
        ).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fakekube", "cluster": cluster}],
        "users": [{"name": "fakekube", "user": {"token": token}}],
        "contexts": [
            {
                "name": "fakekube",
                "context": {
                    "cluster": "fakekube",
                    "user": "fakekube",
                    "namespace": namespace,
                },
            }
        ],
        "current-context": "fakekube",
        "preferences": {},
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


async def run(
    *args: str,
    kubeconfig: Path,
    cache_dir: Path,
    timeout_seconds: float = 60.0,
    binary: str = KUBECTL,
    stdin: str | None = None,
) -> KubectlResult:
    """Run ``kubectl <args>`` with our kubeconfig, cache dir and a 5 s request timeout."""
    env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    argv = (
        f"--kubeconfig={kubeconfig}",
        f"--cache-dir={cache_dir}",
        "--request-timeout=5s",
        *args,
    )
    process = await asyncio.create_subprocess_exec(
        binary,
        *argv,
        stdin=asyncio.subprocess.PIPE
        if stdin is not None
        else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        stdout, stderr = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin is not None else None),
            timeout_seconds,
        )
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    return KubectlResult(
        tuple(args), process.returncode or 0, stdout.decode(), stderr.decode()
    )
