"""
The object store: objects by key, one global resourceVersion, watch fan-out.

Like etcd behind the apiserver, every write bumps a single counter, and the
object written carries it as ``metadata.resourceVersion``. Recent events are
kept so a watch can resume from a resourceVersion; older ones answer 410.

Everything runs on the event loop's thread, so a read followed by a write
with no ``await`` between them is atomic; the controller relies on that.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import dataclasses
import datetime
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from tests.fakekube import errors
from tests.fakekube.resources import ResourceType
from tests.fakekube.selectors import FieldSelector, LabelSelector

Key = tuple[str, str, str, str]  # group, plural, namespace ("" if cluster-scoped), name


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_of(rtype: ResourceType, namespace: str | None, name: str) -> Key:
    return (rtype.group, rtype.plural, namespace or "", name)


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's metadata map, created if missing."""
    metadata = obj.setdefault("metadata", {})
    assert isinstance(metadata, dict)
    return metadata


@dataclasses.dataclass(frozen=True)
class Event:
    """One change, as a watch reports it. ``obj`` is a snapshot; do not mutate."""

    type: str  # ADDED, MODIFIED or DELETED
    rtype: ResourceType
    obj: dict[str, Any]
    revision: int
    previous: dict[str, Any] | None = None  # the object before a MODIFIED


class Watcher:
    """One open watch: a queue of matching events; ``None`` ends the stream."""

    def __init__(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> None:
        self.rtype = rtype
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def _selects(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        if self.namespace and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.labels.matches(obj) and self.fields.matches(obj)

    def translate(self, event: Event) -> Event | None:
        """
        The event as this watch reports it, or None. As in the apiserver, an
        object that starts matching the selectors is ADDED for this watch, and
        one that stops matching is DELETED.
        """
        if event.rtype is not self.rtype:
            return None
        now_matches = self._selects(event.obj)
        if event.type != "MODIFIED":
            return event if now_matches else None
        matched_before = self._selects(event.previous)
        if now_matches and not matched_before:
            return dataclasses.replace(event, type="ADDED")
        if matched_before and not now_matches:
            return dataclasses.replace(event, type="DELETED")
        return event if now_matches else None


class Store:
    def __init__(self, history: int = 10_000) -> None:
        self._objects: dict[Key, dict[str, Any]] = {}
        self._revision = 0
        self._history: collections.deque[Event] = collections.deque(maxlen=history)
        self._watchers: set[Watcher] = set()
        self._listeners: list[Callable[[Event], None]] = []

    @property
    def resource_version(self) -> str:
        return str(self._revision)

    # --- reads ---------------------------------------------------------------

    def get(
        self, rtype: ResourceType, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        obj = self._objects.get(key_of(rtype, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> list[dict[str, Any]]:
        """Objects of a type, in etcd's key order (namespace, then name)."""
        found = []
        for (group, plural, obj_namespace, _), obj in sorted(self._objects.items()):
            if (group, plural) != (rtype.group, rtype.plural):
                continue
            if namespace and obj_namespace != namespace:
                continue
            if labels and not labels.matches(obj):
                continue
            if fields and not fields.matches(obj):
                continue
            found.append(copy.deepcopy(obj))
        return found

    # --- metadata the server owns -------------------------------------------

    @staticmethod
    def stamp_new(rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Set what the server assigns on create; client values are overwritten."""
        metadata = meta(obj)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now()
        metadata.pop("resourceVersion", None)
        if rtype.has_generation:
            metadata["generation"] = 1
        else:
            metadata.pop("generation", None)
        if not rtype.namespaced:
            metadata.pop("namespace", None)
        obj["apiVersion"] = rtype.api_version
        obj["kind"] = rtype.kind
        return obj

    @staticmethod
    def stamp_update(
        rtype: ResourceType, old: dict[str, Any], new: dict[str, Any]
    ) -> dict[str, Any]:
        """Keep immutable metadata; bump generation when the spec changed."""
        metadata, old_metadata = meta(new), old["metadata"]
        for field in (
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "deletionTimestamp",
        ):
            if field in old_metadata:
                metadata[field] = old_metadata[field]
            else:
                metadata.pop(field, None)
        if rtype.has_generation:
            generation = old_metadata.get("generation", 1)
            if new.get("spec") != old.get("spec"):
                generation += 1
            metadata["generation"] = generation
        else:
            metadata.pop("generation", None)
        metadata["resourceVersion"] = old_metadata["resourceVersion"]
        new["apiVersion"] = rtype.api_version
        new["kind"] = rtype.kind
        return new

    # --- writes --------------------------------------------------------------

    def _commit(
        self, event_type: str, rtype: ResourceType, obj: dict[str, Any]
    ) -> dict[str, Any]:
        self._revision += 1
        meta(obj)["resourceVersion"] = str(self._revision)
        key = key_of(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        previous = self._objects.get(key)
        if event_type == "DELETED":
            self._objects.pop(key, None)
        else:
            self._objects[key] = copy.deepcopy(obj)
        event = Event(event_type, rtype, copy.deepcopy(obj), self._revision, previous)
        self._history.append(event)
        for watcher in list(self._watchers):
            if (seen := watcher.translate(event)) is not None:
                watcher.queue.put_nowait(seen)
        for listener in list(self._listeners):
            listener(event)
        return obj

    def create(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object (already stamped); 409 AlreadyExists if taken."""
        name = obj["metadata"]["name"]
        if key_of(rtype, obj["metadata"].get("namespace"), name) in self._objects:
            raise errors.already_exists(rtype, name)
        return self._commit("ADDED", rtype, copy.deepcopy(obj))

    def update(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new version of an object; an unchanged one is not rewritten."""
        namespace, name = obj["metadata"].get("namespace"), obj["metadata"]["name"]
        current = self._objects.get(key_of(rtype, namespace, name))
        if current is None:
            raise errors.not_found(rtype, name)
        candidate = copy.deepcopy(obj)
        candidate["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if candidate == current:
            # The apiserver skips no-op writes: same resourceVersion, no event.
            return candidate
        return self._commit("MODIFIED", rtype, candidate)

    def delete(
        self, rtype: ResourceType, namespace: str | None, name: str
    ) -> dict[str, Any]:
        current = self._objects.get(key_of(rtype, namespace, name))
        if current is None:
            raise errors.not_found(rtype, name)
        return self._commit("DELETED", rtype, copy.deepcopy(current))

    # --- change notification -------------------------------------------------

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` synchronously after every write (controllers use this)."""
        self._listeners.append(listener)

    def watch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        since: int | None,
    ) -> Watcher:
        """
        Open a watch. ``since=None`` starts with ADDED for every current object;
        a number replays the kept events after it, or raises 410 if it is too old.
        """
        watcher = Watcher(rtype, namespace, labels, fields)
        initial: Iterable[Event]
        if since is None:
            initial = [
                Event("ADDED", rtype, obj, self._revision)
                for obj in self.list(rtype, namespace, labels, fields)
            ]
        else:
            oldest = self._history[0].revision if self._history else self._revision + 1
            if since < oldest - 1 and since < self._revision:
                raise errors.expired(str(since), oldest)
            initial = [event for event in self._history if event.revision > since]
        for event in initial:
            if (seen := watcher.translate(event)) is not None:
                watcher.queue.put_nowait(seen)
        self._watchers.add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def close(self) -> None:
        """End every open watch stream, so the server can shut down promptly."""
        for watcher in list(self._watchers):
            watcher.queue.put_nowait(None)
        self._watchers.clear()
