"""Alembic environment for storage/migrations.

Two ways in:
- in-process, from `storage.db.migrate(engine)`: the caller's connection (already inside a
  transaction) arrives in `config.attributes["connection"]` and everything runs on it;
- from a shell, `python -m storage.migrations <command>` (or `alembic` with a config whose
  script_location is `storage:migrations`): the URL comes from LOUDONG_DATABASE_URL (or the config's
  `sqlalchemy.url`), and an engine made by storage.db is used for the run.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from storage.db import make_engine, normalize_url
from storage.models import load_all_models

URL_ENV = "LOUDONG_DATABASE_URL"

# Every table of every storage module, so that autogenerate sees them all.
target_metadata = load_all_models()


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    engine = make_engine(url)
    try:
        # One transaction for the whole upgrade: a failing revision leaves the schema as it was.
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


def cli_url() -> str:
    url = os.environ.get(URL_ENV) or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit(
            f"{URL_ENV} is not set: say which database to migrate, e.g. sqlite:///data/loudong.db"
        )
    return normalize_url(url)


def main() -> None:
    if context.is_offline_mode():
        # `upgrade head --sql`: print the DDL instead of running it.
        context.configure(url=cli_url(), target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
    else:
        asyncio.run(run_from_url(cli_url()))


main()
