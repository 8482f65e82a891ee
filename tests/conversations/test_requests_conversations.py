"""Requests (工单) end to end: whole conversations through the replay adapter — the real dispatcher,
classifier, database (SQLite, and PostgreSQL when LOUDONG_TEST_DATABASE_URL is set) and simulated clock
on the demo community. Each test is one chat script; the transcript is what the bot posted.

The demo people used here: 王师傅 (property), 物业值班, 刘秀英 (micro-grid leader of 5-7号楼), 马丽 (grid
leader of 第二网格), 高磊 (grid member there), 郑卫东 (grid leader of 第一网格), 王建国 and 社区值班 (staff),
赵志刚 (police). Residents without a directory entry are met in the group (张阿姨, 李叔, …)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli import replay
from bot.config import DEMO_DIRECTORY, Settings
from handlers import requests as requests_capability
from handlers.clock import LOCAL_TZ
from storage import requests as store
from storage.db import make_engine, make_session_factory, migrate
from storage.directory import import_directory, load_directory
from storage.models import Person, Unit
from storage.requests import EventKind, Request, RequestEvent, RequestStatus
from storage.roles import UnitKind

NAMES = {
    "zhang": "张阿姨",
    "li": "李叔",
    "qian": "钱大姐",
    "zhou": "周大爷",
    "sun": "孙姐",
    "cai": "蔡先生",
    "wu": "吴阿姨",
    "he": "何奶奶",
    "ding": "丁师傅",
    "feng": "冯女士",
    "shen": "沈先生",
    "wang-shifu": "王师傅",
    "property-duty": "物业值班",
    "liu-xiuying": "刘秀英",
    "ma-li": "马丽",
    "gao-lei": "高磊",
    "zheng-weidong": "郑卫东",
    "wang-shuji": "王建国",
    "li-shu": "李叔",
}


@pytest.fixture(autouse=True)
def requests_router_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until handlers/__init__.py lists the requests router, add it for these conversations."""
    import bot.runtime
    from handlers import default_routers

    routers = default_routers()
    if not any(router is requests_capability.router for router in routers):
        monkeypatch.setattr(bot.runtime, "default_routers", lambda: [*routers, requests_capability.router])


@dataclass
class Script:
    """A chat script: who says what, where and when (local time)."""

    day: str = "2026-12-01"
    lines: list[dict[str, Any]] = field(default_factory=list)

    def say(
        self,
        user: str,
        text: str,
        *,
        at: str,
        group: str | None = "b5",
        reply_to: str | None = None,
        day: str | None = None,
    ) -> str:
        """Add a line; `at` is "HH:MM" on `day` (or the script's day). Returns the message id."""
        message_id = f"m{len(self.lines) + 1}"
        line: dict[str, Any] = {
            "group": group,
            "user": user,
            "name": NAMES.get(user, user),
            "text": text,
            "time": f"{day or self.day}T{at}",
            "id": message_id,
        }
        if reply_to is not None:
            line["reply_to"] = reply_to
        self.lines.append(line)
        return message_id

    def text(self) -> str:
        return "\n".join(json.dumps(line, ensure_ascii=False) for line in self.lines) + "\n"


@dataclass
class Transcript:
    records: list[dict[str, Any]]

    def bot(self, number: int) -> dict[str, Any]:
        """The bot's message `bot-<number>`, as a script would reply to it."""
        return self.records[number - 1]

    def replies(self, message_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["reply_to"] == message_id]

    def reply(self, message_id: str) -> dict[str, Any]:
        """The bot's answer to this message: the first message quoting it (a report is quoted again
        later by its 回访)."""
        found = self.replies(message_id)
        assert found, f"no reply to {message_id}"
        return found[0]

    def to(self, target: str) -> list[dict[str, Any]]:
        """Everything sent to "group:b5" or "user:ma-li"."""
        return [r for r in self.records if r["to"] == target]

    def private(self, user: str) -> list[dict[str, Any]]:
        """What the requests capability said to a person privately (other capabilities, such as the
        daily digest or patrol reminders, also write to workers)."""
        return [r for r in self.to(f"user:{user}") if ABOUT_REQUESTS.match(r["text"])]

    def unprompted(self, target: str) -> list[dict[str, Any]]:
        """Messages about requests nobody's message asked for (escalations) in a group."""
        return [r for r in self.to(target) if r["reply_to"] is None and ABOUT_REQUESTS.match(r["text"])]

    def number_of(self, record: dict[str, Any]) -> int:
        return self.records.index(record) + 1


# The requests capability's unprompted and private messages: reminders and escalations ("#3 …"), command
# confirmations ("好的,#3 …"), 待办 and refusals.
ABOUT_REQUESTS = re.compile(r"^(#\d+ |好的,#\d+|您负责的诉求|目前没有待办)")

Prepare = Callable[[AsyncSession], Awaitable[None]]


async def play(
    database_url: str, tmp_path: Path, script: Script, prepare: Prepare | None = None
) -> Transcript:
    """Run the script through `python -m bot replay`'s in-process entry point on the demo community."""
    settings = Settings(database_url=database_url, data_dir=tmp_path, directory=DEMO_DIRECTORY)
    if prepare is not None:
        engine = make_engine(database_url)
        try:
            await migrate(engine)
            async with make_session_factory(engine)() as session, session.begin():
                await import_directory(session, load_directory(DEMO_DIRECTORY))
                await prepare(session)
        finally:
            await engine.dispose()
    out = io.StringIO()
    status = await replay(settings, io.StringIO(script.text()), out, import_directory=prepare is None)
    assert status == 0
    return Transcript([json.loads(line) for line in out.getvalue().splitlines()])


async def stored(database_url: str) -> list[tuple[Request, list[RequestEvent]]]:
    """Every request in the database with its timeline."""
    engine = make_engine(database_url)
    try:
        async with make_session_factory(engine)() as session:
            numbers = (await session.scalars(select(Request.id).order_by(Request.id))).all()
            found = []
            for number in numbers:
                request = await store.get_request(session, number)
                assert request is not None
                found.append((request, await store.timeline(session, number)))
            return found
    finally:
        await engine.dispose()


def kinds(events: list[RequestEvent]) -> list[EventKind]:
    return [event.kind for event in events]


def local(day: str, at: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{at}").replace(tzinfo=LOCAL_TZ)


# ---------------------------------------------------------------------------------------------------
# The story of STORIES.md: a repair, merged, done and confirmed


async def test_a_repair_merged_done_and_confirmed(database_url: str, tmp_path: Path) -> None:
    s = Script()
    report = s.say("zhang", "2单元楼道灯坏了好几天了,晚上黑乎乎的", at="09:00")
    again = s.say("li", "2单元的灯确实不亮,晚上上楼得打手电", at="09:10")
    tries = s.say("li", "办结 #1", at="09:12")
    accept = s.say("wang-shifu", "接单 #1", at="09:30")
    s.say("wang-shifu", "办结 #1 已更换灯泡", at="15:00")
    happy = s.say("zhang", "满意", at="15:10")
    query = s.say("zhang", "查询 #1", at="15:11")
    late = s.say("li", "满意", at="15:12")
    t = await play(database_url, tmp_path, s)

    intake = t.reply(report)
    assert intake["to"] == "group:b5"
    assert intake["text"].startswith("@张阿姨 收到,已登记 #1 楼道灯报修(5号楼2单元)")
    assert "已通知 @王师傅(物业) 处理,@刘秀英(微网格长) 跟进" in intake["text"]
    assert "查询 #1" in intake["text"]
    assert intake["mentions"] == ["zhang", "wang-shifu", "liu-xiuying"]

    plus_one = t.reply(again)
    assert plus_one["text"] == "@李叔 这个问题已登记为 #1,已有 2 位邻居反映,会一并处理。"
    assert plus_one["mentions"] == ["li"]  # the owner is not tagged again

    refused = t.reply(tries)
    assert refused["mentions"] == ["li"] and "办结" in refused["text"] and "#1" not in refused["text"]

    assert t.reply(accept)["text"] == "#1 已由 @王师傅 接单。"
    assert t.reply(accept)["mentions"] == ["wang-shifu"]

    # The 回访 replies to the original report and tags both reporters.
    _, followup = t.replies(report)
    assert followup["to"] == "group:b5"
    assert followup["text"] == (
        "@张阿姨 @李叔 #1 已处理:已更换灯泡。问题解决了吗?回复“满意”或“不满意”,也可以打 1-5 分。"
    )
    assert followup["mentions"] == ["zhang", "li"]

    assert t.reply(happy)["text"] == "谢谢张阿姨,#1 已办结。"
    timeline = t.reply(query)["text"]
    for expected in (
        "#1 楼道灯报修(5号楼2单元)",
        "已结案 · 负责:王师傅(物业) · 2 位邻居反映",
        "张阿姨 登记,交 王师傅 处理",
        "李叔 也反映了这个问题(共 2 位)",
        "王师傅 接单",
        "王师傅 办结:已更换灯泡",
        "张阿姨 结案:满意",
    ):
        assert expected in timeline, (expected, timeline)
    assert t.replies(late) == []  # nothing waits for 李叔's answer any more: silence
    assert len(t.records) == 7

    [(request, events)] = await stored(database_url)
    assert request.status is RequestStatus.CLOSED and request.satisfied is True and request.rating is None
    assert request.reporters_count == 2 and request.category == "repair"
    assert (request.place_unit, request.owner_level) == ("2单元", "property")
    assert kinds(events) == [
        EventKind.CREATED,
        EventKind.PLUS_ONE,
        EventKind.ACKNOWLEDGED,
        EventKind.RESOLVED,
        EventKind.FOLLOWUP,
        EventKind.CLOSED,
    ]
    acknowledged = events[2]
    assert (acknowledged.old, acknowledged.new) == ("new", "acknowledged")
    assert acknowledged.at == local("2026-12-01", "09:30")


# ---------------------------------------------------------------------------------------------------
# Intake and routing for each ticket intent

ROUTING = [
    # (resident, message, category, tagged besides the sender)
    ("zhang", "3单元电梯坏了,老人上不去", "repair", ["wang-shifu", "liu-xiuying"]),
    ("li", "垃圾桶满了好几天没人清,臭死了", "sanitation", ["wang-shifu", "liu-xiuying"]),
    ("qian", "楼上又往下扔东西了,差点砸到人", "thrown_objects", ["liu-xiuying", "zhao-jingguan"]),
    ("zhou", "3楼楼道里堆满了纸箱", "corridor_clutter", ["liu-xiuying"]),
    ("sun", "楼道里有人给电动车飞线充电", "ebike", ["liu-xiuying"]),
    ("wu", "楼上天天半夜蹦迪太吵了", "noise", ["liu-xiuying"]),
    ("he", "隔壁邻居因为漏水吵起来了", "dispute", ["liu-xiuying"]),
    ("ding", "小区门口井盖没了,很危险", "safety_hazard", ["ma-li", "wang-shifu"]),
    ("feng", "独居的刘奶奶好几天没出门了,有点担心", "elder_care", ["liu-xiuying"]),
    ("shen", "物业太不负责了,收了物业费啥也不干", "property_complaint", ["wang-shuji", "liu-xiuying"]),
]


async def test_each_ticket_intent_is_routed_per_the_intent_table(database_url: str, tmp_path: Path) -> None:
    s = Script()
    ids = [s.say(user, text, at=f"09:0{n}") for n, (user, text, _, _) in enumerate(ROUTING)]
    fire = s.say("cai", "着火了!6楼有人家里冒黑烟", at="09:09", group="b6")
    t = await play(database_url, tmp_path, s)

    for number, (message_id, (user, _, category, tagged)) in enumerate(
        zip(ids, ROUTING, strict=True), start=1
    ):
        reply = t.reply(message_id)
        assert reply["mentions"] == [user, *tagged], category
        assert f"已登记 #{number} " in reply["text"], reply["text"]
        assert reply["text"].startswith(f"@{NAMES[user]} 收到"), reply["text"]
    complaint = t.reply(ids[-1])
    assert "物业投诉" in complaint["text"]
    assert not {"wang-shifu", "property-duty"} & set(complaint["mentions"])  # never to property

    emergency = t.reply(fire)
    assert emergency["to"] == "group:b6"
    assert emergency["text"].startswith("紧急情况!请立即拨打 119。")
    assert emergency["mentions"] == ["liu-xiuying", "ma-li", "community-duty", "property-duty"]
    assert "已通知 @刘秀英 @马丽 @社区值班 @物业值班 马上到场。#11" in emergency["text"]

    requests = [request for request, _ in await stored(database_url)]
    assert [r.category for r in requests] == [category for _, _, category, _ in ROUTING] + ["emergency"]
    owners = [r.owner.name if r.owner else None for r in requests]
    expected_owners = ["王师傅", "王师傅", "刘秀英", "刘秀英", "刘秀英", "刘秀英", "刘秀英", "马丽", "刘秀英"]
    assert owners == [*expected_owners, "王建国", "刘秀英"]
    assert requests[-1].urgent and requests[-1].ack_due_at == local("2026-12-01", "09:19")
    assert requests[0].resolve_due_at == local("2026-12-04", "09:00")
    assert all(r.building is not None for r in requests)
    assert requests[-1].building is not None and requests[-1].building.name == "6号楼"


async def test_chatter_questions_and_other_capabilities_stay_silent(
    database_url: str, tmp_path: Path
) -> None:
    s = Script()
    s.say("zhang", "大家好,今天天气不错", at="09:00")
    s.say("zhang", "电梯没坏,刚才是停电", at="09:01")  # negated
    s.say("li", "灯已经修好了", at="09:02")  # resolved, and nothing of 李叔's is on record
    s.say("li", "退休认证怎么弄", at="09:03")  # policy_query: another capability
    s.say("qian", "谢谢王师傅", at="09:04")
    s.say("qian", "收到", at="09:05")
    s.say("zhou", "满意", at="09:06")  # nothing waits for an answer
    s.say("zhou", "5", at="09:07")
    s.say("sun", "明天几点停水?", at="09:08")  # a question, not a report
    s.say("sun", "楼道堆满纸箱", at="09:09", group="grid-2")  # a resident in a work group
    s.say("gao-lei", "楼道堆满纸箱", at="09:10", group="grid-2")  # a worker, but no building named
    s.say("wang-shifu", "查询 退休认证", at="09:11")
    t = await play(database_url, tmp_path, s)
    assert t.records == []
    assert await stored(database_url) == []


async def test_a_worker_reports_a_finding_in_the_grid_work_group(database_url: str, tmp_path: Path) -> None:
    s = Script()
    finding = s.say("gao-lei", "6号楼3楼楼道堆满纸箱,堵住通道", at="10:00", group="grid-2")
    t = await play(database_url, tmp_path, s)
    reply = t.reply(finding)
    assert reply["to"] == "group:grid-2"
    assert reply["text"].startswith("@高磊 收到,已登记 #1 楼道堆物(6号楼3楼)")
    assert reply["mentions"] == ["gao-lei", "liu-xiuying"]
    [(request, _)] = await stored(database_url)
    assert request.building is not None and request.building.name == "6号楼"
    assert request.group_external_id == "grid-2"


async def test_a_patrol_finding_becomes_a_request_for_property(database_url: str, tmp_path: Path) -> None:
    s = Script()
    finding = s.say("liu-xiuying", "巡查 6号楼 3楼楼道堆满纸箱,堵住通道", at="10:00", group="grid-2")
    again = s.say("gao-lei", "巡查 6号楼 3楼楼道里还是堆满纸箱", at="10:30", group="grid-2")
    t = await play(database_url, tmp_path, s)
    reply = t.reply(finding)
    assert reply["text"].startswith("已登记 #1 楼道堆物(6号楼3楼,巡查发现),已通知 @王师傅(物业) 清理。")
    assert reply["mentions"] == ["wang-shifu"]
    assert t.reply(again)["text"].startswith("已记入 #1 楼道堆物(6号楼3楼),由 王师傅 负责。")
    [(request, events)] = await stored(database_url)
    assert request.found_on_patrol and request.owner is not None and request.owner.name == "王师傅"
    assert request.reporter is not None and request.reporter.name == "刘秀英"
    assert kinds(events) == [EventKind.CREATED, EventKind.NOTE]


# ---------------------------------------------------------------------------------------------------
# Merging


async def test_the_same_problem_is_merged_and_the_owner_tagged_again_at_the_threshold(
    database_url: str, tmp_path: Path
) -> None:
    s = Script()
    first = s.say("zhang", "2单元楼道灯坏了", at="09:00")
    other_unit = s.say("li", "3单元楼道灯也坏了", at="09:01")
    other_building = s.say("qian", "2单元楼道灯坏了", at="09:02", group="b6")
    plus_one = s.say("zhou", "2单元的灯不亮", at="09:03")
    repeat = s.say("zhang", "2单元楼道灯还是坏的", at="09:04")
    third = s.say("sun", "2单元楼道灯还是不亮", at="09:05")
    fourth = s.say("wu", "2单元楼道灯一直不亮,太黑了", at="09:06")
    worker = s.say("liu-xiuying", "2单元楼道灯坏了,已经催物业了", at="09:07")
    other_category = s.say("he", "2单元楼道里堆满了纸箱", at="09:08")
    t = await play(database_url, tmp_path, s)

    assert "#1 " in t.reply(first)["text"]
    assert "已登记 #2 楼道灯报修(5号楼3单元)" in t.reply(other_unit)["text"]
    assert "已登记 #3 楼道灯报修(6号楼2单元)" in t.reply(other_building)["text"]
    assert t.reply(plus_one)["text"] == "@周大爷 这个问题已登记为 #1,已有 2 位邻居反映,会一并处理。"
    assert t.reply(repeat)["text"] == (
        "@张阿姨 您反映的问题已登记为 #1,目前待接单,负责的是 王师傅。有进展会在群里告诉您。"
    )
    crossed = t.reply(third)
    assert crossed["text"] == "@孙姐 这个问题已登记为 #1,已有 3 位邻居反映,@王师傅 请优先处理。"
    assert crossed["mentions"] == ["sun", "wang-shifu"]
    after = t.reply(fourth)
    assert "已有 4 位邻居反映,会一并处理" in after["text"] and after["mentions"] == ["wu"]
    assert t.replies(worker) == []  # a worker on the same problem is not another resident affected
    assert "已登记 #4 楼道堆物" in t.reply(other_category)["text"]

    requests = {request.id: request for request, _ in await stored(database_url)}
    assert requests[1].reporters_count == 4
    assert [p.name for p in requests[1].reporters()] == ["张阿姨", "周大爷", "孙姐", "吴阿姨"]
    assert requests[2].reporters_count == 1 and len(requests) == 4


async def test_a_problem_many_neighbours_raise_counts_each_once(database_url: str, tmp_path: Path) -> None:
    """A +1 costs the same on the 30th neighbour as on the 2nd: the count and the "already" answers stay
    right without the co-reporters being loaded, and so do reports after the 办结."""
    s = Script()
    first = s.say("zhang", "2单元楼道灯坏了", at="09:00")
    neighbours = [s.say(f"n{i}", "2单元楼道灯也不亮", at=f"09:{i:02d}") for i in range(1, 31)]
    repeat = s.say("n5", "2单元楼道灯还是坏的", at="09:40")
    worker = s.say("liu-xiuying", "2单元楼道灯坏了,已经催物业了", at="09:41")
    s.say("wang-shifu", "办结 #1 已更换灯泡", at="10:00")
    again = s.say("n7", "2单元楼道灯还是不亮", at="10:30")
    s.say("wang-shifu", "办结 #1 已更换整个灯具", at="11:00")
    newcomer = s.say("n99", "2单元楼道灯还是不亮", at="11:30")
    t = await play(database_url, tmp_path, s)

    assert "#1 " in t.reply(first)["text"]
    for i, message in enumerate(neighbours, start=2):
        text = t.reply(message)["text"]
        assert f"这个问题已登记为 #1,已有 {i} 位邻居反映" in text, text
        assert ("@王师傅 请优先处理" in text) == (i == 3)
    assert t.reply(repeat)["text"].startswith("@n5 您反映的问题已登记为 #1,目前待接单")
    assert t.replies(worker) == []
    assert "#1 已重新交给 @王师傅 继续处理" in t.reply(again)["text"]
    assert "#1 已重新交给 @王师傅 继续处理" in t.reply(newcomer)["text"]

    [(request, events)] = await stored(database_url)
    assert request.reporters_count == 32 == len(request.reporters())  # n7 again is not counted twice
    assert [p.name for p in request.reporters()][:3] == ["张阿姨", "n1", "n2"]
    plus_ones = [event.new for event in events if event.kind == EventKind.PLUS_ONE]
    assert plus_ones == [str(n) for n in range(2, 33)]
    assert kinds(events).count(EventKind.REOPENED) == 2
    assert request.status == RequestStatus.IN_PROGRESS


async def test_a_closed_request_is_not_merged_into(database_url: str, tmp_path: Path) -> None:
    s = Script()
    s.say("zhang", "2单元楼道灯坏了", at="09:00")
    s.say("wang-shifu", "办结 #1 已更换灯泡", at="10:00")
    s.say("zhang", "满意", at="10:05")
    again = s.say("li", "2单元楼道灯又坏了", at="11:00")
    t = await play(database_url, tmp_path, s)
    assert "已登记 #2 " in t.reply(again)["text"]


# ---------------------------------------------------------------------------------------------------
# Emergencies


async def test_an_emergency_gets_the_numbers_everyone_on_duty_and_minute_limits(
    database_url: str, tmp_path: Path
) -> None:
    s = Script()
    fire = s.say("cai", "着火了!6楼有人家里冒黑烟", at="20:00", group="b6")
    second = s.say("wu", "6楼着火了,好大的烟", at="20:02", group="b6")
    faint = s.say("he", "我爸在家摔倒了起不来", at="20:03", group="b7")
    fight = s.say("ding", "有人在楼道里打人,快报警", at="20:04", group="b8")
    accept = s.say("ma-li", "接单 #1", at="20:26", group="b6")
    t = await play(database_url, tmp_path, s)

    reply = t.reply(fire)
    assert reply["text"] == (
        "紧急情况!请立即拨打 119。不要乘电梯,用湿毛巾捂住口鼻,沿楼梯往下撤离。"
        "已通知 @刘秀英 @马丽 @社区值班 @物业值班 马上到场。#1"
    )
    assert reply["mentions"] == ["liu-xiuying", "ma-li", "community-duty", "property-duty"]

    merged = t.reply(second)
    assert "119" in merged["text"] and "#1" in merged["text"]
    assert merged["mentions"] == []  # the advice again, without tagging everyone again

    medical = t.reply(faint)["text"]
    assert "120" in medical and "119" not in medical and "#2" in medical
    police = t.reply(fight)
    assert "110" in police["text"] and "zhao-jingguan" in police["mentions"]
    # 8号楼 is in another micro-grid: its own micro-grid leader is tagged.
    assert police["mentions"][0] == "chen-guoqiang"

    # Urgent: reminded after 10 minutes and escalated 10 minutes later, at night too.
    reminders = t.private("liu-xiuying")
    assert reminders[0]["text"] == "#1 紧急情况(6号楼6楼)已超过 10 分钟未接单,请尽快处理。"
    escalated = t.unprompted("group:b6")
    assert escalated[0]["text"] == "#1 超时未处理,已升级至 @马丽(网格长) 督办。"
    assert escalated[0]["mentions"] == ["ma-li"]
    assert t.reply(accept)["text"] == "#1 已由 @马丽 接单。"

    requests = {request.id: (request, events) for request, events in await stored(database_url)}
    fire_request, fire_events = requests[1]
    assert fire_request.urgent and fire_request.reporters_count == 2
    assert fire_request.status is RequestStatus.ACKNOWLEDGED and fire_request.owner is not None
    assert fire_request.owner.name == "马丽" and fire_request.escalations == 1
    assert kinds(fire_events)[:4] == [
        EventKind.CREATED,
        EventKind.PLUS_ONE,
        EventKind.REMINDED,
        EventKind.ESCALATED,
    ]
    assert fire_events[2].at == local("2026-12-01", "20:10")
    assert fire_events[3].at == local("2026-12-01", "20:20")
    assert (fire_events[3].old, fire_events[3].new) == ("刘秀英", "马丽")


# ---------------------------------------------------------------------------------------------------
# Commands, allowed and refused


async def test_owner_commands_and_their_refusals(database_url: str, tmp_path: Path) -> None:
    s = Script()
    report = s.say("zhang", "3单元楼道灯坏了", at="09:00")
    resident = s.say("zhang", "接单 #1", at="09:01")
    stranger = s.say("zheng-weidong", "接单 #1", at="09:02")
    not_owner = s.say("property-duty", "进度 #1 明天来修", at="09:03")
    no_number = s.say("wang-shifu", "接单", at="09:04")
    unknown = s.say("wang-shifu", "接单 #99", at="09:05")
    accept = s.say("wang-shifu", "/accept #1", at="09:06")
    twice = s.say("wang-shifu", "接单 #1", at="09:07")
    progress = s.say("wang-shifu", "进度 #1 已联系厂家,明天上午来换灯", at="09:10")
    reassign = s.say("wang-shifu", "转派 #1 网格长 需要协调", at="09:17")
    no_reason = s.say("ma-li", "退回 #1", at="09:18")
    send_back = s.say("ma-li", "退回 #1 属于物业维修范围", at="09:19")
    by_name = s.say("wang-shuji", "转派 #1 王师傅", at="09:20")
    not_yours = s.say("ma-li", "退回 #1 不归我管", at="09:21")
    s.say("wang-shifu", "接单 #1", at="09:22")
    supervisor = s.say("liu-xiuying", "办结 #1 已更换灯泡", at="09:23")
    done_twice = s.say("wang-shifu", "办结 #1", at="09:24")
    s.say("shen", "物业太不负责了,收了物业费啥也不干", at="09:30")
    to_property = s.say("wang-shuji", "转派 #2 物业", at="09:31")
    elsewhere = s.say("property-duty", "接单 #2", at="09:32")
    takeover = s.say("wang-shuji", "接单 #2", at="09:33")
    t = await play(database_url, tmp_path, s)

    assert "需要相应的工作人员" in t.reply(resident)["text"]  # the dispatcher's role refusal
    assert t.reply(stranger)["text"] == "@郑卫东 #1 不在您负责的范围内,由 王师傅 负责处理。"
    assert t.reply(not_owner)["text"] == (
        "@物业值班 #1 目前由 王师傅 负责,只有负责的同志可以更新进展。如需接手,请先发“接单 #1”。"
    )
    assert t.reply(no_number)["text"] == "@王师傅 请带上诉求编号,例如“接单 #12”。"
    assert "没有找到 #99" in t.reply(unknown)["text"]
    assert t.reply(accept)["text"] == "#1 已由 @王师傅 接单。"
    assert "您已经接单了" in t.reply(twice)["text"]
    update = t.reply(progress)
    assert update["text"] == "@张阿姨 #1 有新进展:已联系厂家,明天上午来换灯(王师傅)"
    assert update["mentions"] == ["zhang"]
    moved = t.reply(reassign)
    assert moved["text"] == "#1 已转交 @马丽(网格长) 处理,请发“接单 #1”确认。"
    assert moved["mentions"] == ["ma-li"]
    assert "请写上退回的原因" in t.reply(no_reason)["text"]
    returned = t.reply(send_back)
    assert returned["text"] == "#1 已由 马丽 退回(原因:属于物业维修范围),请 @王建国(社区工作人员) 重新安排。"
    assert t.reply(by_name)["text"] == "#1 已转交 @王师傅(物业) 处理,请发“接单 #1”确认。"
    assert t.reply(not_yours)["text"] == "@马丽 #1 由 王师傅 负责,只有负责的同志可以退回。"
    # A grid worker serving the building may close it for the owner; the 回访 follows, quoting the report.
    assert t.replies(supervisor) == []
    assert "#1 已处理:已更换灯泡" in t.replies(report)[-1]["text"]
    assert "已经办结,正在等居民确认" in t.reply(done_twice)["text"]
    assert t.reply(to_property)["text"] == (
        "@王建国 #2 是对物业的投诉,不能转给物业自己处理,请转社区或网格长。"
    )
    assert t.reply(elsewhere)["text"] == "@物业值班 #2 是对物业的投诉,由社区处理,物业不能接单。"
    assert t.reply(takeover)["text"] == "#2 已由 @王建国 接单。"

    requests = {request.id: (request, events) for request, events in await stored(database_url)}
    first, events = requests[1]
    assert first.status is RequestStatus.RESOLVED and first.owner is not None and first.owner.name == "王师傅"
    handover = [
        (e.kind, e.old, e.new) for e in events if e.kind in (EventKind.REASSIGNED, EventKind.RETURNED)
    ]
    assert handover == [
        (EventKind.REASSIGNED, "王师傅", "马丽"),
        (EventKind.RETURNED, "马丽", "王建国"),
        (EventKind.REASSIGNED, "王建国", "王师傅"),
    ]
    resolved = next(e for e in events if e.kind == EventKind.RESOLVED)
    assert resolved.actor is not None and resolved.actor.name == "刘秀英"


async def test_resident_commands_help_and_private_chat(database_url: str, tmp_path: Path) -> None:
    s = Script()
    s.say("zhang", "3单元楼道灯坏了", at="09:00")
    s.say("wang-shifu", "接单 #1", at="09:05")
    not_reporter = s.say("li", "补充 #1 晚上更黑", at="09:10")
    note = s.say("zhang", "补充 #1 3单元2楼到6楼都不亮", at="09:11")
    mine = s.say("zhang", "我的诉求", at="09:12")
    none_yet = s.say("li", "我的诉求", at="09:13")
    in_group = s.say("li", "查询 #1", at="09:14")
    s.say("li-shu", "查询 #1", at="09:15", group=None)  # a resident of 3号楼, privately
    s.say("wang-shifu", "待办", at="09:16", group=None)
    refused = [
        s.say("zhang", text, at="09:16")
        for text in ("进度 #1 好了吗", "办结 #1", "转派 #1 物业", "退回 #1 太慢", "待办", "/todo")
    ]
    alias = s.say("li", "/status #1", at="09:16")
    resident_help = s.say("zhang", "帮助", at="09:17")
    worker_help = s.say("wang-shifu", "帮助", at="09:18")
    t = await play(database_url, tmp_path, s)

    assert "只有反映 #1 的居民可以补充" in t.reply(not_reporter)["text"]
    added = t.reply(note)
    assert added["text"] == "@张阿姨 已补充到 #1,已转告 @王师傅。"
    assert added["mentions"] == ["zhang", "wang-shifu"]
    assert "#1 楼道灯报修(5号楼3单元) · 已接单 · 王师傅负责" in t.reply(mine)["text"]
    assert "您还没有反映过问题" in t.reply(none_yet)["text"]
    shown = t.reply(in_group)["text"]  # anyone in the request's own group may look
    assert "张阿姨 补充:3单元2楼到6楼都不亮" in shown
    [private] = t.to("user:li-shu")
    assert "不是您所在楼栋的诉求" in private["text"]
    [todo] = t.private("wang-shifu")
    assert todo["text"].startswith("您负责的诉求 1 件:\n#1 楼道灯报修(5号楼3单元) · 已接单")
    for message_id in refused:  # owners' commands: a polite role refusal; 办结 says what to do instead
        text = t.reply(message_id)["text"]
        if "办结" in next(line["text"] for line in s.lines if line["id"] == message_id):
            assert "只有负责处理的同志可以办结诉求" in text and "满意" in text
        else:
            assert "需要相应的工作人员来操作" in text
    assert t.reply(alias)["text"].startswith("@李叔 #1 楼道灯报修(5号楼3单元)\n已接单")
    resident = t.reply(resident_help)["text"]
    assert "查询 #编号" in resident and "补充 #编号" in resident and "满意" in resident
    assert "接单" not in resident and "待办" not in resident
    worker = t.reply(worker_help)["text"]
    for command in (
        "接单 #编号",
        "进度 #编号 说明",
        "办结 #编号 说明",
        "转派 #编号",
        "退回 #编号 原因",
        "待办",
    ):
        assert command in worker, command


# ---------------------------------------------------------------------------------------------------
# Reminders and escalation over simulated days


async def test_reminders_then_escalation_over_days_in_working_hours(
    database_url: str, tmp_path: Path
) -> None:
    s = Script()
    clutter = s.say("qian", "3楼楼道里堆满了纸箱,过不去人", at="09:00", group="b7")  # ack 24h
    noise = s.say("zhou", "楼上天天半夜蹦迪太吵了", at="17:00", group="b7")  # ack 12h: due 05:00
    s.say("ma-li", "待办", at="21:00", group=None, day="2026-12-03")
    s.say("ma-li", "接单 #1", at="21:05", group=None, day="2026-12-03")
    s.say("ma-li", "办结 #1 已清理,并提醒了住户", at="09:30", group="b7", day="2026-12-04")
    t = await play(database_url, tmp_path, s)
    assert "#1 楼道堆物(7号楼3楼)" in t.reply(clutter)["text"]
    assert "#2 噪音扰民(7号楼)" in t.reply(noise)["text"]

    requests = {request.id: (request, events) for request, events in await stored(database_url)}
    _, clutter_events = requests[1]
    _, noise_events = requests[2]
    steps = [
        (e.kind, e.at, e.new) for e in clutter_events if e.kind in (EventKind.REMINDED, EventKind.ESCALATED)
    ]
    assert steps == [
        (EventKind.REMINDED, local("2026-12-02", "09:00"), "刘秀英"),
        (EventKind.ESCALATED, local("2026-12-03", "09:00"), "马丽"),
        (EventKind.REMINDED, local("2026-12-04", "09:00"), "马丽"),  # now to resolve within 3 days
    ]
    # The noise report fell due at 05:00: its reminder waited for 08:30, its escalation for the next morning.
    steps = [
        (e.kind, e.at, e.new) for e in noise_events if e.kind in (EventKind.REMINDED, EventKind.ESCALATED)
    ]
    assert steps == [
        (EventKind.REMINDED, local("2026-12-02", "08:30"), "刘秀英"),
        (EventKind.ESCALATED, local("2026-12-03", "08:30"), "马丽"),
        (EventKind.REMINDED, local("2026-12-04", "08:30"), "马丽"),
    ]

    assert [r["text"] for r in t.private("liu-xiuying")] == [
        "#2 噪音扰民(7号楼)已超过 12 小时未接单,请尽快处理。",
        "#1 楼道堆物(7号楼3楼)已超过 24 小时未接单,请尽快处理。",
    ]
    assert [(r["text"], r["mentions"]) for r in t.unprompted("group:b7")] == [
        ("#2 超时未处理,已升级至 @马丽(网格长) 督办。", ["ma-li"]),
        ("#1 超时未处理,已升级至 @马丽(网格长) 督办。", ["ma-li"]),
    ]
    to_ma_li = [r["text"] for r in t.private("ma-li")]
    todo, accepted, noise_reminder, resolve_reminder = to_ma_li
    # 待办: oldest first, the overdue one marked.
    assert todo.startswith("您负责的诉求 2 件,其中 1 件已超时:\n#1 楼道堆物(7号楼3楼) · 待接单")
    assert "\n【超时】#2 噪音扰民(7号楼) · 待接单" in todo
    assert accepted == "好的,#1 已接单,已告知居民。"
    assert "#1 已由 @马丽 接单。" in [r["text"] for r in t.to("group:b7")]
    assert noise_reminder == "#2 噪音扰民(7号楼)已超过 12 小时未接单,请尽快处理。"
    assert resolve_reminder == (
        "#1 楼道堆物(7号楼3楼)已超过 3 天未办结,请尽快处理。处理好后请发“办结 #1 处理结果”。"
    )


# ---------------------------------------------------------------------------------------------------
# 回访


async def test_followup_unhappy_reopens_then_a_score_closes(database_url: str, tmp_path: Path) -> None:
    s = Script()
    report = s.say("zhang", "3单元电梯坏了,老人上不去", at="10:00")  # bot-1
    s.say("li", "3单元电梯又坏了", at="10:05")  # bot-2
    s.say("wang-shifu", "接单 #1", at="10:30")  # bot-3
    s.say("wang-shifu", "办结 #1 已修好", at="14:00")  # bot-4: the 回访
    unhappy = s.say("zhang", "还是不行,又停了", at="14:10", reply_to="bot-4")  # bot-5
    s.say("wang-shifu", "办结 #1 更换了主板", at="16:00")  # bot-6
    score = s.say("li", "4", at="16:30", reply_to="bot-6")  # bot-7
    disagree = s.say("zhang", "不满意 电梯还在响", at="16:40")  # bot-8
    s.say("wang-shifu", "办结 #1 已调好异响", at="17:30")  # bot-9
    plain_score = s.say("zhang", "5", at="17:40")  # bot-10
    t = await play(database_url, tmp_path, s)

    assert t.bot(4)["reply_to"] == report and "问题解决了吗" in t.bot(4)["text"]
    assert t.bot(4)["mentions"] == ["zhang", "li"]
    reopened = t.reply(unhappy)
    assert reopened["text"] == (
        "@张阿姨 抱歉还没处理好。#1 已重新交给 @王师傅 继续处理,处理好后会再请您确认。"
    )
    assert reopened["mentions"] == ["zhang", "wang-shifu"]
    assert t.bot(6)["text"].startswith("@张阿姨 @李叔 #1 已处理:更换了主板。")
    assert t.reply(score)["text"] == "谢谢李叔,#1 已办结。"
    # A co-reporter who disagrees soon after reopens it again.
    assert "已重新交给 @王师傅" in t.reply(disagree)["text"]
    assert t.reply(plain_score)["text"] == "谢谢张阿姨,#1 已办结。"

    [(request, events)] = await stored(database_url)
    assert request.status is RequestStatus.CLOSED and request.rating == 5 and request.satisfied
    assert request.reopen_count == 2
    reopenings = [e for e in events if e.kind == EventKind.REOPENED]
    assert [(e.old, e.new) for e in reopenings] == [("resolved", "in_progress"), ("closed", "in_progress")]
    assert reopenings[0].note == "不满意:还是不行,又停了"
    assert reopenings[1].note == "不满意:电梯还在响"
    closings = [e.note for e in events if e.kind == EventKind.CLOSED]
    assert closings == ["4 分", "5 分"]


async def test_it_is_fixed_said_plainly_or_reported_again(database_url: str, tmp_path: Path) -> None:
    s = Script()
    s.say("zhang", "2单元楼道灯坏了", at="09:00")
    update = s.say("zhang", "灯已经修好了", at="09:30")  # before 办结: a note, silently
    s.say("wang-shifu", "办结 #1 已换灯泡", at="10:00")
    thanks = s.say("zhang", "灯修好了,谢谢", at="10:10")  # answers the 回访
    s.say("li", "3单元电梯坏了", at="11:00")
    s.say("wang-shifu", "办结 #2 已修好", at="12:00")
    not_fixed = s.say("qian", "3单元电梯还是坏的", at="12:30")  # while its 回访 waits
    t = await play(database_url, tmp_path, s)

    assert t.replies(update) == []
    assert t.reply(thanks)["text"] == "谢谢张阿姨,#1 已办结。"
    reopened = t.reply(not_fixed)
    assert "#2 已重新交给 @王师傅 继续处理" in reopened["text"]
    requests = {request.id: (request, events) for request, events in await stored(database_url)}
    first, first_events = requests[1]
    assert first.status is RequestStatus.CLOSED
    assert EventKind.RESIDENT_UPDATE in kinds(first_events)
    second, _ = requests[2]
    assert second.status is RequestStatus.IN_PROGRESS and second.reopen_count == 1
    assert [p.name for p in second.reporters()] == ["李叔", "钱大姐"]


# ---------------------------------------------------------------------------------------------------
# A community's own policy, and the 回访 nobody answers


async def with_policy(session: AsyncSession) -> None:
    community = await session.scalar(select(Unit).where(Unit.kind == UnitKind.COMMUNITY))
    assert community is not None
    community.details = {
        **community.details,
        "policy": {
            "followup_days": 1,
            "retag_threshold": 2,
            "intents": {"repair": {"owner": ["micro_grid_leader"], "notify": []}},
        },
    }


async def test_a_community_policy_and_an_unanswered_followup(database_url: str, tmp_path: Path) -> None:
    s = Script()
    report = s.say("zhang", "2单元楼道灯坏了", at="09:00")
    second = s.say("li", "2单元的灯不亮", at="09:05")
    s.say("liu-xiuying", "办结 #1 已换灯泡", at="09:10")
    s.say("zhang", "大家早", at="10:00", day="2026-12-02")
    late = s.say("zhang", "满意", at="10:01", day="2026-12-02")
    t = await play(database_url, tmp_path, s, prepare=with_policy)

    intake = t.reply(report)
    assert "已通知 @刘秀英(微网格长) 处理。" in intake["text"]
    assert intake["mentions"] == ["zhang", "liu-xiuying"]
    retag = t.reply(second)
    assert retag["text"] == "@李叔 这个问题已登记为 #1,已有 2 位邻居反映,@刘秀英 请优先处理。"
    assert t.replies(late) == []  # closed unanswered: nothing to answer any more

    [(request, events)] = await stored(database_url)
    assert request.status is RequestStatus.CLOSED and request.unconfirmed and request.satisfied is None
    expired = events[-1]
    assert expired.kind is EventKind.EXPIRED
    assert expired.at - local("2026-12-01", "09:10") < timedelta(days=1, minutes=6)


async def with_a_request_from_outside_the_chats(session: AsyncSession) -> None:
    """#1: a stair light in 5号楼 owned by 王师傅, recorded with no group to post in."""
    await with_policy(session)
    building = await session.scalar(select(Unit).where(Unit.kind == UnitKind.BUILDING, Unit.name == "5号楼"))
    owner = await session.scalar(select(Person).where(Person.name == "王师傅"))
    assert building is not None and owner is not None
    at = local("2026-12-01", "08:00")
    request = Request(
        category="repair",
        summary="楼道灯报修",
        objects=["楼道灯"],
        status=RequestStatus.ACKNOWLEDGED,
        urgent=False,
        building_id=building.id,
        text="2单元楼道灯坏了",
        reporter_id=owner.id,
        reporters_count=1,
        platform="replay",
        group_external_id=None,
        created_at=at,
        updated_at=at,
        ack_due_at=at + timedelta(hours=2),
        resolve_due_at=at + timedelta(days=1),
        owner_id=owner.id,
    )
    session.add(request)


async def test_resolving_a_request_with_no_group_asks_no_followup(database_url: str, tmp_path: Path) -> None:
    s = Script()
    s.say("wang-shifu", "办结 #1 已换灯泡", at="09:00", group=None)
    t = await play(database_url, tmp_path, s, prepare=with_a_request_from_outside_the_chats)

    assert [(r["to"], r["text"]) for r in t.records] == [("user:wang-shifu", "#1 已办结。")]  # no 回访
    [(request, events)] = await stored(database_url)
    assert request.status is RequestStatus.RESOLVED
    assert kinds(events) == [EventKind.RESOLVED]  # the timeline claims no question nobody was asked


# ---------------------------------------------------------------------------------------------------
# Privacy


async def test_phone_and_id_numbers_are_masked_everywhere(database_url: str, tmp_path: Path) -> None:
    s = Script()
    s.say("zhang", "2单元402漏水了,急,我电话13812345678,身份证110101199003071234", at="09:00")
    s.say("zhang", "补充 #1 或者打我家座机0371-67891234", at="09:05")
    progress = s.say("wang-shifu", "进度 #1 维修师傅电话13912345678,马上到", at="09:10")
    query = s.say("zhang", "查询 #1", at="09:15")
    t = await play(database_url, tmp_path, s)

    everything = "\n".join(r["text"] for r in t.records)
    for secret in ("13812345678", "110101199003071234", "67891234", "13912345678"):
        assert secret not in everything
    assert "139****5678" in t.reply(progress)["text"]
    shown = t.reply(query)["text"]
    assert "138****5678" in shown and "110***********1234" in shown and "0371-****1234" in shown
    [(request, events)] = await stored(database_url)
    stored_text = request.text + "".join(e.note or "" for e in events)
    assert "13812345678" not in stored_text and "110101199003071234" not in stored_text
    assert (request.place_unit, request.place_floor, request.place_room) == ("2单元", "4楼", "402")


# ---------------------------------------------------------------------------------------------------
# The example script (python -m bot replay tests/conversations/requests_story.jsonl)


async def test_the_story_script(database_url: str, tmp_path: Path) -> None:
    script = Script()
    script.lines = [json.loads(line) for line in (Path(__file__).parent / "requests_story.jsonl").open()]
    t = await play(database_url, tmp_path, script)
    texts = [(r["to"], r["text"]) for r in t.records]
    assert texts[0][1].startswith("@张阿姨 收到,已登记 #1 楼道灯报修(5号楼2单元)")
    assert texts[1][1] == "@李叔 这个问题已登记为 #1,已有 2 位邻居反映,会一并处理。"
    assert texts[2][1] == "#1 已由 @王师傅 接单。"
    assert "只有负责处理的同志可以办结诉求" in texts[3][1]  # as in STORIES.md
    assert texts[4][1].startswith("@张阿姨 @李叔 #1 已处理:已更换灯泡。问题解决了吗?")
    assert texts[5][1] == "谢谢张阿姨,#1 已办结。"
    assert texts[6][1].startswith("@钱大姐 收到,已登记 #2 楼道堆物(7号楼3楼)")
    assert ("user:liu-xiuying", "#2 楼道堆物(7号楼3楼)已超过 24 小时未接单,请尽快处理。") in texts
    fire = next(text for to, text in texts if text.startswith("紧急情况"))
    assert "119" in fire and "#3" in fire
    assert ("group:b6", "#3 已由 @刘秀英 接单。") in texts
    # The clutter was escalated to the grid leader the morning after the reminder.
    assert ("group:b7", "#2 超时未处理,已升级至 @马丽(网格长) 督办。") in texts
    assert "超时未接单,升级 刘秀英 → 马丽" in texts[-1][1]
    assert "超时未接单,已提醒 刘秀英" in texts[-1][1]
    # The fire was acknowledged at once; its 2-hour limit to resolve is chased in working hours, not at night.
    fire = next(events for request, events in await stored(database_url) if request.id == 3)
    chased = [e.at.astimezone(LOCAL_TZ) for e in fire if e.kind in (EventKind.REMINDED, EventKind.ESCALATED)]
    assert chased and chased[0] == local("2026-12-03", "08:30")
    assert all(8 <= moment.hour < 18 for moment in chased)


async def test_a_different_thing_in_the_same_building_is_a_new_request(
    database_url: str, tmp_path: Path
) -> None:
    script = Script()
    light = script.say("zhang-ayi", "2单元楼道灯坏了好几天了,晚上黑乎乎的", at="09:00")
    lift = script.say("li-shu", "电梯也坏了,按了没反应", at="09:05")
    again = script.say("liu-nainai", "2单元的灯确实不亮,晚上上楼得打手电", at="09:10")
    t = await play(database_url, tmp_path, script)
    assert "#1" in t.reply(light)["text"]
    assert "#2" in t.reply(lift)["text"] and "电梯" in t.reply(lift)["text"]
    assert "#1" in t.reply(again)["text"] and "2 位" in t.reply(again)["text"]


# ---------------------------------------------------------------------------------------------------
# 撤销: a request filed by mistake


async def test_a_request_filed_by_mistake_is_withdrawn(database_url: str, tmp_path: Path) -> None:
    s = Script()
    s.say("zhang", "3单元楼道灯坏了", at="09:00")  # #1, 王师傅's
    withdraw = s.say("zhang", "撤销 #1 搞错了,是开玩笑的,有事打我13812345678", at="09:02")
    again = s.say("zhang", "撤销 #1", at="09:03")
    disputed = s.say("zhang", "不满意", at="09:04")
    query = s.say("zhang", "查询 #1", at="09:05")
    s.say("li", "3单元电梯坏了,老人上不去", at="09:10")  # #2
    s.say("qian", "3单元电梯又坏了", at="09:11")  # +1
    first_of_two = s.say("li", "撤销 #2", at="09:12")
    joined = s.say("qian", "撤销 #2 我搞错了", at="09:13")
    stranger = s.say("zhou", "撤销 #2", at="09:14")
    other_worker = s.say("zheng-weidong", "撤销 #2", at="09:15")
    noise = s.say("wu", "楼上天天半夜蹦迪太吵了", at="09:20")  # #3, 刘秀英's
    misfiled = s.say("liu-xiuying", "撤销 #3 误报,说的是隔壁小区", at="09:25")
    s.say("sun", "垃圾桶满了好几天没人清,臭死了", at="09:30")  # #4, 王师傅's
    s.say("wang-shifu", "/withdraw #4 重复登记了,已经清了", at="09:35", group=None)
    fire = s.say("cai", "着火了!6楼有人家里冒黑烟", at="20:00", group="b6")  # #5
    false_alarm = s.say("cai", "撤销 #5 看错了,是邻居家在熏腊肉", at="20:03", group="b6")
    resident_help = s.say("zhang", "帮助", at="20:10")
    worker_help = s.say("wang-shifu", "帮助", at="20:11")
    s.say("zhou", "今天天气不错", at="10:00", day="2026-12-03")  # two days on: the sweep ran since
    t = await play(database_url, tmp_path, s)

    done = t.reply(withdraw)
    assert done["text"] == "#1 已撤销(张阿姨:搞错了,是开玩笑的,有事打我138****5678),@王师傅 不用处理了。"
    assert done["mentions"] == ["wang-shifu"] and done["to"] == "group:b5"
    assert t.reply(again)["text"] == ("@张阿姨 #1 已经结案了。如果问题又出现了,请直接在群里说,我会重新登记。")
    assert t.replies(disputed) == []  # nothing to dispute: silence, not a reopening
    shown = t.reply(query)["text"]
    assert "已撤销(张阿姨 " in shown and "张阿姨 撤销:搞错了,是开玩笑的,有事打我138****5678" in shown
    assert "13812345678" not in json.dumps(t.records, ensure_ascii=False)

    assert t.reply(first_of_two)["text"] == (
        "@李叔 #2 还有其他邻居也反映了这个问题,会继续处理,不能撤销。"
        "如果已经解决了,请告诉 王师傅,或在回访时回复“满意”。"
    )
    assert "还有其他邻居也反映了这个问题" in t.reply(joined)["text"]
    assert t.reply(stranger)["text"] == "@周大爷 只有反映 #2 的居民或负责处理的同志可以撤销。"
    assert t.reply(other_worker)["text"] == "@郑卫东 #2 不在您负责的范围内,由 王师傅 负责处理。"

    assert "#3" in t.reply(noise)["text"]
    by_owner = t.reply(misfiled)
    assert by_owner["text"] == (
        "#3 已撤销(刘秀英:误报,说的是隔壁小区)。@吴阿姨 如果问题确实存在,请再在群里说一声,我会重新登记。"
    )
    assert by_owner["mentions"] == ["wu"]

    [confirmed] = [r for r in t.private("wang-shifu") if "#4" in r["text"]]  # reminders of #2 besides
    assert confirmed["text"] == "好的,#4 已撤销,已在群里说明。"
    posted = next(r for r in t.to("group:b5") if r["text"].startswith("#4 已撤销"))
    assert posted["text"] == (
        "#4 已撤销(王师傅:重复登记了,已经清了)。@孙姐 如果问题确实存在,请再在群里说一声,我会重新登记。"
    )
    assert posted["reply_to"] is not None  # quoting the report

    assert t.reply(false_alarm)["text"] == (
        "#5 已撤销(蔡先生:看错了,是邻居家在熏腊肉),@刘秀英 不用处理了,其他值班同志也不用到场了。"
    )
    # Everyone on duty was tagged by the alarm; the withdrawal tags its owner alone.
    assert len(t.reply(fire)["mentions"]) == 4 and t.reply(false_alarm)["mentions"] == ["liu-xiuying"]
    assert "撤销 #编号 原因" in t.reply(resident_help)["text"]
    assert "撤销 #编号 原因" in t.reply(worker_help)["text"]

    requests = {request.id: (request, events) for request, events in await stored(database_url)}
    for number, actor, note in (
        (1, "张阿姨", "搞错了,是开玩笑的,有事打我138****5678"),
        (3, "刘秀英", "误报,说的是隔壁小区"),
        (4, "王师傅", "重复登记了,已经清了"),
        (5, "蔡先生", "看错了,是邻居家在熏腊肉"),
    ):
        request, events = requests[number]
        assert request.status is RequestStatus.CLOSED and request.withdrawn, number
        assert request.closed_at is not None and request.satisfied is None and not request.unconfirmed
        # No 回访, and the sweep left it alone: no reminder, no escalation, over two days.
        assert kinds(events) == [EventKind.CREATED, EventKind.WITHDRAWN], (number, kinds(events))
        withdrawn = events[-1]
        assert withdrawn.actor is not None and withdrawn.actor.name == actor
        assert (withdrawn.old, withdrawn.new, withdrawn.note) == ("new", "closed", note)
    assert requests[1][0].closed_at == local("2026-12-01", "09:02")
    second, second_events = requests[2]
    assert second.is_open and EventKind.WITHDRAWN not in kinds(second_events)
    assert EventKind.REMINDED in kinds(second_events)  # the sweep did run over those days
