"""
Just enough of Kubernetes' protobuf encoding to read a SelfSubjectAccessReview.

``kubectl auth can-i`` posts its review as ``application/vnd.kubernetes.protobuf``
(and accepts JSON back). The envelope is ``k8s\\0`` + ``runtime.Unknown``, whose
field 2 holds the encoded object; only string fields are needed here.
"""

from __future__ import annotations

from typing import Any

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

# Field numbers from k8s.io/api/authorization/v1/generated.proto.
_RESOURCE_ATTRIBUTES = {
    1: "namespace",
    2: "verb",
    3: "group",
    4: "version",
    5: "resource",
    6: "subresource",
    7: "name",
}
_NON_RESOURCE_ATTRIBUTES = {1: "path", 2: "verb"}


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def fields(data: bytes) -> dict[int, list[Any]]:
    """Field number to values; length-delimited values stay bytes."""
    found: dict[int, list[Any]] = {}
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire_type = tag >> 3, tag & 7
        value: Any
        if wire_type == 0:
            value, position = _varint(data, position)
        elif wire_type == 2:
            length, position = _varint(data, position)
            value, position = data[position : position + length], position + length
        elif wire_type == 1:
            value, position = data[position : position + 8], position + 8
        elif wire_type == 5:
            value, position = data[position : position + 4], position + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        found.setdefault(number, []).append(value)
    return found


def _strings(data: bytes, names: dict[int, str]) -> dict[str, str]:
    decoded = fields(data)
    return {
        name: decoded[number][-1].decode()
        for number, name in names.items()
        if decoded.get(number) and decoded[number][-1]
    }


def decode_access_review(body: bytes) -> dict[str, Any]:
    """The JSON shape of a protobuf SelfSubjectAccessReview (its spec only)."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf envelope")
    raw = fields(body[len(MAGIC) :])[2][-1]
    spec_bytes = (fields(raw).get(2) or [b""])[-1]
    spec_fields = fields(spec_bytes)
    spec: dict[str, Any] = {}
    if spec_fields.get(1):
        spec["resourceAttributes"] = _strings(spec_fields[1][-1], _RESOURCE_ATTRIBUTES)
    if spec_fields.get(2):
        spec["nonResourceAttributes"] = _strings(
            spec_fields[2][-1], _NON_RESOURCE_ATTRIBUTES
        )
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": spec,
    }
