"""The outbox's memory path: actions committed by this process go out without being read back, and
never out of order, twice, or from a transaction that rolled back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.adapters.base import SendError
from bot.outbox import Outbox, _Item
from bot.runtime import Runtime
from handlers.clock import ManualClock
from handlers.contract import SendToGroup
from storage import repos
from storage.models import OutboxEntry

if TYPE_CHECKING:
    from conftest import RecordingAdapter


def to_group(text: str, group: str = "b5") -> SendToGroup:
    return SendToGroup(platform="webchat", group_id=group, text=text)


async def enqueue(runtime: Runtime, outbox: Outbox, *actions: SendToGroup, due_in: float = 0) -> None:
    async with runtime.sessions() as session, session.begin():
        await outbox.enqueue(session, actions, runtime.clock.now() + timedelta(seconds=due_in))


async def statuses(runtime: Runtime) -> list[tuple[str, str, str | None]]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(OutboxEntry.text, OutboxEntry.status, OutboxEntry.sent_message_id).order_by(OutboxEntry.id)
        )
        return [(text, status, message_id) for text, status, message_id in rows]


async def until(condition: Any, seconds: float = 2.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the conditions are plain state, no event to wait on
            await asyncio.sleep(0.005)


@pytest.fixture
async def outbox(runtime: Runtime, clock: ManualClock, platform: RecordingAdapter) -> AsyncIterator[Outbox]:
    """A running outbox that reads the rows only at start (an hour between reads), so whatever it sends
    afterwards without `flush()` went by the memory path."""
    worker = Outbox(runtime.sessions, clock, idle_poll=3600)
    worker.register(platform)
    await worker.start()
    await asyncio.sleep(0.05)  # its first round reads the rows
    yield worker
    await worker.stop()


async def test_a_committed_action_goes_out_without_its_row_being_read_back(
    runtime: Runtime, outbox: Outbox, platform: RecordingAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_reading(*_: Any, **__: Any) -> Any:
        raise AssertionError("the row was read back")

    monkeypatch.setattr(repos, "due_outbox", no_reading)
    await enqueue(runtime, outbox, to_group("收到,已登记"), to_group("第二条"))
    await until(lambda: len(platform.sent) == 2)
    assert [a.text for a in platform.sent] == ["收到,已登记", "第二条"]
    # Marked sent shortly after, together.
    async with asyncio.timeout(2):
        while (found := await statuses(runtime)) != [
            ("收到,已登记", "sent", "bot-1"),
            ("第二条", "sent", "bot-2"),
        ]:
            assert [status for _, status, _ in found] in (["pending"] * 2, ["sent"] * 2)
            await asyncio.sleep(0.01)


async def test_what_went_out_is_marked_sent_by_flush_and_by_stop(
    runtime: Runtime, clock: ManualClock, platform: RecordingAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.outbox.RECORD_DELAY", 3600.0)
    for ends_with in ("flush", "stop"):
        worker = Outbox(runtime.sessions, clock, idle_poll=3600)
        worker.register(platform)
        await worker.start()
        await asyncio.sleep(0.05)
        await enqueue(runtime, worker, to_group(ends_with))
        await until(lambda text=ends_with: platform.sent != [] and platform.sent[-1].text == text)
        await asyncio.sleep(0.05)
        assert (await statuses(runtime))[-1][1] == "pending"  # sent, and waiting to be marked
        if ends_with == "flush":
            assert await worker.flush() == 0
            assert (await statuses(runtime))[-1][1] == "sent"
        await worker.stop()
        assert (await statuses(runtime))[-1][1] == "sent"


async def test_an_action_of_a_rolled_back_transaction_never_goes_out(
    runtime: Runtime, outbox: Outbox, platform: RecordingAdapter
) -> None:
    with pytest.raises(RuntimeError):
        async with runtime.sessions() as session, session.begin():
            await outbox.enqueue(session, [to_group("不该发出")], runtime.clock.now())
            raise RuntimeError("the handler failed after deciding to reply")
    await asyncio.sleep(0.05)
    assert platform.sent == [] and outbox._ready == {}


@pytest.mark.parametrize("batch_commits", [True, False])
async def test_an_action_of_a_batch_waits_for_the_batch_and_dies_with_it(
    runtime: Runtime, outbox: Outbox, platform: RecordingAdapter, batch_commits: bool
) -> None:
    # As the dispatcher's batches: several messages' work in one session and transaction, with a
    # savepoint (a first-time sender registered) released in between.
    async with runtime.sessions() as session:
        await session.begin()
        await outbox.enqueue(session, [to_group("批里的回复")], runtime.clock.now())
        async with session.begin_nested():
            await session.flush()
        await outbox.enqueue(session, [to_group("批里的第二条")], runtime.clock.now())
        await asyncio.sleep(0.05)
        assert platform.sent == []  # nothing before the batch commits
        if batch_commits:
            await session.commit()
        else:
            await session.rollback()
    await asyncio.sleep(0.05)
    expected = ["批里的回复", "批里的第二条"] if batch_commits else []
    assert [a.text for a in platform.sent] == expected
    assert len(await statuses(runtime)) == len(expected)


async def test_a_new_action_never_overtakes_an_older_one_waiting_for_its_retry(
    runtime: Runtime, outbox: Outbox, clock: ManualClock, platform: RecordingAdapter
) -> None:
    platform.failures = [SendError("timeout")]
    await enqueue(runtime, outbox, to_group("第一条"))
    await until(lambda: platform.failures == [])
    await asyncio.sleep(0.05)
    await enqueue(runtime, outbox, to_group("第二条"))
    await enqueue(runtime, outbox, to_group("6号楼", group="b6"))
    await until(lambda: len(platform.sent) == 1)
    await asyncio.sleep(0.05)
    assert [a.text for a in platform.sent] == ["6号楼"]  # 5号楼 waits for its first message's retry
    clock.advance(timedelta(seconds=2))
    await outbox.flush()
    assert [a.text for a in platform.sent] == ["6号楼", "第一条", "第二条"]
    # Nothing pending any more: the group is no longer held back, a new reply goes at once.
    await enqueue(runtime, outbox, to_group("第三条"))
    await until(lambda: len(platform.sent) == 4)
    assert platform.sent[-1].text == "第三条"


async def test_a_paced_action_not_yet_due_keeps_its_place_in_the_queue(
    runtime: Runtime, outbox: Outbox, clock: ManualClock, platform: RecordingAdapter
) -> None:
    await enqueue(runtime, outbox, to_group("每日简报"), due_in=30)
    await enqueue(runtime, outbox, to_group("回复"))
    await asyncio.sleep(0.1)
    assert platform.sent == []
    clock.advance(timedelta(seconds=30))
    await outbox.flush()
    assert [a.text for a in platform.sent] == ["每日简报", "回复"]


async def _store_for_b5(session: AsyncSession, text: str, clock: ManualClock) -> int:
    """A row stored as another process (or this one before a restart) would: not through this outbox."""
    [entry_id] = await repos.insert_outbox(
        session,
        [
            {
                "platform": "webchat",
                "target_kind": "group",
                "target_id": "b5",
                "text": text,
                "mentions": [],
                "reply_to": None,
                "origin": None,
            }
        ],
        now=clock.now(),
    )
    return entry_id


async def test_rows_written_before_a_start_hold_back_new_actions_to_their_target(
    runtime: Runtime, clock: ManualClock, platform: RecordingAdapter
) -> None:
    # A retry from before the restart is pending for b5: the new outbox learns so from the rows.
    async with runtime.sessions() as session, session.begin():
        entry_id = await _store_for_b5(session, "重启前的消息", clock)
        await repos.mark_outbox_failed(
            session, entry_id, error="timeout", retry_at=clock.now() + timedelta(5)
        )
    restarted = Outbox(runtime.sessions, clock, idle_poll=3600)
    restarted.register(platform)
    await restarted.start()
    try:
        await asyncio.sleep(0.05)
        await enqueue(runtime, restarted, to_group("重启后的回复"))
        await asyncio.sleep(0.1)
        assert platform.sent == []
        clock.advance(timedelta(days=5))
        await restarted.flush()
        assert [a.text for a in platform.sent] == ["重启前的消息", "重启后的回复"]
    finally:
        await restarted.stop()


async def test_an_entry_read_back_before_its_commit_event_goes_once(
    runtime: Runtime, clock: ManualClock, platform: RecordingAdapter
) -> None:
    # With a driver that really waits on COMMIT (PostgreSQL) the rows can be read between the commit
    # and its event; the event coming late must not send the entry again.
    worker = Outbox(runtime.sessions, clock)
    worker.register(platform)
    async with runtime.sessions() as session, session.begin():
        entry_id = await _store_for_b5(session, "只发一次", clock)
    assert await worker.flush() == 1
    worker._committed(_Item(entry_id, to_group("只发一次"), due=clock.now()))
    assert await worker.flush() == 0
    assert [a.text for a in platform.sent] == ["只发一次"]


async def test_a_reply_does_not_wait_for_a_slow_send_to_another_group(
    runtime: Runtime, outbox: Outbox, platform: RecordingAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each target has its own sender: a group whose implementation is slow to answer holds up its own
    # later messages (order), never another group's reply.
    answered = asyncio.Event()
    send = platform.send

    async def slow_for_b5(action: Any) -> Any:
        if action.group_id == "b5":
            await answered.wait()
        return await send(action)

    monkeypatch.setattr(platform, "send", slow_for_b5)
    await enqueue(runtime, outbox, to_group("5号楼第一条"))
    await enqueue(runtime, outbox, to_group("5号楼第二条"))
    await enqueue(runtime, outbox, to_group("6号楼", group="b6"))
    await until(lambda: len(platform.sent) == 1)
    assert [a.text for a in platform.sent] == ["6号楼"]
    answered.set()
    await until(lambda: len(platform.sent) == 3)
    assert [a.text for a in platform.sent] == ["6号楼", "5号楼第一条", "5号楼第二条"]


async def test_flush_waits_for_the_sends_under_way_not_for_those_started_after_it(
    runtime: Runtime, outbox: Outbox, platform: RecordingAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under steady traffic a commit starts a sender at any moment. A flush that waited until no sender
    was left never returned, and held the lock the worker needs to mark what was sent: the sent-but-
    unmarked entries grew by one per reply for as long as the traffic lasted."""
    first_answered, later_answered = asyncio.Event(), asyncio.Event()
    send = platform.send

    async def held(action: Any) -> Any:
        await (first_answered if action.group_id == "b5" else later_answered).wait()
        return await send(action)

    monkeypatch.setattr(platform, "send", held)
    await enqueue(runtime, outbox, to_group("5号楼"))
    flushing = asyncio.create_task(outbox.flush())
    await asyncio.sleep(0.01)
    await enqueue(runtime, outbox, to_group("6号楼", group="b6"))  # committed during the flush
    first_answered.set()
    async with asyncio.timeout(2):
        assert await flushing == 1  # the 6号楼 send is still waiting for its answer
    later_answered.set()
    await until(lambda: len(platform.sent) == 2)
    async with asyncio.timeout(2):  # and the worker marks it, the flush done
        while [status for _, status, _ in await statuses(runtime)] != ["sent", "sent"]:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
