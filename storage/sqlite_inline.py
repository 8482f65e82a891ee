"""SQLite for the async engine without a thread hop per call.

aiosqlite runs every sqlite3 call in a worker thread and hands the result back through the event loop:
a message's dozen statements cost some fifty such round trips (cursor, execute, fetch, close), which
measured as most of a message's time (docs/benchmarks.md, "OneBot load"). SQLite calls on a local file
take microseconds, far less than the hop, so this module runs them directly on the event loop's thread,
behind the small part of aiosqlite's interface that SQLAlchemy's `sqlite+aiosqlite` dialect uses.
SQLAlchemy keeps its dialect, pool and greenlet bridge; only the connection object differs (plugged
in through `create_async_engine(..., async_creator=...)`).

What must never happen is SQLite's busy handler sleeping on the event loop's thread, because then the
connection holding the lock could never finish. So:
- transactions of this process take turns on an asyncio lock, acquired at `BEGIN IMMEDIATE` and released
  at COMMIT, ROLLBACK or close: a second transaction awaits its turn instead of blocking;
- another process holding the write lock (the CLI importing a directory while the bot runs) makes
  `BEGIN IMMEDIATE` fail at once (busy timeout 0); it is retried with asyncio sleeps until the deadline,
  and then fails with "database is locked", as a busy timeout would have.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import URL
from sqlalchemy.util.concurrency import await_

# How long a transaction waits for the write lock (ours or another process's) before failing.
WRITE_LOCK_TIMEOUT = 5.0
# Between attempts at another process's write lock: short first, at most this.
_BUSY_RETRY_MAX = 0.05

_BEGIN = "BEGIN"

Parameters = Sequence[Any] | dict[str, Any]


class WriteTurns:
    """The asyncio lock this process's transactions on one database take turns on, one per event loop
    (an engine may outlive the loop it was first used on, as in tests)."""

    def __init__(self, timeout: float = WRITE_LOCK_TIMEOUT) -> None:
        self.timeout = timeout
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        found = self._locks.get(loop)
        if found is None:
            found = self._locks[loop] = asyncio.Lock()
        return found


class InlineCursor:
    """aiosqlite.Cursor's coroutine interface over a sqlite3 cursor, without the thread."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor = connection._conn.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Parameters = ()) -> InlineCursor:
        if sql.startswith(_BEGIN):
            await self._connection._begin(self._cursor, sql, parameters)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def run(self, sql: str, parameters: Parameters) -> list[Any] | None:
        """Execute, and the rows when the statement returns any (None when it returns none)."""
        await self.execute(sql, parameters)
        return self._cursor.fetchall() if self._cursor.description else None

    async def executemany(self, sql: str, parameters: Iterable[Parameters]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _ImmediateQueue:
    """Stands in for aiosqlite's request queue, which SQLAlchemy uses to set the isolation level: the
    function runs at once and its future is resolved."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # handed to whoever awaits the future, as aiosqlite does
            future.set_exception(error)


class InlineConnection:
    """aiosqlite.Connection's interface, as far as SQLAlchemy uses it, running on the caller's thread."""

    def __init__(self, connection: sqlite3.Connection, turns: WriteTurns) -> None:
        self._conn = connection
        self._turns = turns
        self._held: asyncio.Lock | None = None
        self._closed = False
        self._tx = _ImmediateQueue(connection)

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return None if self._closed else self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def commit(self) -> None:
        self.commit_now()

    async def rollback(self) -> None:
        self.rollback_now()

    def commit_now(self) -> None:
        try:
            self._conn.commit()
        finally:
            self._release()

    def rollback_now(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self._release()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if not self._closed:
            self._closed = True
            self._release()
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def _begin(self, cursor: sqlite3.Cursor, sql: str, parameters: Parameters) -> None:
        deadline = time.monotonic() + self._turns.timeout
        lock = self._turns.lock()
        try:
            async with asyncio.timeout(self._turns.timeout):
                await lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError(
                "database is locked (waited for this process's other transaction)"
            ) from None
        self._held = lock
        try:
            await _begin_despite_other_processes(cursor, sql, parameters, deadline)
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.release()


async def _begin_despite_other_processes(
    cursor: sqlite3.Cursor, sql: str, parameters: Parameters, deadline: float
) -> None:
    pause = 0.001
    while True:
        try:
            cursor.execute(sql, parameters)
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() + pause > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, _BUSY_RETRY_MAX)


class _SyncCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's adapted cursor over an `InlineCursor`. The generic adapter awaits the driver three
    times a statement (open, execute and fetch, close), each a pair of greenlet switches through
    SQLAlchemy's async bridge, and takes an asyncio lock around it, for calls that never wait here:
    opening and closing are called directly, and execute-and-fetch is one await."""

    __slots__ = ()
    _awaitable_cursor_close = False

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        # Still one await per statement: SQLAlchemy's AsyncConnection.execute insists on one.
        inline: InlineCursor = self._cursor  # type: ignore[assignment]
        try:
            rows = await_(inline.run(operation, () if parameters is None else parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        if rows is not None:
            self._rows = collections.deque(rows)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            await_(self._cursor.executemany(operation, seq_of_parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def close(self) -> None:
        self._rows.clear()
        self._cursor._cursor.close()  # type: ignore[attr-defined]


class _SyncConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's adapted connection over an `InlineConnection`: commit, rollback and the rest called
    directly rather than awaited through the bridge (see `_SyncCursor`)."""

    __slots__ = ()
    _cursor_cls = _SyncCursor

    @property
    def isolation_level(self) -> str | None:
        return self._inline.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._inline._conn.isolation_level = value

    @property
    def _inline(self) -> InlineConnection:
        return self._connection  # type: ignore[return-value]

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._inline._conn.create_function(*args, **kwargs)

    def commit(self) -> None:
        if self._inline._connection is not None:
            try:
                self._inline.commit_now()
            except Exception as error:
                self._handle_exception(error)

    def rollback(self) -> None:
        if self._inline._connection is not None:
            try:
                self._inline.rollback_now()
            except Exception as error:
                self._handle_exception(error)

    def close(self) -> None:
        self._inline.stop()


class InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite dialect's DB-API module (`create_async_engine(..., module=InlineDBAPI())`), making
    `_SyncConnection`s of the connections the `async_creator` (`inline_connector`) opens."""

    def __init__(self) -> None:
        import aiosqlite

        super().__init__(aiosqlite, sqlite3)

    def connect(self, *args: Any, **kwargs: Any) -> _SyncConnection:
        creator = kwargs.pop("async_creator_fn")
        return _SyncConnection(self, await_(creator(*args, **kwargs)))


def inline_connector(
    url: URL,
    connect_args: Callable[[URL], tuple[Sequence[Any], dict[str, Any]]],
    *,
    lock_timeout: float = WRITE_LOCK_TIMEOUT,
) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine: connections to the URL's database, run inline.
    `connect_args` is the dialect's (URL → sqlite3.connect arguments)."""
    args, kwargs = connect_args(url)
    # The dialect's own transaction handling is off (storage.db emits BEGIN IMMEDIATE), and a busy
    # handler must never sleep on the event loop: see the module docstring.
    kwargs = {**kwargs, "isolation_level": None, "timeout": 0, "check_same_thread": False}
    turns = WriteTurns(lock_timeout)

    async def connect() -> InlineConnection:
        return InlineConnection(sqlite3.connect(*args, **kwargs), turns)

    return connect


def inline_sqlite3(dbapi_connection: Any) -> sqlite3.Connection | None:
    """The sqlite3 connection under one of this module's adapted connections (a pooled connection's
    `dbapi_connection`), for statements run on the driver directly (`storage.prepared`); None for a
    connection of any other driver."""
    if isinstance(dbapi_connection, _SyncConnection):
        return dbapi_connection._inline._conn
    return None
