"""storage.requests: the request tables and their queries, on the demo community (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import repos
from storage import requests as store
from storage.models import Person, Unit
from storage.requests import EventKind, Request, RequestStatus
from storage.roles import UnitKind

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Beijing

pytestmark = pytest.mark.usefixtures("imported_demo")


async def building(session: AsyncSession, name: str) -> Unit:
    unit = await session.scalar(select(Unit).where(Unit.kind == UnitKind.BUILDING, Unit.name == name))
    assert unit is not None
    return unit


async def person(session: AsyncSession, key: str) -> Person:
    found = await repos.find_person_by_key(session, key)
    assert found is not None
    return found


async def only_candidate(session: AsyncSession, building_id: int, category: str, since: datetime) -> Request:
    """The one merge candidate, as the request object intake makes of the one that matched."""
    [row] = await store.merge_candidates(session, building_id, category, since)
    return await store.candidate_request(session, row)


async def new_request(
    session: AsyncSession,
    *,
    building_name: str = "5号楼",
    category: str = "repair",
    reporter: str = "zhang-ayi",
    owner: str | None = "wang-shifu",
    created: datetime = NOW,
    status: RequestStatus = RequestStatus.NEW,
    **fields: object,
) -> Request:
    home = await building(session, building_name)
    request = Request(
        category=category,
        summary="楼道灯报修",
        status=status,
        urgent=False,
        building_id=home.id,
        text="2单元楼道灯坏了,电话138****5678",
        reporter_id=(await person(session, reporter)).id,
        platform="webchat",
        group_external_id="b5",
        message_id=f"m-{created.timestamp()}-{category}",
        owner_id=(await person(session, owner)).id if owner else None,
        owner_level="property" if owner == "wang-shifu" else None,
        created_at=created,
        updated_at=created,
        ack_due_at=created + timedelta(hours=24),
        resolve_due_at=created + timedelta(days=3),
        **fields,
    )
    session.add(request)
    await session.flush()
    return request


async def test_numbers_are_sequential_and_defaults_apply(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        first = await new_request(session)
        second = await new_request(session, category="noise")
    assert second.id == first.id + 1
    assert first.number == f"#{first.id}"
    async with session_factory() as session:
        loaded = await store.get_request(session, first.id)
    assert loaded is not None
    assert loaded.status is RequestStatus.NEW
    assert loaded.reporters_count == 1 and loaded.escalations == 0 and loaded.reopen_count == 0
    assert not loaded.unconfirmed and not loaded.found_on_patrol and not loaded.escalation_exhausted
    assert loaded.created_at == NOW and loaded.created_at.tzinfo is not None
    # Eagerly loaded: readable with the session closed.
    assert loaded.owner is not None and loaded.owner.name == "王师傅"
    assert [a.external_id for a in loaded.owner.accounts if a.platform == "webchat"] == ["wang-shifu"]
    assert loaded.building is not None and loaded.building.name == "5号楼"
    assert loaded.reporters() == [loaded.reporter]


async def test_co_reporters_and_the_timeline(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        request = await new_request(session)
        loaded = await store.get_request(session, request.id)
        assert loaded is not None
        li = await person(session, "li-shu")
        store.add_co_reporter(session, loaded, li, NOW + timedelta(minutes=5), message_id="m2", text="灯不亮")
        store.add_event(session, loaded, EventKind.CREATED, NOW, actor=loaded.reporter, new="王师傅")
        store.add_event(session, loaded, EventKind.PLUS_ONE, NOW + timedelta(minutes=5), actor=li, new="2")
        store.add_event(
            session, loaded, EventKind.ACKNOWLEDGED, NOW + timedelta(hours=1), old="new", new="acknowledged"
        )
        number = loaded.id
    async with session_factory() as session:
        again = await store.get_request(session, number)
        events = await store.timeline(session, number)
    assert again is not None and again.reporters_count == 2
    assert [p.name for p in again.reporters()] == ["张阿姨", "李叔"]
    assert [e.kind for e in events] == [EventKind.CREATED, EventKind.PLUS_ONE, EventKind.ACKNOWLEDGED]
    assert events[1].actor is not None and events[1].actor.name == "李叔"
    assert (events[2].old, events[2].new) == ("new", "acknowledged")
    assert again.updated_at == NOW + timedelta(hours=1)


async def test_a_person_reports_a_request_once(session_factory: async_sessionmaker[AsyncSession]) -> None:
    from sqlalchemy.exc import IntegrityError

    async with session_factory() as session, session.begin():
        request = await store.get_request(session, (await new_request(session)).id)
        assert request is not None
        li = await person(session, "li-shu")
        store.add_co_reporter(session, request, li, NOW, message_id="a", text="")
        await session.flush()
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                session.add(
                    store.RequestReporter(request_id=request.id, person_id=li.id, created_at=NOW, text="")
                )


async def test_open_by_owner_oldest_first_and_by_building(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        late = await new_request(session, created=NOW + timedelta(hours=2))
        early = await new_request(session, created=NOW, category="sanitation")
        done = await new_request(session, status=RequestStatus.CLOSED, category="noise")
        waiting = await new_request(session, status=RequestStatus.RESOLVED, category="ebike")
        elsewhere = await new_request(session, building_name="6号楼", owner="li-fang")
        owner_id = early.owner_id
        five = early.building_id
    async with session_factory() as session:
        mine = await store.open_by_owner(session, owner_id)
        in_five = await store.open_by_building(session, five)
        with_waiting = await store.open_by_building(session, five, include_resolved=True)
    assert [r.id for r in mine] == [early.id, late.id]
    assert {r.id for r in in_five} == {early.id, late.id}
    assert {r.id for r in with_waiting} == {early.id, late.id, waiting.id}
    assert done.id not in {r.id for r in with_waiting} and elsewhere.id not in {r.id for r in in_five}


async def test_overdue_per_stage(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        unacknowledged = await new_request(session)  # ack due NOW + 24h
        acknowledged = await new_request(session, status=RequestStatus.ACKNOWLEDGED, category="noise")
        resolved = await new_request(session, status=RequestStatus.RESOLVED, category="ebike")
    async with session_factory() as session:
        assert await store.overdue(session, NOW + timedelta(hours=23)) == []
        day = await store.overdue(session, NOW + timedelta(hours=24))
        later = await store.overdue(session, NOW + timedelta(days=3), with_people=False)
    assert [r.id for r in day] == [unacknowledged.id]
    assert [r.id for r in later] == [unacknowledged.id, acknowledged.id]
    assert resolved.id not in {r.id for r in later}
    assert day[0].is_overdue(NOW + timedelta(hours=24)) and not day[0].is_overdue(NOW)


async def test_a_withdrawn_request_is_left_alone(session_factory: async_sessionmaker[AsyncSession]) -> None:
    """撤销 closes a request with no 回访 answer: out of the sweep, of 回访 disputes and of satisfaction."""
    async with session_factory() as session, session.begin():
        withdrawn = await new_request(session, status=RequestStatus.CLOSED, closed_at=NOW, withdrawn_at=NOW)
        confirmed = await new_request(
            session, status=RequestStatus.CLOSED, closed_at=NOW, satisfied=True, category="noise"
        )
        zhang_id = withdrawn.reporter_id
    assert zhang_id is not None
    async with session_factory() as session:
        assert await store.overdue(session, NOW + timedelta(days=5)) == []
        closed = await store.recently_closed(
            session, zhang_id, platform="webchat", group_external_id="b5", since=NOW - timedelta(days=1)
        )
        rows = await store.requests_between(session, since=NOW - timedelta(days=1))
    assert [r.id for r in closed] == [confirmed.id]
    assert [r.withdrawn for r in rows] == [True, False]
    satisfaction = store.satisfaction(rows)
    assert (satisfaction.answered, satisfaction.satisfied, satisfaction.unconfirmed) == (1, 1, 0)
    assert store.summarise(rows, NOW).closed == 2


async def test_withdrawing_records_when(session_factory: async_sessionmaker[AsyncSession]) -> None:
    later = NOW + timedelta(minutes=2)
    async with session_factory() as session, session.begin():
        request = await new_request(session, reminded_at=NOW)
        zhang = await person(session, "zhang-ayi")
        event = store.withdraw(session, request, later, actor=zhang, note="搞错了")
        number = request.id
    assert (event.kind, event.old, event.new) == (EventKind.WITHDRAWN, "new", "closed")
    async with session_factory() as session:
        loaded = await store.get_request(session, number)
        events = await store.timeline(session, number)
    assert loaded is not None and loaded.withdrawn
    assert loaded.status is RequestStatus.CLOSED
    assert loaded.closed_at == loaded.withdrawn_at == later and loaded.withdrawn_at.tzinfo is not None
    assert loaded.reminded_at is None and loaded.updated_at == later
    assert [(e.kind, e.actor_id, e.note) for e in events] == [(EventKind.WITHDRAWN, zhang.id, "搞错了")]


async def test_only_withdrawing_makes_a_request_withdrawn(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A request closed some other way that sets neither `satisfied` nor `unconfirmed` (a way of closing
    added later, say) is not withdrawn: that was once how a withdrawn request was recognised."""
    async with session_factory() as session, session.begin():
        closed = await new_request(session, status=RequestStatus.CLOSED, closed_at=NOW)
        number = closed.id
    async with session_factory() as session:
        loaded = await store.get_request(session, number)
        rows = await store.requests_between(session, since=NOW - timedelta(days=1))
    assert loaded is not None and loaded.satisfied is None and not loaded.unconfirmed
    assert loaded.withdrawn_at is None and not loaded.withdrawn
    assert store.satisfaction(rows).answered == 1  # counted, not left out as if withdrawn


async def test_overdue_in_some_buildings(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        five = await new_request(session)
        six = await new_request(session, building_name="6号楼", owner="li-fang")
    async with session_factory() as session:
        later = NOW + timedelta(days=3)
        in_five = await store.overdue(session, later, with_people=False, building_ids=[five.building_id])
        in_none = await store.overdue(session, later, building_ids=[])
    assert [r.id for r in in_five] == [five.id] and six.id not in {r.id for r in in_five}
    assert in_none == []


async def test_merge_candidates_same_building_category_window(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        old = await new_request(session, created=NOW - timedelta(days=10))
        recent = await new_request(session, created=NOW - timedelta(days=1))
        newest = await new_request(session, created=NOW - timedelta(hours=1))
        await new_request(session, category="noise")
        await new_request(session, building_name="6号楼")
        waiting = await new_request(session, status=RequestStatus.RESOLVED, created=NOW - timedelta(hours=2))
        await new_request(session, status=RequestStatus.CLOSED)
        five = recent.building_id
    assert five is not None
    async with session_factory() as session:
        found = await store.merge_candidates(session, five, "repair", NOW - timedelta(days=7))
        with_waiting = await store.merge_candidates(
            session, five, "repair", NOW - timedelta(days=7), include_resolved=True
        )
    assert [r.id for r in found] == [newest.id, recent.id]
    assert [r.id for r in with_waiting] == [newest.id, waiting.id, recent.id]
    assert old.id not in {r.id for r in with_waiting}


async def test_reported_by_and_awaiting_followup(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        own = await new_request(session, status=RequestStatus.RESOLVED, resolved_at=NOW)
        joined = await new_request(
            session, reporter="fu-ayi", status=RequestStatus.RESOLVED, resolved_at=NOW, category="noise"
        )
        loaded = await store.get_request(session, joined.id)
        assert loaded is not None
        zhang = await person(session, "zhang-ayi")
        store.add_co_reporter(session, loaded, zhang, NOW, message_id=None, text="")
        other = await new_request(session, reporter="fu-ayi")
        zhang_id, five = zhang.id, own.building_id
    async with session_factory() as session:
        raised = await store.reported_by(session, zhang_id)
        waiting = await store.awaiting_followup(session, zhang_id, platform="webchat", group_external_id="b5")
        elsewhere = await store.awaiting_followup(
            session, zhang_id, platform="webchat", group_external_id="b6"
        )
        in_building = await store.reported_in_building(session, zhang_id, five, {"noise"})
        any_category = await store.reported_in_building(session, zhang_id, five)
        both = await store.reported_in_building(session, zhang_id, five, {"noise", "repair"})
        assert await store.reported_in_building(session, zhang_id, five, set()) == []
        expired = await store.followups_expired(session, NOW + timedelta(days=3))
    assert {r.id for r in raised} == {own.id, joined.id}
    assert other.id not in {r.id for r in raised}
    assert [r.id for r in waiting] == [own.id, joined.id]
    assert elsewhere == []
    assert in_building == [(joined.id, RequestStatus.RESOLVED)]
    assert any_category == both == [(joined.id, RequestStatus.RESOLVED), (own.id, RequestStatus.RESOLVED)]
    assert {r.id for r in expired} == {own.id, joined.id}


async def test_unit_of_kind_in_a_unit_chain(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        five = await building(session, "5号楼")
        chain = await repos.unit_chain(session, five.id)
        community = repos.unit_of_kind(chain, UnitKind.COMMUNITY)
        grid = repos.unit_of_kind(chain, UnitKind.GRID)
        itself = repos.unit_of_kind(chain, UnitKind.BUILDING)
    assert community is not None and community.name == "茜城花园社区"
    assert grid is not None and grid.name == "第二网格"
    assert itself is not None and itself.id == five.id


async def test_times_satisfaction_and_figures_per_grid_and_leader(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    hour = timedelta(hours=1)
    async with session_factory() as session, session.begin():
        # 第二网格 (5号楼, 6号楼: micro-grid of 刘秀英), 第一网格 (1号楼: 李芳).
        await new_request(
            session,
            status=RequestStatus.CLOSED,
            acknowledged_at=NOW + hour,
            resolved_at=NOW + 5 * hour,
            satisfied=True,
            rating=5,
        )
        await new_request(
            session,
            building_name="6号楼",
            status=RequestStatus.CLOSED,
            acknowledged_at=NOW + 3 * hour,
            resolved_at=NOW + 9 * hour,
            satisfied=True,
            reopen_count=1,
        )
        await new_request(
            session,
            building_name="6号楼",
            status=RequestStatus.CLOSED,
            unconfirmed=True,
            acknowledged_at=NOW + 2 * hour,
            resolved_at=NOW + 2 * hour,
        )
        await new_request(session, building_name="1号楼", escalations=1)  # open, overdue a day later
        await new_request(session, building_name="1号楼", created=NOW - timedelta(days=40))
    now = NOW + timedelta(days=2)
    async with session_factory() as session:
        rows = await store.requests_between(session, since=NOW - timedelta(days=1))
        per_grid = await store.stats_per_unit(session, UnitKind.GRID, now, since=NOW - timedelta(days=1))
        per_leader = await store.stats_per_micro_grid_leader(session, now, since=NOW - timedelta(days=1))
    assert len(rows) == 4
    assert sorted(store.response_times(rows)) == [hour, 2 * hour, 3 * hour]
    assert sorted(store.resolution_times(rows)) == [2 * hour, 5 * hour, 9 * hour]
    satisfaction = store.satisfaction(rows)
    assert (satisfaction.answered, satisfaction.satisfied, satisfaction.unconfirmed) == (2, 2, 1)
    assert satisfaction.strikes == 1 and satisfaction.ratings == (5,)
    assert satisfaction.rate == 1.0 and satisfaction.average_rating == 5.0

    by_name = {unit.name: stats for unit, stats in per_grid.items()}
    assert set(by_name) == {"第一网格", "第二网格", "第三网格", "第四网格", "第五网格"}
    second, first = by_name["第二网格"], by_name["第一网格"]
    assert (second.total, second.closed, second.open) == (3, 3, 0)
    assert second.median_response == 2 * hour and second.median_resolution == 5 * hour
    assert (first.total, first.open, first.overdue, first.escalated) == (1, 1, 1, 1)
    assert by_name["第三网格"].total == 0 and by_name["第三网格"].median_response is None

    leaders = {leader.name: stats for leader, stats in per_leader.items()}
    assert leaders["刘秀英"].total == 3 and leaders["李芳"].total == 1 and leaders["杨淑珍"].total == 0


async def test_load_people_completes_a_merge_candidate(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    from sqlalchemy import inspect

    async with session_factory() as session, session.begin():
        created = await new_request(session)
        five = created.building_id
        assert five is not None
    async with session_factory() as session:
        light = await only_candidate(session, five, "repair", NOW - timedelta(days=7))
        assert "reporter" in inspect(light).unloaded  # comparing places and objects needs no people
        full = await store.load_people(session, light)
        assert full is light
        assert full.reporter is not None and full.reporter.accounts
        assert full.owner is not None and full.owner.name


async def test_many_co_reporters_join_without_being_loaded(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A +1 adds its row directly: the count goes on right and "already reported" is asked of the
    database, however many neighbours reported before, without loading them."""
    from sqlalchemy import inspect

    from storage.roles import Role

    async with session_factory() as session, session.begin():
        created = await new_request(session)
        five, number = created.building_id, created.id
        neighbours = [Person(name=f"邻居{i}", role=Role.RESIDENT, source="chat") for i in range(40)]
        session.add_all(neighbours)
        await session.flush()
        neighbour_ids = [p.id for p in neighbours]
    assert five is not None
    async with session_factory() as session, session.begin():
        light = await only_candidate(session, five, "repair", NOW - timedelta(days=7))
        for i, neighbour_id in enumerate(neighbour_ids):
            neighbour = await session.get(Person, neighbour_id)
            assert neighbour is not None
            assert not await store.is_reporter(session, light, neighbour_id)
            store.add_co_reporter(session, light, neighbour, NOW, message_id=f"m{i}", text="灯不亮")
            assert await store.is_reporter(session, light, neighbour_id)  # pending rows count too
            assert light.reporters_count == i + 2
        assert "co_reporters" in inspect(light).unloaded
        assert await store.is_reporter(session, light, light.reporter_id or 0)  # the first reporter
        assert not await store.is_reporter(session, light, (await person(session, "li-shu")).id)
    async with session_factory() as session:
        again = await store.get_request(session, number)
        assert again is not None
        assert again.reporters_count == 41 == len(again.reporters())
        # With the co-reporters loaded, the answer comes from memory, and a +1 still counts right.
        assert await store.is_reporter(session, again, neighbour_ids[-1])
        li = await person(session, "li-shu")
        store.add_co_reporter(session, again, li, NOW, message_id="m-li", text="")
        assert again.reporters_count == 42 and await store.is_reporter(session, again, li.id)


async def test_load_owner_loads_what_a_reply_names(session_factory: async_sessionmaker[AsyncSession]) -> None:
    from sqlalchemy import inspect

    async with session_factory() as session, session.begin():
        owned = await new_request(session)
        nobodys = await new_request(session, owner=None, category="noise")
        five = owned.building_id
        assert five is not None
    async with session_factory() as session:
        light = await only_candidate(session, five, "repair", NOW - timedelta(days=7))
        loaded = await store.load_owner(session, light)
        assert loaded is light
        assert loaded.owner is not None and loaded.owner.name == "王师傅" and loaded.owner.accounts
        assert loaded.building is not None and loaded.building.name == "5号楼"
        assert {"reporter", "co_reporters"} <= inspect(loaded).unloaded  # no reporters
        none = await only_candidate(session, five, "noise", NOW - timedelta(days=7))
        assert none.id == nobodys.id
        assert (await store.load_owner(session, none)).owner is None


async def test_a_candidate_becomes_the_request_as_a_query_would_load_it(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Made from its row without a query, the request holds what loading it holds, is the session's
    own copy when the session has one, and its changes are written like a loaded one's."""
    from sqlalchemy import inspect

    async with session_factory() as session, session.begin():
        created = await new_request(session, place_unit="2单元", objects=["楼道灯"])
        five, number = created.building_id, created.id
        assert five is not None
    since = NOW - timedelta(days=7)
    async with session_factory() as session:
        loaded = await store.get_request(session, number)
        assert loaded is not None
        expected = {attr.key: getattr(loaded, attr.key) for attr in inspect(Request).column_attrs}
    async with session_factory() as session, session.begin():
        made = await only_candidate(session, five, "repair", since)
        state = inspect(made)
        assert state.persistent and not state.modified
        assert {attr.key: getattr(made, attr.key) for attr in inspect(Request).column_attrs} == expected
        assert {"owner", "reporter", "building", "co_reporters"} <= state.unloaded
        assert (
            await store.candidate_request(
                session, (await store.merge_candidates(session, five, "repair", since))[0]
            )
            is made
        )
        made.status = RequestStatus.CLOSED
        # Pending changes are flushed before the candidates are read, as before an ORM query.
        assert not await store.merge_candidates(session, five, "repair", since, include_resolved=True)
    async with session_factory() as session:
        again = await store.get_request(session, number)
        assert again is not None and again.status == RequestStatus.CLOSED


async def test_merge_candidates_leave_out_contradicting_places(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        anywhere = await new_request(session, created=NOW - timedelta(hours=4))
        unit_two = await new_request(session, created=NOW - timedelta(hours=3), place_unit="2单元")
        unit_three = await new_request(session, created=NOW - timedelta(hours=2), place_unit="3单元")
        floor = await new_request(
            session, created=NOW - timedelta(hours=1), place_unit="2单元", place_floor="12楼"
        )
        five = anywhere.building_id
        assert five is not None
    since = NOW - timedelta(days=1)
    async with session_factory() as session:
        every = await store.merge_candidates(session, five, "repair", since)
        unnamed = await store.merge_candidates(session, five, "repair", since, place=(None, None, None))
        two = await store.merge_candidates(session, five, "repair", since, place=("2单元", None, None))
        two_low = await store.merge_candidates(session, five, "repair", since, place=("2单元", "3楼", "301"))
    assert (
        [r.id for r in every]
        == [r.id for r in unnamed]
        == [floor.id, unit_three.id, unit_two.id, anywhere.id]
    )
    assert [r.id for r in two] == [floor.id, unit_two.id, anywhere.id]
    assert [r.id for r in two_low] == [unit_two.id, anywhere.id]


async def of_kind(session: AsyncSession, unit_id: int, kind: UnitKind) -> Unit | None:
    return repos.unit_of_kind(await repos.unit_chain(session, unit_id), kind)


async def test_unit_chain_from_a_loaded_chain_or_the_database(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        group = await repos.find_group(session, "webchat", "b5")  # the building with its parents
        assert group is not None
        from_memory = {kind: await of_kind(session, group.unit_id, kind) for kind in UnitKind}
        community = from_memory[UnitKind.COMMUNITY]
        assert community is not None
        # Above the community nothing is a grid: None, as the query says.
        assert await of_kind(session, community.id, UnitKind.GRID) is None
    async with session_factory() as session:
        from_database = {kind: await of_kind(session, group.unit_id, kind) for kind in UnitKind}
    assert {kind: unit and unit.name for kind, unit in from_memory.items()} == {
        kind: unit and unit.name for kind, unit in from_database.items()
    }
    assert community.name == "茜城花园社区"


async def test_insert_request_writes_it_and_its_first_event_as_a_flush_would(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        home = await building(session, "5号楼")
        reporter, owner = await person(session, "zhang-ayi"), await person(session, "wang-shifu")
        values = {
            "category": "repair",
            "summary": "楼道灯报修",
            "objects": ["楼道灯"],
            "building_id": home.id,
            "place_unit": "2单元",
            "text": "楼道灯坏了",
            "reporter_id": reporter.id,
            "owner_id": owner.id,
            "platform": "webchat",
            "group_external_id": "b5",
            "message_id": "m1",
            "created_at": NOW,
            "updated_at": NOW,
        }
        opened = await store.insert_request(session, values, actor=reporter, new="王师傅", note="楼道灯坏了")
        # Numbered, as the reply names it; no object of the session was made, nothing is pending.
        assert opened.number == f"#{opened.id}" and (opened.summary, opened.place_unit) == (
            "楼道灯报修",
            "2单元",
        )
        assert not session.new and not session.dirty
        assert not any(isinstance(held, Request) for held in session.identity_map.values())
        # Read in the same transaction as any other row: with the defaults a flush would have applied.
        request = await store.get_request(session, opened.id)
        assert request is not None
        assert request.status is RequestStatus.NEW and request.reporters_count == 1
        assert request.escalations == 0 and request.acknowledged_at is None and request.rating is None
        assert request.owner is owner and request.building is home and request.co_reporters == []
        request.status = RequestStatus.ACKNOWLEDGED  # changed later in the transaction: flushed as usual
        with pytest.raises(ValueError, match="not columns"):
            await store.insert_request(session, {**values, "owner": owner}, actor=None, new=None, note=None)
    async with session_factory() as session:
        loaded = await store.get_request(session, opened.id)
        events = await store.timeline(session, opened.id)
    assert loaded is not None and loaded.status is RequestStatus.ACKNOWLEDGED
    assert (loaded.objects, loaded.reporters_count, loaded.found_on_patrol) == (["楼道灯"], 1, False)
    assert loaded.owner is not None and loaded.owner.name == "王师傅"
    assert [(e.kind, e.at, e.new, e.note) for e in events] == [
        (EventKind.CREATED, NOW, "王师傅", "楼道灯坏了")
    ]
    assert events[0].actor is not None and events[0].actor.name == "张阿姨"


@pytest.mark.parametrize("shape", ["co_reporters_loaded", "object", "candidate_row"])
async def test_add_plus_one_counts_keeps_the_place_and_notes_it(
    session_factory: async_sessionmaker[AsyncSession], shape: str
) -> None:
    async with session_factory() as session, session.begin():
        number = (await new_request(session, place_unit="2单元")).id
    later = NOW + timedelta(minutes=5)
    async with session_factory() as session, session.begin():
        five = (await building(session, "5号楼")).id
        request: Request | store.MergeCandidate | None
        if shape == "co_reporters_loaded":
            request = await store.get_request(session, number)
        elif shape == "object":
            request = await only_candidate(session, five, "repair", NOW)
        else:  # as intake joins it: the row, no object of the session made
            [request] = await store.merge_candidates(session, five, "repair", NOW)
            assert store.held_request(session, number) is None
        assert request is not None
        li, zhang = await person(session, "li-shu"), await person(session, "zhang-ayi")
        joined = await store.add_plus_one(
            session, request, li, later, place=("3单元", "12楼", None), message_id="m2", text="灯不亮"
        )
        assert joined and request.reporters_count == 2 and await store.is_reporter(session, request, li.id)
        # Who raised it already (first, or as a +1) does not join again, and nothing is written.
        for again in (zhang, li):
            assert not await store.add_plus_one(session, request, again, later, message_id="m3", text="")
        assert request.reporters_count == 2
        assert (request.place_unit, request.place_floor, request.place_room) == ("2单元", "12楼", None)
        if isinstance(request, Request):
            assert request.updated_at == later
        else:
            assert store.held_request(session, number) is None
    async with session_factory() as session:
        loaded = await store.get_request(session, number)
        events = await store.timeline(session, number)
    assert loaded is not None and loaded.reporters_count == 2
    assert [p.name for p in loaded.reporters()] == ["张阿姨", "李叔"]
    assert loaded.co_reporters[0].message_id == "m2" and loaded.co_reporters[0].text == "灯不亮"
    assert (loaded.place_unit, loaded.place_floor, loaded.updated_at) == ("2单元", "12楼", later)
    assert [(e.kind, e.new, e.at) for e in events] == [(EventKind.PLUS_ONE, "2", later)]
    assert events[0].actor is not None and events[0].actor.name == "李叔"


async def test_add_plus_one_counts_on_the_database_not_on_a_stale_copy(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Another process's +1 committed after this request was read still counts: the database adds one."""
    async with session_factory() as session, session.begin():
        number = (await new_request(session)).id
    async with session_factory() as session, session.begin():
        five = await building(session, "5号楼")
        request = await only_candidate(session, five.id, "repair", NOW)
        assert request.reporters_count == 1
        # What a +1 from elsewhere leaves in the row, unseen by this session's copy.
        connection = await session.connection()
        await connection.execute(update(Request).where(Request.id == number).values(reporters_count=3))
        li = await person(session, "li-shu")
        assert await store.add_plus_one(session, request, li, NOW, message_id="m9", text="+1")
        assert request.reporters_count == 4
    async with session_factory() as session:
        loaded = await store.get_request(session, number)
        events = await store.timeline(session, number)
    assert loaded is not None and loaded.reporters_count == 4
    assert [e.new for e in events if e.kind == EventKind.PLUS_ONE] == ["4"]


async def test_load_owner_takes_its_own_copy_of_a_known_owner(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    from storage.memo import detached_copy

    async with session_factory() as session, session.begin():
        five = (await new_request(session)).building_id
        assert five is not None
        known = detached_copy([await repos.get_person(session, (await person(session, "wang-shifu")).id)])
    async with session_factory() as session:
        light = await only_candidate(session, five, "repair", NOW - timedelta(days=7))
        loaded = await store.load_owner(session, light, known=known)
        assert loaded.owner is not None and loaded.owner is not known[0] and loaded.owner in session
        assert loaded.owner.id == known[0].id and loaded.owner.accounts


@pytest.mark.parametrize("held", [False, True])
async def test_an_event_by_id_is_noted_as_add_event_notes_it(
    session_factory: async_sessionmaker[AsyncSession], held: bool
) -> None:
    async with session_factory() as session, session.begin():
        number = (await new_request(session)).id
    later = NOW + timedelta(hours=1)
    async with session_factory() as session, session.begin():
        zhang = await person(session, "zhang-ayi")
        request = await store.get_request(session, number) if held else None
        assert (store.held_request(session, number) is not None) == held
        await store.add_event_by_id(
            session, number, EventKind.RESIDENT_UPDATE, later, actor=zhang, note="已经修好了"
        )
        if request is not None:
            assert request.updated_at == later  # the session's object says so too
    async with session_factory() as session:
        loaded = await store.get_request(session, number)
        events = await store.timeline(session, number)
    assert loaded is not None and loaded.updated_at == later
    assert [(e.kind, e.at, e.note, e.actor_id) for e in events] == [
        (EventKind.RESIDENT_UPDATE, later, "已经修好了", zhang.id)
    ]
