"""The manifests render offline and are valid Kubernetes objects."""

from __future__ import annotations

import copy
import functools
from typing import Any

import kubernetes_validate
import pydantic
import pytest
import yaml

from tests.deploy import manifests
from tests.deploy.manifests import Doc

# Prometheus Operator kinds, checked against models generated from its CRDs
# (cloudcoil.models.prometheus_operator).
CUSTOM = ("AlertmanagerConfig", "PrometheusRule", "ServiceMonitor")
# The Kubernetes version the base targets (PDB unhealthyPodEvictionPolicy is GA
# in 1.31), and the newest kubernetes-validate knows.
VERSIONS = ("1.32", kubernetes_validate.latest_version())


def unknown_fields(given: Any, known: Any, path: str = "") -> list[str]:
    """Keys of `given` that a model dropped on the way to `known` (its dump)."""
    if isinstance(given, dict):
        if not isinstance(known, dict):
            return [path or "."]
        found = []
        for key, value in given.items():
            if key not in known:
                found.append(f"{path}.{key}")
            else:
                found += unknown_fields(value, known[key], f"{path}.{key}")
        return found
    if isinstance(given, list) and isinstance(known, list):
        return [
            problem
            for index, (item, kept) in enumerate(zip(given, known, strict=False))
            for problem in unknown_fields(item, kept, f"{path}[{index}]")
        ]
    return []


@functools.cache
def crd_models() -> dict[str, type[pydantic.BaseModel]]:
    # Importing the models takes seconds (pydantic builds them all): only when used.
    from cloudcoil.models.prometheus_operator import v1, v1alpha1

    return {
        "ServiceMonitor": v1.ServiceMonitor,
        "PrometheusRule": v1.PrometheusRule,
        "AlertmanagerConfig": v1alpha1.AlertmanagerConfig,
    }


def crd_problems(doc: Doc) -> list[str]:
    """Schema errors and unknown fields of a custom resource, as text."""
    model = crd_models()[doc["kind"]]
    try:
        parsed = model.model_validate(doc)
    except pydantic.ValidationError as error:
        return [str(error)]
    dumped = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
    return [f"unknown field {path}" for path in unknown_fields(doc, dumped)]


def test_the_root_kustomization_is_the_base(base_docs: list[Doc]) -> None:
    """`kubectl kustomize k8s/` renders the base, every object of it and nothing else."""
    base = manifests.render(manifests.BASE)

    assert base == base_docs
    assert sorted(manifests.kinds(base_docs)) == sorted([
        "AlertmanagerConfig", "ConfigMap", "ConfigMap", "CronJob", "Deployment",
        "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule", "Role", "RoleBinding",
        "Service", "Service", "ServiceAccount", "ServiceMonitor",
    ])


@pytest.mark.parametrize("version", VERSIONS)
def test_every_builtin_object_validates_strictly(
    base_docs: list[Doc], auto_execute_docs: list[Doc], version: str
) -> None:
    """Each built-in object of the base and the overlay passes strict schema validation."""
    checked = []
    for doc in [*base_docs, *auto_execute_docs]:
        if doc["kind"] in CUSTOM:
            continue
        kubernetes_validate.validate(doc, version, strict=True)
        checked.append(doc["kind"])

    assert "Deployment" in checked and "CronJob" in checked


def test_strict_validation_catches_a_misspelled_field(base_docs: list[Doc]) -> None:
    """The validator is not a no-op: a misspelled security field is rejected."""
    deployment = copy.deepcopy(manifests.find(base_docs, "Deployment"))
    context = manifests.container(deployment)["securityContext"]
    context["readOnlyRootFileSystem"] = context.pop("readOnlyRootFilesystem")

    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFileSystem"):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)


@pytest.mark.parametrize("kind", CUSTOM)
def test_custom_resources_match_the_operator_schemas(base_docs: list[Doc], kind: str) -> None:
    """ServiceMonitor, PrometheusRule and AlertmanagerConfig fit the Operator's CRDs exactly."""
    doc = manifests.find(base_docs, kind)

    assert crd_problems(doc) == []


def test_the_crd_check_catches_a_misspelled_field_and_a_bad_duration(
    base_docs: list[Doc],
) -> None:
    """An unknown ServiceMonitor field and a malformed interval are both reported."""
    misspelled = copy.deepcopy(manifests.find(base_docs, "ServiceMonitor"))
    misspelled["spec"]["endpoints"][0]["scrapeInterval"] = "30s"
    malformed = copy.deepcopy(manifests.find(base_docs, "ServiceMonitor"))
    malformed["spec"]["endpoints"][0]["interval"] = "30 seconds"

    assert crd_problems(misspelled) == ["unknown field .spec.endpoints[0].scrapeInterval"]
    assert "interval" in crd_problems(malformed)[0]


def test_everything_lands_in_the_kustomization_namespace(base_docs: list[Doc]) -> None:
    """Every object is namespaced, in the namespace the base declares; none is cluster-wide."""
    declared = yaml.safe_load((manifests.BASE / "kustomization.yaml").read_text())["namespace"]

    assert {doc["metadata"].get("namespace") for doc in base_docs} == {declared}
    assert not {"ClusterRole", "ClusterRoleBinding", "Namespace"} & set(
        manifests.kinds(base_docs)
    )


def test_the_webhook_token_is_referenced_never_shipped(base_docs: list[Doc]) -> None:
    """No Secret is shipped; the daemon and Alertmanager read the operator's one Secret."""
    deployment = manifests.find(base_docs, "Deployment")
    mounted = [
        volume["secret"] for volume in manifests.pod_spec(deployment)["volumes"]
        if "secret" in volume
    ]
    receiver = manifests.find(base_docs, "AlertmanagerConfig")["spec"]["receivers"][0]
    credentials = receiver["webhookConfigs"][0]["httpConfig"]["authorization"]["credentials"]

    assert "Secret" not in manifests.kinds(base_docs)
    assert [secret["secretName"] for secret in mounted] == [credentials["name"]]
    assert credentials["key"] == "token"
