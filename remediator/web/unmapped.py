"""
Alerts that map to nothing, so that a misspelt rule name does not go unnoticed.

They are accepted (Alertmanager would only retry them) and otherwise
ignored. The counter has no alertname label: alertnames come from whoever
can reach the webhook, and a label per name would let them grow our
exposition without end. The name goes to the log instead, once per
alertname and for a bounded number of names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client import Counter

from remediator.alerting.payload import Alert

logger = logging.getLogger("remediator.webhook")

NAMES_SAID = 100
"""How many distinct unmapped alertnames one process logs; later ones are only counted."""


class UnmappedAlerts:
    def __init__(self, known: frozenset[str], counter: Counter) -> None:
        self.known = known
        self.counter = counter
        self._said: set[str] = set()

    def note(self, alerts: Iterable[Alert]) -> None:
        """Count the alerts that map to nothing; name each new alertname once."""
        unmapped = [a.alertname for a in alerts if a.alertname not in self.known]
        if not unmapped:
            return
        self.counter.inc(len(unmapped))
        for alertname in unmapped:
            if alertname in self._said or len(self._said) >= NAMES_SAID:
                continue
            self._said.add(alertname)
            logger.warning(
                "alert %s maps to nothing: it is neither built in nor in alerts.custom, so"
                " it is ignored (counted in remediator_unmapped_alerts_total; said once)",
                alertname or "(without alertname)", extra={"alertname": alertname},
            )
