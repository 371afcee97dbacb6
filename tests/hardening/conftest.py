"""
The daemon fixtures of `tests/daemon` (its app in-process, a settable clock),
reused here rather than written twice, and the fake Kubernetes API server.
"""

import pytest

from tests.daemon.conftest import clock, daemon, make_daemon

__all__ = ["clock", "daemon", "make_daemon"]

FAKEKUBE_PLUGIN = "tests.fakekube.plugin"


def pytest_configure(config: pytest.Config) -> None:
    # The fake API server's fixtures, until the root conftest lists its plugin.
    if not config.pluginmanager.has_plugin(FAKEKUBE_PLUGIN):
        config.pluginmanager.import_plugin(FAKEKUBE_PLUGIN)
