"""
Discovery documents: /version, /api, /apis and each group version's resources.

kubectl resolves ``deploy``, ``cm`` and ``deployments/scale`` from these, so
names, short names, verbs and the scale subresource's group/version/kind must
be what the real apiserver lists. Plain JSON is enough: kubectl asks for the
aggregated format first but accepts ``APIVersions``/``APIGroupList``.
"""

from __future__ import annotations

from typing import Any

from tests.fakekube import resources


def version(major: int, minor: int) -> dict[str, Any]:
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.4",
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T16:00:00Z",
        "goVersion": "go1.23.8",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str) -> dict[str, Any]:
    group_version = {
        "groupVersion": f"{name}/{resources.GROUP_VERSIONS[name]}",
        "version": resources.GROUP_VERSIONS[name],
    }
    return {"name": name, "versions": [group_version], "preferredVersion": group_version}


def group_list() -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name) for name in resources.GROUP_VERSIONS],
    }


def group(name: str) -> dict[str, Any] | None:
    if name not in resources.GROUP_VERSIONS:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def resource_list(group_name: str, version_name: str) -> dict[str, Any] | None:
    served = [
        rtype
        for rtype in resources.ALL
        if (rtype.group, rtype.version) == (group_name, version_name)
    ]
    if not served:
        return None
    entries: list[dict[str, Any]] = []
    for rtype in served:
        entry: dict[str, Any] = {
            "name": rtype.plural,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": list(rtype.verbs),
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        if rtype.categories:
            entry["categories"] = list(rtype.categories)
        entries.append(entry)
        for sub in rtype.subresources:
            sub_entry: dict[str, Any] = {
                "name": f"{rtype.plural}/{sub.name}",
                "singularName": "",
                "namespaced": rtype.namespaced,
                "kind": sub.kind,
                "verbs": list(sub.verbs),
            }
            if sub.group:
                sub_entry["group"] = sub.group
                sub_entry["version"] = sub.version
            entries.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group_name}/{version_name}" if group_name else version_name,
        "resources": entries,
    }
