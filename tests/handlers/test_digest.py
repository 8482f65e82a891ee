"""The daily digest (18:00 by default, `LOUDONG_DIGEST_TIME`): privately to each grid leader and
micro-grid leader — new, overdue and escalated requests, patrol coverage and notice acknowledgment
rates for the buildings they are responsible for. Driven through the replay over two simulated days."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.cli import replay
from bot.config import DEMO_DIRECTORY, Settings
from bot.runtime import Runtime
from handlers.clock import LOCAL_TZ, ManualClock
from handlers.contract import SendToGroup, SendToUser, SentReceipt
from storage.models import OutboxEntry


def line(user: str, name: str, text: str, when: str, group: str = "grid-2") -> str:
    return json.dumps(
        {"group": group, "user": user, "name": name, "text": text, "time": when}, ensure_ascii=False
    )


SCRIPT = [
    line("ma-li", "马丽", "巡查安排 刘秀英 5-7号楼 周一三五 上午", "2026-12-05T10:00"),
    line("liu-xiuying", "刘秀英", "巡查 5号楼 正常", "2026-12-07T09:30"),
    line("liu-xiuying", "刘秀英", "巡查 6号楼 3楼楼道堆满纸箱,堵住通道", "2026-12-07T09:50"),
    line("ma-li", "马丽", "通知 第二网格 本周六上午燃气安全检查,请家中留人", "2026-12-07T10:00"),
    line("liu-nainai", "刘奶奶", "收到", "2026-12-07T10:10", group="b5"),
    line("li-shu", "李叔", "晚上好", "2026-12-08T18:30", group="b5"),
]


async def play(
    database_url: str, tmp_path: Path, lines: list[str] = SCRIPT, **settings: Any
) -> list[dict[str, Any]]:
    config = Settings(database_url=database_url, data_dir=tmp_path, directory=DEMO_DIRECTORY, **settings)
    out = io.StringIO()
    assert await replay(config, io.StringIO("\n".join(lines) + "\n"), out) == 0
    return [json.loads(row) for row in out.getvalue().splitlines()]


def digests(records: list[dict[str, Any]], user: str) -> list[str]:
    return [r["text"] for r in records if r["to"] == f"user:{user}" and "你负责的" in r["text"]]


async def test_the_digest_goes_to_grid_and_micro_grid_leaders_each_evening(
    database_url: str, tmp_path: Path
) -> None:
    records = await play(database_url, tmp_path)

    liu = digests(records, "liu-xiuying")
    assert liu[-2:] == [
        "刘秀英,今天(12月7日)你负责的 3 栋楼:新诉求 1 件(已接单 0),超时 0 件,已升级 0 件;"
        "巡查 2/3 栋;通知 #1 回执 1%。",
        "刘秀英,今天(12月8日)你负责的 3 栋楼:新诉求 0 件(已接单 0),超时 1 件 #1,已升级 0 件;"
        "巡查 今日无计划;通知 #1 回执 1%。明天请先看 #1。",
    ]
    ma = digests(records, "ma-li")
    assert ma[-2].startswith("马丽,今天(12月7日)你负责的 4 栋楼:新诉求 1 件")
    assert ma[-2].endswith("巡查 2/3 栋;通知 #1 回执 1%。")
    # Leaders elsewhere hear about their own buildings only.
    li_fang = digests(records, "li-fang")
    assert li_fang[-1] == (
        "李芳,今天(12月8日)你负责的 2 栋楼:新诉求 0 件(已接单 0),超时 0 件,已升级 0 件;巡查 今日无计划。"
    )
    # Grid members and staff get no digest.
    assert digests(records, "gao-lei") == [] and digests(records, "wang-shuji") == []


async def test_the_digest_time_is_configurable(database_url: str, tmp_path: Path) -> None:
    lines = [*SCRIPT[:5], line("li-shu", "李叔", "下午好", "2026-12-07T17:30", group="b5")]
    early = await play(database_url, tmp_path, lines, digest_time="17:00")
    assert digests(early, "liu-xiuying")[-1].startswith("刘秀英,今天(12月7日)")


async def test_by_default_the_digest_comes_at_six(database_url: str, tmp_path: Path) -> None:
    lines = [*SCRIPT[:5], line("li-shu", "李叔", "下午好", "2026-12-07T17:30", group="b5")]
    usual = await play(database_url, tmp_path, lines)
    assert digests(usual, "liu-xiuying")[-1].startswith("刘秀英,今天(12月6日)")


# ---------------------------------------------------------------------------------------------------
# Which account a digest goes to: the first on a platform this bot serves. 马丽 (grid leader of 第二网格)
# has a web-chat account, then a QQ (OneBot) one, "10102"; 刘秀英 and 周玉兰 use the web chat only.


class Platform:
    """An adapter this bot runs, recording what it sends. A WeCom group robot cannot send private
    messages, so "wecom" stands for one."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.sends_private = platform != "wecom"
        self.sent: list[SendToGroup | SendToUser] = []

    async def start(self, deliver: Any) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, action: SendToGroup | SendToUser) -> SentReceipt:
        self.sent.append(action)
        return SentReceipt(message_id=f"{self.platform}-{len(self.sent)}")


@dataclass
class Evening:
    platforms: dict[str, Platform]
    outbox: list[OutboxEntry]

    def digest_to(self, platform: str, user_id: str) -> list[str]:
        return [
            a.text
            for a in self.platforms[platform].sent
            if isinstance(a, SendToUser) and a.user_id == user_id and "你负责的" in a.text
        ]


async def evening(
    database_url: str, tmp_path: Path, *platforms: str, directory: Path = DEMO_DIRECTORY
) -> Evening:
    """A bot running adapters for `platforms` only, from just before the digest (18:00) to just after."""
    clock = ManualClock(datetime(2026, 12, 7, 17, 59, tzinfo=LOCAL_TZ))
    settings = Settings(database_url=database_url, data_dir=tmp_path, directory=directory)
    runtime = Runtime(settings, clock=clock)
    await runtime.open()
    try:
        await runtime.import_directory(str(directory))
        running = {name: Platform(name) for name in platforms}
        for adapter in running.values():
            runtime.add_adapter(adapter)
        clock.advance(timedelta(minutes=1))
        await runtime.run_due()
        async with runtime.sessions() as session:
            rows = list(await session.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))
    finally:
        await runtime.close()
    return Evening(running, rows)


async def test_a_bot_on_onebot_only_sends_the_digest_to_the_leaders_qq_account(
    database_url: str, tmp_path: Path
) -> None:
    night = await evening(database_url, tmp_path, "onebot")
    (text,) = night.digest_to("onebot", "10102")
    assert text.startswith("马丽,今天(12月7日)你负责的 4 栋楼")
    # 13 of the 15 leaders have a QQ account; nothing is queued for a platform no adapter serves.
    assert {row.platform for row in night.outbox} == {"onebot"}
    assert len(night.outbox) == 13 and all(row.status == "sent" for row in night.outbox)


async def test_with_both_running_the_digest_goes_to_the_first_account(
    database_url: str, tmp_path: Path
) -> None:
    night = await evening(database_url, tmp_path, "webchat", "onebot")
    assert night.digest_to("webchat", "ma-li")[0].startswith("马丽,今天(12月7日)")
    assert night.digest_to("onebot", "10102") == []
    assert night.platforms["onebot"].sent == []
    assert len(night.platforms["webchat"].sent) == 15


async def test_a_leader_with_no_account_on_a_served_platform_gets_nothing_and_a_log_line(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loudong.outgoing")
    night = await evening(database_url, tmp_path, "wecom")
    assert night.outbox == [] and night.platforms["wecom"].sent == []
    lines = [r for r in caplog.records if r.name == "loudong.outgoing"]
    assert len(lines) == 15 and all(r.levelno == logging.INFO for r in lines)
    (ma_li,) = [r for r in lines if r.person_key == "ma-li"]
    assert isinstance(ma_li.person, int)
    # The bot serves WeCom, but only through a group robot: no platform to send a private message on.
    assert ma_li.accounts == ["onebot", "webchat"] and ma_li.served == []
    # Never a phone number: 马丽's is 13803711102.
    assert not any("13803711102" in f"{r.getMessage()} {r.__dict__}" for r in lines)


async def test_a_wecom_account_first_is_passed_over_for_one_the_bot_can_message_privately(
    database_url: str, tmp_path: Path
) -> None:
    """马丽 lists a WeCom account first; the bot posts to WeCom groups through a group robot, which
    cannot send private messages, so her digest goes to her QQ account instead of being lost."""
    before = 'accounts: [{platform: webchat, id: ma-li}, {platform: onebot, id: "10102"}]'
    after = before.replace("[", "[{platform: wecom, id: MaLi}, ", 1)
    demo = DEMO_DIRECTORY.read_text(encoding="utf-8")
    assert demo.count(before) == 1
    directory = tmp_path / "community.yaml"
    directory.write_text(demo.replace(before, after), encoding="utf-8")
    night = await evening(database_url, tmp_path, "wecom", "onebot", directory=directory)
    assert night.platforms["wecom"].sent == []
    assert night.digest_to("onebot", "10102")[0].startswith("马丽,今天(12月7日)")
    assert {row.platform for row in night.outbox} == {"onebot"}


async def test_a_request_escalated_today_is_counted_until_it_is_closed(
    database_url: str, tmp_path: Path
) -> None:
    """An emergency nobody took within twenty minutes is escalated: the evening's digest counts it, in the
    buildings it is in."""
    fall = line("he-ayi", "何阿姨", "6号楼3楼有人摔倒了起不来,快来人", "2026-12-08T10:00", group="b6")
    records = await play(database_url, tmp_path, [*SCRIPT[:5], fall, SCRIPT[5]])
    assert "已升级 1 件" in digests(records, "liu-xiuying")[-1]
    assert "已升级 1 件" in digests(records, "ma-li")[-1]
    assert "已升级 0 件" in digests(records, "li-fang")[-1]


async def test_an_escalated_request_closed_before_the_evening_is_not_counted(
    database_url: str, tmp_path: Path
) -> None:
    fall = line("he-ayi", "何阿姨", "6号楼3楼有人摔倒了起不来,快来人", "2026-12-08T10:00", group="b6")
    closed = [
        line("ma-li", "马丽", "接单 #2", "2026-12-08T10:40", group="b6"),
        line("ma-li", "马丽", "办结 #2 已送医,家属陪同", "2026-12-08T11:30", group="b6"),
        line("he-ayi", "何阿姨", "满意 #2", "2026-12-08T12:00", group="b6"),
    ]
    records = await play(database_url, tmp_path, [*SCRIPT[:5], fall, *closed, SCRIPT[5]])
    assert [r["text"] for r in records if r["to"] == "group:b6"][-1] == "谢谢何阿姨,#2 已办结。"
    assert "已升级 0 件" in digests(records, "ma-li")[-1]
