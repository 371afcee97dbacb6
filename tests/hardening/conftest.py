"""
The daemon fixtures of `tests/daemon` (its app in-process, a settable clock),
reused here rather than written twice.
"""

from tests.daemon.conftest import clock, daemon, make_daemon

__all__ = ["clock", "daemon", "make_daemon"]
