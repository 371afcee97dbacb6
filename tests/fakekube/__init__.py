"""
An in-process fake Kubernetes API server for tests.

It speaks the wire protocol that kubernetes-asyncio and the real ``kubectl``
use (discovery, CRUD, the three patch types, watches, ``Status`` errors),
keeps objects with real metadata semantics, runs a Deployment controller,
checks bearer tokens against a permission table, records every request for
RBAC audits, and injects faults.

Where to look:

- ``plugin.py``: the ``fake_kube`` fixture (a started ``FakeKube``), the
  ``fake_kube`` marker for its options, the session-wide request log;
- ``harness.py``: ``FakeKube``: ``url``, ``token``, ``kubeconfig_path``,
  ``api_client()``, ``kubectl(...)``, ``add_token(...)``;
- ``cluster.py``: seeding (``add_deployment``, ``add_configmap``, ``add_hpa``,
  ``add_lease``), reading (``get``, ``list``, ``replicasets_of``), rollout
  knobs (``set_rollout_delay``, ``hang_rollouts``) and ``wait_for``;
- ``faults.py``: ``inject(...)`` and ``conflict_next_writes(...)``;
- ``rbac.py``: permissions, ``permissions_from_rules`` for a shipped Role.
"""
