"""The SQLite state store, against the backend-neutral contract and on its own."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from remediator.state.base import StateError, Store
from remediator.state.sqlite import CHECKPOINT_SECONDS, FILENAME, SqliteStore
from tests.state.contract import *  # noqa: F403
from tests.state.contract import Reopen, decision, episode


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[list[SqliteStore]]:
    opened = [SqliteStore(tmp_path)]
    await opened[0].open()
    yield opened
    await opened[-1].close()


@pytest.fixture
def store(stores: list[SqliteStore]) -> Store:
    return stores[0]


@pytest.fixture
def reopen(stores: list[SqliteStore], tmp_path: Path) -> Reopen:
    async def again() -> Store:
        await stores[-1].close()
        stores.append(SqliteStore(tmp_path))
        await stores[-1].open()
        return stores[-1]

    return again


async def test_store_uses_wal_in_the_state_directory(tmp_path: Path) -> None:
    """The database lives under the state directory, in WAL mode."""
    store = SqliteStore(tmp_path / "state")
    await store.open()
    await store.close()

    mode = sqlite3.connect(tmp_path / "state" / FILENAME).execute(
        "PRAGMA journal_mode").fetchone()

    assert mode == ("wal",)


async def test_unusable_directory_is_a_state_error(tmp_path: Path) -> None:
    """A state directory that cannot be created gives StateError, not a traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("x")

    with pytest.raises(StateError, match="cannot open"):
        await SqliteStore(blocker / "state").open()


def _stored_keys(tmp_path: Path) -> set[str]:
    """What another process reading the file would find committed."""
    with sqlite3.connect(tmp_path / FILENAME) as db:
        return {key for (key,) in db.execute("SELECT key FROM episodes")}


async def test_concurrent_writes_are_each_durable_when_they_return(
        store: Store, tmp_path: Path) -> None:
    """
    Writes made at once share transactions, yet each call returns only once
    its own record is committed, and decisions written among them get their ids.
    """
    fingerprints = [f"{n:016x}" for n in range(60)]
    durable_on_return: list[bool] = []

    async def save(fingerprint: str) -> None:
        record = episode(fingerprint)
        await store.save_episodes([record])
        durable_on_return.append(record.key in _stored_keys(tmp_path))

    decisions = [decision(2000.0 + n) for n in range(5)]
    await asyncio.gather(*(save(f) for f in fingerprints),
                         *(store.add_decision(d) for d in decisions))

    assert durable_on_return == [True] * 60
    assert len(_stored_keys(tmp_path)) == 60
    assert sorted(d.id for d in decisions) == [1, 2, 3, 4, 5]
    assert [d.id for d in await store.decisions(limit=10)] == [5, 4, 3, 2, 1]


async def test_a_failing_write_fails_only_its_own_caller(store: Store, tmp_path: Path) -> None:
    """One write the database refuses, among others at once: only its caller hears of it."""
    with sqlite3.connect(tmp_path / FILENAME) as db:
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON episodes WHEN NEW.key LIKE 'bad%'"
                   " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    good = [episode(f"{n:016x}") for n in range(10)]
    bad = episode("bad0000000000000")

    results = await asyncio.gather(*(store.save_episodes([e]) for e in [*good[:5], bad,
                                                                        *good[5:]]),
                                   return_exceptions=True)

    assert [type(r).__name__ for r in results] == ["NoneType"] * 5 + ["StateError"] + [
        "NoneType"] * 5
    assert "refused by the test" in str(results[5])
    assert _stored_keys(tmp_path) == {e.key for e in good}


async def test_close_commits_what_was_written_before_it(tmp_path: Path) -> None:
    """A write in progress when the store closes is committed, not lost."""
    store = SqliteStore(tmp_path)
    await store.open()
    saving = asyncio.ensure_future(store.save_episodes([episode("1111111111111111")]))
    await asyncio.sleep(0)

    await store.close()

    await saving
    assert _stored_keys(tmp_path) == {episode("1111111111111111").key}


async def test_the_log_is_copied_into_the_database_file_while_the_store_is_open(
        store: Store, tmp_path: Path) -> None:
    """
    Checkpoints run beside the writes, not inside one of them: soon after a
    write, the database file alone (as a copy taken without its log would be)
    holds it, though the log is far from the size at which the writer
    checkpoints.
    """
    saved = [episode(f"{n:016x}") for n in range(50)]
    await store.save_episodes(saved)

    deadline = time.monotonic() + 10.0
    while _keys_in_the_file_alone(tmp_path) != {e.key for e in saved}:
        assert time.monotonic() < deadline, "the log was not checkpointed"
        await asyncio.sleep(0.05)


def _keys_in_the_file_alone(tmp_path: Path) -> set[str]:
    copy = tmp_path / "copy"
    copy.mkdir(exist_ok=True)
    shutil.copyfile(tmp_path / FILENAME, copy / FILENAME)  # without -wal and -shm
    with contextlib.closing(sqlite3.connect(copy / FILENAME)) as db:
        try:
            return {key for (key,) in db.execute("SELECT key FROM episodes")}
        except sqlite3.OperationalError:  # no table yet: the schema is in the log too
            return set()


async def test_a_write_after_close_is_a_state_error(tmp_path: Path) -> None:
    """A late write (a task outliving the daemon's drain) is told, not crashed on."""
    store = SqliteStore(tmp_path)
    await store.open()
    await store.close()

    with pytest.raises(StateError, match="cannot write state"):
        await store.save_episodes([episode("1111111111111111")])


async def test_a_second_store_on_one_directory_is_refused_until_the_first_closes(
        tmp_path: Path) -> None:
    """The directory lock: the second opener hears who holds it; a closed store lets go."""
    import os

    first = SqliteStore(tmp_path)
    await first.open()
    second = SqliteStore(tmp_path)
    holder = rf"in use by another remediator \(pid {os.getpid()}\)"
    try:
        with pytest.raises(StateError, match=holder):
            await second.open()
    finally:
        await first.close()

    await second.open()
    await second.close()


async def test_a_write_while_the_store_closes_is_committed_and_begins_no_checkpoint(
        tmp_path: Path) -> None:
    """Nothing is left scheduled on a closed store: the event loop hears of no error."""
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    store = SqliteStore(tmp_path)
    await store.open()
    await store.save_episodes([episode("1111111111111111")])

    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0)
    await store.save_episodes([episode("2222222222222222")])
    await closing
    await asyncio.sleep(CHECKPOINT_SECONDS + 0.3)

    assert errors == []
    assert _stored_keys(tmp_path) == {episode("1111111111111111").key,
                                      episode("2222222222222222").key}


async def test_closing_twice_at_once_closes_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await store.open()
    await store.save_episodes([episode("1111111111111111")])

    await asyncio.gather(store.close(), store.close())
    await store.close()

    assert _stored_keys(tmp_path) == {episode("1111111111111111").key}
