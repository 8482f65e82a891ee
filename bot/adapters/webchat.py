"""The built-in web chat: a browser page where anyone can play any resident or grid worker in any
building group, so the bot can be tried, demonstrated and tested without QQ, WeChat or WeCom.

Chats live in memory only (the last HISTORY_LIMIT messages per group): the web chat is a platform like
any other, and what matters to the bot — requests, notices, their timelines — is stored by the bot.

WebSocket protocol (JSON text frames):

client → server
  {"type": "join", "group": "b5", "user": "li-fang", "name": "李芳"}   (again to switch group or identity)
  {"type": "say", "text": "…", "reply_to": "<message id>" | null}      (to the joined group)
  {"type": "say_private", "text": "…"}                                  (privately to the bot)

server → client
  {"type": "welcome", "bot_name": …}                          on connect
  {"type": "history", "group", "group_name", "user", "name",
   "messages": [<message>…], "private": [<private>…]}         on join
  <message> = {"type": "message", "id", "group", "user", "name", "text",
               "mentions": [{"user_id", "name"}…], "reply_to", "quote": {"id", "name", "text"} | null,
               "time", "from_bot"}                             to every socket joined to the group
  <private> = {"type": "private", "id", "to", "user", "name", "text", "time", "from_bot"}
                                                               to every socket whose identity is `to`
  {"type": "error", "code", "message"}                        a bad frame; the socket stays open
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.adapters.base import Deliver, SendError
from handlers.contract import Message, SendToGroup, SendToUser, SentReceipt

log = logging.getLogger("loudong.webchat")

PLATFORM = "webchat"
STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
STATIC_FILES = ("webchat.js", "webchat.css")
HISTORY_LIMIT = 100
PRIVATE_HISTORY_LIMIT = 50
MAX_TEXT_CHARS = 2000
# Far above 2000 characters of UTF-8 plus JSON, so a long text gets a polite error, not a dropped socket.
MAX_FRAME_BYTES = 64 * 1024
QUOTE_CHARS = 60
BOT_USER_ID = "bot"
# The dispatcher may still be working on the last messages when the bot stops; give it this long.
STOP_GRACE_SECONDS = 5.0
MENTION_SIGNS = ("@", "＠")  # Chinese input methods often type the full-width sign

Clock = Callable[[], datetime]
Frame = dict[str, Any]


# ---------------------------------------------------------------------------------------------------
# The directory the page offers: which groups to open, whom to play.


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class WebChatGroup(_Model):
    id: str = Field(min_length=1)  # the group's id on the webchat platform (Group.external_id)
    name: str  # e.g. "5号楼群"
    unit: str  # the unit the group belongs to, e.g. "5号楼"
    kind: str  # that unit's kind (storage.roles.UnitKind value): "building" for 一楼一群
    grid: str = ""  # optional: the grid the unit lies in, so the page can list groups by grid


class WebChatPerson(_Model):
    id: str = Field(min_length=1)  # the person's account id on the webchat platform
    name: str
    role: str  # storage.roles.Role value
    role_label: str  # e.g. "微网格长"
    unit: str = ""  # e.g. "5号楼"


class WebChatDirectory(_Model):
    groups: list[WebChatGroup] = Field(default_factory=list)
    people: list[WebChatPerson] = Field(default_factory=list)


DirectoryProvider = Callable[[], Awaitable[WebChatDirectory]]


# ---------------------------------------------------------------------------------------------------
# Frames from the browser.


class _Join(BaseModel):
    type: Literal["join"]
    group: str = Field(min_length=1, max_length=128)
    user: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=32)


class _Say(BaseModel):
    type: Literal["say"]
    text: str
    reply_to: str | None = Field(default=None, max_length=128)


class _SayPrivate(BaseModel):
    type: Literal["say_private"]
    text: str


_ClientFrame = _Join | _Say | _SayPrivate
_FRAME_MODELS: dict[str, type[_ClientFrame]] = {"join": _Join, "say": _Say, "say_private": _SayPrivate}


class FrameError(Exception):
    """A client frame we refuse; `message` is shown to the person in the page, so it is Chinese."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_frame(raw: str) -> _ClientFrame:
    try:
        data = json.loads(raw)
    except ValueError:
        raise FrameError("bad_json", "消息格式不对(不是有效的 JSON)") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise FrameError("bad_frame", "消息格式不对(缺少 type)")
    model = _FRAME_MODELS.get(data["type"])
    if model is None:
        raise FrameError("unknown_type", f"不认识的消息类型:{data['type'][:40]}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = "、".join(str(item["loc"][0]) for item in error.errors() if item["loc"]) or data["type"]
        raise FrameError("bad_frame", f"消息格式不对({fields})") from None


def clean_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise FrameError("empty_text", "消息不能为空")
    if len(text) > MAX_TEXT_CHARS:
        raise FrameError("too_long", f"消息太长了,最多 {MAX_TEXT_CHARS} 字")
    return text


# ---------------------------------------------------------------------------------------------------
# Mentions: "@李芳" in the text names a person; the longest known name wins, so "@李芳芳" is not 李芳.


def mentioned_names(text: str, names: Iterable[str]) -> list[str]:
    """The known names written as @name in the text, in order of appearance, without repeats."""
    by_length = sorted({name for name in names if name}, key=len, reverse=True)
    found: list[str] = []
    for index, char in enumerate(text):
        if char not in MENTION_SIGNS:
            continue
        rest = text[index + 1 :]
        name = next((name for name in by_length if rest.startswith(name)), None)
        if name is not None and name not in found:
            found.append(name)
    return found


def mention_index(people: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """name → user ids; two people of one name are both tagged, as a chat app would offer both."""
    index: dict[str, list[str]] = {}
    for user_id, name in people:
        ids = index.setdefault(name, [])
        if user_id not in ids:
            ids.append(user_id)
    return index


# ---------------------------------------------------------------------------------------------------
# The adapter.


@dataclass(eq=False)
class _Client:
    """One open WebSocket; group and identity are set by its latest join."""

    ws: web.WebSocketResponse
    group: str | None = None
    user: str | None = None
    name: str = ""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WebChatAdapter:
    platform = PLATFORM
    sends_private = True

    def __init__(
        self,
        directory: DirectoryProvider,
        bot_name: str,
        clock: Clock | None = None,
        *,
        first_bot_number: int = 1,
    ) -> None:
        self._directory = directory
        self._bot_name = bot_name
        self._clock: Clock = clock or _utc_now
        # Bot message ids are "bot-<n>". The runtime may start n above ids it has already recorded, so
        # a reply to an old bot message is never routed to a new one after a restart.
        self._bot_numbers = itertools.count(first_bot_number)
        self._deliver: Deliver | None = None
        self._clients: set[_Client] = set()
        self._history: dict[str, deque[Frame]] = {}
        self._private: dict[str, deque[Frame]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # The last delivery per conversation: the next one waits for it, so the dispatcher sees one
        # group's messages in the order they were said.
        self._last_delivery: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    # -- Adapter ------------------------------------------------------------------------------------

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._closing = False

    async def stop(self) -> None:
        self._closing = True
        await self._close_sockets()
        pending = set(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=STOP_GRACE_SECONDS)
            for task in late:
                task.cancel()
            if late:
                log.warning("webchat deliveries cancelled at stop", extra={"count": len(late)})
                await asyncio.wait(late)
        self._deliver = None

    async def send(self, action: SendToGroup | SendToUser) -> SentReceipt:
        if action.platform != PLATFORM:
            raise SendError(f"webchat cannot send to platform {action.platform!r}", permanent=True)
        if self._closing:
            raise SendError("webchat is stopped")  # not permanent: the outbox retries after a restart
        if isinstance(action, SendToGroup):
            return await self._send_to_group(action)
        return await self._send_to_user(action)

    # -- WebMounted ---------------------------------------------------------------------------------

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/", self._page)
        # One route per file rather than a /static prefix, so other web parts can serve their own.
        for name in STATIC_FILES:
            app.router.add_get(f"/static/{name}", self._static_file)
        app.router.add_get("/api/directory", self._directory_json)
        app.router.add_get("/ws", self._websocket)
        # Open sockets would hold the server's shutdown for its whole timeout.
        app.on_shutdown.append(self._on_app_shutdown)

    # -- HTTP -----------------------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return _file_response(STATIC_DIR / "webchat.html")

    async def _static_file(self, request: web.Request) -> web.StreamResponse:
        return _file_response(STATIC_DIR / request.path.rsplit("/", 1)[-1])

    async def _directory_json(self, request: web.Request) -> web.Response:
        try:
            directory = await self._directory()
        except Exception:
            log.exception("webchat directory unavailable")
            return web.json_response({"error": "通讯录暂时不可用,请稍后再试"}, status=503)
        return web.json_response(text=directory.model_dump_json())

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        if self._closing:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"stopping")
            return ws
        client = _Client(ws)
        self._clients.add(client)
        try:
            await self._push([client], {"type": "welcome", "bot_name": self._bot_name})
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    await self._on_text(client, frame.data)
                elif frame.type == WSMsgType.BINARY:
                    await self._refuse(client, FrameError("bad_frame", "只接受文字消息"))
                elif frame.type == WSMsgType.ERROR:
                    log.info("webchat socket error", extra={"error": str(ws.exception())})
        finally:
            self._clients.discard(client)
        return ws

    async def _on_app_shutdown(self, app: web.Application) -> None:
        self._closing = True
        await self._close_sockets()

    async def _close_sockets(self) -> None:
        clients = list(self._clients)
        await asyncio.gather(
            *(c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping") for c in clients),
            return_exceptions=True,
        )

    # -- Frames from the browser ----------------------------------------------------------------------

    async def _on_text(self, client: _Client, raw: str) -> None:
        try:
            frame = parse_frame(raw)
            if isinstance(frame, _Join):
                await self._join(client, frame)
            elif isinstance(frame, _Say):
                await self._say(client, frame)
            else:
                await self._say_private(client, frame)
        except FrameError as error:
            await self._refuse(client, error)
        except Exception:
            # One bad frame must not cost the person their connection.
            log.exception("webchat frame failed", extra={"user": client.user, "group": client.group})
            await self._refuse(client, FrameError("internal", "出了点问题,请稍后再试"))

    async def _refuse(self, client: _Client, error: FrameError) -> None:
        log.info(
            "webchat frame refused",
            extra={"code": error.code, "reason": error.message, "user": client.user, "group": client.group},
        )
        await self._push([client], {"type": "error", "code": error.code, "message": error.message})

    async def _join(self, client: _Client, frame: _Join) -> None:
        try:
            directory = await self._directory()
        except Exception:
            log.exception("webchat directory unavailable")
            raise FrameError("unavailable", "通讯录暂时不可用,请稍后再试") from None
        group = next((g for g in directory.groups if g.id == frame.group), None)
        if group is None:
            raise FrameError("unknown_group", f"没有这个群:{frame.group}")
        name = frame.name.strip()
        if not name:
            raise FrameError("bad_frame", "请填写名字")
        if frame.user == BOT_USER_ID:
            raise FrameError("bad_frame", "这个身份是助手专用的")
        client.group, client.user, client.name = group.id, frame.user, name
        await self._push(
            [client],
            {
                "type": "history",
                "group": group.id,
                "group_name": group.name,
                "user": client.user,
                "name": client.name,
                "messages": list(self._history.get(group.id, ())),
                "private": list(self._private.get(client.user, ())),
            },
        )

    async def _say(self, client: _Client, frame: _Say) -> None:
        if client.group is None or client.user is None:
            raise FrameError("not_joined", "请先选择群和身份再发言")
        text = clean_text(frame.text)
        group, user = client.group, client.user
        mentions, mentions_bot = await self._mentions(text, group)
        message = Message(
            platform=PLATFORM,
            group_id=group,
            sender_id=user,
            sender_name=client.name,
            message_id=f"web-{uuid.uuid4().hex}",
            text=text,
            mentions=tuple(user_id for user_id, _ in mentions),
            mentions_bot=mentions_bot,
            reply_to=frame.reply_to or None,
            time=self._clock(),
        )
        await self._publish(
            self._message_frame(
                message_id=message.message_id,
                group=group,
                user=user,
                name=client.name,
                text=text,
                mentions=mentions,
                reply_to=message.reply_to,
                time=message.time,
                from_bot=False,
            )
        )
        self._hand_over(group, message)

    async def _say_private(self, client: _Client, frame: _SayPrivate) -> None:
        if client.user is None:
            raise FrameError("not_joined", "请先选择身份再发私信")
        text = clean_text(frame.text)
        message = Message(
            platform=PLATFORM,
            group_id=None,
            sender_id=client.user,
            sender_name=client.name,
            message_id=f"web-{uuid.uuid4().hex}",
            text=text,
            time=self._clock(),
        )
        await self._publish_private(
            client.user,
            _private_frame(message.message_id, client.user, client.user, client.name, text, message.time),
        )
        self._hand_over(f"user:{client.user}", message)

    async def _mentions(self, text: str, group: str) -> tuple[list[tuple[str, str]], bool]:
        """(user id, name) of everyone @-mentioned, and whether the bot is. Known names are the
        directory's people and whoever has joined this group (a new resident is not in the directory)."""
        try:
            people = [(p.id, p.name) for p in (await self._directory()).people]
        except Exception:
            # Losing the mentions is better than losing the message.
            log.exception("webchat directory unavailable; message sent without mentions")
            people = []
        people += [(c.user, c.name) for c in self._clients if c.group == group and c.user is not None]
        index = mention_index(people)
        names = mentioned_names(text, [*index, self._bot_name])
        mentions = [(user_id, name) for name in names if name in index for user_id in index[name]]
        return mentions, self._bot_name in names

    # -- Handing messages to the bot ----------------------------------------------------------------

    def _hand_over(self, conversation: str, message: Message) -> None:
        """Deliver in a task so the socket keeps reading while the dispatcher works."""
        deliver = self._deliver
        if deliver is None:
            log.warning(
                "webchat message not delivered: adapter not started", extra={"id": message.message_id}
            )
            return
        previous = self._last_delivery.get(conversation)
        task = asyncio.create_task(
            self._deliver_after(previous, deliver, message), name=f"webchat-deliver-{message.message_id}"
        )
        self._last_delivery[conversation] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._forget(conversation, done))

    def _forget(self, conversation: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._last_delivery.get(conversation) is task:
            del self._last_delivery[conversation]

    @staticmethod
    async def _deliver_after(previous: asyncio.Task[None] | None, deliver: Deliver, message: Message) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # wait, not await: its failure is not ours
        try:
            await deliver(message)
        except Exception:
            log.exception("webchat delivery failed", extra={"id": message.message_id})

    # -- Sending ----------------------------------------------------------------------------------------

    async def _send_to_group(self, action: SendToGroup) -> SentReceipt:
        message_id, now = self._next_bot_id(), self._clock()
        await self._publish(
            self._message_frame(
                message_id=message_id,
                group=action.group_id,
                user=BOT_USER_ID,
                name=self._bot_name,
                text=action.text,
                mentions=[(m.user_id, m.name) for m in action.mentions],
                reply_to=action.reply_to,
                time=now,
                from_bot=True,
            )
        )
        return SentReceipt(message_id=message_id, sent_at=now)

    async def _send_to_user(self, action: SendToUser) -> SentReceipt:
        message_id, now = self._next_bot_id(), self._clock()
        frame = _private_frame(
            message_id, action.user_id, BOT_USER_ID, self._bot_name, action.text, now, from_bot=True
        )
        # Kept even if the person has no page open: they see it when they next join.
        await self._publish_private(action.user_id, frame)
        return SentReceipt(message_id=message_id, sent_at=now)

    def _next_bot_id(self) -> str:
        return f"bot-{next(self._bot_numbers)}"

    def _message_frame(
        self,
        *,
        message_id: str,
        group: str,
        user: str,
        name: str,
        text: str,
        mentions: Sequence[tuple[str, str]],
        reply_to: str | None,
        time: datetime,
        from_bot: bool,
    ) -> Frame:
        return {
            "type": "message",
            "id": message_id,
            "group": group,
            "user": user,
            "name": name,
            "text": text,
            "mentions": [{"user_id": user_id, "name": m_name} for user_id, m_name in mentions],
            "reply_to": reply_to,
            # The quoted message travels with the reply, so a page that never saw it can still show it.
            "quote": self._quote(group, reply_to),
            "time": time.isoformat(),
            "from_bot": from_bot,
        }

    def _quote(self, group: str, reply_to: str | None) -> Frame | None:
        if reply_to is None:
            return None
        for frame in self._history.get(group, ()):
            if frame["id"] == reply_to:
                text = frame["text"]
                short = text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…"
                return {"id": reply_to, "name": frame["name"], "text": short}
        return None

    async def _publish(self, frame: Frame) -> None:
        group = frame["group"]
        self._history.setdefault(group, deque(maxlen=HISTORY_LIMIT)).append(frame)
        await self._push([c for c in self._clients if c.group == group], frame)

    async def _publish_private(self, user: str, frame: Frame) -> None:
        self._private.setdefault(user, deque(maxlen=PRIVATE_HISTORY_LIMIT)).append(frame)
        await self._push([c for c in self._clients if c.user == user], frame)

    async def _push(self, clients: Sequence[_Client], frame: Frame) -> None:
        """Send to each socket at once; a socket that has gone away is its reader's to clean up."""
        data = json.dumps(frame, ensure_ascii=False)
        targets = [c for c in clients if not c.ws.closed]
        results = await asyncio.gather(*(c.ws.send_str(data) for c in targets), return_exceptions=True)
        for client, result in zip(targets, results, strict=True):
            if isinstance(result, BaseException):
                log.debug("webchat push failed", extra={"user": client.user, "error": repr(result)})


def _private_frame(
    message_id: str, to: str, user: str, name: str, text: str, time: datetime, *, from_bot: bool = False
) -> Frame:
    return {
        "type": "private",
        "id": message_id,
        "to": to,
        "user": user,
        "name": name,
        "text": text,
        "time": time.isoformat(),
        "from_bot": from_bot,
    }


_CONTENT_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def _file_response(path: Path) -> web.FileResponse:
    # The page changes with the code; no-cache keeps a reloaded page in step with the server.
    return web.FileResponse(
        path, headers={"Content-Type": _CONTENT_TYPES[path.suffix], "Cache-Control": "no-cache"}
    )
