"""storage.db: URLs, engines (SQLite pragmas), migrations, and the migrated schema matching the models."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import (
    current_revision,
    head_revision,
    make_engine,
    make_session_factory,
    migrate,
    normalize_url,
    sqlite_file,
)
from storage.models import load_all_models

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
