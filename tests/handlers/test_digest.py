"""The daily digest (18:00 by default, `LOUDONG_DIGEST_TIME`): privately to each grid leader and
micro-grid leader — new, overdue and escalated requests, patrol coverage and notice acknowledgment
rates for the buildings they are responsible for. Driven through the replay over two simulated days."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from bot.cli import replay
from bot.config import DEMO_DIRECTORY, Settings


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
