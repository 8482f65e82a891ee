"""storage.models and storage.roles: types, constraints and the vocabulary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Account, Group, OutboxEntry, Person, ProcessedMessage, Unit, load_all_models
from storage.roles import GRID_WORKERS, HIERARCHY, ROLE_LABELS, UNIT_KIND_LABELS, Role, UnitKind

BEIJING = timezone(timedelta(hours=8))


def test_every_role_and_kind_has_a_label() -> None:
    assert set(ROLE_LABELS) == set(Role)
    assert set(UNIT_KIND_LABELS) == set(UnitKind)
    assert Role.MICRO_GRID_LEADER.label == "微网格长"
    assert HIERARCHY[0] is UnitKind.STREET and HIERARCHY[-1] is UnitKind.BUILDING
    assert Role.RESIDENT not in GRID_WORKERS


def test_all_tables_are_registered() -> None:
    assert {"units", "groups", "persons", "accounts", "processed_messages", "outbox"} <= set(
        load_all_models().tables
    )


async def test_datetimes_come_back_aware_and_in_utc(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    moment = datetime(2026, 12, 1, 9, 30, tzinfo=BEIJING)
    async with session_factory() as session, session.begin():
        session.add(ProcessedMessage(platform="webchat", message_id="m", received_at=moment))
    async with session_factory() as session:
        stored = await session.scalar(select(ProcessedMessage.received_at))
    assert stored == moment and stored is not None
    assert stored.tzinfo == UTC and stored.hour == 1


async def test_naive_datetimes_are_refused(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        session.add(ProcessedMessage(platform="webchat", message_id="m", received_at=datetime(2026, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            await session.flush()


async def test_enums_round_trip_as_members(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        street = Unit(kind=UnitKind.STREET, name="街道")
        session.add_all([street, Person(key="k", name="某人", role="grid_member", unit=street)])
    async with session_factory() as session:
        person = await session.scalar(select(Person))
        kind = await session.scalar(select(Unit.kind))
        raw = (await session.execute(text("SELECT role FROM persons"))).scalar()
    assert person is not None and person.role is Role.GRID_MEMBER
    assert kind is UnitKind.STREET
    assert raw == "grid_member"  # stored as the plain value


async def test_unknown_enum_values_are_refused(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        session.add(Person(key="k", name="某人", role="mayor"))
        with pytest.raises(StatementError, match="mayor"):
            await session.flush()


async def test_a_directory_person_needs_a_key(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        session.add(Person(name="无名", role=Role.RESIDENT, source="directory"))
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_only_a_street_may_be_a_root(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        session.add(Unit(kind=UnitKind.BUILDING, name="孤楼"))
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_outbox_status_is_checked(session_factory: async_sessionmaker[AsyncSession]) -> None:
    now = datetime.now(UTC)
    async with session_factory() as session:
        session.add(
            OutboxEntry(
                platform="webchat", target_kind="group", target_id="b1", text="x", status="lost",
                created_at=now, next_attempt_at=now,
            )
        )  # fmt: skip
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_deleting_a_unit_takes_its_groups_and_unplaces_its_persons(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        street = Unit(kind=UnitKind.STREET, name="街道")
        community = Unit(kind=UnitKind.COMMUNITY, name="社区", parent=street)
        session.add_all([street, community])
        session.add(Group(platform="webchat", external_id="c", unit=community))
        session.add(
            Person(
                name="居民", role=Role.RESIDENT, source="chat", unit=community,
                accounts=[Account(platform="webchat", external_id="r")],
            )
        )  # fmt: skip
    async with session_factory() as session, session.begin():
        await session.execute(text("DELETE FROM units WHERE kind = 'community'"))
    async with session_factory() as session:
        assert (await session.scalars(select(Group))).all() == []
        person = await session.scalar(select(Person))
        assert person is not None and person.unit_id is None


async def test_a_parent_with_children_cannot_be_deleted(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        street = Unit(kind=UnitKind.STREET, name="街道")
        session.add_all([street, Unit(kind=UnitKind.COMMUNITY, name="社区", parent=street)])
    async with session_factory() as session:
        with pytest.raises(IntegrityError):
            await session.execute(text("DELETE FROM units WHERE kind = 'street'"))
