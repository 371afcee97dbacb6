"""
The Kubernetes state store: one ConfigMap of ours, for several replicas.

Everything the daemon remembers (episodes, decisions, target states, the
next decision id) is one gzip-compressed JSON document in the ConfigMap's
`binaryData`, so that whichever replica leads after a failover reads exactly
what the previous leader wrote: every cooldown, every dedup key.

Each call is one read-modify-write sent with the resourceVersion it read:
when another writer got there first the API answers 409, and the change is
applied again to the fresh copy. So concurrent writers never lose each
other's records, and a call that returned is in etcd.

A ConfigMap holds at most 1 MiB. Compression keeps an alert storm's
thousands of similar episodes small, and a byte budget bounds the rest: over
it, history-only decisions go first (oldest first), then resolved episodes,
and only then what the guard counts; each trim is logged. Pruning (the
dedup retention) normally keeps the store far below the budget.

Read it by hand with:
`kubectl get configmap remediator-state -o jsonpath='{.binaryData.state\\.json\\.gz}'
| base64 -d | gunzip`
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import functools
import gzip
import json
import logging
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from kubernetes_asyncio.client import ApiClient

from remediator.config.settings import Settings
from remediator.k8s import client, errors
from remediator.k8s.client import CONFIGMAPS, Api, JsonObject
from remediator.state.base import DecisionRecord, EpisodeRecord, StateError, TargetState

logger = logging.getLogger("remediator.state")

T = TypeVar("T")

KEY = "state.json.gz"
FORMAT = 1
BUDGET_BYTES = 768 * 1024
"""Compressed size we stay under; the API refuses ConfigMaps over 1 MiB."""

MAX_DECISIONS = 5000
"""History kept at most, whatever the budget allows (the API pages through it)."""

_CONFLICT_TRIES = 30
# Each 409 means another writer's change landed: progress, so allow many.
_OTHER_TRIES = 5
_PAUSE = 0.2


@dataclasses.dataclass
class _State:
    next_id: int = 1
    episodes: dict[str, EpisodeRecord] = dataclasses.field(default_factory=dict)
    decisions: dict[int, DecisionRecord] = dataclasses.field(default_factory=dict)
    targets: dict[str, TargetState] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "next_id": self.next_id,
            "episodes": [e.to_json() for e in self.episodes.values()],
            "decisions": [self.decisions[i].to_json() for i in sorted(self.decisions)],
            "targets": [t.to_json() for t in self.targets.values()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _State:
        episodes = [EpisodeRecord.from_json(e) for e in data.get("episodes", [])]
        decisions = [DecisionRecord.from_json(d) for d in data.get("decisions", [])]
        targets = [TargetState.from_json(t) for t in data.get("targets", [])]
        return cls(
            next_id=int(data.get("next_id", 1)),
            episodes={e.key: e for e in episodes},
            decisions={d.id: d for d in decisions},
            targets={t.target: t for t in targets},
        )


class KubeStore:
    """`Store` kept in the ConfigMap `state.configmap` of our own namespace."""

    def __init__(
        self,
        settings: Settings,
        api_client: ApiClient | None = None,
        *,
        namespace: str | None = None,
        budget_bytes: int = BUDGET_BYTES,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.settings = settings
        self.namespace = namespace or client.own_namespace(settings, environ)
        self.name = settings.state.configmap
        self.budget_bytes = budget_bytes
        self._given_client = api_client
        self._own_client: ApiClient | None = None
        self._api: Api | None = None
        # One call at a time from this process: its own writes never conflict.
        self._lock = asyncio.Lock()

    @property
    def where(self) -> str:
        return f"configmap {self.namespace}/{self.name}"

    # --- opening and closing ---------------------------------------------------

    async def open(self) -> None:
        if self._api is not None:
            return
        api_client = self._given_client
        if api_client is None:
            try:
                api_client = self._own_client = await client.new_api_client(
                    self.settings.kubernetes
                )
            except client.ClientConfigError as error:
                raise StateError(f"{self.where}: {error}") from error
        self._api = Api(api_client)

        # Create it when missing; losing that race to another replica is fine.
        try:
            await self._read()
        except StateError:
            await self.close()
            raise
        logger.debug("state store open in %s", self.where)

    async def close(self) -> None:
        if self._own_client is not None:
            await self._own_client.close()
            self._own_client = None
        self._api = None

    # --- the Store protocol ------------------------------------------------------

    async def load_episodes(self) -> list[EpisodeRecord]:
        state, _ = await self._read()
        return list(state.episodes.values())

    async def save_episodes(self, episodes: Sequence[EpisodeRecord]) -> None:
        if not episodes:
            return
        saved = [EpisodeRecord.from_json(e.to_json()) for e in episodes]

        def change(state: _State) -> None:
            for episode in saved:
                stored = state.episodes.get(episode.key)
                if episode.labels is None and stored is not None:
                    episode.labels = stored.labels
                state.episodes[episode.key] = episode

        await self._update(change, "save episodes")

    async def mark_handled(self, episodes: Sequence[EpisodeRecord]) -> None:
        if not episodes:
            return
        evaluated = [(e.key, e.status, e.last_change) for e in episodes]

        def change(state: _State) -> None:
            for key, status, last_change in evaluated:
                stored = state.episodes.get(key)
                if (stored is not None and stored.status == status
                        and stored.last_change == last_change):
                    stored.handled = True

        await self._update(change, "flag evaluated episodes")

    async def episode_labels(self, keys: Sequence[str]) -> dict[str, dict[str, str]]:
        state, _ = await self._read()
        found = (state.episodes.get(key) for key in keys)
        return {e.key: dict(e.labels) for e in found if e is not None and e.labels is not None}

    async def add_decision(self, decision: DecisionRecord) -> DecisionRecord:
        return (await self.add_decisions([decision]))[0]

    async def add_decisions(self, decisions: Sequence[DecisionRecord]) -> list[DecisionRecord]:
        if not decisions:
            return []
        copies = [DecisionRecord.from_json(d.to_json()) for d in decisions]

        def change(state: _State) -> list[int]:
            # Applied again on each retry, so the ids are the fresh copy's next.
            given = []
            for stored in copies:
                stored.id = state.next_id
                state.next_id += 1
                state.decisions[stored.id] = stored
                given.append(stored.id)
            return given

        ids = await self._update(change, "add decisions")
        for decision, given in zip(decisions, ids, strict=True):
            decision.id = given
        return list(decisions)

    async def update_decision(self, decision: DecisionRecord) -> None:
        stored = DecisionRecord.from_json(decision.to_json())

        def change(state: _State) -> None:
            if stored.id in state.decisions:
                state.decisions[stored.id] = stored

        await self._update(change, "update a decision")

    async def decisions(self, *, limit: int, before_id: int | None = None) -> list[DecisionRecord]:
        state, _ = await self._read()
        ids = sorted((i for i in state.decisions if before_id is None or i < before_id),
                     reverse=True)
        return [state.decisions[i] for i in ids[:max(0, limit)]]

    async def decisions_since(self, since: float) -> list[DecisionRecord]:
        state, _ = await self._read()
        return [state.decisions[i] for i in sorted(state.decisions)
                if state.decisions[i].time >= since]

    async def load_targets(self) -> list[TargetState]:
        state, _ = await self._read()
        return list(state.targets.values())

    async def save_target(self, state: TargetState) -> None:
        saved = TargetState.from_json(state.to_json())

        def change(current: _State) -> None:
            current.targets[saved.target] = saved

        await self._update(change, "save a target state")

    async def prune(self, *, before: float) -> int:
        def change(state: _State) -> int:
            old_episodes = [key for key, e in state.episodes.items()
                            if e.last_change < before]
            old_decisions = [i for i, d in state.decisions.items() if d.time < before]
            for key in old_episodes:
                del state.episodes[key]
            for i in old_decisions:
                del state.decisions[i]
            return len(old_episodes) + len(old_decisions)

        return await self._update(change, "prune")

    # --- reading and writing the ConfigMap ------------------------------------------

    async def _read(self) -> tuple[_State, JsonObject]:
        """The stored state and the ConfigMap it came from (created when missing)."""
        api = self._require()
        try:
            configmap = await self._retrying(
                lambda: api.get(CONFIGMAPS, self.namespace, self.name), "read", create=True
            )
        except errors.KubeError as error:
            raise StateError(f"{self.where}: cannot read the state: {error}") from error
        return self._decode(configmap), configmap

    async def _update(self, change: Callable[[_State], T], what: str) -> T:
        api = self._require()
        async with self._lock:
            for _ in range(_CONFLICT_TRIES):
                state, configmap = await self._read()
                result = change(state)
                self._trim(state)
                body = self._encode(state, configmap)
                try:
                    write = functools.partial(api.replace, CONFIGMAPS, self.namespace,
                                              self.name, body)
                    await self._retrying(write, what)
                except errors.Conflict:
                    continue  # someone else wrote first: apply ours to their copy
                except errors.KubeError as error:
                    raise StateError(f"{self.where}: cannot {what}: {error}") from error
                return result
        raise StateError(f"{self.where}: cannot {what}: it kept changing under us"
                         f" ({_CONFLICT_TRIES} conflicts in a row)")

    async def _retrying(self, call: Callable[[], Any], what: str, *,
                        create: bool = False) -> JsonObject:
        """One request, again after server errors; 409 goes back to the caller."""
        for attempt in range(1, _OTHER_TRIES + 1):
            try:
                answer: JsonObject = await call()
                return answer
            except errors.NotFound:
                if not create:
                    raise
                return await self._create()
            except errors.Conflict:
                raise
            except errors.TemporaryError as error:
                if attempt == _OTHER_TRIES:
                    raise
                logger.info("state %s: try %d failed (%s)", what, attempt, error.code)
                await asyncio.sleep(min(error.delay, _PAUSE) * attempt)
        raise AssertionError("unreachable")

    async def _create(self) -> JsonObject:
        api = self._require()
        body = self._encode(_State(), {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": self.name, "namespace": self.namespace,
                "labels": {"app.kubernetes.io/name": "remediator",
                           "app.kubernetes.io/component": "state"},
            },
        })
        try:
            created = await api.create(CONFIGMAPS, self.namespace, body)
        except errors.AlreadyExists:
            return await api.get(CONFIGMAPS, self.namespace, self.name)
        logger.info("created the state store %s", self.where)
        return created

    def _decode(self, configmap: JsonObject) -> _State:
        blob = (configmap.get("binaryData") or {}).get(KEY)
        if blob is None:
            return _State()
        try:
            data = json.loads(gzip.decompress(base64.b64decode(blob, validate=True)))
            return _State.from_json(data)
        except (binascii.Error, OSError, EOFError, zlib.error, ValueError, TypeError,
                KeyError) as error:
            # Starting empty would forget every cooldown: refuse instead.
            raise StateError(
                f"{self.where}: binaryData[{KEY}] is not readable state ({error});"
                " repair or delete it"
            ) from error

    def _encode(self, state: _State, configmap: JsonObject) -> JsonObject:
        body = dict(configmap)
        body["binaryData"] = {KEY: base64.b64encode(_compress(state)).decode("ascii")}
        body["data"] = {"summary": (
            f"episodes={len(state.episodes)} decisions={len(state.decisions)}"
            f" targets={len(state.targets)} next_id={state.next_id}"
        )}
        return body

    def _trim(self, state: _State) -> None:
        """Keep the compressed state under the budget, dropping the least needed first."""
        dropped = 0
        while len(state.decisions) > MAX_DECISIONS:
            dropped += _drop_decisions(state, len(state.decisions) - MAX_DECISIONS,
                                       history_only=False)
        while len(_compress(state)) > self.budget_bytes:
            step = max(1, (len(state.decisions) + len(state.episodes)) // 10)
            removed = (
                _drop_decisions(state, step, history_only=True)
                or _drop_episodes(state, step, resolved_only=True)
                or _drop_decisions(state, step, history_only=False)
                or _drop_episodes(state, step, resolved_only=False)
            )
            if not removed:
                break
            dropped += removed
        if dropped:
            logger.warning("state store over its size budget: dropped the %d oldest,"
                           " least needed records", dropped, extra={"dropped": dropped})

    def _require(self) -> Api:
        if self._api is None:
            raise StateError(f"{self.where}: the state store is not open")
        return self._api


def _compress(state: _State) -> bytes:
    text = json.dumps(state.to_json(), separators=(",", ":"), allow_nan=False,
                      ensure_ascii=False)
    # mtime=0: the same state always encodes to the same bytes.
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def _drop_decisions(state: _State, count: int, *, history_only: bool) -> int:
    """Drop up to `count` oldest decisions; `history_only` spares what the guard needs."""
    candidates = [
        i for i in sorted(state.decisions)
        if state.decisions[i].outcome != "pending"
        and not (history_only and (state.decisions[i].counted or state.decisions[i].covering))
    ][:count]
    for i in candidates:
        del state.decisions[i]
    return len(candidates)


def _drop_episodes(state: _State, count: int, *, resolved_only: bool) -> int:
    candidates = sorted(
        (e for e in state.episodes.values() if e.status == "resolved" or not resolved_only),
        key=lambda e: e.last_change,
    )[:count]
    for episode in candidates:
        del state.episodes[episode.key]
    return len(candidates)
