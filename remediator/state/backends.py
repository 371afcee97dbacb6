"""Pick the state backend the settings ask for."""

from __future__ import annotations

import importlib

from remediator.config.settings import Settings
from remediator.state.base import Store

KUBE_MODULE = "remediator.state.kube"
"""The ConfigMap-backed store for several replicas: `KubeStore(settings)`."""


def make_store(settings: Settings) -> Store:
    """SQLite under `state.dir` by default; the Kubernetes ConfigMap store for HA."""
    if settings.state.backend == "kubernetes":
        # Imported only here: kubernetes_asyncio is slow to import and only HA needs it.
        module = importlib.import_module(KUBE_MODULE)
        kube: Store = module.KubeStore(settings)
        return kube
    from remediator.state.sqlite import SqliteStore

    return SqliteStore(settings.state.dir)
