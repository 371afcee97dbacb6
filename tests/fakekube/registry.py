"""
Per-request write semantics, as the apiserver's REST storage applies them.

For each create, update, patch and delete: decode and type-check the body,
default it, keep what the client may not change (server-owned metadata, and
``status`` on the main resource or everything but ``status`` on ``/status``),
check the resourceVersion precondition, validate, and either store the
result or, for ``dryRun=All``, only return it. The scale subresource is a view
of ``spec.replicas`` as an ``autoscaling/v1`` Scale.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from tests.fakekube import defaults, errors, patching, resources, selectors, validation
from tests.fakekube.resources import ResourceType
from tests.fakekube.store import Store, meta

_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _empty_status(rtype: ResourceType) -> dict[str, Any] | None:
    # What a zero-valued Go status serializes to; non-omitempty fields stay.
    if rtype is resources.HPAS:
        return {"desiredReplicas": 0}
    if rtype.has_status:
        return {}
    return None


def without_nulls(value: Any) -> Any:
    """
    Drop null fields, as decoding into Go types does: ``"creationTimestamp": null``
    in a pod template that kubectl sends back equals a template without it.
    """
    if isinstance(value, dict):
        return {
            key: without_nulls(item) for key, item in value.items() if item is not None
        }
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


class Registry:
    def __init__(self, store: Store) -> None:
        self.store = store

    # --- reads ---------------------------------------------------------------

    def get(
        self, rtype: ResourceType, namespace: str | None, name: str
    ) -> dict[str, Any]:
        obj = self.store.get(rtype, namespace, name)
        if obj is None:
            raise errors.not_found(rtype, name)
        return obj

    # --- decoding --------------------------------------------------------------

    @staticmethod
    def _decoded(rtype: ResourceType, body: Any) -> dict[str, Any]:
        """Type-check a create or update body; a failure is 400, as in the apiserver."""
        if not isinstance(body, dict):
            raise errors.bad_request(
                f"{rtype.kind} in version {rtype.version!r} cannot be handled as a"
                f" {rtype.kind}: the body is not a JSON object"
            )
        kind, api_version = body.get("kind"), body.get("apiVersion")
        if (kind and kind != rtype.kind) or (
            api_version and api_version != rtype.api_version
        ):
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected"
                f" API version ({rtype.api_version})"
                if api_version != rtype.api_version
                else f"kind {kind!r} does not match {rtype.kind!r}"
            )
        try:
            validation.check_types(rtype.kind, body)
        except validation.DecodeError as exc:
            raise errors.bad_request(
                f'{rtype.kind} in version "{rtype.version}" cannot be handled as a'
                f" {rtype.kind}: {exc}"
            ) from exc
        return without_nulls(body)  # type: ignore[no-any-return]

    @staticmethod
    def _patched_types(rtype: ResourceType, patched: dict[str, Any], name: str) -> None:
        """Type-check a patch result; the apiserver answers 422 on field ``patch``."""
        try:
            validation.check_types(rtype.kind, patched)
        except validation.DecodeError as exc:
            raise errors.invalid(
                rtype,
                name,
                [
                    errors.FieldError(
                        "patch", "FieldValueInvalid", f"Invalid value: {exc.field}: {exc}"
                    )
                ],
            ) from exc

    @staticmethod
    def _check_namespace(
        rtype: ResourceType, obj: dict[str, Any], namespace: str | None
    ) -> None:
        metadata = meta(obj)
        if not rtype.namespaced:
            return
        if metadata.get("namespace") and metadata["namespace"] != namespace:
            raise errors.namespace_mismatch()
        metadata["namespace"] = namespace

    @staticmethod
    def _validated(
        rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None = None
    ) -> None:
        found = validation.validate(rtype, obj, old)
        if found:
            raise errors.invalid(rtype, obj["metadata"].get("name") or "", found)

    # --- create ----------------------------------------------------------------

    def create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        obj = self._decoded(rtype, body)
        self._check_namespace(rtype, obj, namespace)
        metadata = meta(obj)
        if not metadata.get("name") and metadata.get("generateName"):
            suffix = "".join(secrets.choice(_NAME_SUFFIX_ALPHABET) for _ in range(5))
            metadata["name"] = metadata["generateName"] + suffix

        defaults.apply(rtype, obj)
        status = _empty_status(rtype)
        if status is not None:
            obj["status"] = status  # clients may not set status on create
        self.store.stamp_new(rtype, obj)
        self._validated(rtype, obj)
        if self.store.get(rtype, namespace, metadata["name"]) is not None:
            raise errors.already_exists(rtype, metadata["name"])
        if dry_run:
            return obj
        return self.store.create(rtype, obj)

    # --- update and patch ----------------------------------------------------------

    def _write(
        self,
        rtype: ResourceType,
        current: dict[str, Any],
        new: dict[str, Any],
        subresource: str | None,
        dry_run: bool,
    ) -> dict[str, Any]:
        """Shared tail of update and patch: strategy, validation, storage."""
        if subresource == "status":
            # /status changes status only; the rest of the object is kept.
            merged = copy.deepcopy(current)
            if "status" in new:
                merged["status"] = new["status"]
            new = merged
        elif rtype.has_status:
            # The main resource ignores status; only /status may change it.
            new["status"] = copy.deepcopy(current.get("status"))
            if new["status"] is None:
                del new["status"]
        defaults.apply(rtype, new)
        self.store.stamp_update(rtype, current, new)
        self._validated(rtype, new, current)
        if dry_run:
            return new
        return self.store.update(rtype, new)

    def update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        new = self._decoded(rtype, body)
        body_name = meta(new).get("name")
        if body_name != name:
            raise errors.name_mismatch(body_name, name)
        self._check_namespace(rtype, new, namespace)
        current = self.get(rtype, namespace, name)
        wanted = new["metadata"].get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype, name)
        return self._write(rtype, current, new, subresource, dry_run)

    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: bytes,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        current = self.get(rtype, namespace, name)
        patched = without_nulls(patching.apply(content_type, current, body))
        # A resourceVersion in the patch is a precondition, as in the apiserver.
        wanted = meta(patched).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype, name)
        if meta(patched).get("name", name) != name:
            raise errors.invalid(
                rtype,
                name,
                [
                    errors.FieldError(
                        "metadata.name",
                        "FieldValueInvalid",
                        "Invalid value: "
                        f"{validation.go_value(patched['metadata']['name'])}:"
                        " field is immutable",
                    )
                ],
            )
        self._patched_types(rtype, patched, name)
        return self._write(rtype, current, patched, subresource, dry_run)

    # --- delete --------------------------------------------------------------------

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        current = self.get(rtype, namespace, name)
        if not dry_run:
            self.store.delete(rtype, namespace, name)
        details: dict[str, Any] = {
            "name": name,
            "kind": rtype.plural,
            "uid": current["metadata"]["uid"],
        }
        if rtype.group:
            details["group"] = rtype.group
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    # --- the scale subresource -----------------------------------------------------

    @staticmethod
    def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
        """The autoscaling/v1 Scale view of a Deployment or ReplicaSet."""
        metadata = obj["metadata"]
        spec: dict[str, Any] = {}
        if obj["spec"].get("replicas"):
            spec["replicas"] = obj["spec"]["replicas"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                key: metadata[key]
                for key in (
                    "name",
                    "namespace",
                    "uid",
                    "resourceVersion",
                    "creationTimestamp",
                )
                if key in metadata
            },
            "spec": spec,
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": selectors.selector_string(obj["spec"].get("selector")),
            },
        }

    def get_scale(
        self, rtype: ResourceType, namespace: str | None, name: str
    ) -> dict[str, Any]:
        return self.scale_of(self.get(rtype, namespace, name))

    def _apply_scale(
        self,
        rtype: ResourceType,
        current: dict[str, Any],
        scale: dict[str, Any],
        dry_run: bool,
    ) -> dict[str, Any]:
        name = current["metadata"]["name"]
        wanted = meta(scale).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype, name)
        found = validation.validate_scale(scale)
        if found:
            raise errors.invalid(resources.SCALE, name, found)
        new = copy.deepcopy(current)
        new["spec"]["replicas"] = (scale.get("spec") or {}).get("replicas", 0)
        return self.scale_of(self._write(rtype, current, new, None, dry_run))

    def update_scale(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        scale = self._decoded(resources.SCALE, body)
        if meta(scale).get("name") != name:
            raise errors.name_mismatch(meta(scale).get("name"), name)
        current = self.get(rtype, namespace, name)
        return self._apply_scale(rtype, current, scale, dry_run)

    def patch_scale(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: bytes,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        current = self.get(rtype, namespace, name)
        scale = without_nulls(patching.apply(content_type, self.scale_of(current), body))
        self._patched_types(resources.SCALE, scale, name)
        return self._apply_scale(rtype, current, scale, dry_run)
