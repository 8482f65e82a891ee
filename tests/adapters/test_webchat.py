"""The web chat adapter over a real aiohttp server and real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType, web
from aiohttp.test_utils import TestServer

from bot.adapters.base import Adapter, SendError, WebMounted
from bot.adapters.webchat import (
    HISTORY_LIMIT,
    WebChatAdapter,
    WebChatDirectory,
    WebChatGroup,
    WebChatPerson,
    mentioned_names,
)
from handlers.contract import Mention, Message, SendToGroup, SendToUser

NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
BOT = "楼栋助手"
TIMEOUT = 3.0

DIRECTORY = WebChatDirectory(
    groups=[
        WebChatGroup(id="b5", name="5号楼群", unit="5号楼", kind="building", grid="第一网格"),
        WebChatGroup(id="b6", name="6号楼群", unit="6号楼", kind="building", grid="第一网格"),
    ],
    people=[
        WebChatPerson(id="zhang-ayi", name="张阿姨", role="resident", role_label="居民", unit="5号楼"),
        WebChatPerson(
            id="li-fang", name="李芳", role="micro_grid_leader", role_label="微网格长", unit="5号楼"
        ),
        WebChatPerson(id="li-fangfang", name="李芳芳", role="resident", role_label="居民", unit="6号楼"),
        WebChatPerson(id="wang-shifu", name="物业王师傅", role="property", role_label="物业"),
    ],
)


class Recorder:
    """The dispatcher's stand-in: records what the adapter delivers."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.fail = False

    async def __call__(self, message: Message) -> None:
        await self.queue.put(message)
        if self.fail:
            raise RuntimeError("dispatcher exploded")

    async def next(self) -> Message:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)


@dataclass
class Chat:
    adapter: WebChatAdapter
    server: TestServer
    session: ClientSession
    delivered: Recorder

    async def connect(self) -> ClientWebSocketResponse:
        ws = await self.session.ws_connect(self.server.make_url("/ws"))
        welcome = await receive(ws)
        assert welcome == {"type": "welcome", "bot_name": BOT}
        return ws

    async def join(self, group: str, user: str, name: str) -> tuple[ClientWebSocketResponse, dict[str, Any]]:
        ws = await self.connect()
        await ws.send_json({"type": "join", "group": group, "user": user, "name": name})
        history = await receive(ws)
        assert history["type"] == "history", history
        return ws, history


async def receive(ws: ClientWebSocketResponse) -> dict[str, Any]:
    frame: dict[str, Any] = await ws.receive_json(timeout=TIMEOUT)
    return frame


async def say(ws: ClientWebSocketResponse, text: str, reply_to: str | None = None) -> dict[str, Any]:
    """Say something and return the echo (the sender sees its own message come back)."""
    await ws.send_json({"type": "say", "text": text, "reply_to": reply_to})
    echo = await receive(ws)
    assert echo["type"] == "message", echo
    return echo


def group_reply(text: str, *mentions: Mention, group: str = "b5", reply_to: str | None = None) -> SendToGroup:
    return SendToGroup(platform="webchat", group_id=group, text=text, mentions=mentions, reply_to=reply_to)


@pytest.fixture
async def chat() -> AsyncIterator[Chat]:
    async def directory() -> WebChatDirectory:
        return DIRECTORY

    adapter = WebChatAdapter(directory, BOT, clock=lambda: NOW)
    app = web.Application()
    adapter.mount(app)
    delivered = Recorder()
    await adapter.start(delivered)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with ClientSession() as session:
            yield Chat(adapter, server, session, delivered)
    finally:
        await adapter.stop()
        await server.close()


def test_it_is_an_adapter_that_mounts_on_the_web_server() -> None:
    async def directory() -> WebChatDirectory:
        return DIRECTORY

    adapter: Adapter = WebChatAdapter(directory, BOT)
    assert adapter.platform == "webchat"
    assert isinstance(adapter, WebMounted)


async def test_two_residents_in_a_group_see_each_other_and_the_bot(chat: Chat) -> None:
    zhang, _ = await chat.join("b5", "zhang-ayi", "张阿姨")
    li, _ = await chat.join("b5", "li-fang", "李芳")
    neighbour, _ = await chat.join("b6", "li-fangfang", "李芳芳")

    sent = await say(zhang, "2单元楼道灯坏了好几天了")
    assert await receive(li) == sent
    assert sent["id"].startswith("web-")
    assert sent | {"id": "x"} == {
        "type": "message",
        "id": "x",
        "group": "b5",
        "user": "zhang-ayi",
        "name": "张阿姨",
        "text": "2单元楼道灯坏了好几天了",
        "mentions": [],
        "reply_to": None,
        "quote": None,
        "time": NOW.isoformat(),
        "from_bot": False,
    }
    message = await chat.delivered.next()
    assert message.platform == "webchat"
    assert (message.group_id, message.sender_id, message.sender_name) == ("b5", "zhang-ayi", "张阿姨")
    assert (message.message_id, message.text, message.time) == (sent["id"], sent["text"], NOW)

    answer = await say(li, "我去看看", reply_to=sent["id"])
    assert await receive(zhang) == answer
    assert answer["quote"] == {"id": sent["id"], "name": "张阿姨", "text": "2单元楼道灯坏了好几天了"}
    assert (await chat.delivered.next()).reply_to == sent["id"]

    receipt = await chat.adapter.send(
        group_reply(
            "@张阿姨 收到,已登记 #1024", Mention(user_id="zhang-ayi", name="张阿姨"), reply_to=sent["id"]
        )
    )
    assert receipt.message_id == "bot-1"
    assert receipt.sent_at == NOW
    from_bot = await receive(zhang)
    assert await receive(li) == from_bot
    assert from_bot["id"] == "bot-1"
    assert from_bot["from_bot"] is True
    assert from_bot["name"] == BOT
    assert from_bot["mentions"] == [{"user_id": "zhang-ayi", "name": "张阿姨"}]
    assert from_bot["reply_to"] == sent["id"]

    # The other building heard none of it: its next frame is its own message.
    own = await say(neighbour, "6号楼这边一切正常")
    assert own["group"] == "b6"
    assert (await chat.delivered.next()).group_id == "b6"


async def test_several_tabs_of_one_person_all_see_the_message(chat: Chat) -> None:
    first, _ = await chat.join("b5", "zhang-ayi", "张阿姨")
    second, _ = await chat.join("b5", "zhang-ayi", "张阿姨")
    sent = await say(first, "有人在吗")
    assert await receive(second) == sent


async def test_joining_shows_the_last_hundred_messages(chat: Chat) -> None:
    zhang, history = await chat.join("b5", "zhang-ayi", "张阿姨")
    assert history == {
        "type": "history",
        "group": "b5",
        "group_name": "5号楼群",
        "user": "zhang-ayi",
        "name": "张阿姨",
        "messages": [],
        "private": [],
    }
    first = await say(zhang, "早上好")
    for number in range(HISTORY_LIMIT):
        await chat.adapter.send(group_reply(f"通知 {number}"))

    _, history = await chat.join("b5", "li-fang", "李芳")
    messages = history["messages"]
    assert len(messages) == HISTORY_LIMIT
    assert first not in messages  # the oldest fell out
    assert [m["text"] for m in messages[:2]] == ["通知 0", "通知 1"]
    assert messages[-1]["id"] == f"bot-{HISTORY_LIMIT}"

    _, other = await chat.join("b6", "li-fangfang", "李芳芳")
    assert other["messages"] == []


async def test_the_bot_can_post_to_a_group_nobody_has_open(chat: Chat) -> None:
    receipt = await chat.adapter.send(group_reply("【通知 #12】请60岁以上老人完成养老金资格认证", group="b6"))
    assert receipt.message_id == "bot-1"
    _, history = await chat.join("b6", "li-fangfang", "李芳芳")
    assert [m["text"] for m in history["messages"]] == ["【通知 #12】请60岁以上老人完成养老金资格认证"]


async def test_mentions_become_user_ids(chat: Chat) -> None:
    zhang, _ = await chat.join("b5", "zhang-ayi", "张阿姨")
    await chat.join("b5", "guest-1a2b", "3单元王叔叔")

    sent = await say(zhang, "@李芳 @物业王师傅 楼道灯坏了,＠3单元王叔叔 你家也不亮吧,@李芳 快来")
    message = await chat.delivered.next()
    assert message.mentions == ("li-fang", "wang-shifu", "guest-1a2b")
    assert message.mentions_bot is False
    assert [m["name"] for m in sent["mentions"]] == ["李芳", "物业王师傅", "3单元王叔叔"]

    await say(zhang, f"@李芳芳 你好 @{BOT} 怎么报修")
    message = await chat.delivered.next()
    assert message.mentions == ("li-fangfang",)  # the longest name wins: not 李芳
    assert message.mentions_bot is True

    await say(zhang, "邮箱 zhang@example.com 不是提到谁")
    assert (await chat.delivered.next()).mentions == ()


def test_mentioned_names_reads_at_signs_only() -> None:
    names = ["李芳", "李芳芳", "楼栋助手"]
    assert mentioned_names("李芳说 @李芳芳 和 @楼栋助手", names) == ["李芳芳", "楼栋助手"]
    assert mentioned_names("@@李芳 @李 @", names) == ["李芳"]


async def test_private_messages_reach_every_tab_of_that_person_only(chat: Chat) -> None:
    li_here, _ = await chat.join("b5", "li-fang", "李芳")
    li_there, _ = await chat.join("b6", "li-fang", "李芳")
    zhang, _ = await chat.join("b5", "zhang-ayi", "张阿姨")

    receipt = await chat.adapter.send(
        SendToUser(platform="webchat", user_id="li-fang", text="今天请巡查 5号楼")
    )
    assert receipt.message_id == "bot-1"
    private = await receive(li_here)
    assert await receive(li_there) == private
    assert private == {
        "type": "private",
        "id": "bot-1",
        "to": "li-fang",
        "user": "bot",
        "name": BOT,
        "text": "今天请巡查 5号楼",
        "time": NOW.isoformat(),
        "from_bot": True,
    }
    assert (await say(zhang, "不相干的一句"))["user"] == "zhang-ayi"  # 张阿姨 got nothing before it

    # Kept for a page opened later.
    _, history = await chat.join("b6", "li-fang", "李芳")
    assert history["private"] == [private]


async def test_a_person_can_write_to_the_bot_privately(chat: Chat) -> None:
    li, _ = await chat.join("b5", "li-fang", "李芳")
    await li.send_json({"type": "say_private", "text": "待办"})
    echo = await receive(li)
    assert echo | {"id": "x"} == {
        "type": "private",
        "id": "x",
        "to": "li-fang",
        "user": "li-fang",
        "name": "李芳",
        "text": "待办",
        "time": echo["time"],
        "from_bot": False,
    }
    message = await chat.delivered.next()
    assert message.is_private
    assert (message.sender_id, message.text, message.message_id) == ("li-fang", "待办", echo["id"])


BAD_FRAMES: list[tuple[str, str | bytes, str]] = [
    ("malformed json", "{not json", "bad_json"),
    ("not an object", "[1, 2]", "bad_frame"),
    ("unknown type", json.dumps({"type": "dance"}), "unknown_type"),
    ("join without user", json.dumps({"type": "join", "group": "b5", "name": "x"}), "bad_frame"),
    (
        "unknown group",
        json.dumps({"type": "join", "group": "b99", "user": "u", "name": "x"}),
        "unknown_group",
    ),
    ("empty text", json.dumps({"type": "say", "text": "  \n "}), "empty_text"),
    ("text too long", json.dumps({"type": "say", "text": "长" * 2001}), "too_long"),
    ("text not a string", json.dumps({"type": "say", "text": 5}), "bad_frame"),
    ("binary frame", b"\x00\x01", "bad_frame"),
]


@pytest.mark.parametrize(
    ("frame", "code"), [(f, c) for _, f, c in BAD_FRAMES], ids=[n for n, _, _ in BAD_FRAMES]
)
async def test_a_bad_frame_is_answered_and_the_socket_stays_usable(
    chat: Chat, frame: str | bytes, code: str
) -> None:
    ws, _ = await chat.join("b5", "zhang-ayi", "张阿姨")
    if isinstance(frame, bytes):
        await ws.send_bytes(frame)
    else:
        await ws.send_str(frame)
    error = await receive(ws)
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["message"]
    assert (await say(ws, "还能说话吗"))["text"] == "还能说话吗"


async def test_saying_before_joining_is_refused(chat: Chat) -> None:
    ws = await chat.connect()
    for frame in ({"type": "say", "text": "你好"}, {"type": "say_private", "text": "你好"}):
        await ws.send_json(frame)
        assert (await receive(ws))["code"] == "not_joined"
    await ws.send_json({"type": "join", "group": "b5", "user": "zhang-ayi", "name": "张阿姨"})
    assert (await receive(ws))["type"] == "history"
    assert chat.delivered.queue.empty()


async def test_a_failing_dispatcher_does_not_break_the_chat(chat: Chat) -> None:
    chat.delivered.fail = True
    ws, _ = await chat.join("b5", "zhang-ayi", "张阿姨")
    await say(ws, "第一句")
    await say(ws, "第二句")
    assert [(await chat.delivered.next()).text for _ in range(2)] == ["第一句", "第二句"]


async def test_a_slow_dispatcher_does_not_hold_the_socket_and_keeps_order() -> None:
    release = asyncio.Event()
    seen: list[str] = []

    async def slow(message: Message) -> None:
        if not seen:
            await release.wait()
        seen.append(message.text)

    async def directory() -> WebChatDirectory:
        return DIRECTORY

    adapter = WebChatAdapter(directory, BOT)
    app = web.Application()
    adapter.mount(app)
    await adapter.start(slow)
    async with TestServer(app) as server, ClientSession() as session:
        chat = Chat(adapter, server, session, Recorder())
        ws, _ = await chat.join("b5", "zhang-ayi", "张阿姨")
        await say(ws, "一")
        await say(ws, "二")  # echoed while the first is still with the dispatcher
        assert seen == []
        release.set()
        for _ in range(100):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.01)
        assert seen == ["一", "二"]
        await adapter.stop()


async def test_the_directory_is_served_as_json_and_the_page_as_html(chat: Chat) -> None:
    async with chat.session.get(chat.server.make_url("/api/directory")) as response:
        assert response.status == 200
        assert await response.json() == DIRECTORY.model_dump()
    async with chat.session.get(chat.server.make_url("/")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/html")
        assert "楼栋群聊" in await response.text()
    for name, kind in (("webchat.js", "text/javascript"), ("webchat.css", "text/css")):
        async with chat.session.get(chat.server.make_url(f"/static/{name}")) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == f"{kind}; charset=utf-8"


async def test_a_broken_directory_is_reported_not_fatal() -> None:
    async def broken() -> WebChatDirectory:
        raise OSError("database is down")

    adapter = WebChatAdapter(broken, BOT)
    app = web.Application()
    adapter.mount(app)
    async with TestServer(app) as server, ClientSession() as session:
        async with session.get(server.make_url("/api/directory")) as response:
            assert response.status == 503
        ws = await session.ws_connect(server.make_url("/ws"))
        await receive(ws)
        await ws.send_json({"type": "join", "group": "b5", "user": "zhang-ayi", "name": "张阿姨"})
        assert (await receive(ws))["code"] == "unavailable"
        await ws.close()


async def test_send_refuses_another_platform(chat: Chat) -> None:
    with pytest.raises(SendError) as raised:
        await chat.adapter.send(SendToUser(platform="onebot", user_id="1", text="hi"))
    assert raised.value.permanent


async def test_stop_closes_the_sockets(chat: Chat) -> None:
    ws, _ = await chat.join("b5", "zhang-ayi", "张阿姨")
    await chat.adapter.stop()
    closing = await ws.receive(timeout=TIMEOUT)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert ws.close_code == 1001
    with pytest.raises(SendError):
        await chat.adapter.send(group_reply("还在吗"))
    # A restart serves again.
    await chat.adapter.start(chat.delivered)
    again, _ = await chat.join("b5", "zhang-ayi", "张阿姨")
    assert (await say(again, "回来了"))["text"] == "回来了"
