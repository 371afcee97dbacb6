"""
The SQLite store: one file under the state directory, for a single replica.

WAL journal and `synchronous=FULL`, so that a call that has returned
survives `kill -9` and power loss alike. Records are kept as JSON text, one
row each, mirroring what other backends store. SQLite calls run on one
worker thread of their own, so the event loop never waits on the disk and
the connection is only ever used from one thread.

Writes are group-committed: the writes that arrive while a transaction is
being synced go together into the next one, and each call returns once the
transaction holding its write is synced. In a storm of new episodes the
store then syncs once per batch rather than once per notification, and the
worker's decisions share those batches instead of queueing behind every
notification (or making the notifications queue behind them).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from remediator.state.base import DecisionRecord, EpisodeRecord, StateError, TargetState
from remediator.state.lock import DirectoryLock

logger = logging.getLogger("remediator.state")

FILENAME = "remediator.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    last_change REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time);
CREATE TABLE IF NOT EXISTS targets (
    target TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
"""

# A record saved without labels (the daemon lets go of them once an alert is
# mapped) keeps those already stored for its key.
_SAVE_EPISODE = """
INSERT INTO episodes (key, status, last_change, data) VALUES (?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    status = excluded.status,
    last_change = excluded.last_change,
    data = CASE
        WHEN json_type(excluded.data, '$.labels') = 'null'
        THEN json_set(excluded.data, '$.labels', json(json_extract(episodes.data, '$.labels')))
        ELSE excluded.data
    END
"""

_MARK_HANDLED = """
UPDATE episodes SET data = json_set(data, '$.handled', json('true'))
WHERE key = ? AND status = ? AND last_change = ?
"""

CHECKPOINT_SECONDS = 1.0
"""
How soon after a write its log is copied into the database file.

SQLite's own checkpoint runs in the transaction that fills the log past its
limit, so once every few thousand pages one notification's write also
copied megabytes and synced the database file: in a storm of new episodes
those stalls were what set the decision latency's tail. A passive
checkpoint on a second connection, on a thread of its own, copies the log
while writes go on appending to it.
"""

WRITER_CHECKPOINT_PAGES = 10_000
"""
The log's limit for the writer's own checkpoint (SQLite's default is 1,000).

Kept as a bound, not a habit: under writes that never pause, a passive
checkpoint never finds the log all copied, so the log is never started
again; the writer's checkpoint at 40 MB then copies what is left and lets it.
"""

T = TypeVar("T")

Write = Callable[[sqlite3.Connection], Any]
"""One write, run inside the batch's transaction on the store's thread."""


class SqliteStore:
    """`Store` backed by `<directory>/remediator.sqlite3`."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / FILENAME
        self._lock = DirectoryLock(Path(directory))
        self._connection: sqlite3.Connection | None = None
        # One thread owns the connection; calls queue up in order.
        self._thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="remediator-sqlite"
        )
        self._writes: list[tuple[Write, asyncio.Future[Any]]] = []
        """Writes waiting for the next transaction, each with its caller's future."""

        self._committing: asyncio.Task[None] | None = None

        # Checkpoints have a thread and a connection of their own (see CHECKPOINT_SECONDS).
        self._checkpointer = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="remediator-sqlite-checkpoint"
        )
        self._checkpoint_connection: sqlite3.Connection | None = None
        self._checkpoint_due: asyncio.TimerHandle | None = None
        self._checkpointing: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        """Set once close() begins: no checkpoint is begun after it."""

    async def open(self) -> None:
        await self._call(self._open)

    async def close(self) -> None:
        # Once, however many callers: the app and a test harness may both close.
        if self._closed is None:
            self._closed = asyncio.ensure_future(self._close_all())
        await asyncio.shield(self._closed)

    async def _close_all(self) -> None:
        # The checkpoint connection closes first: the last one to close
        # checkpoints the whole log and removes it.
        if self._checkpoint_due is not None:
            self._checkpoint_due.cancel()
            self._checkpoint_due = None
        if self._checkpointing is not None:
            await asyncio.wait({self._checkpointing})
        if self._checkpoint_connection is not None:
            await asyncio.get_running_loop().run_in_executor(self._checkpointer,
                                                             self._close_checkpoints)
        self._checkpointer.shutdown(wait=True)
        # What was written before close, or while it waited, is committed first.
        while self._committing is not None:
            await asyncio.shield(self._committing)
        if self._connection is not None:
            await self._call(self._close)
        self._thread.shutdown(wait=True)

    async def load_episodes(self) -> list[EpisodeRecord]:
        rows = await self._call(self._select, "SELECT data FROM episodes", ())
        return [EpisodeRecord.from_json(json.loads(row[0])) for row in rows]

    async def save_episodes(self, episodes: Sequence[EpisodeRecord]) -> None:
        rows = [
            (e.key, e.status, e.last_change, _dumps(e.to_json()))
            for e in episodes
        ]
        if rows:
            await self._write(functools.partial(_execute_many, _SAVE_EPISODE, rows))

    async def mark_handled(self, episodes: Sequence[EpisodeRecord]) -> None:
        rows = [(e.key, e.status, e.last_change) for e in episodes]
        if rows:
            await self._write(functools.partial(_execute_many, _MARK_HANDLED, rows))

    async def episode_labels(self, keys: Sequence[str]) -> dict[str, dict[str, str]]:
        # The keys go in as one JSON array: no statement built from them, no limit
        # on how many.
        rows = await self._call(
            self._select,
            "SELECT key, json_extract(data, '$.labels') FROM episodes"
            " WHERE key IN (SELECT value FROM json_each(?))",
            (json.dumps(list(keys)),),
        )
        return {key: json.loads(labels) for key, labels in rows if labels}

    async def add_decision(self, decision: DecisionRecord) -> DecisionRecord:
        await self._write(functools.partial(_add_decision, decision))
        return decision

    async def add_decisions(self, decisions: Sequence[DecisionRecord]) -> list[DecisionRecord]:
        if decisions:
            await self._write(functools.partial(_add_decisions, list(decisions)))
        return list(decisions)

    async def update_decision(self, decision: DecisionRecord) -> None:
        await self._write(functools.partial(
            _execute_many,
            "UPDATE decisions SET time = ?, data = ? WHERE id = ?",
            [(decision.time, _dumps(decision.to_json()), decision.id)],
        ))

    async def decisions(self, *, limit: int, before_id: int | None = None) -> list[DecisionRecord]:
        before = before_id if before_id is not None else 2**62
        rows = await self._call(
            self._select,
            "SELECT id, data FROM decisions WHERE id < ? ORDER BY id DESC LIMIT ?",
            (before, max(0, limit)),
        )
        return [_decision(row) for row in rows]

    async def decisions_since(self, since: float) -> list[DecisionRecord]:
        rows = await self._call(
            self._select,
            "SELECT id, data FROM decisions WHERE time >= ? ORDER BY id",
            (since,),
        )
        return [_decision(row) for row in rows]

    async def load_targets(self) -> list[TargetState]:
        rows = await self._call(self._select, "SELECT data FROM targets", ())
        return [TargetState.from_json(json.loads(row[0])) for row in rows]

    async def save_target(self, state: TargetState) -> None:
        await self._write(functools.partial(
            _execute_many,
            "INSERT OR REPLACE INTO targets (target, data) VALUES (?, ?)",
            [(state.target, _dumps(state.to_json()))],
        ))

    async def prune(self, *, before: float) -> int:
        removed: int = await self._write(functools.partial(_prune, before))
        return removed

    # --- group commit --------------------------------------------------------

    async def _write(self, write: Write) -> Any:
        """Queue a write for the next transaction; return its result once that is synced."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._writes.append((write, future))
        if self._committing is None:
            self._committing = loop.create_task(self._commit_queued())
        return await future

    async def _commit_queued(self) -> None:
        """Commit what is queued, one transaction at a time, until nothing is."""
        try:
            while self._writes:
                batch, self._writes = self._writes, []
                try:
                    results = await self._call(self._commit, [write for write, _ in batch])
                except Exception as error:  # the thread is gone: every caller must hear it
                    results = [StateError(f"{self.path}: cannot write state: {error}")] * len(
                        batch)
                for (_, future), result in zip(batch, results, strict=True):
                    # A caller that gave up (its request was cancelled) wants nothing back.
                    if future.done():
                        continue
                    if isinstance(result, StateError):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                self._checkpoint_soon()
        finally:
            self._committing = None

    # --- checkpoints ---------------------------------------------------------

    def _checkpoint_soon(self) -> None:
        """Copy the log into the database file a little later, on the checkpoint thread."""
        if (self._checkpoint_due is None and self._checkpointing is None
                and self._connection is not None and self._closed is None):
            loop = asyncio.get_running_loop()
            self._checkpoint_due = loop.call_later(CHECKPOINT_SECONDS, self._start_checkpoint)

    def _start_checkpoint(self) -> None:
        self._checkpoint_due = None
        loop = asyncio.get_running_loop()
        self._checkpointing = loop.run_in_executor(self._checkpointer, self._checkpoint)
        self._checkpointing.add_done_callback(self._checkpointed)

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpointing = None
        error = done.exception()
        if error is not None:
            # The writer's own checkpoints (WRITER_CHECKPOINT_PAGES) still bound the log.
            logger.warning("%s: background checkpoint failed: %s", self.path, error)

    # --- on the worker thread ----------------------------------------------

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(function, *args))

    def _open(self) -> None:
        if self._connection is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StateError(f"{self.path}: cannot open the state store: {error}") from error

        # One process per directory, before the store is read or written.
        self._lock.acquire()
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")
            connection.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            self._lock.release()
            raise StateError(f"{self.path}: cannot open the state store: {error}") from error
        self._connection = connection
        logger.debug("state store open at %s", self.path)

    def _checkpoint(self) -> None:
        """On the checkpoint thread: copy what the log holds, without waiting for writers."""
        if self._checkpoint_connection is None:
            self._checkpoint_connection = sqlite3.connect(self.path, isolation_level=None)
        self._checkpoint_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _close_checkpoints(self) -> None:
        if self._checkpoint_connection is not None:
            self._checkpoint_connection.close()
            self._checkpoint_connection = None

    def _close(self) -> None:
        assert self._connection is not None
        self._connection.close()
        self._connection = None
        self._lock.release()

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise StateError(f"{self.path}: the state store is not open")
        return self._connection

    def _select(self, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._db().execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise StateError(f"{self.path}: cannot read state: {error}") from error

    def _commit(self, writes: list[Write]) -> list[Any]:
        """
        The writes in one transaction: their results, or a `StateError` for each.

        When the transaction fails, each write is tried again in one of its own,
        so that one bad write fails only its own caller.
        """
        try:
            db = self._db()
        except StateError as error:
            return [error] * len(writes)
        try:
            db.execute("BEGIN IMMEDIATE")
            results = [write(db) for write in writes]
            db.execute("COMMIT")
            return results
        except sqlite3.Error as error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if len(writes) > 1:
                return [self._commit([write])[0] for write in writes]
            return [StateError(f"{self.path}: cannot write state: {error}")]


def _execute_many(sql: str, rows: list[tuple[Any, ...]], db: sqlite3.Connection) -> None:
    db.executemany(sql, rows)


def _add_decisions(decisions: list[DecisionRecord], db: sqlite3.Connection) -> None:
    for decision in decisions:
        _add_decision(decision, db)


def _add_decision(decision: DecisionRecord, db: sqlite3.Connection) -> None:
    cursor = db.execute("INSERT INTO decisions (time, data) VALUES (?, ?)", (decision.time, "{}"))
    assert cursor.lastrowid is not None
    decision.id = cursor.lastrowid
    db.execute("UPDATE decisions SET data = ? WHERE id = ?",
               (_dumps(decision.to_json()), decision.id))


def _prune(before: float, db: sqlite3.Connection) -> int:
    episodes = db.execute("DELETE FROM episodes WHERE last_change < ?", (before,))
    decisions = db.execute("DELETE FROM decisions WHERE time < ?", (before,))
    return episodes.rowcount + decisions.rowcount


def _decision(row: tuple[Any, ...]) -> DecisionRecord:
    decision = DecisionRecord.from_json(json.loads(row[1]))
    decision.id = int(row[0])
    return decision


# NaN is not JSON; nothing we store should hold one, and if it does we want to know.
# One encoder for every record: json.dumps with options builds a new one per call,
# and a 10,000-alert notification stores 20,000 records (new, then handled).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def _dumps(data: dict[str, Any]) -> str:
    return _ENCODER.encode(data)
