"""Shared database fixtures for every test package.

Backends: tests that use a database run once per backend, `[sqlite]` and `[postgresql]`.
- sqlite: a fresh file in the test's tmp_path (WAL, like production).
- postgresql: only when LOUDONG_TEST_DATABASE_URL is set (else skipped, with the reason); each test
  gets a database of its own, created on that server and dropped afterwards (PostgreSQL 13+).
  `.ci/postgres.sh` starts a throwaway server and prints the line to export.

Fixtures
- `database_url` (str): an empty database's URL (async-driver form). Depend on it to run on both.
- `engine` (AsyncEngine): on `database_url`, migrated to head with Alembic (never create_all);
  disposed after the test.
- `session_factory` (async_sessionmaker[AsyncSession]): expire_on_commit=False, on `engine`.
- `session` (AsyncSession): one session from `session_factory`, closed after the test.
- `demo_directory_path` (Path): bot/demo/community.yaml.
- `demo_directory` (DirectoryFile): that file, loaded and validated.
- `imported_demo` (AsyncEngine): `engine` with the demo directory imported and committed
  (1 street, 1 community, 5 grids, 10 micro-grids, 20 buildings with a webchat group b1…b20 each).

On SQLite every transaction takes the write lock when it begins (see storage/db.py), so do not hold a
session's transaction open — e.g. the `session` fixture after a query — while code under test writes
through another session: commit or close it first, or that code waits 5 s and fails "database is locked".
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import make_engine, make_session_factory, migrate, normalize_url
from storage.directory import DirectoryFile, import_directory, load_directory

TEST_DATABASE_URL_ENV = "LOUDONG_TEST_DATABASE_URL"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIRECTORY_PATH = REPO_ROOT / "bot" / "demo" / "community.yaml"


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'loudong.db'}"
        return
    server_url = os.environ.get(TEST_DATABASE_URL_ENV)
    if not server_url:
        pytest.skip(f"{TEST_DATABASE_URL_ENV} is not set (run .ci/postgres.sh for a throwaway server)")
    async with fresh_postgres_database(server_url) as url:
        yield url


@asynccontextmanager
async def fresh_postgres_database(server_url: str) -> AsyncIterator[str]:
    """A uniquely named database on the server, dropped afterwards even if connections linger."""
    name = f"loudong_test_{uuid.uuid4().hex[:12]}"
    admin_url = make_url(normalize_url(server_url))
    # CREATE/DROP DATABASE cannot run inside a transaction.
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_factory(engine)


@pytest.fixture
async def session(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture
def demo_directory_path() -> Path:
    return DEMO_DIRECTORY_PATH


@pytest.fixture
def demo_directory(demo_directory_path: Path) -> DirectoryFile:
    return load_directory(demo_directory_path)


@pytest.fixture
async def imported_demo(engine: AsyncEngine, demo_directory: DirectoryFile) -> AsyncEngine:
    async with make_session_factory(engine)() as session, session.begin():
        await import_directory(session, demo_directory)
    return engine
