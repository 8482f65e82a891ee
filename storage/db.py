"""Engines, sessions and migrations. SQLite (WAL) by default, PostgreSQL (asyncpg) by URL.

SQLite transactions: the sqlite3 driver's own transaction handling is switched off and SQLAlchemy
emits `BEGIN IMMEDIATE` itself. That makes SAVEPOINTs and DDL transactional (so a failed migration or
directory import leaves nothing behind), and it takes the write lock at BEGIN: a transaction that
reads and then writes can never fail with "database is locked" because another connection wrote in
between (SQLite cannot upgrade a stale read snapshot, and busy_timeout does not help there). The
price is that SQLite transactions run one at a time, waiting up to 5 s for each other: keep them short,
and never hold one session's transaction open while awaiting work that writes through another session.
The sqlite3 calls run on the event loop's own thread behind SQLAlchemy's aiosqlite dialect
(storage/sqlite_inline.py: a thread hop per call cost more than the SQL), so the waits are asyncio waits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from storage.memo import DIRECTORY_MEMO, DirectoryMemo
from storage.sqlite_inline import InlineDBAPI, inline_connector

SCRIPT_LOCATION = "storage:migrations"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",  # Heroku-style URLs
}


def normalize_url(url: str | URL) -> str:
    """The async-driver form of a database URL: sqlite:/// → sqlite+aiosqlite:///,
    postgresql:// or postgres:// → postgresql+asyncpg://. Other URLs are returned unchanged."""
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {text!r}")
    return f"{_DRIVERS.get(scheme.lower(), scheme)}://{rest}"


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database or another backend."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return Path(database)


def make_engine(url: str | URL, *, echo: bool = False, **engine_options: Any) -> AsyncEngine:
    """An async engine for the URL (normalised first). `engine_options` go to create_async_engine."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(parsed, echo=echo, **engine_options)
    options: dict[str, Any] = {
        # A bot process has a handful of concurrent tasks (dispatcher, outbox, scheduler, web).
        "pool_size": 5,
        "max_overflow": 10,
        # Connections die when the server restarts or a firewall drops idle ones; check before use.
        "pool_pre_ping": True,
        "pool_recycle": 1800,
    }
    options.update(engine_options)
    return create_async_engine(parsed, echo=echo, **options)


def _make_sqlite_engine(url: URL, *, echo: bool, **engine_options: Any) -> AsyncEngine:
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    connector = inline_connector(url, SQLiteDialect_aiosqlite().create_connect_args)
    engine = create_async_engine(
        url, echo=echo, async_creator=connector, module=InlineDBAPI(), **engine_options
    )
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
    # Stop the driver from issuing its own (deferred, DML-only) BEGIN; _on_sqlite_begin does it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers never block the writer and vice versa. Persistent, but cheap to repeat.
        cursor.execute("PRAGMA journal_mode=WAL")
        # Off by default in SQLite; the schema relies on ON DELETE CASCADE / SET NULL / RESTRICT.
        cursor.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL syncs at checkpoints rather than at every commit: a committed transaction
        # survives a crash of the bot, and the database is never corrupted; only a power loss or OS
        # crash can roll back the last commits. FULL would cost an fsync per message.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    # Straight to the driver's cursor: BEGIN needs none of what Connection.exec_driver_sql does for a
    # statement (contexts, events, result), and every transaction pays for it.
    cursor = connection.connection.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
    finally:
        cursor.close()


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit, where a lazy refresh would need IO.
    # Session.info is copied into each session shallowly: they all share the one memo.
    return async_sessionmaker(engine, expire_on_commit=False, info={DIRECTORY_MEMO: DirectoryMemo()})


def alembic_config() -> Config:
    """Alembic configuration built in code: no alembic.ini, works from any cwd and when installed."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the database to the newest revision, in one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_head)


def _upgrade_head(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision, or None for a database that was never migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current_revision)


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision the code knows of."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
