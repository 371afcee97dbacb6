"""
The three patch formats the apiserver accepts, chosen by Content-Type.

- strategic merge patch: maps merge, ``null`` deletes, lists of named things
  (containers, env, volumes, ...) merge by their key, other lists are replaced;
  the ``$patch``, ``$retainKeys``, ``$setElementOrder`` and
  ``$deleteFromPrimitiveList`` directives that kubectl may send are honoured.
- JSON merge patch (RFC 7386).
- JSON patch (RFC 6902): add, remove, replace, move, copy and test.

Failures raise ``errors.ApiError`` with the codes the apiserver uses: 400 for a
patch that does not parse, 422 for one that parses but does not apply.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.fakekube import errors

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"

# patchMergeKey of list fields in the built-in Go types, by field name. The
# real server reads them from struct tags; for the kinds we serve a field's
# name decides it (``ports`` is only found in containers here).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "ownerReferences": "uid",
    "conditions": "type",
}
# Lists of scalars with patchStrategy "merge": the patch adds to the set.
PRIMITIVE_MERGE = {"finalizers"}

_DELETE = object()  # a map that asked to be deleted with "$patch: delete"


def apply(content_type: str, original: dict[str, Any], body: bytes) -> dict[str, Any]:
    """Apply a raw patch body of the given media type to a copy of ``original``."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in (STRATEGIC, MERGE, JSON_PATCH):
        raise errors.unsupported_media_type(media_type)
    try:
        patch = json.loads(body or b"null")
    except ValueError as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from exc

    if media_type == JSON_PATCH:
        result = json_patch(original, patch)
    elif not isinstance(patch, dict):
        raise errors.bad_request("json: cannot unmarshal patch into Go value of type map")
    elif media_type == MERGE:
        result = merge_patch(original, patch)
    else:
        result = strategic_merge(original, patch)
    if not isinstance(result, dict):
        raise errors.bad_request("the patched document is not a JSON object")
    return result


# --- JSON merge patch, RFC 7386 -------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- strategic merge patch ------------------------------------------------


def strategic_merge(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = _merge_map(original, patch)
    return {} if merged is _DELETE else merged


def _strip_directives(value: Any) -> Any:
    """A patch value stored as-is must not keep ``$patch``-style keys."""
    if isinstance(value, dict):
        return {
            key: _strip_directives(item)
            for key, item in value.items()
            if not key.startswith("$")
        }
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return value


def _merge_map(original: Any, patch: dict[str, Any]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip_directives(patch)
    if directive is not None:
        raise errors.bad_request(f"Unknown patch type: {directive}")

    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            # Element order only matters for display; retainKeys is applied below.
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            kept = [item for item in result.get(field) or [] if item not in value]
            result[field] = kept
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _merge_map(result.get(key), value)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = value

    retained = patch.get("$retainKeys")
    if isinstance(retained, list):
        result = {key: value for key, value in result.items() if key in retained}
    return result


def _merge_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    # {"$patch": "replace"} as an element means: the rest of the list replaces.
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [
            _strip_directives(item)
            for item in patch
            if not (isinstance(item, dict) and item.get("$patch") == "replace")
        ]
    current = copy.deepcopy(original) if isinstance(original, list) else []

    if field in PRIMITIVE_MERGE:
        return current + [item for item in patch if item not in current]

    merge_key = MERGE_KEYS.get(field)
    if merge_key is None or not all(isinstance(item, dict) for item in patch):
        return _strip_directives(patch)  # type: ignore[no-any-return]

    for item in patch:
        if merge_key not in item:
            raise errors.bad_request(
                f"map: {item} does not contain declared merge key: {merge_key}"
            )
        index = next(
            (
                i
                for i, old in enumerate(current)
                if isinstance(old, dict) and old.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            current = [
                old
                for old in current
                if not (isinstance(old, dict) and old.get(merge_key) == item[merge_key])
            ]
        elif index is None:
            current.append(_strip_directives(item))
        else:
            merged = _merge_map(current[index], item)
            current[index] = merged
    return current


# --- JSON patch, RFC 6902 -------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise errors.unprocessable(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _list_index(container: list[Any], token: str, path: str, *, adding: bool) -> int:
    if adding and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise errors.unprocessable(f"invalid array index {token!r} in path {path}")
    index = int(token)
    limit = len(container) if adding else len(container) - 1
    if index > limit:
        raise errors.unprocessable(f"array index out of bounds: {index} in path {path}")
    return index


def _resolve(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                raise errors.unprocessable(f"doc is missing path: {path}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_list_index(node, token, path, adding=False)]
        else:
            raise errors.unprocessable(f"doc is missing path: {path}")
    return node


def _add(doc: Any, tokens: list[str], value: Any, path: str) -> Any:
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_list_index(parent, last, path, adding=True), value)
    else:
        raise errors.unprocessable(
            f"add operation does not apply: doc is missing path: {path}"
        )
    return doc


def _remove(
    doc: Any, tokens: list[str], path: str, op: str = "remove"
) -> tuple[Any, Any]:
    if not tokens:
        return None, doc
    parent = _resolve(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise errors.unprocessable(
                f"{op} operation does not apply: doc is missing key: {path}"
            )
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_list_index(parent, last, path, adding=False))
    raise errors.unprocessable(
        f"{op} operation does not apply: doc is missing path: {path}"
    )


def _json_equal(left: Any, right: Any) -> bool:
    """JSON equality: unlike Python's, ``true`` is not ``1``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(
            _json_equal(value, right[key]) for key, value in left.items()
        )
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_json_equal, left, right))
    return bool(left == right)


def json_patch(original: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise errors.bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    doc = copy.deepcopy(original)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation:
            raise errors.bad_request(f"invalid JSON patch operation: {operation!r}")
        op, raw_path = operation["op"], operation.get("path")
        tokens = _pointer(raw_path)
        path = str(raw_path)
        if op in ("add", "replace", "test") and "value" not in operation:
            raise errors.unprocessable(f"{op} operation is missing its value: {path}")

        if op == "add":
            doc = _add(doc, tokens, copy.deepcopy(operation["value"]), path)
        elif op == "remove":
            doc, _ = _remove(doc, tokens, path)
        elif op == "replace":
            doc, _ = _remove(doc, tokens, path, op="replace")
            doc = _add(doc, tokens, copy.deepcopy(operation["value"]), path)
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from"))
            origin = str(operation["from"])
            if op == "move" and tokens[: len(source)] == source and tokens != source:
                raise errors.unprocessable(
                    f"cannot move {operation['from']} into its own child"
                )
            if op == "move":
                doc, value = _remove(doc, source, origin, op="move")
            else:
                value = copy.deepcopy(_resolve(doc, source, origin))
            doc = _add(doc, tokens, value, path)
        elif op == "test":
            if not _json_equal(_resolve(doc, tokens, path), operation["value"]):
                raise errors.unprocessable(f"testing value {path} failed: test failed")
        else:
            raise errors.bad_request(f"Unexpected kind: {op}")
    return doc
