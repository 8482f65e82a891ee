"""Prepared statements: on SQLite run on the driver, elsewhere through SQLAlchemy, and either way the same
rows written and read (types processed as SQLAlchemy processes them), in the session's transaction, with
SQLAlchemy's errors; what they cannot run faithfully is refused when first compiled."""

from __future__ import annotations

import sqlite3
import weakref
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import OutboxEntry, ProcessedMessage
from storage.prepared import Prepared, connection_of, prepared
from storage.sqlite_inline import inline_sqlite3

NOW = datetime(2026, 11, 29, 11, 0, 0, 123456, tzinfo=UTC)
OUTBOX = OutboxEntry.__table__
PROCESSED = ProcessedMessage.__table__
KEYS = ("platform", "target_kind", "target_id", "text", "mentions", "reply_to", "origin")
KEYS += ("status", "attempts", "created_at", "next_attempt_at")


def outbox_row(text: str, **changes: Any) -> dict[str, Any]:
    row = {
        "platform": "onebot",
        "target_kind": "group",
        "target_id": "731000001",
        "text": text,
        "mentions": [{"user_id": "10301", "name": "李芳"}],
        "reply_to": "1000001",
        "origin": None,
        "status": "pending",
        "attempts": 0,
        "created_at": NOW,
        "next_attempt_at": NOW + timedelta(seconds=2),
    }
    return row | changes


def columns(entry: OutboxEntry) -> dict[str, Any]:
    return {key: getattr(entry, key) for key in (*KEYS, "sent_at", "sent_message_id", "last_error")}


async def test_a_prepared_insert_writes_what_sqlalchemy_writes(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    insert = Prepared(OUTBOX.insert().returning(OUTBOX.c.id), KEYS)
    async with session_factory() as session, session.begin():
        connection = await session.connection()
        [(ours,)] = await insert.rows(connection, outbox_row("收到,已登记"))
        theirs = (await connection.execute(insert.statement, outbox_row("收到,已登记"))).scalar_one()
        [(again,)] = await insert.rows(connection, outbox_row("第二条", origin="requests.followup"))
    async with session_factory() as session:
        rows = {entry.id: entry for entry in await session.scalars(select(OutboxEntry))}
    assert ours < theirs < again
    assert columns(rows[ours]) == columns(rows[theirs])
    assert rows[ours].created_at == NOW and rows[ours].created_at.tzinfo is not None
    assert rows[ours].mentions == [{"user_id": "10301", "name": "李芳"}]
    assert (rows[again].text, rows[again].origin) == ("第二条", "requests.followup")


async def test_a_prepared_select_reads_what_sqlalchemy_reads(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    insert = Prepared(OUTBOX.insert(), KEYS)
    async with session_factory() as session, session.begin():
        connection = await session.connection()
        for index in range(3):
            await insert.rows(connection, outbox_row(f"第{index}条", attempts=index))
    statement = (
        select(OUTBOX.c.id, OUTBOX.c.text, OUTBOX.c.mentions, OUTBOX.c.created_at, OUTBOX.c.sent_at)
        .where(OUTBOX.c.attempts >= bindparam("least"), OUTBOX.c.status == "pending")
        .order_by(OUTBOX.c.id.desc())
    )
    query = Prepared(statement, ("least",))
    async with session_factory() as session, session.begin():
        connection = await session.connection()
        ours = await query.rows(connection, {"least": 1})
        theirs = [tuple(row) for row in await connection.execute(statement, {"least": 1})]
    assert ours == theirs
    assert [row[1] for row in ours] == ["第2条", "第1条"]
    assert ours[0][2] == [{"user_id": "10301", "name": "李芳"}]
    assert ours[0][3] == NOW and ours[0][4] is None


async def test_it_runs_in_the_sessions_transaction(session_factory: async_sessionmaker[AsyncSession]) -> None:
    insert = Prepared(OUTBOX.insert(), KEYS)
    async with session_factory() as session:
        async with session.begin():
            await insert.rows(await session.connection(), outbox_row("rolled back"))
            await session.rollback()
        async with session.begin():
            await insert.rows(await session.connection(), outbox_row("committed"))
    async with session_factory() as session:
        assert list(await session.scalars(select(OutboxEntry.text))) == ["committed"]


async def test_a_driver_error_is_sqlalchemys_and_the_transaction_rolls_back(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    statement = ProcessedMessage.__table__.insert()
    mark = prepared(statement, ("platform", "message_id", "received_at"))
    row = {"platform": "onebot", "message_id": "1", "received_at": NOW}
    async with session_factory() as session, session.begin():
        await mark.rows(await session.connection(), row)
    with pytest.raises(IntegrityError):
        async with session_factory() as session, session.begin():
            await mark.rows(await session.connection(), row | {"message_id": "2"})
            await mark.rows(await session.connection(), row)  # the same id again
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedMessage)) == 1
    assert prepared(statement, ("platform", "message_id", "received_at")) is mark  # one per statement


async def test_the_keys_are_exactly_the_parameters(session_factory: async_sessionmaker[AsyncSession]) -> None:
    insert = Prepared(OUTBOX.insert(), KEYS)
    async with session_factory() as session, session.begin():
        connection = await session.connection()
        with pytest.raises(ValueError, match="takes exactly"):
            await insert.rows(connection, outbox_row("x") | {"last_error": "an extra column"})
        with pytest.raises(ValueError, match="takes exactly"):
            await insert.rows(
                connection, {key: value for key, value in outbox_row("x").items() if key != "origin"}
            )


@pytest.mark.parametrize(
    ("statement", "keys", "refusal"),
    [
        # status and attempts have Python-side defaults, which only SQLAlchemy's execution applies
        (OUTBOX.insert(), tuple(key for key in KEYS if key not in ("status", "attempts")), "defaults"),
        (select(OUTBOX.c.id).where(OUTBOX.c.status.in_(["pending", "sent"])), (), "expanding IN"),
        (select(OUTBOX.c.id).where(OUTBOX.c.id == bindparam("wanted")), (), "not among the keys"),
        (select(OUTBOX.c.id), ("wanted",), "not parameters"),
    ],
)
async def test_what_it_cannot_run_faithfully_is_refused_on_sqlite(
    tmp_path: Any, statement: Any, keys: tuple[str, ...], refusal: str
) -> None:
    from storage.db import make_engine, migrate

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'refusals.db'}")
    try:
        await migrate(engine)
        async with engine.begin() as connection:
            with pytest.raises(ValueError, match=refusal):
                await Prepared(statement, keys).rows(connection, dict.fromkeys(keys))
    finally:
        await engine.dispose()


async def test_the_driver_connection_is_sqlite3_only_for_the_bots_sqlite(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        connection = await session.connection()
        raw = connection.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
        driver = inline_sqlite3(raw)
        if connection.dialect.name == "sqlite":
            assert isinstance(driver, sqlite3.Connection)
        else:
            assert driver is None


async def test_outside_a_transaction_sqlalchemy_begins_one(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    insert = Prepared(OUTBOX.insert(), KEYS)
    engine = session_factory.kw["bind"]
    async with engine.connect() as connection:
        assert not connection.in_transaction()
        await insert.rows(connection, outbox_row("never committed"))
        assert connection.in_transaction()
        await connection.rollback()
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxEntry)) == 0


async def test_a_moment_bound_again_is_written_as_sqlalchemy_writes_it(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The datetime processing is remembered for the last object bound (shared by the statements): the
    same object, a new one, an equal one in another time zone and a naive one (refused, and not
    remembered) are each written, or refused, as SQLAlchemy's own execute writes them."""
    insert = Prepared(OUTBOX.insert().returning(OUTBOX.c.id), KEYS)
    other = Prepared(PROCESSED.insert(), ("platform", "message_id", "received_at"))
    beijing = NOW.astimezone(timezone(timedelta(hours=8)))
    later = NOW + timedelta(microseconds=1)
    async with session_factory() as session, session.begin():
        connection = await session.connection()
        dialect = connection.dialect.name
        ids = []
        for moment in (NOW, NOW, later, beijing, NOW):
            [(ours,)] = await insert.rows(
                connection, outbox_row("x", created_at=moment, next_attempt_at=moment)
            )
            await other.rows(connection, {"platform": "p", "message_id": str(ours), "received_at": moment})
            theirs = (
                await connection.execute(insert.statement, outbox_row("x", created_at=moment))
            ).scalar_one()
            ids.append((ours, theirs, moment))
        with pytest.raises(Exception, match="naive"):
            await insert.rows(connection, outbox_row("x", created_at=NOW.replace(tzinfo=None)))
        [(after_naive,)] = await insert.rows(connection, outbox_row("x", created_at=NOW))
        raw = await connection.exec_driver_sql("SELECT id, created_at, next_attempt_at FROM outbox")
        stored = {row[0]: (row[1], row[2]) for row in raw}
        marks = dict(
            list(await connection.exec_driver_sql("SELECT message_id, received_at FROM processed_messages"))
        )
    for ours, theirs, moment in ids:
        assert stored[ours][0] == stored[theirs][0] == stored[ours][1] == marks[str(ours)]
        if dialect == "sqlite":  # a string in UTC, as SQLAlchemy's SQLite type formats it
            assert stored[ours][0] == moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
        else:  # a timestamp with time zone: the driver gives the moment back
            assert stored[ours][0] == moment
    assert stored[after_naive][0] == stored[ids[0][0]][0]


async def test_the_transactions_connection_is_one_object_until_it_ends(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """`connection_of` begins the transaction when none is, then hands out the same asyncio proxy of its
    connection each time (not a new one per call once the caller has dropped it), and a new transaction's
    connection once that one has ended."""
    async with session_factory() as session:
        async with session.begin():
            first = weakref.ref(await connection_of(session))  # the caller keeps no reference
            again = await connection_of(session)
            assert again is first() and again.in_transaction()
            assert again.sync_connection is (await session.connection()).sync_connection
        async with session.begin():
            later = await connection_of(session)
            assert later.sync_connection is not again.sync_connection and later.in_transaction()
