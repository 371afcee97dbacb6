"""
An in-process fake Kubernetes API server for tests.

It speaks the wire protocol that kubernetes-asyncio and the real ``kubectl``
use (discovery, CRUD, patches, watches, Status errors), keeps objects with
real metadata semantics, runs a Deployment controller, checks bearer tokens
against a permission table, records every request for RBAC audits, and can
inject faults. See ``plugin.py`` for the pytest fixtures.
"""
