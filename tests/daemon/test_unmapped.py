"""Alerts that map to nothing: counted without labels, and said once per alertname."""

from __future__ import annotations

import logging

import pytest

from tests.daemon.conftest import Daemon, MakeDaemon
from tests.daemon.payloads import alert, notification

UNMAPPED = "remediator_unmapped_alerts_total"


def warnings_naming(caplog: pytest.LogCaptureFixture, alertname: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and alertname in r.getMessage()]


async def test_a_misspelt_alert_is_counted_and_named_once(
        daemon: Daemon, caplog: pytest.LogCaptureFixture) -> None:
    """A typo in a rule name: 200 as before, but counted at each send and logged once."""
    typo = alert("LLMLatencyP95Critcal")

    with caplog.at_level(logging.WARNING):
        first, _ = await daemon.post(notification(typo))
        again, _ = await daemon.post(notification(typo))
        await daemon.post(notification(alert("LLMLatencyP95Critical")))

    assert (first, again) == (200, 200)
    assert daemon.sample(UNMAPPED) == 2
    [line] = warnings_naming(caplog, "LLMLatencyP95Critcal")
    assert "alerts.custom" in line
    assert 'alertname="' not in await daemon.metrics()


async def test_mapped_alerts_built_in_and_custom_are_not_counted(
        make_daemon: MakeDaemon) -> None:
    """Built-in names, the stale and missing alerts and alerts.custom all map to something."""
    daemon = await make_daemon(raw={"alerts": {"custom": [
        {"alertname": "KubePodCrashLooping", "action": "restart", "priority": 1}]}})

    await daemon.post(notification(
        alert("LLMErrorRateCritical"), alert("LLMBenchResultsStale"),
        alert("LLMBenchMetricsMissing"), alert("KubePodCrashLooping")))

    assert daemon.sample(UNMAPPED) == 0
    assert f"{UNMAPPED} 0.0" in await daemon.metrics()


async def test_the_names_said_are_bounded(
        daemon: Daemon, caplog: pytest.LogCaptureFixture) -> None:
    """Untrusted names cannot grow the log without end: every alert counts, 100 names are said."""
    names = [f"Unknown{n}" for n in range(150)]

    with caplog.at_level(logging.WARNING):
        await daemon.post(notification(*(alert(name) for name in names)))

    assert daemon.sample(UNMAPPED) == 150
    said = [name for name in names if warnings_naming(caplog, f"{name} ")]
    assert said == names[:100]
