"""
Load the fake's plugin for this folder until the root conftest lists it in
``pytest_plugins``; then this does nothing.
"""

import pytest

PLUGIN = "tests.fakekube.plugin"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.import_plugin(PLUGIN)
