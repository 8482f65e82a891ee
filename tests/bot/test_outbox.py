from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from bot.adapters.base import SendError
from bot.adapters.onebot import OneBotAdapter
from bot.outbox import Outbox
from bot.runtime import Runtime
from handlers.clock import ManualClock
from handlers.contract import Mention, SendToGroup, SendToUser
from storage.models import OutboxEntry

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


async def test_an_action_for_a_served_but_disconnected_platform_is_retried(
    runtime: Runtime, clock: ManualClock, platform: RecordingAdapter
) -> None:
    # OneBot is configured, but no QQ implementation has connected (or it dropped): the adapter waits a
    # moment for one, then fails the send, and the outbox tries again later.
    onebot = OneBotAdapter(reconnect_wait=0.01, heartbeat=None, clock=clock)
    runtime.add_adapter(onebot)
    await enqueue(runtime, SendToUser(platform="onebot", user_id="10102", text="今日汇总"))
    assert await runtime.outbox.flush() == 0
    [entry] = await entries(runtime)
    assert (entry.status, entry.attempts) == ("pending", 1)
    assert "no implementation connected" in (entry.last_error or "")
    assert entry.next_attempt_at == clock.now() + timedelta(seconds=2)
    clock.advance(timedelta(seconds=2))
    await runtime.outbox.flush()
    [entry] = await entries(runtime)
    assert (entry.status, entry.attempts) == ("pending", 2)
