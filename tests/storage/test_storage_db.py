"""storage.db: URLs, engines (SQLite pragmas), migrations, and the migrated schema matching the models."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import (
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    make_session_factory,
    migrate,
    normalize_url,
    sqlite_file,
)
from storage.models import load_all_models
from storage.requests import EventKind, Request, RequestEvent, RequestStatus

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///data/loudong.db", "sqlite+aiosqlite:///data/loudong.db"),
        ("sqlite:////abs/loudong.db", "sqlite+aiosqlite:////abs/loudong.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p@db:5432/loudong", "postgresql+asyncpg://u:p@db:5432/loudong"),
        ("postgres://u@db/loudong", "postgresql+asyncpg://u@db/loudong"),
        ("postgresql+asyncpg://u@db/loudong", "postgresql+asyncpg://u@db/loudong"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:///data/loudong.db", Path("data/loudong.db")),
        ("sqlite+aiosqlite://", None),
        ("sqlite+aiosqlite:///:memory:", None),
        # Another backend's database name is no file (the runtime once read it as one).
        ("postgresql+asyncpg://u@db/loudong", None),
    ],
)
def test_sqlite_file(url: str, expected: Path | None) -> None:
    assert sqlite_file(make_url(url)) == expected


def test_normalize_url_refuses_non_urls() -> None:
    with pytest.raises(ValueError, match="not a database URL"):
        normalize_url("data/loudong.db")


async def test_sqlite_engine_creates_the_directory_and_sets_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/nested/dir/loudong.db")
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        await engine.dispose()
    assert (tmp_path / "nested" / "dir" / "loudong.db").is_file()
    # synchronous=NORMAL (1): no fsync per commit in WAL mode, still safe against a crash of the bot.
    # busy_timeout 0: SQLite never sleeps on the event loop; waits for the write lock are asyncio sleeps
    # (storage/sqlite_inline.py).
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 0, "synchronous": 1}


async def test_migrate_from_empty(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the migrations are found through the package, not the cwd
    engine = make_engine(database_url)
    try:
        assert await current_revision(engine) is None
        await migrate(engine)
        assert await current_revision(engine) == head_revision()
        await migrate(engine)  # a second run is a no-op
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
    assert {"units", "groups", "persons", "accounts", "processed_messages", "outbox"} <= tables


async def test_wal_mode_is_on(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("WAL is SQLite's")
    async with engine.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"


def _schema_diffs(connection: Connection) -> list[Any]:
    metadata = load_all_models()
    context = MigrationContext.configure(connection, opts={"compare_type": True, "target_metadata": metadata})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        diffs = await connection.run_sync(_schema_diffs)
    assert diffs == []


async def test_savepoints_roll_back_on_sqlite_too(engine: AsyncEngine) -> None:
    # The SQLite driver's own transaction handling would let a SAVEPOINT escape the transaction;
    # storage.db takes over BEGIN so that nested transactions really nest.
    factory = make_session_factory(engine)
    async with factory() as session:
        async with session.begin():
            await session.execute(text("INSERT INTO processed_messages VALUES ('p', 'kept', '2025-01-01')"))
            nested = await session.begin_nested()
            await session.execute(text("INSERT INTO processed_messages VALUES ('p', 'undone', '2025-01-01')"))
            await nested.rollback()
        rows = (await session.execute(text("SELECT message_id FROM processed_messages"))).scalars().all()
    assert rows == ["kept"]


async def test_foreign_keys_are_enforced(engine: AsyncEngine) -> None:
    factory = make_session_factory(engine)
    async with factory() as session, session.begin():
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await session.execute(
                    text(
                        "INSERT INTO groups (platform, external_id, name, unit_id) VALUES ('w', 'g', '', 999)"
                    )
                )


def _migrate_to(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


def _columns(connection: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns(table)}


WITHDRAWN_AT = datetime(2026, 12, 1, 1, 2, 30, 123456, tzinfo=UTC)


def _request_at_0004(number: int, **values: object) -> dict[str, object]:
    """A request row as revision 0004 has it: no `withdrawn_at` (the insert names only these columns
    and those with a default, which it has not)."""
    created = WITHDRAWN_AT - timedelta(hours=1)
    return {
        "id": number,
        "category": "repair",
        "summary": "楼道灯报修",
        "text": "楼道灯坏了",
        "platform": "webchat",
        "created_at": created,
        "updated_at": created,
        "closed_at": WITHDRAWN_AT,
        "status": RequestStatus.CLOSED,
        **values,
    }


def _event(number: int, kind: EventKind, at: datetime) -> dict[str, object]:
    return {"request_id": number, "kind": kind, "at": at}


async def test_0005_records_when_requests_were_withdrawn(database_url: str) -> None:
    """Upgrading a database at 0004 gives `withdrawn_at` to the closed requests with a `withdrawn` event
    (at that event's time) and to no other; downgrading drops the column and nothing else."""
    created = WITHDRAWN_AT - timedelta(hours=1)
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_migrate_to, "0004")
            await connection.execute(
                insert(Request.__table__),
                [_request_at_0004(1), _request_at_0004(2, satisfied=True, rating=5)],
            )
            await connection.execute(
                insert(RequestEvent.__table__),
                [
                    _event(1, EventKind.CREATED, created),
                    _event(1, EventKind.WITHDRAWN, WITHDRAWN_AT),
                    _event(2, EventKind.CREATED, created),
                    _event(2, EventKind.RESOLVED, created + timedelta(minutes=30)),
                    _event(2, EventKind.CLOSED, WITHDRAWN_AT),
                ],
            )
        async with engine.begin() as connection:
            await connection.run_sync(_migrate_to, "0005")
        assert await current_revision(engine) == "0005"
        async with make_session_factory(engine)() as session:
            withdrawn, closed = (await session.scalars(select(Request).order_by(Request.id))).all()
        assert withdrawn.withdrawn_at == WITHDRAWN_AT and withdrawn.withdrawn
        assert closed.withdrawn_at is None and not closed.withdrawn

        async with engine.begin() as connection:
            await connection.run_sync(_migrate_to, "0004", down=True)
        assert await current_revision(engine) == "0004"
        async with engine.connect() as connection:
            columns = await connection.run_sync(_columns, "requests")
            events = await connection.scalar(select(func.count()).select_from(RequestEvent.__table__))
            requests = await connection.scalar(select(func.count()).select_from(Request.__table__))
    finally:
        await engine.dispose()
    assert "withdrawn_at" not in columns and {"closed_at", "satisfied", "unconfirmed"} <= columns
    # The requests and their timelines survive the downgrade (a rebuilt table would cascade to them).
    assert (requests, events) == (2, 5)


async def run_migration_cli(*args: str, cwd: Path, environment: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "storage.migrations",
        *args,
        cwd=cwd,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, stderr.decode()


async def test_the_migration_cli_uses_loudong_database_url(database_url: str, tmp_path: Path) -> None:
    environment = {**os.environ, "LOUDONG_DATABASE_URL": database_url, "PYTHONPATH": str(REPO_ROOT)}
    returncode, stderr = await run_migration_cli("upgrade", "head", cwd=tmp_path, environment=environment)
    assert returncode == 0, stderr
    engine = make_engine(database_url)
    try:
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_the_migration_cli_says_when_the_url_is_missing(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "LOUDONG_DATABASE_URL"}
    environment["PYTHONPATH"] = str(REPO_ROOT)
    returncode, stderr = await run_migration_cli("upgrade", "head", cwd=tmp_path, environment=environment)
    assert returncode != 0
    assert "LOUDONG_DATABASE_URL" in stderr
