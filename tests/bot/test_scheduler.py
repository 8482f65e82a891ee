"""The scheduler: jobs live in the bot's database (APScheduler's SQLAlchemy job store), survive a
restart, run late after downtime (marked late, unless the deadline passed), and are driven by the
simulated clock in tests and by APScheduler's own loop live."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import DEMO_DIRECTORY, Settings
from bot.runtime import Runtime
from bot.scheduler import sync_url, trigger_for
from handlers import digest
from handlers.clock import LOCAL_TZ, ManualClock, SystemClock
from handlers.contract import Message, SendToGroup, SendToUser, SentReceipt
from handlers.schedule import Once, Plan, Weekly
from storage.models import OutboxEntry
from storage.notices import Notice, NoticeDelivery
from storage.patrols import PatrolRota

_ids = itertools.count(1)


class RecordingAdapter:
    """The web chat platform, recording what it is asked to send."""

    platform = "webchat"
    sends_private = True

    def __init__(self) -> None:
        self.sent: list[SendToGroup | SendToUser] = []

    async def start(self, deliver: object) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, action: SendToGroup | SendToUser) -> SentReceipt:
        self.sent.append(action)
        return SentReceipt(message_id=f"bot-{len(self.sent)}")


def staff_says(text: str, at: datetime) -> Message:
    return Message(
        platform="webchat",
        group_id="community-office",
        sender_id="wang-shuji",
        sender_name="王建国",
        message_id=f"s{next(_ids)}",
        text=text,
        time=at,
    )


def beijing(day: str, at: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{at}").replace(tzinfo=LOCAL_TZ)


async def restarted(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> tuple[Runtime, RecordingAdapter]:
    settings = Settings(database_url=database_url, data_dir=tmp_path, directory=DEMO_DIRECTORY)
    bot = Runtime(settings, clock=clock)
    await bot.open()
    adapter = RecordingAdapter()
    bot.add_adapter(adapter)
    return bot, adapter


def test_the_job_store_uses_a_synchronous_driver_on_the_same_database() -> None:
    assert sync_url("sqlite+aiosqlite:////data/loudong.db") == "sqlite:////data/loudong.db"
    assert sync_url("postgresql+asyncpg://u:p@db/loudong") == "postgresql+psycopg://u:p@db/loudong"
    assert sync_url("postgres://u:p@db/loudong") == "postgresql+psycopg://u:p@db/loudong"


def test_triggers_keep_beijing_time() -> None:
    weekly = trigger_for(Weekly(9, 0, (0, 2)))
    first = weekly.get_next_fire_time(None, beijing("2026-12-01", "10:00"))  # a Tuesday
    assert first == beijing("2026-12-02", "09:00")
    once = trigger_for(Once(beijing("2026-12-03", "08:00")))
    assert once.get_next_fire_time(None, beijing("2026-12-01", "10:00")) == beijing("2026-12-03", "08:00")


async def test_a_scheduled_notice_survives_a_restart_and_is_sent_late(
    runtime: Runtime,
    platform: RecordingAdapter,
    clock: ManualClock,
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="loudong")
    await runtime.dispatcher.dispatch(staff_says("通知 5号楼 定时 2026-12-02 09:00 明早停水", clock.now()))
    await runtime.settle()
    assert runtime.scheduler.next_run("notices.send:1") == beijing("2026-12-02", "09:00")
    await runtime.close()  # the bot is down at nine the next morning

    later = ManualClock(beijing("2026-12-02", "11:30"))
    bot, adapter = await restarted(database_url, tmp_path, later)
    try:
        assert bot.scheduler.next_run("notices.send:1") == beijing("2026-12-02", "09:00")  # it survived
        await bot.run_due()
        posts = [a for a in adapter.sent if isinstance(a, SendToGroup) and a.group_id == "b5"]
        assert len(posts) == 1
        assert posts[0].text.startswith("【通知 #1(补发)】明早停水。")
        async with bot.sessions() as session:
            (delivery,) = await session.scalars(select(NoticeDelivery))
            assert delivery.late is True
        assert bot.scheduler.next_run("notices.send:1") is None  # ran once, gone
        ran = [r for r in caplog.records if r.getMessage() == "scheduled job ran"]
        assert ran and ran[-1].job == "handlers.notices:send_notice" and ran[-1].late_s == 9000
    finally:
        await bot.close()


async def test_a_notice_whose_deadline_passed_while_down_is_not_sent(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock, database_url: str, tmp_path: Path
) -> None:
    await runtime.dispatcher.dispatch(
        staff_says("通知 5号楼 定时 2026-12-02 09:00 今天下午领取年货 截止 2026-12-02", clock.now())
    )
    await runtime.settle()
    await runtime.close()

    bot, adapter = await restarted(database_url, tmp_path, ManualClock(beijing("2026-12-03", "08:00")))
    try:
        await bot.run_due()
        assert not [a for a in adapter.sent if isinstance(a, SendToGroup)]
        async with bot.sessions() as session:
            notice = await session.get(Notice, 1)
            assert notice is not None and notice.posts == 0
            assert list(await session.scalars(select(NoticeDelivery))) == []
    finally:
        await bot.close()


async def test_a_recurring_notice_missed_several_times_is_sent_once_on_start(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock, database_url: str, tmp_path: Path
) -> None:
    await runtime.dispatcher.dispatch(staff_says("通知 5号楼 每天 8:00 出门请关好燃气", clock.now()))
    await runtime.settle()
    await runtime.close()

    bot, adapter = await restarted(database_url, tmp_path, ManualClock(beijing("2026-12-05", "10:00")))
    try:
        await bot.run_due()
        posts = [a for a in adapter.sent if isinstance(a, SendToGroup) and a.group_id == "b5"]
        assert [p.text[:12] for p in posts] == ["【通知 #1(补发)】出"]
        assert bot.scheduler.next_run("notices.send:1") == beijing("2026-12-06", "08:00")
    finally:
        await bot.close()


async def test_revoking_removes_the_job(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    await runtime.dispatcher.dispatch(staff_says("通知 5号楼 每周一 9:00 周一宣传", clock.now()))
    await runtime.settle()
    assert runtime.scheduler.next_run("notices.send:1") == beijing("2026-12-07", "09:00")
    await runtime.dispatcher.dispatch(staff_says("撤回通知 #1", clock.now()))
    await runtime.settle()
    assert runtime.scheduler.next_run("notices.send:1") is None


async def test_standing_jobs_are_installed_once_and_keep_their_next_run(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    assert runtime.scheduler.next_run("digest.daily") == beijing("2026-12-01", "18:00")
    assert runtime.scheduler.next_run("patrols.reminders") == beijing("2026-12-02", "08:00")
    assert runtime.scheduler.next_run("patrols.week") == beijing("2026-12-07", "07:30")
    await runtime.close()
    bot, _ = await restarted(database_url, tmp_path, ManualClock(beijing("2026-12-01", "19:00")))
    try:
        # Missed while down: still due (it will run late), not pushed to the next day.
        assert bot.scheduler.next_run("digest.daily") == beijing("2026-12-01", "18:00")
    finally:
        await bot.close()


async def test_a_changed_digest_time_replaces_the_standing_job(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    await runtime.close()
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, directory=DEMO_DIRECTORY, digest_time="17:30"
    )
    bot = Runtime(settings, clock=ManualClock(beijing("2026-12-01", "10:00")))
    await bot.open()
    try:
        assert bot.scheduler.next_run("digest.daily") == beijing("2026-12-01", "17:30")
    finally:
        await bot.close()


@pytest.mark.timeout(60)
async def test_live_the_apscheduler_loop_runs_due_jobs(database_url: str, tmp_path: Path) -> None:
    """With a system clock, AsyncIOScheduler runs a job added for now in real time."""
    settings = Settings(database_url=database_url, data_dir=tmp_path, directory=DEMO_DIRECTORY)
    bot = Runtime(settings, clock=SystemClock())
    await bot.open()
    await bot.import_directory(str(DEMO_DIRECTORY))
    adapter = RecordingAdapter()
    bot.add_adapter(adapter)
    await bot.start(serve_web=False, tick=False)
    try:
        now = datetime.now(LOCAL_TZ)
        await bot.dispatcher.dispatch(staff_says("通知 5号楼 实时发送测试", now))
        # Two independent events: the post (on the loop) and APScheduler dropping the spent one-off job
        # (in its worker thread, after handing the job over); either may come first.
        for _ in range(100):
            posted_any = any(isinstance(a, SendToGroup) and a.group_id == "b5" for a in adapter.sent)
            if posted_any and bot.scheduler.next_run("notices.send:1") is None:
                break
            await asyncio.sleep(0.1)
        posted = [a for a in adapter.sent if isinstance(a, SendToGroup) and a.group_id == "b5"]
        assert posted and posted[0].text.startswith("【通知 #1】实时发送测试。")
        assert bot.scheduler.next_run("notices.send:1") is None
    finally:
        await bot.close()


async def test_a_patrol_reminder_job_runs_each_morning(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    async with runtime.sessions() as session, session.begin():
        from storage import repos

        gao = await repos.find_person_by_key(session, "gao-lei")
        building_ids = [
            g.unit_id for g in await repos.list_groups(session, "webchat") if g.external_id in ("b5", "b6")
        ]
        assert gao is not None and gao.unit_id is not None
        session.add(
            PatrolRota(
                grid_id=gao.unit_id,
                patroller_id=gao.id,
                building_ids=building_ids,
                weekdays=[2],  # Wednesday
                kind="daily",
                period="上午",
                active=True,
                created_at=clock.now(),
            )
        )
    assert runtime.scheduler.next_run("patrols.reminders") == beijing("2026-12-02", "08:00")
    clock.set(beijing("2026-12-02", "08:00"))
    await runtime.run_due()
    to_gao = [a for a in platform.sent if getattr(a, "user_id", None) == "gao-lei"]
    assert [a.text for a in to_gao] == [
        "今天上午请巡查 5号楼、6号楼。巡查后发“巡查 5号楼 正常”或说明发现的问题。"
    ]
    assert runtime.scheduler.next_run("patrols.reminders") == beijing("2026-12-03", "08:00")


class OneBotRecorder(RecordingAdapter):
    platform = "onebot"


async def test_a_fan_out_is_paced_per_platform(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    runtime.add_adapter(OneBotRecorder())
    await runtime.dispatcher.dispatch(staff_says("通知 第二网格 周六燃气安全检查", clock.now()))
    await runtime.scheduler.run_due()
    async with runtime.sessions() as session:
        entries = list(
            await session.scalars(
                select(OutboxEntry).where(OutboxEntry.target_kind == "group").order_by(OutboxEntry.id)
            )
        )
    start = clock.now()
    by_platform = {
        name: [(e.next_attempt_at - start).total_seconds() for e in entries if e.platform == name]
        for name in ("webchat", "onebot")
    }
    assert by_platform["webchat"] == [0, 0, 0, 0, 0]  # the command's reply, then four buildings
    assert by_platform["onebot"] == [0, 1.5, 3.0, 4.5]


@pytest.mark.timeout(60)
async def test_live_plans_are_applied_in_the_order_they_were_committed(
    database_url: str, tmp_path: Path
) -> None:
    """Live, a notice scheduled and at once revoked leaves no job, and a revoke followed by a new
    schedule leaves one: plans reach the job store in order, however quickly they follow each other."""
    settings = Settings(database_url=database_url, data_dir=tmp_path, directory=DEMO_DIRECTORY)
    bot = Runtime(settings, clock=SystemClock())
    await bot.open()
    await bot.start(serve_web=False, tick=False)
    try:
        later = Once(datetime.now(LOCAL_TZ) + timedelta(days=1))
        keys = [f"order.{n}" for n in range(20)]
        for key in keys:
            bot.scheduler.apply([Plan(key, digest.send_digests, later)])
            bot.scheduler.apply([Plan(key)])
        await bot.scheduler.settled()
        assert [bot.scheduler.next_run(key) for key in keys] == [None] * len(keys)

        for key in keys:
            bot.scheduler.apply([Plan(key)])
            bot.scheduler.apply([Plan(key, digest.send_digests, later)])
        await bot.scheduler.settled()
        assert all(bot.scheduler.next_run(key) is not None for key in keys)
    finally:
        await bot.close()
