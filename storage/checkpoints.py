"""WAL checkpoints off the event loop's thread.

SQLite copies the write-ahead log back into the database file (a checkpoint) when a commit finds the
log longer than 1,000 pages, inside that commit, and the checkpoint is where synchronous=NORMAL pays
its fsyncs. The bot's SQLite calls run on the event loop's thread (storage/sqlite_inline.py), so every
such commit stalled every chat for the length of a checkpoint: 5-15 ms on this project's machines, more
on a busy disk. A bot process therefore turns automatic checkpoints off on its own connections and
checkpoints from a worker thread on a connection of its own, a few times a second (`PASSIVE`: it never
waits for, nor blocks, readers or the writer; the sqlite3 module releases the GIL while SQLite works).

Other processes on the same file (the command line, the scheduler's job store) keep SQLite's automatic
checkpoints, so the log never grows without bound when the bot is not running."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry

log = logging.getLogger("loudong.storage")

# How often the log is checkpointed. At the bot's busiest (a few thousand small transactions a second)
# this lets the log grow to some thousands of pages between checkpoints: megabytes, copied in the
# background in one pass.
CHECKPOINT_INTERVAL = 0.25


class CheckpointResult(NamedTuple):
    """`PRAGMA wal_checkpoint`'s answer: busy (1 if it could not run to completion), frames in the
    log, frames copied into the database."""

    busy: int
    log_frames: int
    checkpointed: int


def without_automatic_checkpoints(engine: Engine) -> None:
    """Connections of this (sync) engine, opened from now on, leave checkpoints to a `WalCheckpointer`."""
    event.listen(engine, "connect", _no_automatic_checkpoint)


def _no_automatic_checkpoint(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    finally:
        cursor.close()


class WalCheckpointer:
    """Checkpoints one SQLite database file every `interval` seconds from a worker thread."""

    def __init__(self, path: Path, *, interval: float = CHECKPOINT_INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self._connection: sqlite3.Connection | None = None
        # One checkpoint at a time: the last one at stop() may meet one still running in its thread.
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wal-checkpoints")

    async def stop(self) -> None:
        """Stop the periodic checkpoints and write the whole log into the database file."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(sqlite3.Error):
            await asyncio.to_thread(self._checkpoint, "TRUNCATE")
        await asyncio.to_thread(self._close)

    async def checkpoint(self) -> CheckpointResult:
        """One passive checkpoint now, in a worker thread."""
        return await asyncio.to_thread(self._checkpoint, "PASSIVE")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.checkpoint()
            except sqlite3.Error:
                # The database is busy being replaced (tests) or the disk failed: try again next time;
                # a commit's own work is not affected, only how long the log grows.
                log.warning("WAL checkpoint failed", exc_info=True)

    def _checkpoint(self, mode: str) -> CheckpointResult:
        with self._lock:
            if self._connection is None:
                # check_same_thread off: asyncio.to_thread may use any of its pool's threads, and the
                # lock above keeps them to one at a time.
                self._connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            row = self._connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        return CheckpointResult(*row)

    def _close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
