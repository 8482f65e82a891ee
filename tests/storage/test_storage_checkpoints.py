"""storage.checkpoints: a bot's SQLite connections leave WAL checkpoints to a worker thread."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.checkpoints import WalCheckpointer, without_automatic_checkpoints
from storage.db import make_engine


def _engine(path: Path) -> AsyncEngine:
    engine = make_engine(f"sqlite:///{path}")
    without_automatic_checkpoints(engine.sync_engine)
    return engine


async def _write_pages(engine: AsyncEngine, rows: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)"))
    for start in range(0, rows, 100):
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO notes (body) VALUES (:body)"),
                [{"body": f"{n:06d}" * 200} for n in range(start, start + 100)],
            )


async def test_connections_do_not_checkpoint_in_their_commits(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "loudong.db")
    try:
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
        # Far more than SQLite's automatic threshold (1,000 pages): nobody copied the log back.
        await _write_pages(engine, 3000)
        assert (tmp_path / "loudong.db-wal").stat().st_size > 1000 * 4096
    finally:
        await engine.dispose()


async def test_a_checkpoint_copies_the_whole_log_into_the_database(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "loudong.db")
    checkpointer = WalCheckpointer(tmp_path / "loudong.db")
    try:
        await _write_pages(engine, 1000)
        result = await checkpointer.checkpoint()
        assert result.busy == 0
        assert result.log_frames > 250
        assert result.checkpointed == result.log_frames
    finally:
        await checkpointer.stop()
        await engine.dispose()


async def test_the_log_stays_short_while_the_checkpointer_runs(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "loudong.db")
    unchecked = _engine(tmp_path / "unchecked.db")
    checkpointer = WalCheckpointer(tmp_path / "loudong.db", interval=0.01)
    checkpointer.start()
    try:
        for _ in range(10):
            await _write_pages(engine, 300)
            await _write_pages(unchecked, 300)
            await asyncio.sleep(0.05)  # the checkpointer's turn
        wal = (tmp_path / "loudong.db-wal").stat().st_size
        unchecked_wal = (tmp_path / "unchecked.db-wal").stat().st_size
        # Writers start the log over once it was copied back: it holds a few rounds' pages at most.
        assert wal < unchecked_wal / 2
    finally:
        await checkpointer.stop()
        await engine.dispose()
        await unchecked.dispose()


async def test_stop_leaves_an_empty_log_and_a_complete_database(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "loudong.db")
    checkpointer = WalCheckpointer(tmp_path / "loudong.db")
    checkpointer.start()
    await _write_pages(engine, 500)
    await checkpointer.stop()
    assert (tmp_path / "loudong.db-wal").stat().st_size == 0  # the engine's connections still open
    await engine.dispose()
    reopened = make_engine(f"sqlite:///{tmp_path / 'loudong.db'}")
    try:
        async with reopened.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM notes"))).scalar() == 500
    finally:
        await reopened.dispose()
