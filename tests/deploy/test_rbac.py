"""
The Role as shipped: least privilege by construction, bound to the pods'
service account, naming the objects the config names, and documented as it is.

Whether it is exactly what the code uses is tests/k8s/test_role.py's question.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from remediator.config import loading
from tests.deploy import manifests
from tests.deploy.manifests import Doc

DOCS = manifests.REPO / "docs" / "deploy.md"
# Verbs that delete, or that let a holder grant itself more.
DANGEROUS = {"delete", "deletecollection", "escalate", "bind", "impersonate", "*"}
# Requests of these verbs carry no object name, so resourceNames never match them.
UNNAMED = {"create", "deletecollection"}

Rule = tuple[str, str, frozenset[str], frozenset[str] | None]


def rules(docs: list[Doc]) -> list[Doc]:
    found: list[Doc] = manifests.find(docs, "Role")["rules"]
    return found


def as_rows(role_rules: list[Doc]) -> set[Rule]:
    """(group, resource, verbs, names) per rule and resource."""
    return {
        (group, resource, frozenset(rule["verbs"]),
         frozenset(rule["resourceNames"]) if rule.get("resourceNames") else None)
        for rule in role_rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def documented_rows() -> set[Rule]:
    """The Permissions table of docs/deploy.md, read back into rules."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("### Permissions", 1)[1]
    rows = set()
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("API group", "") or set(cells[0]) <= {"-"}:
            continue
        group = "" if cells[0] == '""' else cells[0]
        names = re.findall(r"`([^`]+)`", cells[3])
        rows.add((group, cells[1], frozenset(v.strip() for v in cells[2].split(",")),
                  frozenset(names) if names else None))
    return rows


def test_the_role_is_namespaced_with_no_wildcard_and_no_delete(base_docs: list[Doc]) -> None:
    """No ClusterRole, no `*`, nothing that deletes or escalates."""
    role_rules = rules(base_docs)

    assert not {"ClusterRole", "ClusterRoleBinding"} & set(manifests.kinds(base_docs))
    for rule in role_rules:
        assert "*" not in rule["apiGroups"] and "*" not in rule["resources"], rule
        assert not DANGEROUS & set(rule["verbs"]), rule
        assert "nonResourceURLs" not in rule, rule


def test_name_limited_rules_only_hold_verbs_that_carry_a_name(base_docs: list[Doc]) -> None:
    """A create under resourceNames would never match: it would be a rule that grants nothing."""
    for rule in rules(base_docs):
        if rule.get("resourceNames"):
            assert not UNNAMED & set(rule["verbs"]), rule


@pytest.mark.parametrize("kind", ["Deployment", "CronJob"])
def test_the_role_names_the_objects_the_config_names(
    base_docs: list[Doc], kind: str, tmp_path: Path
) -> None:
    """resourceNames are the target ConfigMap, the state ConfigMap and the Lease of the config."""
    workload = manifests.find(base_docs, kind)
    settings = loading.load_settings(
        manifests.mounted_config(workload, base_docs, tmp_path),
        environ=manifests.pod_environ(workload),
    )
    named: dict[str, set[str]] = {}
    for rule in rules(base_docs):
        for resource in rule["resources"]:
            named.setdefault(resource, set()).update(rule.get("resourceNames") or ())

    assert named["configmaps"] == {settings.targets.config.configmap, settings.state.configmap}
    assert named["leases"] == {settings.kubernetes.leader_election.lease_name}
    assert settings.state.backend == "kubernetes"


def test_the_binding_gives_the_role_to_the_workloads_service_account(
    base_docs: list[Doc],
) -> None:
    """Both the daemon and the CronJob run as the one subject of the RoleBinding."""
    binding = manifests.find(base_docs, "RoleBinding")
    role = manifests.find(base_docs, "Role")
    (subject,) = binding["subjects"]

    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert subject["kind"] == "ServiceAccount"
    assert subject["namespace"] == role["metadata"]["namespace"]
    for workload in manifests.workloads(base_docs):
        assert manifests.pod_spec(workload)["serviceAccountName"] == subject["name"]


def test_docs_list_exactly_the_roles_rules(base_docs: list[Doc]) -> None:
    """The Permissions table of docs/deploy.md is the Role, row for row."""
    assert documented_rows() == as_rows(rules(base_docs))
