"""Notices: parsing the staff's command, households from the directory's layout, rooms from group
nicknames and the per-building receipt (no database: units are built in memory)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from handlers.clock import LOCAL_TZ
from handlers.notices import (
    NoticeError,
    _receipt,
    household_from_name,
    households_of,
    parse_order,
    recurrence_label,
    rooms_of,
)
from handlers.schedule import Weekly
from storage.models import Person, Unit
from storage.notices import NoticeAck
from storage.roles import Role, UnitKind

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=LOCAL_TZ)


def building(name: str = "5号楼", **details: object) -> Unit:
    return Unit(id=5, kind=UnitKind.BUILDING, name=name, details=dict(details))


def test_a_notice_with_a_deadline() -> None:
    order = parse_order("全体 请60岁以上老人完成养老金资格认证,电话13812345678 截止 2026-12-20", NOW)
    assert order.scope_words == ["全体"]
    assert order.text == "请60岁以上老人完成养老金资格认证,电话138****5678"
    assert order.deadline == date(2026, 12, 20)
    assert order.at is None and order.every is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("5号楼 定时 2026-12-02 09:00 停水", datetime(2026, 12, 2, 9, 0, tzinfo=LOCAL_TZ)),
        ("5号楼 定时 明天 9:00 停水", datetime(2026, 12, 2, 9, 0, tzinfo=LOCAL_TZ)),
        ("5号楼 定时 12月3日 14:30 停水", datetime(2026, 12, 3, 14, 30, tzinfo=LOCAL_TZ)),
        ("5号楼 定时 9:00 停水", datetime(2026, 12, 2, 9, 0, tzinfo=LOCAL_TZ)),  # nine has passed today
        ("5号楼 定时 15:00 停水", datetime(2026, 12, 1, 15, 0, tzinfo=LOCAL_TZ)),
    ],
)
def test_scheduled_times(args: str, expected: datetime) -> None:
    order = parse_order(args, NOW)
    assert order.at == expected and order.text == "停水" and order.scope_words == ["5号楼"]


def test_recurring_and_several_buildings() -> None:
    order = parse_order("5号楼 6号楼 每周一三 9:00 垃圾分类宣传 截止 12月31日", NOW)
    assert order.scope_words == ["5号楼", "6号楼"]
    assert order.every == Weekly(9, 0, (0, 2))
    assert order.deadline == date(2026, 12, 31)
    assert recurrence_label(order.every) == "每周一、三 9:00"
    assert parse_order("全体 每天 8:00 关好燃气", NOW).every == Weekly(8, 0)
    assert parse_order("全体 每周一、周三 9:00 宣传", NOW).every == Weekly(9, 0, (0, 2))
    # Inside the content it is content.
    plain = parse_order("全体 小区泳池每天9:00开放", NOW)
    assert plain.every is None and plain.text == "小区泳池每天9:00开放"


@pytest.mark.parametrize(
    ("args", "message"),
    [("", "请写明范围和内容"), ("全体", "通知内容是空的"), ("全体 x 定时 2026-11-30 09:00", "已经过了")],
)
def test_bad_commands_are_explained(args: str, message: str) -> None:
    with pytest.raises(NoticeError, match=message):
        parse_order(args, NOW)


def test_households_from_layout_or_count() -> None:
    laid_out = building(layout={"units": 3, "floors": 6, "per_floor": 2}, households=36)
    assert households_of(laid_out) == 36
    assert rooms_of(laid_out)[:3] == ["1单元101", "1单元102", "1单元201"]
    assert rooms_of(laid_out)[-1] == "3单元602"
    assert households_of(building(households=40)) == 40 and rooms_of(building(households=40)) == []
    assert households_of(building()) is None


@pytest.mark.parametrize(
    ("name", "room"),
    [
        ("5-2-301 刘奶奶", "2单元301"),
        ("2单元301刘", "2单元301"),
        ("5号楼2单元602 王", "2单元602"),
        ("2-402 李叔", "2单元402"),
        ("刘奶奶", None),
        ("9-9-901 外人", None),  # no such room in this building
    ],
)
def test_rooms_from_group_nicknames(name: str, room: str | None) -> None:
    assert household_from_name(name, building(layout={"units": 3, "floors": 6, "per_floor": 2})) == room


def ack(person_id: int, household: str | None) -> NoticeAck:
    return NoticeAck(notice_id=1, building_id=5, person_id=person_id, household=household, acked_at=NOW)


def test_a_receipt_lists_rooms_when_every_reply_named_its_room() -> None:
    small = building(layout={"units": 1, "floors": 2, "per_floor": 2})
    found = _receipt(small, [ack(1, "1单元101"), ack(2, "1单元201")], [])
    assert (found.total, found.reached, found.unreached) == (4, 2, 2)
    assert found.missing() == "5号楼 1单元102、1单元202"
    assert found.counts() == "5号楼 2/4 户"


def test_a_receipt_counts_unknown_rooms_and_names_known_residents() -> None:
    small = building(layout={"units": 1, "floors": 2, "per_floor": 2})
    grandma = Person(id=9, name="刘奶奶", role=Role.RESIDENT, title="独居老人")
    found = _receipt(small, [ack(1, None)], [grandma])
    assert found.missing() == "5号楼 3 户未回复(已知住户:刘奶奶(独居老人))"
    assert found.rate == 0.25
