"""
One process per state directory: an exclusive `flock` on a file inside it.

Two processes deciding from one SQLite store would each trust their own
memory of cooldowns and dedup keys, and with execution on both could act on
one incident. The lock is held for as long as the store is open; the kernel
releases it when the process ends, `kill -9` included, so a crash never
leaves a stale lock behind. The holder writes its pid into the file, so the
process that is refused can say who holds it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from remediator.state.base import StateError

FILENAME = "remediator.lock"


class DirectoryLock:
    """The exclusive lock on `<directory>/remediator.lock`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / FILENAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock now, or raise `StateError` naming the directory and its holder."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise StateError(f"{self.directory}: cannot create the state lock: "
                             f"{error.strerror}") from error

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise StateError(
                f"{self.directory}: the state directory is in use by another remediator"
                f"{holder}; stop it first, or give this one its own --state-dir"
            ) from None

        # Ours now: record who holds it for the next process that asks.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _holder(fd: int) -> str:
    """` (pid N)` from the lock file, or nothing when it names no pid."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""
