"""handlers.requests, request_policy and request_text: the pieces that need no conversation — the policy
and its overrides, parsing of numbers, durations and 回访 answers, emergency advice, the wording helpers,
the sweep's decision, and routing on the demo directory. Whole conversations are in
tests/conversations/test_requests_conversations.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from handlers import request_text as words
from handlers.clock import LOCAL_TZ
from handlers.request_policy import (
    DEFAULT_POLICY,
    REQUEST_INTENTS,
    RequestPolicy,
    parse_duration,
    validate_policy,
)
from handlers.requests import Responsible, _named_building, next_step, parse_number
from storage.directory import import_directory, load_directory
from storage.entries import UnitEntry
from storage.memo import in_session
from storage.models import Unit
from storage.requests import EventKind, Request, RequestEvent, RequestStatus
from storage.roles import Role, UnitKind

# Policy ----------------------------------------------------------------------------------------------


def test_defaults_follow_the_intent_table() -> None:
    assert set(DEFAULT_POLICY.intents) == set(REQUEST_INTENTS)
    assert DEFAULT_POLICY.rule("repair").owner[0] is Role.PROPERTY
    assert DEFAULT_POLICY.rule("repair").notify == (Role.MICRO_GRID_LEADER,)
    assert DEFAULT_POLICY.rule("safety_hazard").owner[0] is Role.GRID_LEADER
    assert Role.PROPERTY in DEFAULT_POLICY.rule("safety_hazard").notify
    assert Role.POLICE in DEFAULT_POLICY.rule("thrown_objects").notify
    complaint = DEFAULT_POLICY.rule("property_complaint")
    assert Role.PROPERTY not in complaint.owner + complaint.notify
    ack, resolve = DEFAULT_POLICY.limits("emergency", urgent=True)
    assert ack <= timedelta(minutes=30) and resolve <= timedelta(hours=4)
    ack, resolve = DEFAULT_POLICY.limits("corridor_clutter", urgent=False)
    assert (ack, resolve) == (timedelta(hours=24), timedelta(days=3))
    # An urgent repair gets the shorter urgent limits.
    assert DEFAULT_POLICY.limits("repair", urgent=True) == (timedelta(hours=1), timedelta(hours=24))
    assert DEFAULT_POLICY.merge_window_for("emergency") < DEFAULT_POLICY.merge_window_for("repair")


def test_overrides_merge_key_by_key() -> None:
    policy = RequestPolicy.from_overrides(
        {
            "intents": {"repair": {"resolve": "2d"}, "noise": {"owner": ["grid_member"], "ack": "90m"}},
            "working_hours": "09:00-17:30",
            "merge_window": "3天",
            "retag_threshold": 5,
            "followup_days": 7,
        }
    )
    assert policy.rule("repair").resolve == timedelta(days=2)
    assert policy.rule("repair").ack == timedelta(hours=24)  # kept from the defaults
    assert policy.rule("repair").owner == DEFAULT_POLICY.rule("repair").owner
    assert policy.rule("noise").owner == (Role.GRID_MEMBER,)
    labelled = RequestPolicy.from_overrides(
        {"intents": {"ebike": {"owner": ["物业", "微网格长"], "notify": "民警"}}}
    )
    assert labelled.rule("ebike").owner == (Role.PROPERTY, Role.MICRO_GRID_LEADER)
    assert labelled.rule("ebike").notify == (Role.POLICE,)
    assert policy.rule("noise").ack == timedelta(minutes=90)
    assert policy.merge_window == timedelta(days=3)
    assert (policy.retag_threshold, policy.followup_days) == (5, 7)
    monday_nine = datetime(2026, 12, 7, 9, 0, tzinfo=LOCAL_TZ)
    assert policy.working_hours.contains(monday_nine)
    assert not policy.working_hours.contains(monday_nine.replace(hour=8, minute=45))
    assert not DEFAULT_POLICY.working_hours.contains(monday_nine.replace(hour=18))
    assert DEFAULT_POLICY.working_hours.contains(monday_nine.replace(hour=8, minute=30))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"intents": {"property_complaint": {"owner": ["property"]}}}, "never goes to property"),
        ({"intents": {"property_complaint": {"notify": ["property"]}}}, "never goes to property"),
        ({"intents": {"repair": {"ack": "soon"}}}, "intents.repair.ack"),
        ({"intents": {"repair": {"ack": "0m"}}}, "longer than zero"),
        ({"intents": {"repair": {"owner": []}}}, "intents.repair.owner"),
        ({"intents": {"repair": {"owner": ["mayor"]}}}, "intents.repair.owner"),
        ({"intents": {"haircut": {"ack": "1h", "resolve": "1d", "owner": ["staff"]}}}, "haircut"),
        ({"retag_threshold": 1}, "retag_threshold"),
        ({"working_hours": "18:00-08:30"}, "start before"),
        ({"working_hours": "all day"}, "working_hours"),
        ({"colour": "red"}, "colour"),
        ({"service_escalates_to": "micro_grid"}, "service_escalates_to"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_key(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_policy(overrides)


def test_a_broken_stored_policy_falls_back_to_the_defaults(caplog: pytest.LogCaptureFixture) -> None:
    assert RequestPolicy.for_details({}) is DEFAULT_POLICY
    assert RequestPolicy.for_details({"households": 30}) is DEFAULT_POLICY
    assert RequestPolicy.for_details({"policy": {"retag_threshold": 0}}) is DEFAULT_POLICY
    assert "invalid" in caplog.text
    assert RequestPolicy.for_details({"policy": {"retag_threshold": 4}}).retag_threshold == 4


def test_a_stored_policy_is_validated_once_per_distinct_block(caplog: pytest.LogCaptureFixture) -> None:
    first = RequestPolicy.for_details(
        {"policy": {"retag_threshold": 5, "intents": {"repair": {"resolve": "2d"}}}}
    )
    same = RequestPolicy.for_details(
        {"policy": {"intents": {"repair": {"resolve": "2d"}}, "retag_threshold": 5}}
    )
    other = RequestPolicy.for_details({"policy": {"retag_threshold": 6}})
    assert same is first  # the same block, keys in another order: the policy already validated
    assert first.retag_threshold == 5 and first.rule("repair").resolve == timedelta(days=2)
    assert other is not first and other.retag_threshold == 6
    for _ in range(2):  # a broken one is never remembered: refused and logged every time
        caplog.clear()
        assert RequestPolicy.for_details({"policy": {"retag_threshold": 0}}) is DEFAULT_POLICY
        assert "invalid" in caplog.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("3d", timedelta(days=3)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2天", timedelta(days=2)),
        ("36小时", timedelta(hours=36)),
        ("10分钟", timedelta(minutes=10)),
        (600, timedelta(minutes=10)),
    ],
)
def test_durations(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "3x", "h", "3d later"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# Parsing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("#12", (12, "")),
        ("12", (12, "")),
        ("＃12 已更换灯泡", (12, "已更换灯泡")),
        ("#12已更换灯泡", (12, "已更换灯泡")),
        ("#1024 物业 灯具坏了", (1024, "物业 灯具坏了")),
        ("  #7  ", (7, "")),
    ],
)
def test_request_numbers(args: str, expected: tuple[int, str]) -> None:
    assert parse_number(args) == expected


@pytest.mark.parametrize("args", ["", "退休认证", "#", "第12号"])
def test_not_a_request_number(args: str) -> None:
    assert parse_number(args) is None


@pytest.mark.parametrize(
    ("text", "lenient", "satisfied", "rating"),
    [
        ("满意", False, True, None),
        ("非常满意!", False, True, None),
        ("不满意", False, False, None),
        ("5", False, True, 5),
        ("4分", False, True, 4),
        ("3", False, True, 3),
        ("2", False, False, 2),
        ("五星", False, True, 5),
        ("修好了,谢谢王师傅", True, True, None),
        ("还是不亮", True, False, None),
        ("灯还没修好呢", True, False, None),
    ],
)
def test_followup_answers(text: str, lenient: bool, satisfied: bool, rating: int | None) -> None:
    verdict = words.parse_verdict(text, lenient=lenient)
    assert verdict is not None
    assert (verdict.satisfied, verdict.rating) == (satisfied, rating)


@pytest.mark.parametrize("text", ["修好了,谢谢", "6", "12", "好的", "满意度调查什么时候做"])
def test_plain_messages_are_not_answers_unless_they_are_exact(text: str) -> None:
    assert words.parse_verdict(text, lenient=False) is None


def test_a_reply_that_is_no_answer() -> None:
    assert words.parse_verdict("什么时候来修?", lenient=True) is None


@pytest.mark.parametrize(
    ("text", "numbers", "police"),
    [
        ("着火了!6楼有人家里冒黑烟", ["119"], False),
        ("燃气泄漏了,好大的味道", ["119"], False),
        ("电梯困人了!", ["119"], False),
        ("有人晕倒了,快来人", ["120"], False),
        ("楼下有人打架,还拿着刀", ["110"], True),
        ("着火了,有人受伤了", ["119", "120"], False),
        ("快来人啊!", ["110", "119", "120"], True),
    ],
)
def test_emergency_numbers_follow_the_words(text: str, numbers: list[str], police: bool) -> None:
    advice, is_police = words.emergency_advice(text)
    for number in ("110", "119", "120"):
        assert (number in advice) == (number in numbers), (number, advice)
    assert is_police == police


def test_fire_advice() -> None:
    advice, _ = words.emergency_advice("着火了")
    assert "不要乘电梯" in advice and "湿毛巾" in advice


# Wording ---------------------------------------------------------------------------------------------


def test_summaries_and_places() -> None:
    assert words.summary_for("repair", ["楼道灯", "灯"]) == "楼道灯报修"
    assert words.summary_for("repair", []) == "设施报修"
    assert words.summary_for("noise", ["楼上"]) == "噪音扰民"
    assert words.place_text("5号楼", "2单元", None, None) == "5号楼2单元"
    assert words.place_text("5号楼", "2单元", "4楼", "402") == "5号楼2单元402室"
    assert words.place_text("7号楼", None, "3楼", None) == "7号楼3楼"


def test_a_withdrawn_request_in_words() -> None:
    at = datetime(2026, 12, 1, 1, 2, tzinfo=LOCAL_TZ)
    withdrawn = Request(status=RequestStatus.CLOSED, satisfied=None, unconfirmed=False, withdrawn_at=at)
    confirmed = Request(status=RequestStatus.CLOSED, satisfied=True, unconfirmed=False)
    expired = Request(status=RequestStatus.CLOSED, satisfied=None, unconfirmed=True)
    # Closed with neither flag, but not by 撤销: withdrawn is what `withdrawn_at` says, not a guess.
    unsaid = Request(status=RequestStatus.CLOSED, satisfied=None, unconfirmed=False)
    assert words.status_label(withdrawn) == "已撤销"
    assert words.status_label(confirmed) == words.status_label(expired) == "已结案"
    assert words.status_label(unsaid) == "已结案"
    assert words.status_label(Request(status=RequestStatus.NEW, unconfirmed=False)) == "待接单"
    event = RequestEvent(kind=EventKind.WITHDRAWN, old="new", new="closed", note="搞错了")
    assert words.event_text(event) == "撤销:搞错了"
    assert words.event_text(RequestEvent(kind=EventKind.WITHDRAWN)) == "撤销"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(minutes=10), "10 分钟"),
        (timedelta(hours=4), "4 小时"),
        (timedelta(hours=24), "24 小时"),
        (timedelta(hours=36), "36 小时"),
        (timedelta(days=3), "3 天"),
        (timedelta(days=2, hours=12), "2 天 12 小时"),
    ],
)
def test_durations_in_words(delta: timedelta, text: str) -> None:
    assert words.duration_text(delta) == text


# The sweep's decision --------------------------------------------------------------------------------

MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=LOCAL_TZ)


def overdue_request(**fields: object) -> Request:
    values: dict[str, object] = {
        "category": "corridor_clutter",
        "status": RequestStatus.NEW,
        "urgent": False,
        "owner_id": 1,
        "created_at": MONDAY - timedelta(days=1),
        "ack_due_at": MONDAY,
        "resolve_due_at": MONDAY + timedelta(days=2),
        "reminded_at": None,
        "escalation_exhausted": False,
    }
    values.update(fields)
    return Request(**values)


def test_remind_first_then_escalate_one_limit_later() -> None:
    request = overdue_request()
    assert next_step(request, DEFAULT_POLICY, MONDAY) == "remind"
    request.reminded_at = MONDAY
    assert next_step(request, DEFAULT_POLICY, MONDAY + timedelta(hours=23)) is None
    assert next_step(request, DEFAULT_POLICY, MONDAY + timedelta(hours=24)) == "escalate"


def test_non_urgent_waits_for_working_hours_urgent_does_not() -> None:
    night = MONDAY.replace(hour=2)
    assert next_step(overdue_request(ack_due_at=night), DEFAULT_POLICY, night) is None
    assert next_step(
        overdue_request(ack_due_at=night), DEFAULT_POLICY, MONDAY.replace(hour=8, minute=30)
    ) == ("remind")
    urgent = overdue_request(category="emergency", urgent=True, ack_due_at=night)
    assert next_step(urgent, DEFAULT_POLICY, night) == "remind"
    # Once someone has taken an emergency on, its limit to resolve is chased in working hours only.
    urgent.status = RequestStatus.ACKNOWLEDGED
    urgent.resolve_due_at = night
    assert next_step(urgent, DEFAULT_POLICY, night) is None


def test_the_resolve_stage_and_the_top_of_the_ladder() -> None:
    acknowledged = overdue_request(status=RequestStatus.ACKNOWLEDGED, resolve_due_at=MONDAY)
    assert next_step(acknowledged, DEFAULT_POLICY, MONDAY) == "remind"
    acknowledged.reminded_at = MONDAY
    assert next_step(acknowledged, DEFAULT_POLICY, MONDAY + timedelta(days=3)) == "escalate"
    top = overdue_request(reminded_at=MONDAY, escalation_exhausted=True)
    assert next_step(top, DEFAULT_POLICY, MONDAY + timedelta(hours=23)) is None
    assert next_step(top, DEFAULT_POLICY, MONDAY + timedelta(days=1)) == "remind"
    unowned = overdue_request(owner_id=None)
    assert next_step(unowned, DEFAULT_POLICY, MONDAY) == "escalate"
    unowned.escalation_exhausted = True
    assert next_step(unowned, DEFAULT_POLICY, MONDAY) is None


# Routing on the demo directory -------------------------------------------------------------------


async def building_id(session: AsyncSession, name: str) -> int:
    unit = await session.scalar(select(Unit).where(Unit.kind == UnitKind.BUILDING, Unit.name == name))
    assert unit is not None
    return unit.id


@pytest.mark.usefixtures("imported_demo")
async def test_who_is_responsible_for_5号楼(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        responsible = await Responsible.load(session, await building_id(session, "5号楼"))
        names = {role: responsible.nearest(role) for role in Role}
        duty = [p.name for p in responsible.on_duty(police=False)]
        with_police = [p.name for p in responsible.on_duty(police=True)]
        micro = responsible.at_level(UnitKind.MICRO_GRID, [Role.MICRO_GRID_LEADER])
        assert micro is not None
        up_from_micro = responsible.escalation_target(micro, "micro_grid", DEFAULT_POLICY)
        property_person = names[Role.PROPERTY]
        assert property_person is not None
        up_from_property = responsible.escalation_target(property_person, "property", DEFAULT_POLICY)
        grid_leader = names[Role.GRID_LEADER]
        up_from_grid = responsible.escalation_target(grid_leader, "grid", DEFAULT_POLICY)
        staff = names[Role.STAFF]
        up_from_community = responsible.escalation_target(staff, "community", DEFAULT_POLICY)
        nobody = responsible.escalation_target(None, None, DEFAULT_POLICY)
    assert names[Role.MICRO_GRID_LEADER] is not None and names[Role.MICRO_GRID_LEADER].name == "刘秀英"
    assert names[Role.GRID_LEADER] is not None and names[Role.GRID_LEADER].name == "马丽"
    assert property_person.name == "王师傅"  # the duty desk is not given ordinary work
    assert names[Role.RESIDENT] is None  # residents never own requests
    assert duty == ["刘秀英", "马丽", "社区值班", "物业值班"]
    assert with_police == [*duty, "赵志刚"]
    assert up_from_micro is not None and (up_from_micro[0].name, up_from_micro[1]) == ("马丽", "grid")
    assert up_from_property is not None and up_from_property[0].name == "马丽"
    assert up_from_grid is not None and (up_from_grid[0].name, up_from_grid[1]) == ("王建国", "community")
    assert up_from_community is None  # the demo street has no staff
    assert nobody is not None and nobody[0].name == "刘秀英"


@pytest.mark.usefixtures("imported_demo")
async def test_a_building_a_report_names_is_found_in_the_groups_community_as_plain_data(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        home, named = await building_id(session, "5号楼"), await building_id(session, "17号楼")
        found = await _named_building(session, "17号楼", home)
        missing = await _named_building(session, "99号楼", home)
    # Plain data, kept in the memo between sessions: no object of the session that found it.
    assert isinstance(found, UnitEntry)
    assert (found.id, found.name, found.kind) == (named, "17号楼", UnitKind.BUILDING)
    assert missing is None


def _with_replaced(source: Path, target: Path, old: str, new: str) -> Path:
    target.write_text(source.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    return target


@pytest.mark.usefixtures("imported_demo")
async def test_who_serves_a_building_is_read_once_until_the_directory_is_imported_again(
    session_factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    demo_directory_path: Path,
    tmp_path: Path,
) -> None:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    async with session_factory() as session:
        building = await building_id(session, "5号楼")
        first = await Responsible.load(session, building)
    async with session_factory() as session:
        read_before = len(statements)
        again = await Responsible.load(session, building)
        assert len(statements) == read_before  # kept from the first session, not read again
        # Shared between sessions, so never part of one: a session relates its own copy.
        leader = again.nearest(Role.MICRO_GRID_LEADER)
        assert leader is not None and leader not in session
        assert in_session(session, leader) in session
    assert first.nearest(Role.MICRO_GRID_LEADER) is not None
    assert leader.name == first.nearest(Role.MICRO_GRID_LEADER).name == "刘秀英"  # type: ignore[union-attr]

    renamed = _with_replaced(demo_directory_path, tmp_path / "community.yaml", "name: 刘秀英", "name: 刘新英")
    async with session_factory() as session, session.begin():
        await import_directory(session, load_directory(renamed))
    async with session_factory() as session:
        after = await Responsible.load(session, building)
    assert after.nearest(Role.MICRO_GRID_LEADER).name == "刘新英"  # type: ignore[union-attr]
