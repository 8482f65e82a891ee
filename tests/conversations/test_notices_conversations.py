"""Notices (通知公告) end to end: chat scripts through the replay (real dispatcher, classifier, scheduler
job store and database, simulated clock) on the demo community, over simulated days.

Demo people: 王建国 (staff, community office group), 马丽 (grid leader of 第二网格: 5-8号楼), 刘秀英
(micro-grid leader of 5-7号楼), 李芳 (micro-grid leader of 1-2号楼), 刘奶奶 (resident of 5号楼, 独居老人).
5号楼 has a layout of 3 units × 6 floors × 2 = 36 households; 1号楼 2 × 6 × 2 = 24."""

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
from storage.notices import Notice, NoticeAck, NoticeDelivery

BUILDING_GROUPS = [f"group:b{n}" for n in range(1, 21)]


@dataclass
class Script:
    day: str = "2026-12-01"
    lines: list[dict[str, Any]] = field(default_factory=list)

    def say(
        self, user: str, name: str, text: str, *, at: str, group: str | None = "b5", day: str = ""
    ) -> str:
        message_id = f"m{len(self.lines) + 1}"
        self.lines.append(
            {
                "group": group,
                "user": user,
                "name": name,
                "text": text,
                "time": f"{day or self.day}T{at}",
                "id": message_id,
            }
        )
        return message_id

    def staff(self, text: str, *, at: str, day: str = "") -> str:
        return self.say("wang-shuji", "王建国", text, at=at, group="community-office", day=day)

    def text(self) -> str:
        return "\n".join(json.dumps(line, ensure_ascii=False) for line in self.lines) + "\n"


@dataclass
class Transcript:
    records: list[dict[str, Any]]

    def reply(self, message_id: str) -> dict[str, Any]:
        found = [r for r in self.records if r["reply_to"] == message_id]
        assert found, f"no reply to {message_id}"
        return found[0]

    def replies(self, message_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["reply_to"] == message_id]

    def to(self, target: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["to"] == target]

    def visits(self, user: str) -> list[dict[str, Any]]:
        """Private not-reached lists to a micro-grid leader (not their daily digest)."""
        return [r for r in self.to(f"user:{user}") if r["text"].startswith("通知 #")]

    def posts(self, number: int, marker: str = "】") -> list[dict[str, Any]]:
        head = f"【通知 #{number}{marker}"
        return [r for r in self.records if r["text"].startswith(head)]

    def index(self, record: dict[str, Any]) -> int:
        return self.records.index(record)


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


# ---------------------------------------------------------------------------------------------------


async def test_an_immediate_notice_reaches_every_building_and_counts_households(
    database_url: str, tmp_path: Path
) -> None:
    s = Script()
    order = s.staff(
        "通知 全体 请60岁以上老人12月20日前完成养老金资格认证,有问题打13812345678 截止 2026-12-20", at="09:00"
    )
    s.say("liu-nainai", "刘奶奶", "收到", at="09:10")
    s.say("liu-nainai", "刘奶奶", "收到了", at="09:11")  # the same household once
    s.say("zhao-jie", "5-2-301 赵姐", "收到", at="09:12")
    s.say("liu-xiuying", "刘秀英", "收到", at="09:13")  # a worker's 收到 is not a household's
    s.say("qian", "钱叔", "好的", at="09:14", group="b6")
    s.say("li-shu", "李叔", "今天天气不错", at="09:15", group="b3")
    refused = s.say("liu-nainai", "刘奶奶", "通知 全体 明天开会", at="09:20")
    receipt = s.staff("通知回执 #1", at="10:00")
    t = await play(database_url, tmp_path, s)

    answer = t.reply(order)
    assert answer["to"] == "group:community-office"
    assert answer["text"].startswith("@王建国 通知 #1 正在发到 1号楼等 20 栋楼 20 个群")
    assert "截止 12月20日" in answer["text"]
    posts = t.posts(1)
    assert sorted(p["to"] for p in posts) == sorted(BUILDING_GROUPS)
    b5 = next(p for p in posts if p["to"] == "group:b5")
    assert "138****5678" in b5["text"] and "13812345678" not in b5["text"]
    assert "@刘秀英" in b5["text"] and b5["mentions"] == ["liu-xiuying"]
    assert "截止 12月20日" in b5["text"] and b5["text"].endswith("看到请回复“收到”。")
    # Acknowledgments are silent.
    assert [r for r in t.records if r["reply_to"] in {"m2", "m3", "m4", "m5", "m6", "m7"}] == []
    assert "需要相应的工作人员" in t.reply(refused)["text"]

    summary = t.reply(receipt)["text"]
    assert summary.startswith("@王建国 通知 #1 回执:1号楼 0/24 户,2号楼 0/24 户")
    assert "5号楼 2/36 户" in summary and "6号楼 1/36 户" in summary
    assert "共 3/1152 户(0%)" in summary
    assert summary.endswith("未回复住户已私信各微网格长上门告知。")
    (to_liu,) = t.visits("liu-xiuying")
    assert to_liu["text"].startswith("通知 #1 截止前仍有 105 户未回复:5号楼 34 户未回复;6号楼 35 户未回复")
    assert "请上门告知" in to_liu["text"]
    (to_li_fang,) = t.visits("li-fang")
    assert "1号楼 24 户未回复(已知住户:张阿姨)" in to_li_fang["text"]

    acks = await rows(database_url, NoticeAck)
    assert [(a.notice_id, a.household) for a in acks] == [(1, None), (1, "2单元301"), (1, None)]
    deliveries = await rows(database_url, NoticeDelivery)
    assert len(deliveries) == 20 and not any(d.late for d in deliveries)


async def test_known_residents_who_did_not_reply_are_named_for_the_visit(
    database_url: str, tmp_path: Path
) -> None:
    s = Script()
    s.staff("通知 5号楼 本周六上午燃气安全检查,请家中留人", at="09:00")
    s.say("zhao-jie", "5-2-301 赵姐", "收到", at="09:05")
    receipt = s.staff("通知回执", at="10:00")
    unknown = s.staff("通知回执 #9", at="10:01")
    t = await play(database_url, tmp_path, s)

    assert t.reply(receipt)["text"].startswith("@王建国 通知 #1 回执:5号楼 1/36 户。共 1/36 户(3%)。")
    assert "没有找到这条通知" in t.reply(unknown)["text"]
    (visit,) = t.visits("liu-xiuying")
    assert visit["text"] == (
        "通知 #1 仍有 35 户未回复:5号楼 35 户未回复(已知住户:刘奶奶(独居老人))。请上门告知,尤其是独居老人。"
    )


async def test_a_scheduled_notice_goes_out_at_its_time(database_url: str, tmp_path: Path) -> None:
    s = Script()
    order = s.staff("通知 5号楼 6号楼 定时 2026-12-02 09:00 明天上午9点到12点停水,请提前储水", at="16:00")
    chat = s.say("li-shu", "李叔", "明天见", at="08:59", day="2026-12-02")
    later = s.say("li-shu", "李叔", "午饭吃什么", at="12:00", day="2026-12-02")
    t = await play(database_url, tmp_path, s)

    assert "将于 12月2日 09:00 发到 5号楼、6号楼 2 个群、72 户" in t.reply(order)["text"]
    posts = t.posts(2 - 1)
    assert [p["to"] for p in posts] == ["group:b5", "group:b6"]
    assert posts[0]["text"].startswith("【通知 #1】明天上午9点到12点停水,请提前储水。")
    # Not before its time: nothing was posted before the 08:59 line was read.
    assert all(t.index(p) > t.index(t.records[0]) for p in posts)
    assert t.replies(chat) == [] and t.replies(later) == []
    (notice,) = await rows(database_url, Notice)
    assert notice.status == "sent" and notice.posts == 1
    assert not any(d.late for d in await rows(database_url, NoticeDelivery))


async def test_a_recurring_notice_repeats_weekly_until_revoked(database_url: str, tmp_path: Path) -> None:
    s = Script(day="2026-12-06")  # a Sunday
    order = s.say(
        "ma-li",
        "马丽",
        "通知 第二网格 每周一三 9:00 周一、周三是垃圾分类宣传日,请大家分类投放",
        at="10:00",
        group="grid-2",
    )
    listing = s.say("ma-li", "马丽", "通知列表", at="10:05", group="grid-2")
    revoke = s.say("ma-li", "马丽", "撤回通知 #1", at="10:00", day="2026-12-10", group="grid-2")
    s.say("li-shu", "李叔", "好", at="10:00", day="2026-12-14")
    t = await play(database_url, tmp_path, s)

    assert "将在每周一、三 9:00 发到 5号楼等 4 栋楼 4 个群" in t.reply(order)["text"]
    assert "#1 第二网格 每周一、三 9:00,下次 12月7日 09:00" in t.reply(listing)["text"]
    posts = t.posts(1)
    # Monday 7th and Wednesday 9th; revoked on the 10th, so not on Monday 14th.
    assert sorted(p["to"] for p in posts) == sorted(["group:b5", "group:b6", "group:b7", "group:b8"] * 2)
    assert t.index(posts[-1]) < t.index(t.reply(revoke))
    assert t.reply(revoke)["text"] == "@马丽 通知 #1 已撤回,已发出的 2 次不受影响,之后不再发送。"
    (notice,) = await rows(database_url, Notice)
    assert notice.status == "revoked" and notice.posts == 2


async def test_a_grid_leader_may_only_notify_their_own_grid(database_url: str, tmp_path: Path) -> None:
    s = Script()
    outside = s.say("ma-li", "马丽", "通知 1号楼 明天停电", at="10:00", group="grid-2")
    unknown = s.staff("通知 99号楼 明天停电", at="10:01")
    empty = s.staff("通知 全体", at="10:02")
    t = await play(database_url, tmp_path, s)

    assert t.reply(outside)["text"] == "@马丽 “1号楼”不在您负责的第二网格里。"
    assert "没有找到“99号楼”" in t.reply(unknown)["text"]
    assert "通知内容是空的" in t.reply(empty)["text"]
    assert t.posts(1) == []


async def test_acknowledgments_count_for_the_latest_open_notice_in_the_group(
    database_url: str, tmp_path: Path
) -> None:
    s = Script()
    s.staff("通知 5号楼 第一件事", at="09:00")
    s.staff("通知 5号楼 6号楼 第二件事", at="09:30")
    s.say("liu-nainai", "刘奶奶", "收到", at="09:40")
    s.say("qian", "钱叔", "收到", at="09:41", group="b6")
    await play(database_url, tmp_path, s)

    acks = await rows(database_url, NoticeAck)
    assert [a.notice_id for a in acks] == [2, 2]


async def test_acknowledgments_skip_notices_past_their_deadline_or_revoked(
    database_url: str, tmp_path: Path
) -> None:
    s = Script()
    s.staff("通知 5号楼 第一件事", at="09:00")
    s.staff("通知 5号楼 第二件事 截止 2026-12-01", at="09:30")
    s.staff("通知 5号楼 第三件事", at="09:40")
    s.staff("撤回通知 #3", at="09:45")
    s.say("liu-nainai", "刘奶奶", "收到", at="09:50")  # #3 is revoked: the latest open one is #2
    s.say("qian", "钱叔", "收到", at="09:00", day="2026-12-02")  # #2's deadline has passed: #1
    await play(database_url, tmp_path, s)

    acks = await rows(database_url, NoticeAck)
    assert [a.notice_id for a in acks] == [2, 1]


async def test_before_the_deadline_buildings_behind_get_a_repost_and_leaders_a_visit_list(
    database_url: str, tmp_path: Path
) -> None:
    s = Script()
    s.staff("通知 1号楼 5号楼 请于12月5日前交回居住证明 截止 2026-12-05", at="09:00")
    for n in range(20):
        s.say(
            f"r{n}",
            f"1-{1 + n // 12}-{1 + (n % 12) // 2}0{1 + n % 2} 住户",
            "收到",
            at=f"10:{n:02d}",
            group="b1",
        )
    s.say("liu-nainai", "刘奶奶", "收到", at="11:00")
    s.say("li-shu", "李叔", "好", at="12:00", day="2026-12-06")
    t = await play(database_url, tmp_path, s)

    reposts = t.posts(1, " 再次提醒】")
    assert [p["to"] for p in reposts] == ["group:b5"]  # 1号楼 has 20/24 ≥ 80%
    visit_b1 = t.visits("li-fang")
    assert len(visit_b1) == 1
    assert visit_b1[0]["text"].startswith("通知 #1 截止前仍有 4 户未回复:1号楼 ")
    assert "2单元" in visit_b1[0]["text"]  # every reply named its room: the rooms are listed
    (visit_b5,) = t.visits("liu-xiuying")
    assert "5号楼 35 户未回复" in visit_b5["text"]
    reminder_time = t.index(reposts[0])
    assert reminder_time > t.index(t.posts(1)[-1])


async def test_the_receipt_names_leaders_the_bot_cannot_reach_privately(
    database_url: str, tmp_path: Path
) -> None:
    # 刘秀英 (micro-grid leader of 5-7号楼) is on QQ only; the replay serves the web chat only.
    text = DEMO_DIRECTORY.read_text(encoding="utf-8")
    accounts = "accounts: [{platform: webchat, id: liu-xiuying}]"
    assert accounts in text
    path = tmp_path / "community.yaml"
    path.write_text(text.replace(accounts, 'accounts: [{platform: onebot, id: "10303"}]'), encoding="utf-8")
    s = Script()
    s.staff("通知 1号楼 5号楼 请于12月5日前交回居住证明 截止 2026-12-05", at="09:00")
    receipt = s.staff("通知回执 #1", at="10:00")
    settings = Settings(database_url=database_url, data_dir=tmp_path, directory=path)
    out = io.StringIO()
    assert await replay(settings, io.StringIO(s.text()), out) == 0
    t = Transcript([json.loads(line) for line in out.getvalue().splitlines()])

    assert t.reply(receipt)["text"].endswith(
        "未回复住户已私信各微网格长上门告知。刘秀英 没有本机器人能私信到的账号,请另行转告。"
    )
    assert len(t.visits("li-fang")) == 1
    assert t.to("user:liu-xiuying") == []
