"""Patrols (巡查) end to end through the replay over simulated days on the demo community: rotas by
command, the week's schedule posted to the building groups on Monday, the morning reminder to the
patroller, check-ins, findings becoming requests (found on patrol) and coverage.

Demo people: 马丽 (grid leader of 第二网格: 5-8号楼, its work group grid-2), 刘秀英 (micro-grid leader of
5-7号楼), 高磊 (grid member of 第二网格), 王师傅 (property). 2026-12-07 is a Monday."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.cli import replay
from bot.config import DEMO_DIRECTORY, Settings
from storage.db import make_engine, make_session_factory
from storage.patrols import PatrolCheckin, PatrolRota
from storage.requests import Request

NAMES = {
    "ma-li": "马丽",
    "liu-xiuying": "刘秀英",
    "gao-lei": "高磊",
    "li-shu": "李叔",
    "wang-shuji": "王建国",
}


@dataclass
class Script:
    lines: list[dict[str, Any]] = field(default_factory=list)

    def say(self, user: str, text: str, *, when: str, group: str = "grid-2") -> str:
        message_id = f"m{len(self.lines) + 1}"
        line = {
            "group": group,
            "user": user,
            "name": NAMES[user],
            "text": text,
            "time": when,
            "id": message_id,
        }
        self.lines.append(line)
        return message_id

    def text(self) -> str:
        return "\n".join(json.dumps(line, ensure_ascii=False) for line in self.lines) + "\n"


@dataclass
class Transcript:
    records: list[dict[str, Any]]

    def reply(self, message_id: str) -> dict[str, Any]:
        found = [r for r in self.records if r["reply_to"] == message_id]
        assert found, f"no reply to {message_id}"
        return found[0]

    def to(self, target: str, starting: str = "") -> list[dict[str, Any]]:
        return [r for r in self.records if r["to"] == target and r["text"].startswith(starting)]


async def play(database_url: str, tmp_path: Path, script: Script) -> Transcript:
    settings = Settings(database_url=database_url, data_dir=tmp_path, directory=DEMO_DIRECTORY)
    out = io.StringIO()
    assert await replay(settings, io.StringIO(script.text()), out) == 0
    return Transcript([json.loads(line) for line in out.getvalue().splitlines()])


async def rows(database_url: str, model: type[Any]) -> list[Any]:
    engine = make_engine(database_url)
    try:
        async with make_session_factory(engine)() as session:
            return list(await session.scalars(select(model).order_by(model.id)))
    finally:
        await engine.dispose()


def rotas(s: Script) -> tuple[str, str]:
    daily = s.say("ma-li", "巡查安排 刘秀英 5-7号楼 周一三五 上午", when="2026-12-05T10:00")
    fire = s.say("ma-li", "巡查安排 高磊 5-8号楼 周四 消防", when="2026-12-05T10:01")
    return daily, fire


async def test_rotas_are_posted_weekly_and_patrollers_reminded_each_morning(
    database_url: str, tmp_path: Path
) -> None:
    s = Script()
    daily, fire = rotas(s)
    listing = s.say("ma-li", "巡查安排", when="2026-12-05T10:02")
    s.say("li-shu", "今天天气好", when="2026-12-10T12:00", group="b5")
    t = await play(database_url, tmp_path, s)

    assert t.reply(daily)["text"] == (
        "@马丽 已安排巡查 #1:周一、周三、周五上午 刘秀英 巡查 5-7号楼。每周一早上会把本周安排发到各楼群。"
    )
    assert "#2:周四上午 高磊 消防专项检查 5-8号楼" in t.reply(fire)["text"]
    assert t.reply(listing)["text"].splitlines()[1:] == [
        "#1 周一、周三、周五上午 刘秀英 巡查 5-7号楼",
        "#2 周四上午 高磊 消防专项检查 5-8号楼",
    ]
    (week_b5,) = t.to("group:b5", "本周巡查安排")
    assert week_b5["text"] == (
        "本周巡查安排:周一、周三、周五上午 刘秀英 巡查 5-7号楼;周四上午 消防专项检查。有问题可当面反映。"
    )
    (week_b8,) = t.to("group:b8", "本周巡查安排")
    assert week_b8["text"] == "本周巡查安排:周四上午 消防专项检查。有问题可当面反映。"
    assert t.to("group:b1", "本周巡查安排") == []
    # Monday 7th and Wednesday 9th; not Tuesday.
    reminders = t.to("user:liu-xiuying", "今天")
    assert [r["text"] for r in reminders] == [
        "今天上午请巡查 5号楼、6号楼、7号楼。巡查后发“巡查 5号楼 正常”或说明发现的问题。"
    ] * 2
    assert [r["text"] for r in t.to("user:gao-lei", "今天")] == [
        "今天上午请巡查 5号楼、6号楼、7号楼、8号楼(消防专项检查)。巡查后发“巡查 5号楼 正常”或说明发现的问题。"
    ]


async def test_check_ins_count_coverage_and_findings_become_requests(
    database_url: str, tmp_path: Path
) -> None:
    s = Script()
    rotas(s)
    fine = s.say("liu-xiuying", "巡查 5号楼 正常", when="2026-12-07T09:30")
    finding = s.say("liu-xiuying", "巡查 6号楼 3楼楼道堆满纸箱,堵住通道", when="2026-12-07T09:50")
    coverage = s.say("ma-li", "巡查情况", when="2026-12-07T10:00")
    resident = s.say("li-shu", "巡查 5号楼 正常", when="2026-12-07T10:01", group="b5")
    t = await play(database_url, tmp_path, s)

    assert t.reply(fine)["text"] == "已记录:5号楼 巡查正常。今日巡查 1/3 栋。"
    found = t.reply(finding)
    assert found["text"].startswith("已登记 #1 楼道堆物(6号楼3楼,巡查发现),已通知 @王师傅")
    assert found["text"].endswith("今日巡查 2/3 栋。")
    assert "wang-shifu" in found["mentions"]
    assert t.reply(coverage)["text"].splitlines()[2] == "第二网格 2/3 栋,未巡:7号楼"
    assert "需要相应的工作人员" in t.reply(resident)["text"]

    (request,) = await rows(database_url, Request)
    assert request.found_on_patrol is True and request.category == "corridor_clutter"
    checkins = await rows(database_url, PatrolCheckin)
    assert [(c.ok, c.request_id) for c in checkins] == [(True, None), (False, request.id)]


async def test_a_note_that_is_no_problem_is_recorded_without_a_request(
    database_url: str, tmp_path: Path
) -> None:
    s = Script()
    note = s.say("gao-lei", "巡查 8号楼 和住户聊了聊近况", when="2026-12-07T09:30")
    t = await play(database_url, tmp_path, s)

    assert t.reply(note)["text"] == "已记录:8号楼 巡查发现:和住户聊了聊近况。今日已巡查 1 栋。"
    assert await rows(database_url, Request) == []


async def test_bad_rotas_are_explained(database_url: str, tmp_path: Path) -> None:
    s = Script()
    nobody = s.say("ma-li", "巡查安排 张三 5号楼 周一", when="2026-12-05T10:00")
    two_grids = s.say(
        "wang-shuji", "巡查安排 高磊 4-5号楼 周一", when="2026-12-05T10:01", group="community-office"
    )
    no_days = s.say("ma-li", "巡查安排 高磊 5号楼 上午", when="2026-12-05T10:02")
    cancel = s.say("ma-li", "取消巡查 #1", when="2026-12-05T10:03")
    t = await play(database_url, tmp_path, s)

    assert "没有找到网格工作人员“张三”" in t.reply(nobody)["text"]
    assert "同一个网格" in t.reply(two_grids)["text"]
    assert "哪几天" in t.reply(no_days)["text"]
    assert "没有找到这项巡查安排" in t.reply(cancel)["text"]
    assert await rows(database_url, PatrolRota) == []


async def test_a_cancelled_rota_is_no_longer_reminded(database_url: str, tmp_path: Path) -> None:
    s = Script()
    rotas(s)
    cancel = s.say("ma-li", "取消巡查 #1", when="2026-12-06T10:00")
    s.say("li-shu", "今天天气好", when="2026-12-08T12:00", group="b5")
    t = await play(database_url, tmp_path, s)

    assert t.reply(cancel)["text"] == "@马丽 巡查安排 #1 已取消。"
    assert t.to("user:liu-xiuying", "今天") == []
    (week_b5,) = t.to("group:b5", "本周巡查安排")
    assert "刘秀英" not in week_b5["text"]


DIRECTORY_ROTAS = """\
          patrols:
            - {person: liu-xiuying, buildings: [5号楼, 6号楼, 7号楼], days: [mon, wed, fri]}
            - {person: gao-lei, buildings: [8号楼], days: [thu], kind: fire, time: 下午}
"""


def directory_with_rotas(tmp_path: Path) -> Path:
    text = DEMO_DIRECTORY.read_text(encoding="utf-8")
    anchor = "            - {platform: webchat, id: grid-2, name: 第二网格工作群}\n"
    assert anchor in text
    path = tmp_path / "community.yaml"
    path.write_text(text.replace(anchor, anchor + DIRECTORY_ROTAS), encoding="utf-8")
    return path


async def test_rotas_can_come_from_the_directory(database_url: str, tmp_path: Path) -> None:
    s = Script()
    listing = s.say("ma-li", "巡查安排", when="2026-12-06T10:00")
    fine = s.say("liu-xiuying", "巡查 5号楼 正常", when="2026-12-07T09:30")
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, directory=directory_with_rotas(tmp_path)
    )
    out = io.StringIO()
    assert await replay(settings, io.StringIO(s.text()), out) == 0
    t = Transcript([json.loads(line) for line in out.getvalue().splitlines()])

    assert t.reply(listing)["text"].splitlines()[1:] == [
        "(名册) 周一、周三、周五上午 刘秀英 巡查 5-7号楼",
        "(名册) 周四下午 高磊 消防专项检查 8号楼",
    ]
    (week_b5,) = t.to("group:b5", "本周巡查安排")
    assert week_b5["text"].startswith("本周巡查安排:周一、周三、周五上午 刘秀英 巡查 5-7号楼。")
    assert t.to("user:liu-xiuying", "今天上午请巡查 5号楼、6号楼、7号楼")
    assert t.reply(fine)["text"] == "已记录:5号楼 巡查正常。今日巡查 1/3 栋。"


async def test_the_reminder_goes_to_an_account_on_a_platform_the_bot_serves(
    database_url: str, tmp_path: Path
) -> None:
    # 高磊 lists his QQ account first; the replay serves the web chat only, where he has one too.
    text = DEMO_DIRECTORY.read_text(encoding="utf-8")
    accounts = '[{platform: webchat, id: gao-lei}, {platform: onebot, id: "10202"}]'
    assert accounts in text
    path = tmp_path / "community.yaml"
    path.write_text(
        text.replace(accounts, '[{platform: onebot, id: "10202"}, {platform: webchat, id: gao-lei}]'),
        encoding="utf-8",
    )
    s = Script()
    rotas(s)
    s.say("li-shu", "今天天气好", when="2026-12-10T12:00", group="b5")
    settings = Settings(database_url=database_url, data_dir=tmp_path, directory=path)
    out = io.StringIO()
    assert await replay(settings, io.StringIO(s.text()), out) == 0
    t = Transcript([json.loads(line) for line in out.getvalue().splitlines()])

    assert [r["text"] for r in t.to("user:gao-lei", "今天")] == [
        "今天上午请巡查 5号楼、6号楼、7号楼、8号楼(消防专项检查)。巡查后发“巡查 5号楼 正常”或说明发现的问题。"
    ]
