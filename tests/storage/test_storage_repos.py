"""storage.repos: the queries of the dispatcher, the outbox and the web chat, on the demo community."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import repos
from storage.models import Account, OutboxEntry, Person, ProcessedMessage
from storage.roles import Role, UnitKind

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("imported_demo")


# Directory ------------------------------------------------------------------------------------------


async def test_find_group_loads_the_unit_chain(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        group = await repos.find_group(session, "webchat", "b10")
        missing = await repos.find_group(session, "webchat", "nope")
    # The session is closed: everything read below was loaded eagerly.
    assert missing is None
    assert group is not None and group.name == "10号楼居民群"
    chain = []
    unit = group.unit
    while unit is not None:
        chain.append((unit.kind, unit.name))
        unit = unit.parent
    assert chain == [
        (UnitKind.BUILDING, "10号楼"),
        (UnitKind.MICRO_GRID, "第三网格1号微网格"),
        (UnitKind.GRID, "第三网格"),
        (UnitKind.COMMUNITY, "茜城花园社区"),
        (UnitKind.STREET, "航海西路街道"),
    ]


async def test_find_group_is_per_platform(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        qq = await repos.find_group(session, "onebot", "731000010")
        assert await repos.find_group(session, "onebot", "b10") is None
    assert qq is not None and qq.unit.name == "10号楼"


async def test_find_person_by_account(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        by_qq = await repos.find_person_by_account(session, "onebot", "10301")
        by_web = await repos.find_person_by_account(session, "webchat", "li-fang")
        assert await repos.find_person_by_account(session, "webchat", "10301") is None
    assert by_qq is not None and by_web is not None and by_qq.id == by_web.id
    assert by_qq.key == "li-fang" and by_qq.role is Role.MICRO_GRID_LEADER
    assert [(a.platform, a.external_id) for a in by_qq.accounts] == [
        ("webchat", "li-fang"),
        ("onebot", "10301"),
    ]
    assert by_qq.unit is not None and by_qq.unit.name == "第一网格1号微网格"
    assert by_qq.account_on("onebot") is not None and by_qq.account_on("wecom") is None


async def test_find_person_by_account_sees_this_transactions_changes(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # The prepared existence check runs before the ORM query: pending objects are flushed first, as for
    # the ORM query alone.
    async with session_factory() as session, session.begin():
        assert await repos.find_person_by_account(session, "webchat", "pending-1") is None
        person = Person(key=None, name="新邻居", role=Role.RESIDENT, source="chat", created_at=NOW)
        person.accounts = [Account(platform="webchat", external_id="pending-1", display_name="新邻居")]
        session.add(person)
        assert await repos.find_person_by_account(session, "webchat", "pending-1") is person
        await session.delete(person)
        assert await repos.find_person_by_account(session, "webchat", "pending-1") is None


async def test_register_chat_person(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        group = await repos.find_group(session, "webchat", "b7")
        assert group is not None
        person = await repos.register_chat_person(
            session, platform="webchat", external_id="guest-7", name="七号楼住户", unit=group.unit
        )
        again = await repos.register_chat_person(
            session, platform="webchat", external_id="guest-7", name="另一个名字", unit=None
        )
    assert again.id == person.id
    assert (person.source, person.key, person.role, person.name) == (
        "chat",
        None,
        Role.RESIDENT,
        "七号楼住户",
    )
    assert person.unit is not None and person.unit.name == "7号楼"
    assert [(a.platform, a.external_id, a.display_name) for a in person.accounts] == [
        ("webchat", "guest-7", "七号楼住户")
    ]
    # Readable after its session closed, as the person queries leave a person (the dispatcher caches it).
    assert person.created_at is not None and person.title is None and person.phone is None
    assert person.unit.parent is not None and person.accounts[0].id is not None
    async with session_factory() as session:
        found = await repos.find_person_by_account(session, "webchat", "guest-7")
    assert found is not None and found.id == person.id


async def test_register_chat_person_without_a_unit(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        person = await repos.register_chat_person(
            session, platform="onebot", external_id="99999", name="访客", unit=None, role=Role.VOLUNTEER
        )
    assert person.unit is None and person.role is Role.VOLUNTEER


async def test_register_chat_person_survives_losing_a_race(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # Another task registered the sender between the caller's lookup and this insert (or a directory
    # person has the account): the unique violation is absorbed and that person returned.
    async with session_factory() as session, session.begin():
        person = await repos.register_chat_person(
            session, platform="webchat", external_id="zhang-ayi", name="张阿姨", unit=None
        )
        assert person.key == "zhang-ayi"  # the existing directory person
        # The transaction is still usable after the unique violation.
        assert await session.scalar(select(func.count()).select_from(Person)) == 36


async def test_register_chat_person_in_a_savepoint_where_on_conflict_is_missing(
    session_factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A backend without INSERT … ON CONFLICT registers through the unit of work in a SAVEPOINT: the same
    # person, and losing the race still leaves the transaction usable.
    monkeypatch.setattr(repos, "insert_unless_present", lambda *args: None)
    async with session_factory() as session, session.begin():
        group = await repos.find_group(session, "webchat", "b7")
        assert group is not None
        person = await repos.register_chat_person(
            session, platform="webchat", external_id="guest-8", name="八号楼住户", unit=group.unit
        )
        taken = await repos.register_chat_person(
            session, platform="webchat", external_id="zhang-ayi", name="张阿姨", unit=None
        )
        assert await session.scalar(select(func.count()).select_from(Person)) == 37
    assert (person.source, person.key, person.name) == ("chat", None, "八号楼住户")
    assert [(a.platform, a.external_id) for a in person.accounts] == [("webchat", "guest-8")]
    assert taken.key == "zhang-ayi"


async def test_list_groups_in_natural_order(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        groups = await repos.list_groups(session, "webchat")
        qq_groups = await repos.list_groups(session, "onebot")
    names = [group.name for group in groups]
    assert names[:4] == ["社区工作群", "第一网格工作群", "1号楼居民群", "2号楼居民群"]
    assert names.index("2号楼居民群") < names.index("10号楼居民群")
    assert names.index("9号楼居民群") < names.index("10号楼居民群") < names.index("11号楼居民群")
    assert len(groups) == 26 and all(group.platform == "webchat" for group in groups)
    assert groups[-1].unit.name == "20号楼" and groups[-1].unit.parent is not None
    assert [group.external_id for group in qq_groups][:3] == ["731000100", "731000001", "731000002"]


async def test_list_persons_on_platform(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        await repos.register_chat_person(
            session, platform="webchat", external_id="guest-1", name="阿强", unit=None
        )
    async with session_factory() as session:
        rows = await repos.list_persons_on_platform(session, "webchat")
        qq_rows = await repos.list_persons_on_platform(session, "onebot")
    assert len(rows) == 37
    assert all(account.platform == "webchat" and account.person_id == person.id for person, account in rows)
    sources = [person.source for person, _ in rows]
    assert sources == ["directory"] * 36 + ["chat"]
    order = list(Role)
    ranks = [order.index(person.role) for person, _ in rows[:36]]
    assert ranks == sorted(ranks)
    assert rows[0][0].role is Role.RESIDENT
    # only persons with an account there
    assert {person.key for person, _ in qq_rows} >= {"wang-shuji", "li-fang"}
    assert "zhang-ayi" not in {person.key for person, _ in qq_rows}
    assert len(qq_rows) == 26


async def test_unit_chain(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        group = await repos.find_group(session, "webchat", "b16")
        assert group is not None
        chain = await repos.unit_chain(session, group.unit_id)
        assert await repos.unit_chain(session, 987654) == []
    assert [unit.name for unit in chain] == [
        "16号楼",
        "第四网格2号微网格",
        "第四网格",
        "茜城花园社区",
        "航海西路街道",
    ]
    assert [unit.kind for unit in chain] == list(reversed(UnitKind))


async def test_find_and_list_units(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        grid = await repos.find_unit(session, ["航海西路街道", "茜城花园社区", "第二网格"])
        assert await repos.find_unit(session, ["航海西路街道", "第二网格"]) is None
        buildings = await repos.list_units(session, UnitKind.BUILDING)
        assert await repos.has_units(session)
    assert grid is not None and grid.kind is UnitKind.GRID
    assert [unit.name for unit in buildings] == [f"{n}号楼" for n in range(1, 21)]


async def test_persons_serving_nearest_first(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        group = await repos.find_group(session, "webchat", "b1")
        assert group is not None
        chain = [unit.id for unit in await repos.unit_chain(session, group.unit_id)]
        leaders = await repos.persons_serving(session, chain, [Role.MICRO_GRID_LEADER, Role.GRID_LEADER])
        everyone = await repos.persons_serving(session, chain)
        property_staff = await repos.persons_serving(session, chain, {Role.PROPERTY})
        assert await repos.persons_serving(session, chain, []) == []
        assert await repos.persons_serving(session, [], None) == []
    assert [person.name for person in leaders] == ["李芳", "郑卫东"]
    assert everyone[0].name == "张阿姨"  # lives in 1号楼 itself
    assert [person.unit.name for person in everyone if person.unit] == sorted(
        (person.unit.name for person in everyone if person.unit),
        key=["1号楼", "第一网格1号微网格", "第一网格", "茜城花园社区"].index,
    )
    assert {person.name for person in property_staff} == {"王师傅", "物业值班"}
    assert property_staff[0].accounts  # loaded


async def test_persons_serving_units_and_parents_loaded(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Workers come with their unit's whole chain walkable, whether or not the session had the units."""
    async with session_factory() as session:
        building = await repos.find_unit(
            session, ["航海西路街道", "茜城花园社区", "第二网格", "第二网格1号微网格", "5号楼"]
        )
        assert building is not None
        building_id = building.id
    for warm in (False, True):
        async with session_factory() as session:
            ids = [building_id]
            if warm:  # the requests capability's way: the chain first
                ids = [unit.id for unit in await repos.unit_chain(session, building_id)]
            persons = await repos.persons_serving(session, [*ids, 987654])
            assert persons
            for person in persons:
                assert person.accounts is not None
                chain = []
                unit = person.unit
                while unit is not None:  # no lazy load: that would raise under asyncio
                    chain.append(unit.kind)
                    unit = unit.parent
                assert chain[-1] == UnitKind.STREET
                assert chain == list(reversed(UnitKind))[-len(chain) :]


# Inbound dedupe -------------------------------------------------------------------------------------


async def test_mark_processed_dedupes_without_poisoning_the_transaction(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        assert await repos.mark_processed(session, "webchat", "m-1", NOW) is True
        assert await repos.mark_processed(session, "webchat", "m-1", NOW) is False
        assert await repos.mark_processed(session, "onebot", "m-1", NOW) is True  # per platform
        # still usable: read and write after the duplicate
        assert await session.scalar(select(func.count()).select_from(ProcessedMessage)) == 2
        assert await repos.mark_processed(session, "webchat", "m-2", NOW) is True
    async with session_factory() as session, session.begin():
        assert await repos.mark_processed(session, "webchat", "m-1", NOW) is False
        assert await repos.prune_processed(session, NOW + timedelta(seconds=1)) == 3
        assert await repos.mark_processed(session, "webchat", "m-1", NOW) is True


async def test_mark_processed_many_returns_the_ids_seen_for_the_first_time(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        assert await repos.mark_processed(session, "onebot", "7", NOW) is True
    async with session_factory() as session, session.begin():
        batch = [("onebot", "7"), ("onebot", "8"), ("webchat", "7"), ("onebot", "8"), ("onebot", "9")]
        fresh = await repos.mark_processed_many(session, batch, NOW)
        assert fresh == {("onebot", "8"), ("webchat", "7"), ("onebot", "9")}
        assert await repos.mark_processed_many(session, [], NOW) == set()
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedMessage)) == 4


async def test_mark_processed_many_beyond_one_statement_counts_each_id_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # 80 ids, 50 distinct: more than one statement's worth (`_MARK_SLICE`), with ids repeated within a
    # statement and across statements, and one committed before.
    keys = [("onebot", str(n % 50)) for n in range(80)]
    async with session_factory() as session, session.begin():
        assert await repos.mark_processed(session, "onebot", "0", NOW) is True
    async with session_factory() as session, session.begin():
        fresh = await repos.mark_processed_many(session, keys, NOW)
        assert fresh == {("onebot", str(n)) for n in range(1, 50)}
        assert await repos.mark_processed_many(session, keys[:3], NOW) == set()  # in the same transaction
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedMessage)) == 50
        received = await session.scalar(select(ProcessedMessage.received_at).limit(1))
        assert received == NOW


# Outbox ---------------------------------------------------------------------------------------------


async def _enqueue(session: AsyncSession, text: str, **overrides: object) -> int:
    fields: dict[str, object] = {
        "platform": "webchat",
        "target_kind": "group",
        "target_id": "b1",
        "text": text,
        "mentions": [{"user_id": "li-fang", "name": "李芳"}],
        "reply_to": "m-1",
        "origin": "requests.followup:1",
    }
    fields.update(overrides)
    [entry_id] = await repos.insert_outbox(session, [fields], now=NOW)
    return entry_id


async def test_outbox_enqueue_and_due(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        first = await _enqueue(session, "第一条")
        second = await _enqueue(session, "第二条", target_kind="user", target_id="li-fang", reply_to=None)
    async with session_factory() as session:
        due = await repos.due_outbox(session, NOW)
        assert await repos.due_outbox(session, NOW - timedelta(seconds=1)) == []
        assert [entry.id for entry in await repos.due_outbox(session, NOW, limit=1)] == [first]
    assert [entry.id for entry in due] == [first, second]
    entry = due[0]
    assert (entry.status, entry.attempts, entry.text, entry.origin) == (
        "pending",
        0,
        "第一条",
        "requests.followup:1",
    )
    assert entry.mentions == [{"user_id": "li-fang", "name": "李芳"}]
    assert entry.created_at == NOW and entry.created_at.tzinfo is not None
    assert due[1].target_kind == "user" and due[1].reply_to is None


async def test_outbox_sent_and_found_by_its_message(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        entry_id = await _enqueue(session, "请确认是否已修好")
    later = NOW + timedelta(seconds=2)
    async with session_factory() as session, session.begin():
        await repos.mark_outbox_sent_many(session, [repos.Sent(entry_id, "bot-42")], now=later)
    async with session_factory() as session:
        assert await repos.due_outbox(session, later) == []
        found = await repos.find_outbox_by_sent_message(session, "webchat", "bot-42")
        assert await repos.find_outbox_by_sent_message(session, "onebot", "bot-42") is None
        assert await repos.find_outbox_by_sent_message(session, "webchat", "bot-43") is None
    assert found is not None and found.id == entry_id
    assert (found.status, found.sent_at, found.attempts, found.origin) == (
        "sent",
        later,
        1,
        "requests.followup:1",
    )


async def test_outbox_batch_marked_sent_together(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        first = await _enqueue(session, "第一条")
        second = await _enqueue(session, "第二条")
        untouched = await _enqueue(session, "第三条")
        await repos.mark_outbox_failed(session, second, error="timeout", retry_at=NOW)
    later = NOW + timedelta(seconds=2)
    sent = [repos.Sent(first, "bot-1"), repos.Sent(second, None), repos.Sent(424242, "bot-x")]
    async with session_factory() as session, session.begin():
        await repos.mark_outbox_sent_many(session, sent, now=later)  # an unknown id is ignored
        await repos.mark_outbox_sent_many(session, [], now=later)
    async with session_factory() as session:
        assert [entry.id for entry in await repos.due_outbox(session, later)] == [untouched]
        found = await repos.find_outbox_by_sent_message(session, "webchat", "bot-1")
        entries = {entry.id: entry for entry in await session.scalars(select(OutboxEntry))}
    assert found is not None and found.id == first
    assert [(e.status, e.attempts, e.sent_at) for e in (entries[first], entries[second])] == [
        ("sent", 1, later),
        ("sent", 2, later),  # the failed attempt counts too
    ]
    assert entries[second].sent_message_id is None and entries[untouched].status == "pending"


async def test_outbox_failures_retry_then_die(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        entry_id = await _enqueue(session, "通知")
    retry_at = NOW + timedelta(seconds=30)
    async with session_factory() as session, session.begin():
        await repos.mark_outbox_failed(session, entry_id, error="timeout", retry_at=retry_at)
    async with session_factory() as session:
        assert await repos.due_outbox(session, NOW + timedelta(seconds=29)) == []
        [entry] = await repos.due_outbox(session, retry_at)
    assert (entry.attempts, entry.last_error, entry.status, entry.next_attempt_at) == (
        1,
        "timeout",
        "pending",
        retry_at,
    )

    async with session_factory() as session, session.begin():
        await repos.mark_outbox_failed(session, entry_id, error="群不存在", retry_at=None)
    async with session_factory() as session:
        assert await repos.due_outbox(session, NOW + timedelta(days=1)) == []
        dead = await session.get(repos.OutboxEntry, entry_id)
    assert dead is not None and (dead.status, dead.attempts, dead.last_error) == ("dead", 2, "群不存在")


async def test_outbox_unknown_entry(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        with pytest.raises(LookupError):
            await repos.mark_outbox_failed(session, 424242, error="x", retry_at=None)


async def test_imported_demo_fixture_is_the_engine(imported_demo: AsyncEngine, engine: AsyncEngine) -> None:
    assert imported_demo is engine


async def test_a_retry_holds_back_later_entries_to_the_same_target(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        failed = await _enqueue(session, "5号楼第一条", target_id="b5")
        held = await _enqueue(session, "5号楼第二条", target_id="b5")
        other = await _enqueue(session, "6号楼", target_id="b6")
        private = await _enqueue(session, "私聊", target_kind="user", target_id="b5")
    retry_at = NOW + timedelta(minutes=1)
    async with session_factory() as session, session.begin():
        assert [entry.id for entry in await repos.due_outbox(session, NOW)] == [failed, held, other, private]
        await repos.mark_outbox_failed(session, failed, error="timeout", retry_at=retry_at)
    async with session_factory() as session:
        assert [entry.id for entry in await repos.due_outbox(session, NOW)] == [other, private]
        assert [entry.id for entry in await repos.due_outbox(session, retry_at)] == [
            failed,
            held,
            other,
            private,
        ]
    async with session_factory() as session, session.begin():
        await repos.mark_outbox_failed(session, failed, error="gone", retry_at=None)
    async with session_factory() as session:
        assert [entry.id for entry in await repos.due_outbox(session, NOW)] == [held, other, private]


async def test_loaded_chain_only_from_memory(session_factory: async_sessionmaker[AsyncSession]) -> None:
    """A unit loaded without its parents has no chain in memory (walking on would need a lazy load);
    loaded with them, its chain is the unit_chain."""
    async with session_factory() as session:
        grid = await repos.find_unit(session, ["航海西路街道", "茜城花园社区", "第二网格"])
        assert grid is not None
        assert repos.loaded_chain(grid) is None
    async with session_factory() as session:
        (grid,) = [unit for unit in await repos.list_units(session, UnitKind.GRID) if unit.name == "第二网格"]
        chain = repos.loaded_chain(grid)
        assert chain is not None
        assert chain == await repos.unit_chain(session, grid.id)
    assert [unit.name for unit in chain] == ["第二网格", "茜城花园社区", "航海西路街道"]
