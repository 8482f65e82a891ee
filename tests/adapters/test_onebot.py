"""The OneBot v11 adapter against a fake implementation over real sockets on 127.0.0.1.

Events come from fixtures/onebot/ (one file per event shape); actions are answered by the fake with
their echo. Every test runs our real aiohttp server with the adapter mounted."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.adapters.base import Adapter, SendError, WebMounted
from bot.adapters.onebot import (
    OneBotAdapter,
    Segment,
    cq_escape,
    cq_unescape,
    mention_segments,
    parse_cq,
    segment,
    text_segment,
    to_cq,
)
from handlers.contract import Mention, Message, SendToGroup, SendToUser

sys.path.insert(0, str(Path(__file__).parent))
from fake_onebot import WAIT, FakeOneBot, FakeOneBotHttpApi, failed, load_fixture, ok, post_event

TOKEN = "kSLuTF2GC2Q4q4ugm3"
SECRET = "hmac-secret"
WS_PATH = "/onebot/v11/ws"
HTTP_PATH = "/onebot/v11/http"


class Inbox:
    """The dispatcher, as far as the adapter can tell: records every Message delivered."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()

    async def __call__(self, message: Message) -> None:
        await self.messages.put(message)

    async def next(self) -> Message:
        async with asyncio.timeout(WAIT):
            return await self.messages.get()


@dataclass
class Harness:
    adapter: OneBotAdapter
    server: TestServer
    inbox: Inbox
    session: aiohttp.ClientSession
    fakes: list[FakeOneBot]

    def ws_url(self, suffix: str = "") -> str:
        return str(self.server.make_url(WS_PATH + suffix)).replace("http://", "ws://", 1)

    @property
    def http_url(self) -> str:
        return str(self.server.make_url(HTTP_PATH))

    def fake(self, **kwargs: Any) -> FakeOneBot:
        fake = FakeOneBot(self.ws_url(), **({"access_token": TOKEN} | kwargs))
        self.fakes.append(fake)
        return fake

    async def connected_fake(self, **kwargs: Any) -> FakeOneBot:
        fake = self.fake(**kwargs)
        await fake.connect()
        return fake


MakeHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_harness() -> AsyncIterator[MakeHarness]:
    made: list[Harness] = []

    async def make(**options: Any) -> Harness:
        settings: dict[str, Any] = {
            "access_token": TOKEN,
            "ws_path": WS_PATH,
            "http_path": HTTP_PATH,
            "action_timeout": 2.0,
            "reconnect_wait": 2.0,
        }
        adapter = OneBotAdapter(**(settings | options))
        app = web.Application()
        adapter.mount(app)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        inbox = Inbox()
        await adapter.start(inbox)
        harness = Harness(adapter, server, inbox, aiohttp.ClientSession(), [])
        made.append(harness)
        return harness

    yield make
    for harness in made:
        for fake in harness.fakes:
            await fake.close()
        await harness.adapter.stop()
        await harness.session.close()
        await harness.server.close()


@pytest.fixture
async def harness(make_harness: MakeHarness) -> Harness:
    return await make_harness()


def group_action(text: str, **kwargs: Any) -> SendToGroup:
    return SendToGroup(platform="onebot", group_id="700001", text=text, **kwargs)


# --- protocol conformance -----------------------------------------------------------------------


def test_adapter_meets_the_protocols() -> None:
    adapter = OneBotAdapter()
    assert isinstance(adapter, WebMounted)
    typed: Adapter = adapter  # the static check is the point; platform is what the runtime reads
    assert typed.platform == "onebot"


# --- round trips --------------------------------------------------------------------------------


async def test_group_message_in_array_format_round_trip(harness: Harness) -> None:
    fake = await harness.connected_fake()
    await fake.send_event(load_fixture("group_message_array"))

    message = await harness.inbox.next()
    assert message == Message(
        platform="onebot",
        group_id="700001",
        sender_id="20001",
        sender_name="3-502 王阿姨",  # the group card wins over the nickname
        message_id="2001",
        text="3号楼电梯又坏了，@李网格 麻烦看看",
        mentions=("30001",),
        mentions_bot=False,
        reply_to=None,
        time=datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC),
    )

    receipt = await harness.adapter.send(
        group_action(
            "@李网格 请处理：3号楼电梯故障",
            mentions=(Mention(user_id="30001", name="李网格"),),
            reply_to=message.message_id,
        )
    )
    request = await fake.next_action()
    assert request["action"] == "send_group_msg"
    assert request["params"] == {
        "group_id": 700001,
        "message": [
            {"type": "reply", "data": {"id": "2001"}},
            {"type": "at", "data": {"qq": "30001"}},
            {"type": "text", "data": {"text": " 请处理：3号楼电梯故障"}},
        ],
    }
    assert receipt.message_id == "5001"
    assert receipt.sent_at is not None and receipt.sent_at.tzinfo is not None


async def test_group_message_in_cq_string_format_round_trip(make_harness: MakeHarness) -> None:
    harness = await make_harness(message_format="string")
    fake = await harness.connected_fake()
    await fake.send_event(load_fixture("group_message_cq"))

    message = await harness.inbox.next()
    assert message.text == "楼道[东侧]堆了纸箱 & 旧沙发，@30001 [表情]"  # unescaped; unknown name → @qq
    assert message.mentions == ("30001",)
    assert message.sender_name == "老张"  # empty card: the nickname
    assert message.message_id == "-2002"  # message ids are int32 and may be negative

    receipt = await harness.adapter.send(
        group_action(
            "@老张 已登记[楼道堆物], 物业 & 网格员会跟进",
            mentions=(Mention(user_id="20002", name="老张"),),
            reply_to="-2002",
        )
    )
    request = await fake.next_action()
    sent = request["params"]["message"]
    assert sent == "[CQ:reply,id=-2002][CQ:at,qq=20002] 已登记&#91;楼道堆物&#93;, 物业 &amp; 网格员会跟进"
    assert parse_cq(sent) == [
        segment("reply", id="-2002"),
        segment("at", qq="20002"),
        text_segment(" 已登记[楼道堆物], 物业 & 网格员会跟进"),
    ]
    assert receipt.message_id == "5001"


async def test_private_message_round_trip(harness: Harness) -> None:
    fake = await harness.connected_fake()
    await fake.send_event(load_fixture("private_message"))

    message = await harness.inbox.next()
    assert message.is_private
    assert (message.sender_id, message.sender_name, message.text) == ("30001", "李网格", "待办")

    receipt = await harness.adapter.send(SendToUser(platform="onebot", user_id="30001", text="你有 2 件待办"))
    request = await fake.next_action()
    assert request["action"] == "send_private_msg"
    assert request["params"] == {"user_id": 30001, "message": [text_segment("你有 2 件待办")]}
    assert receipt.message_id == "5001"


async def test_at_bot_sets_mentions_bot_and_is_stripped(harness: Harness) -> None:
    fake = await harness.connected_fake()
    await fake.send_event(load_fixture("group_message_at_bot"))

    message = await harness.inbox.next()
    assert message.mentions_bot
    assert message.mentions == ()
    assert message.text == "怎么办理退休认证？"


async def test_reply_segment_becomes_reply_to(harness: Harness) -> None:
    fake = await harness.connected_fake()
    await fake.send_event(load_fixture("group_message_reply"))

    message = await harness.inbox.next()
    assert message.reply_to == "9001"
    assert message.mentions_bot
    assert message.text == "修好了，5分"


async def test_image_is_kept_as_placeholder_text(harness: Harness) -> None:
    fake = await harness.connected_fake()
    await fake.send_event(load_fixture("group_message_image"))

    message = await harness.inbox.next()
    assert (
        message.text == "井盖没盖好[图片 https://multimedia.nt.qq.com.cn/download?appid=1407&fileid=0b1e6f]"
    )


async def test_meta_notice_and_malformed_events_are_skipped_and_the_socket_survives(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.adapters.onebot")
    fake = await harness.connected_fake()  # sends lifecycle/connect
    await fake.send_event(load_fixture("heartbeat"))
    await fake.send_event(load_fixture("notice_group_increase"))
    await fake.send_event(load_fixture("malformed_message"))
    await fake.send_raw("this is not json")
    await fake.send_raw("[1, 2, 3]")
    await fake.send_event(load_fixture("group_message_array") | {"user_id": 10001})  # the bot's own echo
    await fake.send_event(load_fixture("private_message"))

    # Nothing before the good message was delivered, and the connection still works both ways.
    assert (await harness.inbox.next()).message_id == "2003"
    assert harness.inbox.messages.empty()
    assert (await harness.adapter.send(SendToUser(platform="onebot", user_id="30001", text="在"))).message_id

    logged = caplog.text
    assert "meta event lifecycle/connect" in logged
    assert "meta event heartbeat" in logged
    assert "notice event ignored" in logged
    assert "malformed message event" in logged
    assert "not JSON" in logged
    assert "own message 2001 ignored" in logged


# --- connections --------------------------------------------------------------------------------


async def test_split_api_and_event_connections(harness: Harness) -> None:
    fake = await harness.connected_fake(split=True)  # /ws/api with X-Client-Role: API, /ws/event with Event
    await fake.send_event(load_fixture("group_message_array"))
    assert (await harness.inbox.next()).message_id == "2001"

    # The fake only reads actions on its API socket: an answer proves the adapter used that one.
    receipt = await harness.adapter.send(group_action("收到"))
    assert receipt.message_id == "5001"


async def test_x_self_id_routes_each_group_to_the_bot_that_is_in_it(harness: Harness) -> None:
    first = await harness.connected_fake(self_id="10001")
    second = await harness.connected_fake(self_id="10002")
    event = load_fixture("group_message_at_bot") | {"self_id": 10002, "group_id": 700002, "message_id": 3001}
    await second.send_event(event)

    message = await harness.inbox.next()
    # The @ is of bot 10001, which is not the bot on this connection: an ordinary mention.
    assert (message.group_id, message.mentions_bot, message.mentions) == ("700002", False, ("10001",))

    await harness.adapter.send(SendToGroup(platform="onebot", group_id="700002", text="好的"))
    request = await second.next_action()
    assert request["params"]["group_id"] == 700002
    assert first.actions.empty()


async def test_connection_without_x_self_id_is_refused(harness: Harness) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await harness.session.ws_connect(harness.ws_url(), headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("token", "token_via", "status"),
    [(None, "none", 401), ("wrong-token", "bearer", 403), ("wrong-token", "query", 403)],
)
async def test_bad_credentials_are_refused_and_nothing_is_processed(
    harness: Harness, caplog: pytest.LogCaptureFixture, token: str | None, token_via: str, status: int
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.adapters.onebot")
    intruder = harness.fake(access_token=token, token_via=token_via)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await intruder.connect()
    assert refused.value.status == status
    assert "refused" in caplog.text
    assert harness.adapter._connections == {}

    # An HTTP POST with the same credentials is refused the same way (no secret is set here).
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    assert (
        await post_event(harness.session, harness.http_url, load_fixture("private_message"), headers=headers)
        == status
    )
    assert harness.inbox.messages.empty()


@pytest.mark.parametrize("token_via", ["bearer", "token", "query"])
async def test_good_credentials_in_any_accepted_form(harness: Harness, token_via: str) -> None:
    fake = await harness.connected_fake(token_via=token_via)
    await fake.send_event(load_fixture("private_message"))
    assert (await harness.inbox.next()).message_id == "2003"


async def test_reconnect_after_the_implementation_drops_the_socket(harness: Harness) -> None:
    fake = await harness.connected_fake()
    await fake.drop()

    # An action while the implementation is away waits for it to come back instead of failing.
    sending = asyncio.create_task(harness.adapter.send(group_action("通知：明天停水")))
    await asyncio.sleep(0.2)
    assert not sending.done()
    await fake.connect()
    assert (await sending).message_id == "5001"

    await fake.send_event(load_fixture("group_message_array"))
    assert (await harness.inbox.next()).message_id == "2001"


async def test_no_implementation_fails_the_action_so_the_outbox_retries(make_harness: MakeHarness) -> None:
    harness = await make_harness(reconnect_wait=0.2)
    with pytest.raises(SendError) as error:
        await harness.adapter.send(group_action("通知"))
    assert not error.value.permanent


async def test_socket_closing_mid_call_fails_the_call_at_once(harness: Harness) -> None:
    fake = await harness.connected_fake()
    fake.auto_answer = False
    sending = asyncio.create_task(harness.adapter.send(group_action("通知")))
    await fake.next_action()
    await fake.drop()
    async with asyncio.timeout(1.0):  # well before the 2 s action timeout
        with pytest.raises(SendError, match="connection closed"):
            await sending


# --- actions ------------------------------------------------------------------------------------


async def test_concurrent_actions_answered_out_of_order_are_matched_by_echo(harness: Harness) -> None:
    fake = await harness.connected_fake()
    fake.auto_answer = False
    texts = ["第一条", "第二条", "第三条"]
    sends = [asyncio.create_task(harness.adapter.send(group_action(text))) for text in texts]
    requests = [await fake.next_action() for _ in texts]
    assert len({request["echo"] for request in requests}) == 3

    for request in reversed(requests):
        text = request["params"]["message"][0]["data"]["text"]
        await fake.reply(request, ok({"message_id": 100 + texts.index(text)}))
    receipts = await asyncio.gather(*sends)
    assert [receipt.message_id for receipt in receipts] == ["100", "101", "102"]
    assert harness.adapter._pending == {}


async def test_action_timeout_raises_send_error(make_harness: MakeHarness) -> None:
    harness = await make_harness(action_timeout=0.3)
    fake = await harness.connected_fake()
    fake.responder = lambda request: None  # a hung implementation
    with pytest.raises(SendError, match=r"no response within 0\.3s") as error:
        await harness.adapter.send(group_action("通知"))
    assert not error.value.permanent
    assert harness.adapter._pending == {}


@pytest.mark.parametrize(("retcode", "permanent"), [(100, False), (1404, True)])
async def test_failed_retcode_raises_send_error(harness: Harness, retcode: int, permanent: bool) -> None:
    fake = await harness.connected_fake()
    fake.responder = lambda request: failed(retcode, "群不存在")
    with pytest.raises(SendError, match=f"retcode={retcode} 群不存在") as error:
        await harness.adapter.send(group_action("通知"))
    assert error.value.permanent is permanent


async def test_get_group_member_list(harness: Harness) -> None:
    fake = await harness.connected_fake()
    members = await harness.adapter.get_group_member_list("700001")
    request = await fake.next_action()
    assert (request["action"], request["params"]) == ("get_group_member_list", {"group_id": 700001})
    assert [(m["user_id"], m["card"] or m["nickname"]) for m in members] == [
        (20001, "3-502 王阿姨"),
        (30001, "李网格"),
    ]


async def test_actions_go_over_the_http_api_when_no_websocket_is_up(make_harness: MakeHarness) -> None:
    api = FakeOneBotHttpApi(access_token=TOKEN)
    await api.start()
    try:
        harness = await make_harness(api_url=api.url)
        receipt = await harness.adapter.send(
            group_action("@李网格 请处理", mentions=(Mention(user_id="30001", name="李网格"),))
        )
        assert receipt.message_id == "5001"
        assert api.calls == [
            (
                "send_group_msg",
                {"group_id": 700001, "message": [segment("at", qq="30001"), text_segment(" 请处理")]},
            )
        ]

        api.access_token = "rotated"  # our token is now wrong: 403, which may heal, so not permanent
        with pytest.raises(SendError, match="HTTP 403") as error:
            await harness.adapter.send(group_action("通知"))
        assert not error.value.permanent
    finally:
        await api.close()


async def test_an_http_api_that_refuses_us_is_disconnected_until_a_probe_gets_an_answer(
    make_harness: MakeHarness,
) -> None:
    """The implementation restarting: a refused connection makes the platform disconnected (so the
    outbox keeps its actions, attempts unspent); a probe finds it back and says so to the listeners."""
    first = FakeOneBotHttpApi(access_token=TOKEN)
    await first.start()
    url, port = first.url, first.server.port
    await first.close()
    harness = await make_harness(api_url=url, reconnect_wait=0.05)
    changes: list[bool] = []
    up_again = asyncio.Event()

    def listener() -> None:
        changes.append(harness.adapter.connected)
        if harness.adapter.connected:
            up_again.set()

    harness.adapter.watch_connection(listener)
    assert harness.adapter.connected

    with pytest.raises(SendError, match="send_group_msg") as error:
        await harness.adapter.send(group_action("通知"))
    assert not error.value.permanent
    assert not harness.adapter.connected and changes == [False]

    back = FakeOneBotHttpApi(access_token=TOKEN, port=port)
    await back.start()
    try:
        async with asyncio.timeout(WAIT):
            await up_again.wait()
        assert changes == [False, True]
        assert [action for action, _ in back.calls] == ["get_status"]
        assert (await harness.adapter.send(group_action("通知"))).message_id is not None
    finally:
        await back.close()


async def test_an_event_posted_by_the_implementation_shows_its_http_api_is_back(
    make_harness: MakeHarness,
) -> None:
    gone = FakeOneBotHttpApi(access_token=TOKEN)
    await gone.start()
    url = gone.url
    await gone.close()
    harness = await make_harness(api_url=url, reconnect_wait=60)
    with pytest.raises(SendError):
        await harness.adapter.send(group_action("通知"))
    assert not harness.adapter.connected

    post = load_fixture("group_message_array")
    assert await post_event(harness.session, f"{harness.http_url}?access_token={TOKEN}", post) == 204
    assert harness.adapter.connected
    assert (await harness.inbox.next()).message_id is not None


# --- HTTP POST events ---------------------------------------------------------------------------


async def test_http_post_events_with_signature(make_harness: MakeHarness) -> None:
    harness = await make_harness(secret=SECRET)
    post = load_fixture("group_message_array")

    assert await post_event(harness.session, harness.http_url, post, signature="sha1=" + "0" * 40) == 403
    assert await post_event(harness.session, harness.http_url, post) == 401  # unsigned
    assert await post_event(harness.session, harness.http_url, post, secret="another secret") == 403
    assert (
        await post_event(harness.session, harness.http_url, load_fixture("private_message"), secret=SECRET)
        == 204
    )

    # Only the correctly signed event got through.
    assert (await harness.inbox.next()).message_id == "2003"
    assert harness.inbox.messages.empty()


async def test_http_post_without_secret_checks_the_access_token(harness: Harness) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    status = await post_event(
        harness.session, harness.http_url, load_fixture("group_message_cq"), headers=headers
    )
    assert status == 204
    assert (await harness.inbox.next()).message_id == "-2002"


# --- message format units -----------------------------------------------------------------------


def test_cq_escaping_round_trip() -> None:
    tricky = "- [x] 使用 `&data` 获取地址, 转义后 &#91; 不是 ["
    segments = [
        text_segment(tricky),
        segment("share", title="震惊,小伙睡觉前居然...", url="http://baidu.com/?a=1&b=2"),
        segment("at", qq="10001"),
        text_segment("&amp;"),
    ]
    encoded = to_cq(segments)
    assert "[CQ:share,title=震惊&#44;小伙睡觉前居然...,url=http://baidu.com/?a=1&amp;b=2]" in encoded
    assert encoded.startswith("- &#91;x&#93; 使用 `&amp;data` 获取地址, 转义后 &amp;#91; 不是 &#91;")
    assert parse_cq(encoded) == segments


def test_cq_escape_and_unescape_are_single_pass() -> None:
    assert cq_escape("a&b,[c]") == "a&amp;b,&#91;c&#93;"
    assert cq_escape("a&b,[c]", in_param=True) == "a&amp;b&#44;&#91;c&#93;"
    assert cq_unescape("&amp;#91;") == "&#91;"
    assert cq_unescape("&#91;&amp;&#93;&#44;") == "[&],"


def test_cq_parameters_split_at_the_first_equals_sign() -> None:
    assert parse_cq("[CQ:share,title=标题中有=等号,url=http://baidu.com][CQ:shake]") == [
        segment("share", title="标题中有=等号", url="http://baidu.com"),
        segment("shake"),
    ]


def test_mentions_not_named_in_the_text_are_prepended() -> None:
    mentions = (
        Mention(user_id="1", name="张三丰"),
        Mention(user_id="2", name="张三"),
        Mention(user_id="3", name="物业"),
    )
    assert mention_segments("@张三丰 和 @张三 请跟进", mentions) == [
        segment("at", qq="3"),
        text_segment(" "),
        segment("at", qq="1"),
        text_segment(" 和 "),
        segment("at", qq="2"),
        text_segment(" 请跟进"),
    ]


def _mention_segments_by_regex(text: str, mentions: Sequence[Mention]) -> list[Segment]:
    """The splitting as it was written first (one regex alternation of the names, longest first): the
    reference `mention_segments` must agree with."""
    ids_by_name: dict[str, str] = {}
    for mention in mentions:
        if mention.name:
            ids_by_name.setdefault(mention.name, mention.user_id)
    inline = {name for name in ids_by_name if f"@{name}" in text}
    inline_ids = {ids_by_name[name] for name in inline}
    segments: list[Segment] = []
    for user_id in dict.fromkeys(m.user_id for m in mentions if m.user_id not in inline_ids):
        segments += [segment("at", qq=user_id), text_segment(" ")]
    if not inline:
        return [*segments, text_segment(text)]
    pattern = re.compile("|".join(re.escape(f"@{name}") for name in sorted(inline, key=len, reverse=True)))
    position = 0
    for match in pattern.finditer(text):
        if match.start() > position:
            segments.append(text_segment(text[position : match.start()]))
        segments.append(segment("at", qq=ids_by_name[match.group()[1:]]))
        position = match.end()
    if position < len(text):
        segments.append(text_segment(text[position:]))
    return segments


def test_mentions_are_split_out_as_a_regex_of_the_names_longest_first_splits_them() -> None:
    # Names from a few characters, so that one is often a prefix of another, names repeat, "@" runs
    # double and a mention may have no name or share a user id.
    rng = random.Random(6)
    alphabet = "张三丰@ 李.*("
    for _ in range(5_000):
        names = ["".join(rng.choices(alphabet, k=rng.randint(0, 4))) for _ in range(rng.randint(0, 4))]
        mentions = [Mention(user_id=str(rng.randint(1, 3)), name=name) for name in names]
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 14)))
        if names and rng.random() < 0.7:
            text += f"@{rng.choice(names)}" + "".join(rng.choices(alphabet, k=rng.randint(0, 4)))
        assert mention_segments(text, mentions) == _mention_segments_by_regex(text, mentions), (text, names)


async def test_a_second_connection_of_the_same_bot_replaces_the_first(harness: Harness) -> None:
    old = await harness.connected_fake()
    new = await harness.connected_fake()
    await harness.adapter.send(group_action("通知"))
    assert (await new.next_action())["action"] == "send_group_msg"
    assert old.actions.empty()
    assert [role.value for role in harness.adapter._connections["10001"]] == ["Universal"]


async def test_stop_closes_live_connections(harness: Harness) -> None:
    fake = await harness.connected_fake()
    await fake.send_event(load_fixture("private_message"))
    await harness.inbox.next()
    await harness.adapter.stop()
    assert harness.adapter._connections == {}
    async with asyncio.timeout(WAIT):  # the fake's reader ends when our close reaches it
        await asyncio.gather(*fake._readers)


async def test_an_action_waits_while_our_own_backpressure_holds_its_response_back(
    make_harness: MakeHarness,
) -> None:
    """Overload on a Universal socket: the full inbox stops the socket being read, so the response to
    an action queues behind unread events. That is no reason to fail the action (the outbox would then
    post the reply twice)."""
    harness = await make_harness(action_timeout=0.3, inbox_size=1, deliveries_in_flight=1)
    release = asyncio.Event()
    delivered: list[Message] = []

    async def slow_dispatcher(message: Message) -> None:
        await release.wait()
        delivered.append(message)

    await harness.adapter.stop()
    await harness.adapter.start(slow_dispatcher)
    fake = await harness.connected_fake()
    for number in range(4):  # one being dispatched, one queued, one holding the reader, one unread
        event = load_fixture("group_message_array")
        event["message_id"] = 9000 + number
        await fake.send_event(event)
    await asyncio.sleep(0.2)
    sending = asyncio.create_task(harness.adapter.send(group_action("回复")))
    await asyncio.sleep(1.0)  # several action time-outs pass while the reader is held back
    assert not sending.done()
    release.set()
    receipt = await asyncio.wait_for(sending, timeout=5)
    assert receipt.message_id is not None
    for _ in range(100):
        if len(delivered) == 4:
            break
        await asyncio.sleep(0.02)
    assert len(delivered) == 4


async def test_events_reach_the_dispatcher_in_arrival_order_several_at_a_time(
    make_harness: MakeHarness,
) -> None:
    """The dispatcher handles the events waiting together, in the order handed over: with several in
    flight and some slower than others, the hand-over order is still the arrival order, and no more
    than `deliveries_in_flight` are ever in the dispatcher at once."""
    harness = await make_harness(deliveries_in_flight=4)
    handed_over: list[str] = []
    done: list[str] = []
    in_flight = most = 0

    async def uneven_dispatcher(message: Message) -> None:
        nonlocal in_flight, most
        handed_over.append(message.message_id)
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.001 * (int(message.message_id) % 7))
        in_flight -= 1
        done.append(message.message_id)

    await harness.adapter.stop()
    await harness.adapter.start(uneven_dispatcher)
    fake = await harness.connected_fake()
    sent = [str(9000 + number) for number in range(200)]
    for message_id in sent:
        event = load_fixture("group_message_array")
        event["message_id"] = int(message_id)
        await fake.send_event(event)
    async with asyncio.timeout(WAIT):
        while len(done) < len(sent):  # noqa: ASYNC110 - the dispatcher stand-in keeps plain lists
            await asyncio.sleep(0.01)
    assert handed_over == sent
    assert most == 4
    assert done != sent  # the slow ones did finish out of order: the order above is the hand-over's
