"""The SQLite state store, against the backend-neutral contract and on its own."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from remediator.state.base import StateError, Store
from remediator.state.sqlite import FILENAME, SqliteStore
from tests.state.contract import *  # noqa: F403
from tests.state.contract import Reopen


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
