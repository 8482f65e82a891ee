from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import DEMO_DIRECTORY
from bot.runtime import Runtime
from handlers.clock import ManualClock
from handlers.context import Context
from handlers.contract import Message
from handlers.router import CommandMatch, Router
from storage import repos
from storage.entries import GroupEntry, PersonEntry
from storage.memo import DIRECTORY_MEMO, DirectoryMemo
from storage.models import Account, OutboxEntry, Person, ProcessedMessage
from storage.requests import Request
from storage.roles import Role

if TYPE_CHECKING:
    from conftest import AccountLookup, RecordingAdapter


def message(
    clock: ManualClock, text: str, *, user: str = "guest-zhang", name: str = "张阿姨", **extra
) -> Message:
    fields = {"group_id": "b5", "message_id": f"m-{text}-{user}", "reply_to": None} | extra
    return Message(
        platform="webchat", sender_id=user, sender_name=name, text=text, time=clock.now(), **fields
    )


async def count(runtime: Runtime, model: type) -> int:
    async with runtime.sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_help_replies_in_the_group_tagging_and_quoting_the_sender(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    await runtime.dispatcher.dispatch(message(clock, "帮助", message_id="m1"))
    await runtime.outbox.flush()
    [reply] = platform.sent
    assert reply.kind == "group"
    assert reply.group_id == "b5"
    assert reply.reply_to == "m1"
    assert reply.text.startswith("@张阿姨 ")
    assert [m.user_id for m in reply.mentions] == ["guest-zhang"]
    assert "帮助" in reply.text


async def test_help_lists_only_what_the_role_may_do(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock, account_with_role: AccountLookup
) -> None:
    staff_only = Router("test")

    @staff_only.command("试发通知", summary="只给工作人员的测试命令", roles=[Role.STAFF])
    async def notice(ctx: Context):
        return [ctx.reply("好的")]

    runtime.registry.include(staff_only)
    staff_id, staff_name = await account_with_role(Role.STAFF)
    await runtime.dispatcher.dispatch(message(clock, "帮助", message_id="r1"))
    await runtime.dispatcher.dispatch(message(clock, "帮助", user=staff_id, name=staff_name, message_id="s1"))
    await runtime.outbox.flush()
    resident_help, staff_help = (action.text for action in platform.sent)
    assert "试发通知" not in resident_help
    assert "试发通知" in staff_help


async def test_a_redelivered_message_is_handled_once(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    first = await runtime.dispatcher.dispatch(message(clock, "帮助", message_id="dup"))
    again = await runtime.dispatcher.dispatch(message(clock, "帮助", message_id="dup"))
    await runtime.outbox.flush()
    assert first is not None and first.route == "command:帮助"
    assert again is not None and again.route == "duplicate"
    assert len(platform.sent) == 1


async def test_a_message_from_an_unknown_group_is_skipped(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loudong.dispatch")
    outcome = await runtime.dispatcher.dispatch(message(clock, "帮助", group_id="no-such-group"))
    await runtime.outbox.flush()
    assert outcome is not None and outcome.route == "unknown-group"
    assert platform.sent == []
    assert any(getattr(r, "route", None) == "unknown-group" for r in caplog.records)


async def test_an_unknown_sender_in_a_building_group_becomes_a_resident_of_it(
    runtime: Runtime, clock: ManualClock
) -> None:
    await runtime.dispatcher.dispatch(message(clock, "大家好", user="guest-new", name="新来的小王"))
    async with runtime.sessions() as session:
        person = await repos.find_person_by_account(session, "webchat", "guest-new")
    assert person is not None
    assert person.role == Role.RESIDENT
    assert person.name == "新来的小王"
    assert person.source == "chat"
    assert person.unit is not None and person.unit.name == "5号楼"


async def test_a_command_the_role_may_not_use_is_politely_refused(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    router = Router("test")

    @router.command("办结测试", summary="x", roles=[Role.PROPERTY])
    async def finish(ctx: Context):
        return [ctx.reply("已办结")]

    runtime.registry.include(router)
    outcome = await runtime.dispatcher.dispatch(message(clock, "办结测试 #1"))
    await runtime.outbox.flush()
    assert outcome is not None and outcome.handler == "refused"
    [refusal] = platform.sent
    assert "办结测试" in refusal.text and "帮助" in refusal.text
    assert "已办结" not in refusal.text


async def test_a_reply_to_the_bots_question_goes_to_the_handler_that_asked(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    router = Router("survey")
    answers: list[tuple[str | None, str]] = []

    @router.command("问一下", summary="x")
    async def ask(ctx: Context):
        return [ctx.reply("吃了吗?", origin="survey.meal:42")]

    @router.reply("survey.meal:")
    async def answer(ctx: Context):
        answers.append((ctx.origin, ctx.message.text))
        return [ctx.reply("好的")]

    runtime.registry.include(router)
    await runtime.dispatcher.dispatch(message(clock, "问一下", message_id="q"))
    await runtime.outbox.flush()
    outcome = await runtime.dispatcher.dispatch(message(clock, "吃过了", message_id="a", reply_to="bot-1"))
    assert outcome is not None and outcome.route == "reply:survey.meal:42"
    assert answers == [("survey.meal:42", "吃过了")]


async def test_free_text_goes_to_the_handlers_of_its_intent(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    router = Router("test")
    seen: list[str] = []

    # policy_query has no capability yet, so the test's handler is the only one for it.
    @router.intent("policy_query")
    async def answer(ctx: Context):
        seen.append(str(ctx.classification.intent))
        return [ctx.reply("可以在网上办理")]

    runtime.registry.include(router)
    outcome = await runtime.dispatcher.dispatch(message(clock, "退休认证在哪儿办啊?手机上能弄不能"))
    chatter = await runtime.dispatcher.dispatch(message(clock, "今天天气真好,出去晒晒太阳"))
    assert outcome is not None and outcome.intent == "policy_query"
    assert outcome.route == "intent:policy_query"
    assert chatter is not None and chatter.route == "chatter" and chatter.actions == []
    assert seen == ["policy_query"]


async def test_chatter_no_handler_is_concerned_with_costs_no_database_work(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runtime.engine is not None
    statements: list[str] = []
    event.listen(runtime.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    closed: list[AsyncSession] = []
    close = AsyncSession.close

    async def counted_close(self: AsyncSession) -> None:
        closed.append(self)
        await close(self)

    monkeypatch.setattr(AsyncSession, "close", counted_close)
    first = await runtime.dispatcher.dispatch(message(clock, "今天天气真好,出去晒晒太阳", message_id="c1"))
    assert first is not None and first.marked  # a sender and group not seen before are looked up
    looked_up, closed_before = len(statements), len(closed)
    chatter = await runtime.dispatcher.dispatch(message(clock, "中午吃啥呢", message_id="c2"))
    again = await runtime.dispatcher.dispatch(message(clock, "中午吃啥呢", message_id="c2"))
    assert len(statements) == looked_up  # not a BEGIN, not a dedupe mark
    assert len(closed) == closed_before  # no session entered, so none to close
    assert chatter is not None and chatter.intent == "chitchat"
    assert (chatter.route, chatter.marked) == ("chatter", False)
    assert again is not None and again.route == "chatter"  # handled again, and again nothing happens
    # What concerns a handler from the same sender is stored as before.
    report = await runtime.dispatcher.dispatch(message(clock, "2单元楼道灯坏了,黑乎乎的", message_id="c3"))
    await runtime.outbox.flush()
    assert report is not None and report.route == "intent:repair" and report.marked
    assert len(statements) > looked_up
    assert len(platform.sent) == 1


async def test_a_failing_handler_is_rolled_back_and_logged(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router("test")

    @router.command("出错", summary="x")
    async def broken(ctx: Context):
        ctx.session.add(
            Person(name="半截数据", role=Role.RESIDENT, source="chat", created_at=datetime.now().astimezone())
        )
        await ctx.session.flush()
        raise RuntimeError("boom")

    runtime.registry.include(router)
    persons_before = await count(runtime, Person)
    outcome = await runtime.dispatcher.dispatch(message(clock, "出错", user="guest-x", message_id="boom"))
    assert outcome is None
    assert await count(runtime, Person) == persons_before  # neither the half-written row nor the sender
    assert await count(runtime, ProcessedMessage) == 0  # a redelivery may try again
    assert await count(runtime, OutboxEntry) == 0
    assert any("rolled back" in record.getMessage() for record in caplog.records)


async def test_a_batchs_session_is_closed_whether_it_commits_or_fails(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dispatcher closes the session of a batch that needed the database itself (not through
    `async with`, whose close runs in a task of its own): after a commit and after a failure alike, the
    session is closed, its connection back in the pool."""
    router = Router("test")

    @router.command("出错", summary="x")
    async def broken(ctx: Context):
        await ctx.session.flush()
        raise RuntimeError("boom")

    runtime.registry.include(router)
    made: list[AsyncSession] = []
    sessions = runtime.dispatcher._sessions

    def recording() -> AsyncSession:
        made.append(sessions())
        return made[-1]

    monkeypatch.setattr(runtime.dispatcher, "_sessions", recording)
    closed: list[AsyncSession] = []
    close = AsyncSession.close

    async def counted_close(self: AsyncSession) -> None:
        closed.append(self)
        await close(self)

    monkeypatch.setattr(AsyncSession, "close", counted_close)
    assert runtime.engine is not None
    pool = runtime.engine.sync_engine.pool
    report = await runtime.dispatcher.dispatch(message(clock, "2单元楼道灯坏了,黑乎乎的", message_id="ok"))
    failed = await runtime.dispatcher.dispatch(message(clock, "出错", message_id="boom"))
    assert report is not None and report.marked and failed is None
    assert made and all(session in closed and not session.in_transaction() for session in made)
    assert pool.checkedout() == 0


async def test_one_structured_log_line_per_message_without_phone_numbers(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loudong.dispatch")
    await runtime.dispatcher.dispatch(message(clock, "帮助 我电话13812345678"))
    [record] = [r for r in caplog.records if r.getMessage() == "message handled"]
    assert record.group == "b5"
    assert record.route == "command:帮助"
    assert record.handler == "help.show_help"
    assert isinstance(record.ms, float)
    assert "13812345678" not in caplog.text


async def test_a_command_may_word_its_own_refusal(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    outcome = await runtime.dispatcher.dispatch(message(clock, "办结 #1031", user="guest-li", name="李叔"))
    await runtime.outbox.flush()
    assert outcome is not None and outcome.handler == "refused"
    [refusal] = platform.sent
    assert refusal.text.startswith("@李叔 只有负责处理的同志可以办结诉求")


# The directory cache ------------------------------------------------------------------------------


def _statements_on(runtime: Runtime, table: str) -> list[str]:
    """SQL statements reading `table` from now on (a listener on the runtime's engine)."""
    assert runtime.engine is not None
    seen: list[str] = []

    @event.listens_for(runtime.engine.sync_engine, "before_cursor_execute")
    def record(conn, cursor, statement: str, parameters, context, executemany) -> None:
        if statement.startswith("SELECT") and f"FROM {table}" in statement:
            seen.append(statement)

    return seen


async def test_groups_and_senders_are_looked_up_once_then_cached(
    runtime: Runtime, clock: ManualClock
) -> None:
    await runtime.dispatcher.dispatch(message(clock, "大家好", user="zhang-ayi", message_id="c1"))
    persons, groups = _statements_on(runtime, "persons"), _statements_on(runtime, "groups")
    outcome = await runtime.dispatcher.dispatch(message(clock, "谢谢", user="zhang-ayi", message_id="c2"))
    assert outcome is not None and outcome.role == "resident" and outcome.building == "5号楼"
    assert (persons, groups) == ([], [])


async def test_cached_directory_entries_are_plain_data_that_a_report_relates_to_by_id(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    await runtime.dispatcher.dispatch(message(clock, "大家好", user="zhang-ayi", message_id="e1"))
    cache = runtime.dispatcher.directory_cache
    _, sender = cache.persons.get(("webchat", "zhang-ayi"))
    _, group = cache.groups.get(("webchat", "b5"))
    assert isinstance(sender, PersonEntry) and isinstance(group, GroupEntry)
    assert group.unit.name == "5号楼" and group.unit.parent is not None  # with its unit chain
    account = sender.account_on("webchat")
    assert account is not None and account.external_id == "zhang-ayi"
    with pytest.raises(dataclasses.FrozenInstanceError):
        sender.name = "改名"  # type: ignore[misc]
    report = await runtime.dispatcher.dispatch(
        message(clock, "2单元楼道灯坏了,黑乎乎的", user="zhang-ayi", message_id="e2")
    )
    await runtime.outbox.flush()
    assert report is not None and report.route == "intent:repair" and len(platform.sent) == 1
    async with runtime.sessions() as session:
        request = (await session.scalars(select(Request))).one()
    assert (request.reporter_id, request.building_id) == (sender.id, group.unit_id)
    assert cache.persons.get(("webchat", "zhang-ayi"))[1] is sender  # shared, not copied


async def test_a_directory_import_reaches_the_next_message(
    runtime: Runtime, clock: ManualClock, tmp_path: Path
) -> None:
    first = await runtime.dispatcher.dispatch(message(clock, "大家好", user="zhang-ayi", message_id="i1"))
    assert first is not None and first.role == "resident"
    edited = DEMO_DIRECTORY.read_text(encoding="utf-8").replace(
        "{id: zhang-ayi, name: 张阿姨, role: resident", "{id: zhang-ayi, name: 张阿姨, role: volunteer"
    )
    assert edited != DEMO_DIRECTORY.read_text(encoding="utf-8")
    (tmp_path / "community.yaml").write_text(edited, encoding="utf-8")
    await runtime.import_directory(str(tmp_path / "community.yaml"))
    second = await runtime.dispatcher.dispatch(message(clock, "大家好", user="zhang-ayi", message_id="i2"))
    assert second is not None and second.role == "volunteer"


async def test_a_cached_sender_deleted_by_another_process_is_looked_up_again(
    runtime: Runtime, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router("test")

    @router.command("登记", summary="x")
    async def note_account(ctx: Context):
        # Writes a row that refers to the sender, so a stale cached sender breaks the transaction.
        ctx.session.add(Account(person_id=ctx.sender.id, platform="test", external_id=ctx.message.message_id))
        await ctx.session.flush()
        return []

    runtime.registry.include(router)
    await runtime.dispatcher.dispatch(message(clock, "大家好", user="guest-gone", message_id="g1"))
    async with runtime.sessions() as session, session.begin():  # e.g. `python -m bot directory import`
        gone = await repos.find_person_by_account(session, "webchat", "guest-gone")
        assert gone is not None
        await session.delete(gone)
    outcome = await runtime.dispatcher.dispatch(message(clock, "登记", user="guest-gone", message_id="g2"))
    assert outcome is not None and outcome.route == "command:登记"
    async with runtime.sessions() as session:
        again = await repos.find_person_by_account(session, "webchat", "guest-gone")
    assert again is not None and again.source == "chat"  # registered anew (SQLite may reuse the id)
    assert any("retrying without the cache" in record.getMessage() for record in caplog.records)


# Messages handed over while others are handled: one transaction for those waiting ----------------------


def _number_off(handled: list[str], *, failing: str | None = None) -> Router:
    """A command "报数 N" that answers "N 号到", records each run, and fails for N == `failing`."""
    router = Router("test")

    @router.command("报数", summary="x")
    async def number_off(ctx: Context):
        handled.append(ctx.args)
        if ctx.args == failing:
            raise RuntimeError("boom")
        return [ctx.reply(f"{ctx.args} 号到")]

    return router


def _commits(runtime: Runtime) -> list[int]:
    """Counts the commits of the runtime's database from now on (one element per commit)."""
    commits: list[int] = []
    assert runtime.engine is not None
    event.listen(runtime.engine.sync_engine, "commit", lambda _: commits.append(1))
    return commits


async def test_messages_waiting_together_are_handled_in_one_transaction_in_order(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    handled: list[str] = []
    runtime.registry.include(_number_off(handled))
    await runtime.dispatcher.dispatch(message(clock, "报数 0", message_id="warm"))  # the sender is known
    commits = _commits(runtime)
    texts = [f"报数 {n}" for n in range(1, 11)]
    outcomes = await asyncio.gather(
        *(
            runtime.dispatcher.dispatch(message(clock, text, message_id=f"n{i}"))
            for i, text in enumerate(texts)
        )
    )
    assert all(outcome is not None and outcome.route == "command:报数" for outcome in outcomes)
    assert handled == [str(n) for n in range(11)]
    # All ten were handed over before the dispatcher got to them: one transaction.
    assert len(commits) == 1
    await runtime.outbox.flush()
    assert [action.text.split(" ", 1)[1] for action in platform.sent] == [f"{n} 号到" for n in range(11)]
    assert await count(runtime, ProcessedMessage) == 11


async def test_a_message_failing_in_a_batch_fails_alone(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[str] = []
    runtime.registry.include(_number_off(runs, failing="3"))
    outcomes = await asyncio.gather(
        *(runtime.dispatcher.dispatch(message(clock, f"报数 {n}", message_id=f"n{n}")) for n in range(6))
    )
    assert [outcome is None for outcome in outcomes] == [False, False, False, True, False, False]
    # Together until 3 failed and rolled the batch back; then all again, one at a time.
    assert runs == ["0", "1", "2", "3", "0", "1", "2", "3", "4", "5"]
    assert await count(runtime, ProcessedMessage) == 5  # each counted once; 3 may be redelivered
    await runtime.outbox.flush()
    assert [action.text.split(" ", 1)[1] for action in platform.sent] == [
        f"{n} 号到" for n in (0, 1, 2, 4, 5)
    ]
    assert sum("rolled back" in record.getMessage() for record in caplog.records) == 1


async def test_duplicates_inside_one_batch_are_handled_once(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    first, *again = await asyncio.gather(
        *(runtime.dispatcher.dispatch(message(clock, "帮助", message_id="same")) for _ in range(4))
    )
    assert first is not None and first.route == "command:帮助"
    assert [outcome.route for outcome in again if outcome is not None] == ["duplicate"] * 3
    assert await count(runtime, OutboxEntry) == 1


async def test_reports_joining_one_request_in_one_batch_each_count_once(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    """A +1 joins the request as the row intake read, or as the session's object when an earlier message
    of the batch loaded it (查询): either way each count follows the one before."""
    await runtime.dispatcher.dispatch(message(clock, "楼道灯坏了", message_id="r0"))
    await runtime.outbox.flush()
    [created] = platform.sent
    number = re.search(r"#\d+", created.text)
    assert number is not None
    outcomes = await asyncio.gather(
        runtime.dispatcher.dispatch(
            message(clock, "楼道灯坏了", user="guest-li", name="李叔", message_id="r1")
        ),
        runtime.dispatcher.dispatch(message(clock, f"查询 {number.group()}", message_id="q1")),
        runtime.dispatcher.dispatch(
            message(clock, "楼道灯坏了", user="guest-wu", name="吴姐", message_id="r2")
        ),
        runtime.dispatcher.dispatch(
            message(clock, "楼道灯坏了", user="guest-li", name="李叔", message_id="r3")
        ),
    )
    assert [outcome.route for outcome in outcomes if outcome is not None] == [
        "intent:repair",
        "command:查询",
        "intent:repair",
        "intent:repair",
    ]
    await runtime.outbox.flush()
    replies = {action.reply_to: action.text for action in platform.sent[1:]}
    assert "已有 2 位邻居反映" in replies["r1"] and "已有 3 位邻居反映" in replies["r2"]
    assert "您反映的问题已登记为" in replies["r3"]  # joined already
    async with runtime.sessions() as session:
        [request] = (await session.execute(select(Request))).scalars()
    assert request.reporters_count == 3


async def test_closing_waits_for_messages_already_handed_over(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    pending = [
        asyncio.create_task(runtime.dispatcher.dispatch(message(clock, "帮助", message_id=f"c{n}")))
        for n in range(5)
    ]
    await asyncio.sleep(0)  # handed over
    for task in pending:
        task.cancel()  # the callers stop waiting; the messages are still handled
    await runtime.dispatcher.close()
    assert await count(runtime, ProcessedMessage) == 5
    assert await count(runtime, OutboxEntry) == 5


async def test_a_batch_whose_transaction_fails_fails_once_not_message_by_message(
    runtime: Runtime,
    platform: RecordingAdapter,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: list[str] = []
    runtime.registry.include(_number_off(runs))

    async def locked(messages):  # the write lock not had in time, say
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    monkeypatch.setattr(runtime.dispatcher, "_handle_in_transaction", locked)
    outcomes = await asyncio.gather(
        *(runtime.dispatcher.dispatch(message(clock, f"报数 {n}", message_id=f"n{n}")) for n in range(5))
    )
    assert outcomes == [None] * 5
    assert runs == []  # not retried one by one, each waiting for the lock again
    assert await count(runtime, ProcessedMessage) == 0  # a redelivery may try again
    assert any("could not be handled" in record.getMessage() for record in caplog.records)


async def test_callers_are_not_left_waiting_when_the_dispatcher_is_cancelled(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    started = asyncio.Event()

    router = Router("test")

    @router.command("慢", summary="x")
    async def slow(ctx: Context):
        started.set()
        await asyncio.sleep(60)

    runtime.registry.include(router)
    waiting = [asyncio.create_task(runtime.dispatcher.dispatch(message(clock, "慢", message_id="slow")))]
    await started.wait()
    waiting += [asyncio.create_task(runtime.dispatcher.dispatch(message(clock, "帮助", message_id="later")))]
    await asyncio.sleep(0)
    assert runtime.dispatcher._worker is not None
    runtime.dispatcher._worker.cancel()
    done, pending = await asyncio.wait(waiting, timeout=5)
    assert not pending
    assert all(task.cancelled() for task in done)


async def test_a_message_is_matched_against_the_commands_once(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command pattern is one alternation of every command word: the dispatcher matches it once a
    message and routes by that, a command and chatter alike."""
    matched: list[str] = []
    match_command = runtime.registry.match_command

    def counting(text: str) -> CommandMatch | None:
        matched.append(text)
        return match_command(text)

    monkeypatch.setattr(runtime.registry, "match_command", counting)
    await runtime.dispatcher.dispatch(message(clock, "帮助", message_id="c1"))
    await runtime.dispatcher.dispatch(message(clock, "今天天气不错", message_id="c2"))
    await runtime.dispatcher.dispatch(message(clock, "今天天气真不错", message_id="c3"))  # sender cached now
    await runtime.outbox.flush()
    assert matched == ["帮助", "今天天气不错", "今天天气真不错"]
    [help_reply] = platform.sent
    assert "帮助" in help_reply.text


async def test_buildings_residents_name_are_remembered_only_up_to_the_memos_size(
    runtime: Runtime, platform: RecordingAdapter, clock: ManualClock
) -> None:
    """A report's named building ("N号楼", any N a resident writes) is a key of the directory memo. An
    expired entry leaves only when its key is asked for again, so without a bound every name ever
    written stayed for the life of the bot."""
    memo = DirectoryMemo(size=40)
    runtime.sessions.kw["info"][DIRECTORY_MEMO] = memo  # the factory's one memo, smaller
    for number in range(100, 160):
        text = f"{number}号楼楼道灯坏了,晚上黑乎乎的"
        outcome = await runtime.dispatcher.dispatch(message(clock, text, message_id=f"n{number}"))
        assert outcome is not None and outcome.intent == "repair"
        assert len(memo) <= 40
    await runtime.outbox.flush()
    assert len(platform.sent) == 60  # each report still answered (none of these buildings is ours)


async def test_residents_looked_up_again_share_their_buildings_entry(
    runtime: Runtime, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cached entries expire after a minute and every sender is then read from the database again. The
    residents of a group's building share its one unit entry, whether registered just now or read
    again, rather than each holding a copy of the unit chain."""
    now = [1000.0]
    monkeypatch.setattr("storage.memo.time.monotonic", lambda: now[0])
    senders = [f"resident-{n}" for n in range(20)]
    for round_ in ("registered", "read again"):
        for user in senders:
            await runtime.dispatcher.dispatch(
                message(clock, "大家好", user=user, message_id=f"{round_}-{user}")
            )
        now[0] += 61  # every entry expired
    for user in senders:  # expired again: read again
        await runtime.dispatcher.dispatch(message(clock, "谢谢", user=user, message_id=f"again-{user}"))
    cache = runtime.dispatcher.directory_cache
    _, group = cache.groups.get(("webchat", "b5"))
    assert group is not None
    entries = [cache.persons.get(("webchat", user))[1] for user in senders]
    assert all(entry is not None and entry.unit is group.unit for entry in entries)
