"""SQLite on the event loop's thread: transactions take turns without blocking the loop, another
process's write lock is waited for with asyncio sleeps, and a wait that is too long fails cleanly."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url

from storage.db import make_engine, make_session_factory
from storage.sqlite_inline import InlineConnection, inline_connector

Connect = Callable[[], Awaitable[InlineConnection]]


def _connector(path: Path, lock_timeout: float = 5.0) -> Connect:
    url = make_url(f"sqlite+aiosqlite:///{path}")
    return inline_connector(url, SQLiteDialect_aiosqlite().create_connect_args, lock_timeout=lock_timeout)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "inline.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE log (who TEXT)")
    yield path


async def _begin(connection: InlineConnection) -> None:
    await connection.cursor().execute("BEGIN IMMEDIATE")


async def _insert(connection: InlineConnection, who: str) -> None:
    await connection.cursor().execute("INSERT INTO log VALUES (?)", (who,))


def _rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as reader:
        return [row[0] for row in reader.execute("SELECT who FROM log ORDER BY rowid")]


async def test_queries_run_and_return_rows(database: Path) -> None:
    connection = await _connector(database)()
    await _begin(connection)
    await _insert(connection, "a")
    await connection.commit()
    cursor = await connection.cursor().execute("SELECT who, 1 FROM log")
    assert [tuple(row) for row in await cursor.fetchall()] == [("a", 1)]
    assert [d[0] for d in cursor.description] == ["who", "1"]
    await connection.close()
    assert _rows(database) == ["a"]


async def test_transactions_of_this_process_take_turns_without_blocking_the_loop(database: Path) -> None:
    connect = _connector(database)
    first, second = await connect(), await connect()
    await _begin(first)
    waiting = asyncio.create_task(_begin(second))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the second awaits its turn, and the loop still runs this test
    await _insert(first, "first")
    await first.commit()
    await asyncio.wait_for(waiting, 1)
    await _insert(second, "second")
    await second.commit()
    assert _rows(database) == ["first", "second"]


async def test_a_rollback_or_close_also_gives_the_turn_away(database: Path) -> None:
    connect = _connector(database, lock_timeout=1.0)
    first, second = await connect(), await connect()
    await _begin(first)
    await first.rollback()
    await _begin(second)
    await second.commit()
    await _begin(first)
    await first.close()
    await _begin(second)
    await second.commit()


async def test_another_process_holding_the_lock_is_waited_for_with_the_loop_running(database: Path) -> None:
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    asyncio.get_running_loop().call_later(0.3, other.commit)
    connection = await _connector(database)()
    await _begin(connection)  # waits until the other connection commits
    await _insert(connection, "after the other process")
    await connection.commit()
    ticking.cancel()
    other.close()
    assert ticks >= 10, "the event loop was blocked while waiting for the lock"
    assert _rows(database) == ["after the other process"]


async def test_a_lock_held_too_long_fails_as_database_is_locked(database: Path) -> None:
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        connection = await _connector(database, lock_timeout=0.2)()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            await _begin(connection)
        other.commit()
        await _begin(connection)  # the failed attempt left no turn held
        await connection.commit()
    finally:
        other.close()


async def test_a_second_transaction_in_the_same_task_fails_instead_of_hanging(database: Path) -> None:
    connect = _connector(database, lock_timeout=0.2)
    first, second = await connect(), await connect()
    await _begin(first)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        await _begin(second)
    await first.commit()


async def test_sessions_on_one_engine_interleave_safely(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/sessions.db")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE counter (n INTEGER)"))
            await connection.execute(text("INSERT INTO counter VALUES (0)"))
        sessions = make_session_factory(engine)

        async def increment() -> None:
            async with sessions() as session, session.begin():
                n = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(0)  # another task runs here, but cannot start its transaction
                await session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(*(increment() for _ in range(50)))
        async with sessions() as session:
            assert (await session.execute(text("SELECT n FROM counter"))).scalar_one() == 50
    finally:
        await engine.dispose()
