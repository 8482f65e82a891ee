from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.adapters.base import SendError
from bot.adapters.onebot import OneBotAdapter
from bot.config import Settings
from bot.outbox import Outbox
from bot.runtime import Runtime
from handlers.clock import ManualClock
from handlers.contract import Mention, SendToGroup, SendToUser
from storage.models import OutboxEntry

sys.path.insert(0, str(Path(__file__).parent.parent / "adapters"))
from fake_onebot import FakeOneBot, failed

if TYPE_CHECKING:
    from conftest import RecordingAdapter


def to_group(text: str, group: str = "b5") -> SendToGroup:
    return SendToGroup(
        platform="webchat", group_id=group, text=text, mentions=(Mention(user_id="u1", name="张阿姨"),)
    )


async def enqueue(runtime: Runtime, *actions: SendToGroup | SendToUser) -> None:
    async with runtime.sessions() as session, session.begin():
        await runtime.outbox.enqueue(session, actions, runtime.clock.now())


async def entries(runtime: Runtime) -> list[OutboxEntry]:
    async with runtime.sessions() as session:
        return list((await session.execute(select(OutboxEntry).order_by(OutboxEntry.id))).scalars())


async def test_actions_are_stored_before_they_are_sent_and_marked_when_sent(
    runtime: Runtime, platform: RecordingAdapter
) -> None:
    await enqueue(runtime, to_group("第一条"), SendToUser(platform="webchat", user_id="u2", text="私信"))
    assert [e.status for e in await entries(runtime)] == ["pending", "pending"]
    assert platform.sent == []
    assert await runtime.outbox.flush() == 2
    stored = await entries(runtime)
    assert [e.status for e in stored] == ["sent", "sent"]
    assert {e.sent_message_id for e in stored} == {"bot-1", "bot-2"}
    assert platform.sent[0] == to_group("第一条")
    assert platform.sent[1].kind == "user"


async def test_an_action_in_a_rolled_back_transaction_is_never_sent(
    runtime: Runtime, platform: RecordingAdapter
) -> None:
    with pytest.raises(RuntimeError):
        async with runtime.sessions() as session, session.begin():
            await runtime.outbox.enqueue(session, [to_group("不该发出")], runtime.clock.now())
            raise RuntimeError("the handler failed after deciding to reply")
    await runtime.outbox.flush()
    assert platform.sent == []


async def test_unsent_actions_go_out_after_a_crash_and_restart(
    runtime: Runtime, clock: ManualClock, platform: RecordingAdapter
) -> None:
    await enqueue(runtime, to_group("崩溃前决定的回复"))
    # The process dies here: nothing was sent. A new outbox on the same database starts up.
    restarted = Outbox(runtime.sessions, clock, idle_poll=0.05)
    survivor = type(platform)()
    restarted.register(survivor)
    await restarted.start()
    try:
        for _ in range(100):
            if survivor.sent:
                break
            await _tick()
    finally:
        await restarted.stop()
    assert [a.text for a in survivor.sent] == ["崩溃前决定的回复"]
    assert platform.sent == []


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.02)


async def test_failures_are_retried_with_backoff_and_logged(
    runtime: Runtime, clock: ManualClock, platform: RecordingAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    platform.failures = [SendError("platform down"), SendError("still down")]
    await enqueue(runtime, to_group("重要通知"))
    assert await runtime.outbox.flush() == 0
    [entry] = await entries(runtime)
    assert entry.attempts == 1 and entry.status == "pending" and entry.last_error == "platform down"
    assert entry.next_attempt_at == clock.now() + timedelta(seconds=2)
    assert await runtime.outbox.flush() == 0  # not due yet: nothing is hammered
    clock.advance(timedelta(seconds=2))
    assert await runtime.outbox.flush() == 0
    [entry] = await entries(runtime)
    assert entry.next_attempt_at == clock.now() + timedelta(seconds=4)  # doubled
    clock.advance(timedelta(seconds=4))
    assert await runtime.outbox.flush() == 1
    assert [a.text for a in platform.sent] == ["重要通知"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "loudong.outbox"]
    assert len(warnings) == 2


async def test_a_permanent_failure_or_too_many_attempts_gives_up(
    runtime: Runtime, clock: ManualClock, platform: RecordingAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    platform.failures = [SendError("group dissolved", permanent=True)]
    await enqueue(runtime, to_group("发不出去"))
    await runtime.outbox.flush()
    [entry] = await entries(runtime)
    assert entry.status == "dead"
    assert any(r.levelno == logging.ERROR and r.name == "loudong.outbox" for r in caplog.records)
    clock.advance(timedelta(days=1))
    assert await runtime.outbox.flush() == 0


async def test_a_failure_holds_back_later_messages_to_the_same_group_only(
    runtime: Runtime, clock: ManualClock, platform: RecordingAdapter
) -> None:
    platform.failures = [SendError("timeout")]
    await enqueue(runtime, to_group("5号楼第一条"), to_group("5号楼第二条"), to_group("6号楼", group="b6"))
    await runtime.outbox.flush()
    assert [a.text for a in platform.sent] == ["6号楼"]
    clock.advance(timedelta(seconds=2))
    await runtime.outbox.flush()
    assert [a.text for a in platform.sent] == ["6号楼", "5号楼第一条", "5号楼第二条"]


async def test_an_action_for_a_platform_no_adapter_serves_is_kept_undeliverable_not_retried(
    runtime: Runtime, clock: ManualClock, platform: RecordingAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    # This bot runs the web chat only; a message for QQ (left by an earlier configuration, say) cannot go.
    await enqueue(runtime, SendToGroup(platform="onebot", group_id="731000005", text="QQ群消息"))
    await enqueue(runtime, to_group("网页群消息"))
    assert await runtime.outbox.flush() == 1
    unserved, served = await entries(runtime)
    assert (unserved.status, unserved.attempts) == ("dead", 1)
    assert "no adapter for platform 'onebot'" in (unserved.last_error or "")
    assert served.status == "sent"
    [line] = [r for r in caplog.records if r.name == "loudong.outbox" and r.levelno == logging.ERROR]
    assert "undeliverable" in line.getMessage() and line.platform == "onebot"
    clock.advance(timedelta(hours=3))
    assert await runtime.outbox.flush() == 0
    [again, _] = await entries(runtime)
    assert (again.status, again.attempts) == ("dead", 1)


@dataclass
class QQ:
    """The OneBot adapter on a real server, and the fake QQ implementation that connects to it."""

    adapter: OneBotAdapter
    fake: FakeOneBot


@pytest.fixture
async def qq(clock: ManualClock) -> AsyncIterator[QQ]:
    adapter = OneBotAdapter(reconnect_wait=0.01, heartbeat=None, clock=clock)
    app = web.Application()
    adapter.mount(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/onebot/v11/ws")).replace("http://", "ws://", 1)
    fake = FakeOneBot(url)
    yield QQ(adapter, fake)
    await fake.close()
    await adapter.stop()
    await server.close()


def to_qq(text: str, group: str = "731000005") -> SendToGroup:
    return SendToGroup(platform="onebot", group_id=group, text=text)


async def enqueue_to(outbox: Outbox, runtime: Runtime, *actions: SendToGroup | SendToUser) -> None:
    async with runtime.sessions() as session, session.begin():
        await outbox.enqueue(session, actions, runtime.clock.now())


async def test_actions_for_a_disconnected_platform_wait_unspent_and_go_out_in_order_when_it_connects(
    runtime: Runtime, clock: ManualClock, qq: QQ, caplog: pytest.LogCaptureFixture
) -> None:
    # The QQ bridge is down. An hour between reads of the rows: only the reconnect can wake the outbox.
    outbox = Outbox(runtime.sessions, clock, idle_poll=3600)
    outbox.register(qq.adapter)
    await enqueue_to(outbox, runtime, to_qq("【紧急】3号楼有人晕倒，请网格员马上到场"))
    await enqueue_to(
        outbox, runtime, to_qq("第二条"), SendToUser(platform="onebot", user_id="10102", text="私信")
    )
    # Far longer than the old give-up time (8 attempts, about 4-5 minutes of backoff).
    for _ in range(40):
        assert await outbox.flush() == 0
        clock.advance(timedelta(seconds=30))
    stored = await entries(runtime)
    assert [(e.status, e.attempts) for e in stored] == [("pending", 0)] * 3
    assert not [r for r in caplog.records if r.name == "loudong.outbox" and r.levelno >= logging.WARNING]
    await outbox.start()
    try:
        await enqueue_to(outbox, runtime, to_qq("第三条"))  # by the memory path, while still down
        await asyncio.sleep(0.05)
        assert qq.fake.actions.empty()
        await qq.fake.connect()
        sent = [await qq.fake.next_action() for _ in range(4)]
        to_group = [
            a["params"]["message"][0]["data"]["text"] for a in sent if a["action"] == "send_group_msg"
        ]
        assert to_group == ["【紧急】3号楼有人晕倒，请网格员马上到场", "第二条", "第三条"]
        assert [a["action"] for a in sent].count("send_private_msg") == 1
        for _ in range(100):
            if all(e.status == "sent" for e in await entries(runtime)):
                break
            await asyncio.sleep(0.02)
    finally:
        await outbox.stop()
    stored = await entries(runtime)
    assert [(e.status, e.attempts) for e in stored] == [("sent", 1)] * 4


async def test_real_failures_while_connected_still_give_up_after_max_attempts(
    runtime: Runtime, clock: ManualClock, qq: QQ, caplog: pytest.LogCaptureFixture
) -> None:
    qq.fake.responder = lambda request: failed(100, "发送失败")
    await qq.fake.connect()
    outbox = Outbox(runtime.sessions, clock)
    outbox.register(qq.adapter)
    await enqueue_to(outbox, runtime, to_qq("发不出去"))
    for _ in range(8):
        assert await outbox.flush() == 0
        clock.advance(timedelta(minutes=5))
    [entry] = await entries(runtime)
    assert (entry.status, entry.attempts) == ("dead", 8)
    [line] = [r for r in caplog.records if r.name == "loudong.outbox" and r.levelno == logging.ERROR]
    assert line.getMessage() == "outbound message given up"


async def test_an_action_that_waited_longer_than_the_bound_is_given_up_with_one_error_line(
    runtime: Runtime, clock: ManualClock, qq: QQ, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(runtime.sessions, clock, max_wait=timedelta(hours=24))
    outbox.register(qq.adapter)
    await enqueue_to(outbox, runtime, to_qq("昨天早上的回复"))
    await outbox.flush()
    clock.advance(timedelta(hours=2))
    await enqueue_to(outbox, runtime, to_qq("两小时后的通知"))
    await outbox.flush()
    clock.advance(timedelta(hours=22, minutes=1))
    await outbox.flush()
    await outbox.flush()
    old, recent = await entries(runtime)
    assert (old.status, old.attempts) == ("dead", 0)
    assert "not connected" in (old.last_error or "")
    assert (recent.status, recent.attempts) == ("pending", 0)
    [line] = [r for r in caplog.records if r.name == "loudong.outbox" and r.levelno == logging.ERROR]
    assert (
        line.getMessage()
        == "outbound message given up: waited 24h01m for platform onebot to connect (limit 24h00m)"
    )
    assert line.platform == "onebot"
    # The bridge comes back: what has not waited too long goes out.
    await qq.fake.connect()
    assert await outbox.flush() == 1
    assert (await qq.fake.next_action())["params"]["message"][0]["data"]["text"] == "两小时后的通知"


def test_the_wait_bound_is_a_setting() -> None:
    assert Settings().outbox_wait_hours == 24
    assert Settings(outbox_wait_hours=6).outbox_wait_hours == 6
