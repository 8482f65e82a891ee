"""The hot statements of a report, compiled once and run straight on the SQLite driver.

Through SQLAlchemy's async connection a one-row INSERT cost ~110-150 µs of CPU here against ~14 µs for the
same SQL on the sqlite3 cursor (docs/benchmarks.md, twelfth round): the execution context, the result
object, the greenlet hop, each built per statement. A report runs four or five such statements (its merge
candidates, the request or the +1, their event, the reply's outbox row), and they were about a third of
its CPU. A `Prepared` statement is still written as SQLAlchemy Core, and SQLAlchemy still compiles it, types
its parameters and results, and wraps driver errors; it only does the per-statement work once:

- on the bot's own SQLite connections (`storage.sqlite_inline`) the compiled SQL runs on the session's
  sqlite3 connection, inside the session's transaction, with each parameter and result column passed
  through its type's processors as SQLAlchemy would, and a driver error raised as SQLAlchemy's
  (`IntegrityError` stays `sqlalchemy.exc.IntegrityError`);
- on any other driver (PostgreSQL) it is an ordinary `AsyncConnection.execute`.

What it accepts is narrow on purpose: one set of named parameters per call, exactly the `keys` it was
made with (no column left to a Python-side default, no expanding IN); anything else is refused when the
statement is first compiled, so a test of the statement finds it."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from storage.models import UTCDateTime
from storage.sqlite_inline import inline_sqlite3

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled for the SQLite driver: its SQL, and where each positional value comes from."""

    sql: str
    # Per `?`, in order: the caller's key and the bind processor of its type (None: passed as it is), or
    # (None, the value, None) for a value the statement holds, processed already.
    binds: tuple[tuple[str | None, Any, Processor | None], ...]
    # (the result column's index, its type's result processor) for each column that has one.
    results: tuple[tuple[int, Processor], ...]


class Prepared:
    """A Core statement (an INSERT, UPDATE or SELECT, with or without RETURNING) run with named
    parameters, exactly `keys`, and returning its rows as tuples."""

    def __init__(self, statement: ClauseElement, keys: Sequence[str]) -> None:
        self.statement = statement
        self.keys = tuple(keys)
        self._compiled: dict[type[Dialect], _Compiled] = {}

    async def rows(self, connection: AsyncConnection, parameters: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement with one set of parameters; the rows it returns ([] for none)."""
        if len(parameters) != len(self.keys):
            raise ValueError(f"{self} takes exactly {self.keys}, given {tuple(parameters)}")
        sync = connection.sync_connection  # None only before the connection is started
        # Not in a transaction yet: SQLAlchemy's execute begins one (on SQLite, BEGIN IMMEDIATE and this
        # process's write turn), which the driver alone would not.
        in_transaction = sync is not None and sync.in_transaction()
        driver = inline_sqlite3(sync.connection.dbapi_connection) if in_transaction and sync else None
        if driver is None:
            result = await connection.execute(self.statement, dict(parameters))
            return [tuple(row) for row in result] if result.returns_rows else []
        compiled = self._for(connection.dialect)
        # Lists, not generators, here and below: a generator's resumption per value cost more than the
        # values' own work (docs/benchmarks.md, fourteenth round).
        values = tuple(
            [
                fixed if key is None else parameters[key] if process is None else process(parameters[key])
                for key, fixed, process in compiled.binds
            ]
        )
        cursor = driver.cursor()
        try:
            cursor.execute(compiled.sql, values)
            rows = cursor.fetchall()
        except sqlite3.Error as error:
            raise DBAPIError.instance(
                compiled.sql, values, error, sqlite3.Error, dialect=connection.dialect
            ) from error
        finally:
            cursor.close()
        if not compiled.results:
            return rows
        return [_processed(row, compiled.results) for row in rows]

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(type(dialect))
        if compiled is None:
            compiled = self._compiled[type(dialect)] = self._compile(dialect)
        return compiled

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiler = self.statement.compile(dialect=dialect, column_keys=list(self.keys))
        assert isinstance(compiler, SQLCompiler)
        if compiler.positiontup is None:
            raise ValueError(f"{self}: the dialect's parameters are not positional")
        if compiler.insert_prefetch or compiler.update_prefetch:
            missing = [column.key for column in (*compiler.insert_prefetch, *compiler.update_prefetch)]
            raise ValueError(f"{self}: columns {missing} would take Python-side defaults; pass them")
        unused = set(self.keys) - set(compiler.positiontup)
        if unused:
            raise ValueError(f"{self}: keys {sorted(unused)} are not parameters of the statement")
        binds: list[tuple[str | None, Any, Processor | None]] = []
        for name in compiler.positiontup:
            bind = compiler.binds[name]
            if bind.expanding:
                raise ValueError(f"{self}: {name} is an expanding IN; write it as equalities")
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None and isinstance(bind.type, UTCDateTime):
                process = _last_datetime(dialect, process)
            if name in self.keys:
                binds.append((name, None, process))
            elif bind.required:
                raise ValueError(f"{self}: parameter {name} has no value and is not among the keys")
            else:
                binds.append((None, bind.value if process is None else process(bind.value), None))
        columns = getattr(self.statement, "exported_columns", ())
        processors = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]
        results = tuple((index, process) for index, process in enumerate(processors) if process is not None)
        return _Compiled(sql=compiler.string, binds=tuple(binds), results=results)

    def __repr__(self) -> str:
        return f"Prepared({str(self.statement).splitlines()[0][:60]!r}…)"


async def connection_of(session: AsyncSession) -> AsyncConnection:
    """The connection of the session's transaction, for `Prepared.rows`: the one it holds already when it
    has one, read without `AsyncSession.connection`'s greenlet hop (which a report paid three or four
    times, ~8 % of its CPU: docs/benchmarks.md, fourteenth round); otherwise as that method acquires it
    (and begins the transaction)."""
    transaction = session.get_transaction()
    connection: AsyncConnection | None = None
    if transaction is not None and transaction.is_active:
        try:
            connection = transaction.bound_connection()
        except InvalidRequestError:  # none acquired yet in this transaction
            connection = None
    if connection is None:
        connection = await session.connection()
    # Held by the session: SQLAlchemy maps a sync connection to its asyncio proxy only weakly, so a proxy
    # its caller has dropped was built again (with two weak references and a registry entry) at the next
    # call: ~3.5 µs of CPU and garbage each time, three or four times a report (fifteenth round).
    session.info[_CONNECTION] = connection
    return connection


_CONNECTION = "loudong.prepared.connection"  # in a session's info: the proxy of its last connection


async def autoflush(session: AsyncSession) -> None:
    """Flush the session's pending changes, if it has any and flushes before its queries, as an ORM query
    would: a `Prepared` statement reading what this transaction may have changed sees the changes."""
    sync = session.sync_session
    if sync.autoflush and (sync.new or sync.dirty or sync.deleted):
        await session.flush()


class _LastValue:
    """A bind processor that remembers its last value and what it made of it.

    A report binds the same moment several times (the dedupe mark, the request's `created_at` and
    `updated_at`, its event, the reply's outbox row: one `now` per message or batch, and at window 50 the
    batch's dedupe mark binds it once per message), and `UTCDateTime` on SQLite costs ~1-4 µs each:
    `astimezone`, then the dialect's string formatting. The same object gives the same string (a datetime
    is immutable), so only a new object is processed; identity, not equality, keeps the check obviously
    exact and cheaper than the processing it saves."""

    __slots__ = ("_last", "_process")

    def __init__(self, process: Processor) -> None:
        self._process = process
        self._last: tuple[Any, Any] = (_NOTHING, None)  # one attribute, so value and result stay paired

    def __call__(self, value: Any) -> Any:
        last_value, last_result = self._last
        if value is last_value:
            return last_result
        result = self._process(value)  # raises for a naive datetime, as before: nothing is remembered
        self._last = (value, result)
        return result


_NOTHING = object()


_LAST_DATETIME: dict[type[Dialect], _LastValue] = {}


def _last_datetime(dialect: Dialect, process: Processor) -> _LastValue:
    """The one remembering processor of this dialect for every `UTCDateTime` parameter of every prepared
    statement (`process`: the type's own, made for the first): the type has no parameters, so what it
    makes of a value depends on the value and the dialect alone, and sharing the processor lets one
    statement's `now` serve the next's."""
    shared = _LAST_DATETIME.get(type(dialect))
    if shared is None:
        shared = _LAST_DATETIME[type(dialect)] = _LastValue(process)
    return shared


def _processed(row: tuple[Any, ...], processors: tuple[tuple[int, Processor], ...]) -> tuple[Any, ...]:
    """The row with each value that has a result processor passed through it (most columns have none)."""
    values = list(row)
    for index, process in processors:
        values[index] = process(values[index])
    return tuple(values)


@functools.cache
def prepared(statement: ClauseElement, keys: tuple[str, ...]) -> Prepared:
    """The one `Prepared` of a statement built once elsewhere (`repos.insert_unless_present`) for these
    keys, so that it is compiled once."""
    return Prepared(statement, keys)
