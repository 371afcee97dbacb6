"""
The resource types the fake serves, described the way discovery describes them.

One table drives discovery, URL routing, RBAC names, the store's keys and the
Status messages, so a resource added here is consistent everywhere.
"""

from __future__ import annotations

import dataclasses

# The verbs the real apiserver lists for an ordinary namespaced resource.
CRUD_VERBS = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)
SUBRESOURCE_VERBS = ("get", "patch", "update")


@dataclasses.dataclass(frozen=True)
class Subresource:
    """A subresource such as ``deployments/scale``, with the kind it serves."""

    name: str
    kind: str
    group: str = ""
    version: str = ""
    verbs: tuple[str, ...] = SUBRESOURCE_VERBS


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """One served resource: its names, its scope and what it supports."""

    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = CRUD_VERBS
    subresources: tuple[Subresource, ...] = ()
    # Objects whose spec changes bump metadata.generation (workloads do,
    # ConfigMaps and Leases do not).
    has_generation: bool = False
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The name the apiserver puts in messages: ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """The kind as Invalid messages spell it: ``Deployment.apps``."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def has_status(self) -> bool:
        return any(sub.name == "status" for sub in self.subresources)

    def subresource(self, name: str) -> Subresource | None:
        return next((sub for sub in self.subresources if sub.name == name), None)


def _status(kind: str) -> Subresource:
    return Subresource("status", kind)


def _scale() -> Subresource:
    return Subresource("scale", "Scale", group="autoscaling", version="v1")


DEPLOYMENTS = ResourceType(
    "apps",
    "v1",
    "deployments",
    "Deployment",
    "deployment",
    short_names=("deploy",),
    subresources=(_scale(), _status("Deployment")),
    has_generation=True,
    categories=("all",),
)
REPLICASETS = ResourceType(
    "apps",
    "v1",
    "replicasets",
    "ReplicaSet",
    "replicaset",
    short_names=("rs",),
    subresources=(_scale(), _status("ReplicaSet")),
    has_generation=True,
    categories=("all",),
)
CONFIGMAPS = ResourceType(
    "", "v1", "configmaps", "ConfigMap", "configmap", short_names=("cm",)
)
EVENTS = ResourceType("", "v1", "events", "Event", "event", short_names=("ev",))
HPAS = ResourceType(
    "autoscaling",
    "v2",
    "horizontalpodautoscalers",
    "HorizontalPodAutoscaler",
    "horizontalpodautoscaler",
    short_names=("hpa",),
    subresources=(_status("HorizontalPodAutoscaler"),),
    categories=("all",),
)
LEASES = ResourceType("coordination.k8s.io", "v1", "leases", "Lease", "lease")
SELF_SUBJECT_ACCESS_REVIEWS = ResourceType(
    "authorization.k8s.io",
    "v1",
    "selfsubjectaccessreviews",
    "SelfSubjectAccessReview",
    "selfsubjectaccessreview",
    namespaced=False,
    verbs=("create",),
)

ALL: tuple[ResourceType, ...] = (
    CONFIGMAPS,
    EVENTS,
    DEPLOYMENTS,
    REPLICASETS,
    HPAS,
    LEASES,
    SELF_SUBJECT_ACCESS_REVIEWS,
)

# Groups in the order /apis lists them, each with its served version.
GROUP_VERSIONS: dict[str, str] = {
    "apps": "v1",
    "autoscaling": "v2",
    "coordination.k8s.io": "v1",
    "authorization.k8s.io": "v1",
}


def by_path(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource served at ``/apis/<group>/<version>/<plural>``, if any."""
    for rtype in ALL:
        if (rtype.group, rtype.version, rtype.plural) == (group, version, plural):
            return rtype
    return None


def lookup(name: str) -> ResourceType:
    """
    Find a resource by kind, plural, singular or short name, any case.

    Tests say ``cluster.get("Deployment", ...)`` or ``"deploy"`` as they like;
    ``plural.group`` (``deployments.apps``) works too.
    """
    wanted = name.lower()
    for rtype in ALL:
        names = {rtype.kind.lower(), rtype.plural, rtype.singular, *rtype.short_names}
        if wanted in names or wanted == rtype.qualified:
            return rtype
    raise KeyError(f"no such resource type: {name!r}")


def groups() -> set[str]:
    return {rtype.group for rtype in ALL}


def split_resource(text: str) -> tuple[str, str]:
    """
    Split ``"apps/deployments/scale"`` into ``("apps", "deployments/scale")``.

    The core group may be written ``"configmaps"``, ``"core/configmaps"`` or
    ``"/configmaps"``. A first segment that names no known group (nor contains
    a dot) is a core resource with a subresource: ``"pods/log"``. ``"*"``
    stands for any group and any resource.
    """
    if text == "*":
        return "*", "*"
    first, _, rest = text.partition("/")
    if not rest:
        return "", first
    if first in ("", "core"):
        return "", rest
    if first == "*" or first in groups() or "." in first:
        return first, rest
    return "", text


# Not served on its own: the kind of the scale subresource, for its messages.
SCALE = ResourceType("autoscaling", "v1", "scale", "Scale", "scale")
