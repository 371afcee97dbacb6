"""
Bearer tokens, their permissions, and the record of what each request needed.

A token maps to a user name and either "everything" or a set of
``Permission``s, which follow RBAC rules: ``deployments`` does not grant
``deployments/scale``; ``resourceNames`` only matches requests that carry a
name; ``*`` is a wildcard for verbs, groups, resources and namespaces.

Every authenticated resource request is recorded as a ``RequestRecord``
(Kubernetes verb, group, resource with subresource, namespace, name), which is
what an RBAC Role must grant; ``permissions_from_rules`` turns a shipped Role's
rules into a token's permissions, to run code under exactly that Role.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from tests.fakekube import resources


@dataclasses.dataclass(frozen=True, order=True)
class RequestRecord:
    """What one request asked the authorizer for, and who asked."""

    verb: str
    group: str
    resource: str  # with the subresource: "deployments/scale"
    namespace: str  # "" at the cluster scope
    name: str  # "" for list, watch and create
    user: str = ""
    user_agent: str = ""

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @property
    def client(self) -> str:
        """The product part of the User-Agent: ``kubectl``, ``OpenAPI-Generator``..."""
        return self.user_agent.split("/", 1)[0]


@dataclasses.dataclass(frozen=True)
class Permission:
    """One allowed (verb, group, resource, namespace, names) combination."""

    verb: str
    group: str
    resource: str
    namespace: str = "*"  # "*" any namespace and the cluster scope; "" cluster scope only
    names: frozenset[str] | None = None

    @classmethod
    def parse(
        cls,
        verb: str,
        resource: str,
        namespace: str = "*",
        names: Iterable[str] | None = None,
    ) -> Permission:
        """``Permission.parse("patch", "apps/deployments/scale", "default")``."""
        group, plural = resources.split_resource(resource)
        return cls(verb, group, plural, namespace, frozenset(names) if names else None)

    def allows(self, record: RequestRecord) -> bool:
        if self.verb not in ("*", record.verb):
            return False
        if self.group not in ("*", record.group):
            return False
        if not _resource_matches(self.resource, record.resource):
            return False
        if self.namespace != "*" and self.namespace != record.namespace:
            return False
        return self.names is None or record.name in self.names


def _resource_matches(rule: str, requested: str) -> bool:
    if rule in ("*", requested):
        return True
    # "*/scale" grants the scale subresource of every resource.
    if rule.startswith("*/") and "/" in requested:
        return requested.split("/", 1)[1] == rule[2:]
    return False


def permissions_from_rules(
    rules: Iterable[Mapping[str, Any]], namespace: str = "*"
) -> set[Permission]:
    """
    Expand the ``rules`` of a Role (bound in ``namespace``) or ClusterRole.

    Pass ``role["rules"]`` from the shipped manifest, so a test runs its code
    with exactly the access the Role gives and any missing grant answers 403.
    """
    granted = set()
    for rule in rules:
        names = rule.get("resourceNames") or None
        for group in rule.get("apiGroups") or [""]:
            for resource in rule.get("resources") or []:
                for verb in rule.get("verbs") or []:
                    granted.add(
                        Permission(
                            verb,
                            group,
                            resource,
                            namespace,
                            frozenset(names) if names else None,
                        )
                    )
    return granted


ANONYMOUS = "system:anonymous"


@dataclasses.dataclass
class Account:
    user: str
    permissions: set[Permission] | None  # None: everything is allowed


class Authority:
    """The permission table: tokens to accounts, and authorization decisions."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        # When set, a request without a known token acts as an admin; known
        # tokens keep their own permissions.
        self.allow_all = False

    def add_token(
        self,
        token: str,
        user: str,
        permissions: Iterable[Permission] | None = None,
    ) -> None:
        """Register a token; ``permissions=None`` allows everything."""
        self.accounts[token] = Account(
            user, set(permissions) if permissions is not None else None
        )

    def grant(
        self,
        token: str,
        verbs: str | Iterable[str],
        resources_: str | Iterable[str],
        namespace: str = "*",
        names: Iterable[str] | None = None,
    ) -> None:
        """Add permissions: ``grant(token, ["get", "patch"], "apps/deployments")``."""
        account = self.accounts[token]
        if account.permissions is None:
            return  # already allowed everything
        verb_list = [verbs] if isinstance(verbs, str) else list(verbs)
        resource_list = [resources_] if isinstance(resources_, str) else list(resources_)
        for verb in verb_list:
            for resource in resource_list:
                account.permissions.add(
                    Permission.parse(verb, resource, namespace, names)
                )

    def revoke(self, token: str, verb: str, resource: str, namespace: str = "*") -> None:
        account = self.accounts[token]
        if account.permissions is not None:
            account.permissions.discard(Permission.parse(verb, resource, namespace))

    def authenticate(self, authorization: str | None) -> Account | None:
        """
        The caller's account; None (401) for an unknown token. A request with no
        credentials is ``system:anonymous``, allowed nothing, as with the
        apiserver's anonymous auth and default RBAC.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and token.strip() in self.accounts:
            return self.accounts[token.strip()]
        if self.allow_all:
            return Account("system:admin", None)
        return Account(ANONYMOUS, set()) if not authorization else None

    @staticmethod
    def allowed(account: Account, record: RequestRecord) -> bool:
        if account.permissions is None:
            return True
        return any(permission.allows(record) for permission in account.permissions)
