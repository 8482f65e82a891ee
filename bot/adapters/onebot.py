"""OneBot v11 adapter: QQ (NapCat, Lagrange.OneBot, LLOneBot) and the WeChat bridges that speak OneBot.

The whole protocol lives in this one file, read top to bottom:

1. message format: CQ-code strings and segment arrays, and escaping (onebot-11 message/string.md);
2. inbound: a `message` event becomes one normalised `Message`;
3. outbound: `SendToGroup`/`SendToUser` become segment arrays with `at` and `reply` segments;
4. transport: reverse WebSocket (the implementation connects to us, Universal or split API/Event
   connections, several bots at once), HTTP POST events (signed with X-Signature), and the
   implementation's HTTP API for actions when no WebSocket is up;
5. `OneBotAdapter`, which ties them together and meets the `Adapter` and `WebMounted` protocols.

Spec: https://github.com/botuniverse/onebot-11 (communication/ws-reverse.md, http-post.md, http.md,
authorization.md; message/segment.md, message/string.md; event/message.md, event/meta.md; api/public.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import math
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Literal, TypedDict

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

from bot.adapters.base import ConnectionListener, Deliver, SendError
from handlers.clock import Clock, SystemClock
from handlers.contract import Mention, Message, SendToGroup, SendToUser, SentReceipt

log = logging.getLogger(__name__)

PLATFORM = "onebot"
# How many action time-outs in a row an action may wait out while our own backpressure is what holds its
# response back; past that the implementation is taken to be stuck after all.
MAX_TIMEOUTS_HELD_BACK = 10
# Events handed to the dispatcher and not yet handled, at most: those waiting are handled together.
DELIVERIES_IN_FLIGHT = 32
# Seconds between probes of an HTTP API that refused us, at most (from `reconnect_wait`, doubling).
HTTP_PROBE_MAX_WAIT = 60.0


# ---------------------------------------------------------------------------------------------------
# 1. Message format: segments, CQ codes, escaping
# ---------------------------------------------------------------------------------------------------


class Segment(TypedDict):
    """One message segment, as in the array format: {"type": "at", "data": {"qq": "10001"}}."""

    type: str
    data: dict[str, Any]


def segment(kind: str, **data: Any) -> Segment:
    return {"type": kind, "data": data}


def text_segment(text: str) -> Segment:
    return segment("text", text=text)


# message/string.md: plain text escapes & [ ]; inside a CQ code's parameter values "," is escaped too.
_TEXT_ESCAPES = {"&": "&amp;", "[": "&#91;", "]": "&#93;"}
_PARAM_ESCAPES = {**_TEXT_ESCAPES, ",": "&#44;"}
_UNESCAPES = {"&amp;": "&", "&#91;": "[", "&#93;": "]", "&#44;": ","}
_TEXT_ESCAPE_RE = re.compile(r"[&\[\]]")
_PARAM_ESCAPE_RE = re.compile(r"[&\[\],]")
_UNESCAPE_RE = re.compile(r"&(?:amp|#91|#93|#44);")
# "[CQ:" + name up to the first "," or "]", then ",key=value" parameters up to "]".
_CQ_CODE_RE = re.compile(r"\[CQ:([^,\]]+)((?:,[^\]]*)?)\]")


def cq_escape(text: str, *, in_param: bool = False) -> str:
    # One pass with a regex, so the "&" of an escape we just produced is never escaped again.
    table, pattern = (_PARAM_ESCAPES, _PARAM_ESCAPE_RE) if in_param else (_TEXT_ESCAPES, _TEXT_ESCAPE_RE)
    return pattern.sub(lambda match: table[match.group()], text)


def cq_unescape(text: str) -> str:
    # One pass too: "&amp;#91;" (an escaped literal "&#91;") must come back as "&#91;", not "[".
    return _UNESCAPE_RE.sub(lambda match: _UNESCAPES[match.group()], text)


def parse_cq(message: str) -> list[Segment]:
    """A CQ-code string as a segment array; the text between codes is unescaped."""
    segments: list[Segment] = []
    position = 0
    for code in _CQ_CODE_RE.finditer(message):
        if code.start() > position:
            segments.append(text_segment(cq_unescape(message[position : code.start()])))
        segments.append(segment(code.group(1), **_cq_params(code.group(2))))
        position = code.end()
    if position < len(message):
        segments.append(text_segment(cq_unescape(message[position:])))
    return segments


def _cq_params(raw: str) -> dict[str, str]:
    # raw is "" or ",k=v,k2=v2"; a value may itself contain "=" (only the first one splits).
    params: dict[str, str] = {}
    for part in raw.split(",")[1:]:
        key, _, value = part.partition("=")
        params[key] = cq_unescape(value)
    return params


def to_cq(segments: Iterable[Segment]) -> str:
    """A segment array as a CQ-code string, escaped so that `parse_cq` gives it back."""
    parts: list[str] = []
    for item in segments:
        if item["type"] == "text":
            parts.append(cq_escape(str(item["data"].get("text", ""))))
            continue
        params = "".join(
            f",{key}={cq_escape(str(value), in_param=True)}" for key, value in item["data"].items()
        )
        parts.append(f"[CQ:{item['type']}{params}]")
    return "".join(parts)


def segments_of(message: Any) -> list[Segment]:
    """The event's `message` in either format (array, or CQ string) as segments; else ValueError."""
    if isinstance(message, str):
        return parse_cq(message)
    if isinstance(message, list) and all(_is_segment(item) for item in message):
        return message
    raise ValueError(f"message is neither a CQ string nor a segment array: {message!r:.200}")


def _is_segment(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("type"), str) and isinstance(item.get("data"), dict)


# ---------------------------------------------------------------------------------------------------
# 2. Inbound: a message event as a normalised Message
# ---------------------------------------------------------------------------------------------------

# Media and cards the handlers cannot read still leave a trace in the text, so a resident's
# "[图片] 楼道里堆满了" keeps its meaning and staff can see something was attached.
_PLACEHOLDERS = {
    "face": "[表情]",
    "mface": "[表情]",
    "record": "[语音]",
    "video": "[视频]",
    "file": "[文件]",
    "forward": "[聊天记录]",
    "location": "[位置]",
    "share": "[链接]",
    "json": "[卡片]",
    "xml": "[卡片]",
}


@dataclass
class _Rendered:
    text: str
    mentions: tuple[str, ...]
    mentions_bot: bool
    reply_to: str | None


def render_segments(segments: Sequence[Segment], self_id: str) -> _Rendered:
    """Plain text, @-mentions and reply target of a segment list, as the handlers want them."""
    parts: list[str] = []
    mentions: list[str] = []
    mentions_bot = False
    reply_to: str | None = None
    drop_space = False  # after a stripped @bot, the separating space goes too
    for item in segments:
        kind, data = item["type"], item["data"]
        if kind == "text":
            text = str(data.get("text", ""))
            parts.append(text[1:] if drop_space and text.startswith(" ") else text)
        elif kind == "at" and str(data.get("qq")) == self_id:
            mentions_bot = True
        elif kind == "at":
            parts.append(_at_text(data, mentions))
        elif kind == "reply" and data.get("id") is not None:
            reply_to = str(data["id"])
        elif kind == "image":
            url = data.get("url") or data.get("file")
            parts.append(f"[图片 {url}]" if url else "[图片]")
        elif kind in _PLACEHOLDERS:
            parts.append(_PLACEHOLDERS[kind])
        else:
            log.debug("onebot: segment type %r has no text form; left out", kind)
        drop_space = kind == "at" and str(data.get("qq")) == self_id
    return _Rendered("".join(parts).strip(), tuple(mentions), mentions_bot, reply_to)


def _at_text(data: Mapping[str, Any], mentions: list[str]) -> str:
    qq = str(data.get("qq", ""))
    if qq == "all":
        return "@全体成员"
    if qq not in mentions:
        mentions.append(qq)
    # Some implementations (Lagrange, NapCat) add the member's display name; the spec has only qq.
    name = data.get("name")
    return f"@{name}" if name else f"@{qq}"


def parse_message_event(event: Mapping[str, Any], self_id: str) -> Message:
    """One OneBot `message` event as a Message. Raises KeyError/TypeError/ValueError when malformed."""
    kind = event["message_type"]
    if kind == "group":
        group_id: str | None = str(event["group_id"])
    elif kind == "private":
        group_id = None
    else:
        raise ValueError(f"unknown message_type {kind!r}")
    rendered = render_segments(segments_of(event["message"]), self_id)
    return Message(
        platform=PLATFORM,
        group_id=group_id,
        sender_id=str(event["user_id"]),
        sender_name=_sender_name(event.get("sender")),
        message_id=str(event["message_id"]),
        text=rendered.text,
        mentions=rendered.mentions,
        mentions_bot=rendered.mentions_bot,
        reply_to=rendered.reply_to,
        time=datetime.fromtimestamp(_timestamp(event["time"]), UTC),
    )


def _sender_name(sender: Any) -> str:
    # The group card (群名片) is what neighbours know each other by ("3-502 王阿姨"); fall back to nickname.
    if not isinstance(sender, Mapping):
        return ""
    return str(sender.get("card") or sender.get("nickname") or "")


def _timestamp(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"time must be a unix timestamp, got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------------------------------
# 3. Outbound: actions as segment arrays
# ---------------------------------------------------------------------------------------------------


def group_segments(action: SendToGroup) -> list[Segment]:
    """The segments of a group message: a leading reply, then the text with its @-mentions as `at`s."""
    segments: list[Segment] = []
    if action.reply_to:
        segments.append(segment("reply", id=action.reply_to))
    segments.extend(mention_segments(action.text, action.mentions))
    return segments


def mention_segments(text: str, mentions: Sequence[Mention]) -> list[Segment]:
    """Each inline "@name" of a mention becomes an `at`; a mention not named in the text goes first."""
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
    # Longest names first, so "@张三丰" is not cut short by a mention of "张三": at the earliest "@name" in
    # the text the longest name there wins, then the scan goes on after it (what a regex alternation of
    # the names, longest first, finds with `finditer`). Plain `str.find`, not a regex: every reply names
    # its own sender, so each pattern was new, overflowed `re`'s cache and was compiled per reply, ~0.1 ms.
    tags = [f"@{name}" for name in sorted(inline, key=len, reverse=True)]
    position = 0
    while True:
        start, tag = -1, ""
        for candidate in tags:
            found = text.find(candidate, position)
            if found != -1 and (start == -1 or found < start):
                start, tag = found, candidate
        if start == -1:
            break
        if start > position:
            segments.append(text_segment(text[position:start]))
        segments.append(segment("at", qq=ids_by_name[tag[1:]]))
        position = start + len(tag)
    if position < len(text):
        segments.append(text_segment(text[position:]))
    return segments


def _id_param(value: str) -> int | str:
    # The spec types group_id/user_id as int64; bridges to other platforms use strings: pass those through.
    return int(value) if re.fullmatch(r"-?\d{1,19}", value) else value


# ---------------------------------------------------------------------------------------------------
# 4. Transport: connections, authentication, responses
# ---------------------------------------------------------------------------------------------------


class Role(Enum):
    """X-Client-Role of a reverse WebSocket: one socket for both, or one socket each (ws-reverse.md)."""

    UNIVERSAL = "Universal"
    API = "API"
    EVENT = "Event"


def _role_of(request: web.Request) -> Role | None:
    header = request.headers.get("X-Client-Role")
    if header is None:
        # Not sent by a spec-conformant implementation; guess from the path rather than refuse.
        for role, suffix in ((Role.API, "/api"), (Role.EVENT, "/event")):
            if request.path.rstrip("/").endswith(suffix):
                return role
        return Role.UNIVERSAL
    return next((role for role in Role if role.value.lower() == header.strip().lower()), None)


@dataclass(eq=False)
class _Connection:
    self_id: str
    role: Role
    ws: web.WebSocketResponse
    remote: str | None

    def __str__(self) -> str:
        return f"{self.role.value} connection of bot {self.self_id} from {self.remote}"


@dataclass(eq=False)
class _Pending:
    action: str
    future: asyncio.Future[Any]
    connection: _Connection


def _supplied_token(request: web.Request) -> str | None:
    """The access token the peer offered: `Authorization: Bearer|Token <t>` or `?access_token=`.

    None when it offered nothing; "" when it offered an Authorization header we cannot read (refused as
    wrong rather than missing)."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        # Bearer is the spec; "Token" is what CQHTTP used before and some bridges still send.
        return token if scheme.lower() in {"bearer", "token"} else ""
    return request.query.get("access_token")


# retcodes that will not get better by retrying: bad request and unknown action (http.md, ws.md).
_PERMANENT_RETCODES = frozenset({1400, 1404})


def _response_data(action: str, response: Any) -> Any:
    """The `data` of an action response; SendError when the implementation reports failure."""
    if not isinstance(response, Mapping):
        raise SendError(f"OneBot {action}: malformed response {response!r:.200}")
    status, retcode = response.get("status"), response.get("retcode")
    if status == "async" or retcode == 1:
        # status async / retcode 1: accepted for asynchronous processing (http.md); no data yet.
        return None
    if status == "failed" or retcode != 0:
        detail = response.get("message") or response.get("wording") or response.get("msg") or ""
        raise SendError(
            f"OneBot {action} failed: status={status} retcode={retcode} {detail}".rstrip(),
            permanent=retcode in _PERMANENT_RETCODES,
        )
    return response.get("data")


# ---------------------------------------------------------------------------------------------------
# 5. The adapter
# ---------------------------------------------------------------------------------------------------


class OneBotAdapter:
    """OneBot v11 over reverse WebSocket and HTTP POST, with the HTTP API as a fallback for actions."""

    platform = PLATFORM
    sends_private = True

    def __init__(
        self,
        *,
        access_token: str | None = None,
        secret: str | None = None,
        ws_path: str = "/onebot/v11/ws",
        http_path: str = "/onebot/v11/http",
        api_url: str | None = None,
        action_timeout: float = 10.0,
        reconnect_wait: float = 5.0,
        message_format: Literal["array", "string"] = "array",
        heartbeat: float | None = 30.0,
        clock: Clock | None = None,
        session: aiohttp.ClientSession | None = None,
        inbox_size: int = 10_000,
        deliveries_in_flight: int = DELIVERIES_IN_FLIGHT,
    ) -> None:
        """
        access_token: required of every connection and HTTP POST when set (authorization.md).
        secret: HMAC-SHA1 key the implementation signs HTTP POST events with (X-Signature).
        api_url: the implementation's HTTP API (e.g. http://127.0.0.1:3000), used for actions when no
            WebSocket carrying the API is connected.
        action_timeout: seconds to wait for an action's response before SendError.
        reconnect_wait: seconds an action waits for a dropped WebSocket to come back before SendError
            (implementations retry every 3 s by default, ws-reverse.md): a blip, for a send already
            under way. A longer outage is the outbox's to wait out: while `connected` is False it sends
            nothing here, and the listeners of `watch_connection` tell it when the connection is back.
        message_format: how outgoing messages are encoded; "array" suits every current implementation.
        heartbeat: seconds between our WebSocket pings, so a dead peer is noticed; None for none.
        inbox_size: events queued for the dispatcher at most; beyond it the sockets stop being read
            (backpressure) until it catches up.
        deliveries_in_flight: events handed to the dispatcher and not yet handled, at most.
        """
        self._access_token = access_token or None
        self._secret = secret or None
        self._ws_path = ws_path
        self._http_path = http_path
        self._api_url = api_url.rstrip("/") if api_url else None
        self._action_timeout = action_timeout
        self._reconnect_wait = reconnect_wait
        self._message_format = message_format
        self._heartbeat = heartbeat
        self._clock: Clock = clock or SystemClock()
        self._session = session
        self._owns_session = session is None
        # self_id -> role -> connection; a bot has one Universal socket, or an API and an Event socket.
        self._connections: dict[str, dict[Role, _Connection]] = {}
        self._connections_changed = asyncio.Condition()
        self._connection_listeners: list[ConnectionListener] = []
        self._pending: dict[str, _Pending] = {}
        # A fresh prefix per process, so a response meant for an earlier run never matches a new call.
        self._echo_prefix = secrets.token_hex(4)
        self._echo_counter = itertools.count(1)
        # Which bot last heard from a group or user: with several bots, that one is in the group.
        self._routes: dict[tuple[str, str], str] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue(maxsize=inbox_size)
        self._deliveries_in_flight = deliveries_in_flight
        # When the full inbox last stopped a socket being read (None: not now, inf: never): an action's
        # response may then be waiting unread behind the events, so its time-out is not the peer's fault.
        self._held_back_since: float | None = None
        self._held_back_until = -math.inf
        self._worker: asyncio.Task[None] | None = None
        self._deliver: Deliver | None = None
        # The HTTP API refused our connection (the implementation is restarting or gone): until it
        # answers a probe, or posts us an event, `connected` is False and the outbox keeps its actions.
        self._http_down = False
        self._http_probe: asyncio.Task[None] | None = None

    # --- Adapter protocol -------------------------------------------------------------------------

    def mount(self, app: web.Application) -> None:
        base = self._ws_path.rstrip("/")
        for path in (base or "/", f"{base}/api", f"{base}/event"):
            app.router.add_get(path, self._handle_websocket)
            if path != "/":
                app.router.add_get(f"{path}/", self._handle_websocket)
        app.router.add_post(self._http_path, self._handle_http_post)
        if self._access_token is None:
            log.warning("onebot: no access token configured; anyone who can reach %s may act as a bot", base)

    async def start(self, deliver: Deliver) -> None:
        # Events are queued and handed over, in order, by one task with up to `deliveries_in_flight` at
        # a time: the socket keeps being read (action responses arrive on the same Universal socket)
        # while the dispatcher works, and it handles the events waiting together.
        self._deliver = deliver
        self._worker = asyncio.create_task(self._deliver_loop(), name="onebot-deliver")

    async def stop(self) -> None:
        connections = [c for roles in self._connections.values() for c in roles.values()]
        # Forget them first: their handlers unregister only after the close handshake, and whoever
        # stopped us should see no live connection once stop() returns.
        self._connections.clear()
        for connection in connections:
            await connection.ws.close(code=WSCloseCode.GOING_AWAY, message=b"bot shutting down")
        self._fail_pending(lambda _: True, "adapter stopped")
        if self._http_probe is not None:
            self._http_probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._http_probe
            self._http_probe = None
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def connected(self) -> bool:
        """Whether an action can go now: a WebSocket carrying the API is up, or an HTTP API is set and
        did not refuse our last connection (a probe, or an event it posts us, says when it is back)."""
        http_up = self._api_url is not None and not self._http_down
        return http_up or self._api_connection(None) is not None

    def watch_connection(self, listener: ConnectionListener) -> None:
        self._connection_listeners.append(listener)

    async def send(self, action: SendToGroup | SendToUser) -> SentReceipt:
        if action.platform != PLATFORM:
            raise SendError(f"onebot adapter cannot send to platform {action.platform!r}", permanent=True)
        if isinstance(action, SendToGroup):
            name, route = "send_group_msg", ("group", action.group_id)
            params: dict[str, Any] = {
                "group_id": _id_param(action.group_id),
                "message": self._encode(group_segments(action)),
            }
        else:
            name, route = "send_private_msg", ("private", action.user_id)
            params = {
                "user_id": _id_param(action.user_id),
                "message": self._encode([text_segment(action.text)]),
            }
        data = await self.call_action(name, params, self_id=self._routes.get(route))
        message_id = data.get("message_id") if isinstance(data, Mapping) else None
        return SentReceipt(
            message_id=None if message_id is None else str(message_id),
            sent_at=self._clock.now(),
        )

    async def get_group_member_list(self, group_id: str) -> list[dict[str, Any]]:
        """The group's members (user_id, nickname, card, role, …; public.md) for the display-name sync."""
        data = await self.call_action(
            "get_group_member_list",
            {"group_id": _id_param(group_id)},
            self_id=self._routes.get(("group", group_id)),
        )
        if not isinstance(data, list):
            raise SendError(f"OneBot get_group_member_list: expected a list, got {data!r:.200}")
        return [dict(member) for member in data if isinstance(member, Mapping)]

    # --- actions ----------------------------------------------------------------------------------

    async def call_action(self, action: str, params: Mapping[str, Any], *, self_id: str | None = None) -> Any:
        """Call one OneBot action and return its `data`; SendError on failure, refusal or timeout."""
        connection = self._api_connection(self_id)
        if connection is None and self._api_url is not None:
            return _response_data(action, await self._call_http(action, params))
        if connection is None:
            connection = await self._wait_for_connection(self_id, action)
        return _response_data(action, await self._call_websocket(connection, action, params))

    def _encode(self, segments: list[Segment]) -> list[Segment] | str:
        return to_cq(segments) if self._message_format == "string" else segments

    def _api_connection(self, self_id: str | None) -> _Connection | None:
        # The bot that knows the target first; any other connected bot otherwise (one-bot setups
        # never learn a route for a group the bot has not heard from yet).
        preferred = [self_id] if self_id is not None else []
        for candidate in [*preferred, *self._connections]:
            roles = self._connections.get(candidate, {})
            connection = roles.get(Role.API) or roles.get(Role.UNIVERSAL)
            if connection is not None:
                return connection
        return None

    async def _wait_for_connection(self, self_id: str | None, action: str) -> _Connection:
        async with self._connections_changed:
            try:
                async with asyncio.timeout(self._reconnect_wait):
                    await self._connections_changed.wait_for(
                        lambda: self._api_connection(self_id) is not None
                    )
            except TimeoutError:
                raise SendError(
                    f"OneBot {action}: no implementation connected (waited {self._reconnect_wait}s)"
                ) from None
        connection = self._api_connection(self_id)
        assert connection is not None  # wait_for returned, and nothing awaited since
        return connection

    async def _call_websocket(self, connection: _Connection, action: str, params: Mapping[str, Any]) -> Any:
        echo = f"{self._echo_prefix}-{next(self._echo_counter)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[echo] = _Pending(action, future, connection)
        try:
            frame = {"action": action, "params": dict(params), "echo": echo}
            await connection.ws.send_str(json.dumps(frame, ensure_ascii=False))
            return await self._response(future)
        except TimeoutError:
            raise SendError(f"OneBot {action}: no response within {self._action_timeout}s") from None
        except (ConnectionError, RuntimeError) as error:  # the socket closed under us
            raise SendError(f"OneBot {action}: {connection} lost: {error}") from None
        finally:
            self._pending.pop(echo, None)

    async def _response(self, future: asyncio.Future[Any]) -> Any:
        """The action's response. While our own backpressure keeps the socket unread, the response may
        be sitting behind the queued events: waiting on is right, and failing would make the outbox send
        again what the implementation has already done (a reply posted twice)."""
        for _ in range(MAX_TIMEOUTS_HELD_BACK):
            try:
                async with asyncio.timeout(self._action_timeout):
                    return await asyncio.shield(future)
            except TimeoutError:
                if not self._recently_held_back():
                    raise
        raise TimeoutError

    def _recently_held_back(self) -> bool:
        now = asyncio.get_running_loop().time()
        return self._held_back_since is not None or now - self._held_back_until < self._action_timeout

    async def _enqueue(self, message: Message) -> None:
        if not self._inbox.full():
            self._inbox.put_nowait(message)
            return
        loop = asyncio.get_running_loop()
        self._held_back_since = loop.time()
        try:
            await self._inbox.put(message)
        finally:
            self._held_back_since = None
            self._held_back_until = loop.time()

    async def _call_http(self, action: str, params: Mapping[str, Any]) -> Any:
        try:
            async with self._post_http(action, params) as response:
                if response.status != 200:
                    # http.md: 401/403 token, 404 no such action, 400/406 our request; only 401/403 may
                    # heal (someone fixes the token) so the outbox keeps those.
                    raise SendError(
                        f"OneBot HTTP API {action}: HTTP {response.status}",
                        permanent=response.status in {400, 404, 406},
                    )
                return await response.json(content_type=None)
        except aiohttp.ClientConnectorError as error:
            await self._http_unreachable(error)
            raise SendError(f"OneBot HTTP API {action}: {error!r}") from None
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise SendError(f"OneBot HTTP API {action}: {error!r}") from None

    @contextlib.asynccontextmanager
    async def _post_http(
        self, action: str, params: Mapping[str, Any]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        headers = {"Authorization": f"Bearer {self._access_token}"} if self._access_token else {}
        timeout = aiohttp.ClientTimeout(total=self._action_timeout)
        url = f"{self._api_url}/{action}"
        async with self._http().post(url, json=dict(params), headers=headers, timeout=timeout) as response:
            yield response

    async def _http_unreachable(self, error: aiohttp.ClientConnectorError) -> None:
        if self._http_down:
            return
        log.warning(
            "onebot: HTTP API %s unreachable (%s); actions wait until it answers", self._api_url, error
        )
        self._http_down = True
        self._http_probe = asyncio.create_task(self._probe_http(), name="onebot-http-probe")
        await self._connection_changed()

    async def _probe_http(self) -> None:
        """Ask `get_status` (public.md) every few seconds, backing off to a minute, until the HTTP API
        answers at all: any HTTP response means the implementation is up again."""
        wait = self._reconnect_wait
        while self._http_down:
            await asyncio.sleep(wait)
            wait = min(wait * 2, HTTP_PROBE_MAX_WAIT)
            try:
                async with self._post_http("get_status", {}):
                    pass
            except (aiohttp.ClientError, TimeoutError):
                continue
            await self._http_reachable("it answered get_status")

    async def _http_reachable(self, how: str) -> None:
        if not self._http_down:
            return
        log.info("onebot: HTTP API %s reachable again (%s)", self._api_url, how)
        self._http_down = False
        if self._http_probe is not None and self._http_probe is not asyncio.current_task():
            self._http_probe.cancel()
        self._http_probe = None
        await self._connection_changed()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def _fail_pending(self, which: Callable[[_Pending], bool], reason: str) -> None:
        for echo, pending in list(self._pending.items()):
            if which(pending) and not pending.future.done():
                pending.future.set_exception(SendError(f"OneBot {pending.action}: {reason}"))
                self._pending.pop(echo, None)

    # --- reverse WebSocket ------------------------------------------------------------------------

    async def _handle_websocket(self, request: web.Request) -> web.StreamResponse:
        refusal = self._check_token(request)
        if refusal is not None:
            return refusal
        self_id = request.headers.get("X-Self-ID", "").strip()
        role = _role_of(request)
        if not self_id or role is None:
            log.warning(
                "onebot: refused WebSocket from %s: X-Self-ID=%r X-Client-Role=%r",
                request.remote,
                self_id,
                request.headers.get("X-Client-Role"),
            )
            return web.Response(status=400, text="X-Self-ID and a known X-Client-Role are required")
        ws = web.WebSocketResponse(heartbeat=self._heartbeat)
        await ws.prepare(request)
        connection = _Connection(self_id, role, ws, request.remote)
        await self._register(connection)
        try:
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._on_frame(connection, frame.data)
                elif frame.type is WSMsgType.BINARY:
                    await self._on_frame(connection, frame.data.decode("utf-8", errors="replace"))
                elif frame.type is WSMsgType.ERROR:
                    log.warning("onebot: %s failed: %s", connection, ws.exception())
        finally:
            await self._unregister(connection)
        return ws

    async def _register(self, connection: _Connection) -> None:
        roles = self._connections.setdefault(connection.self_id, {})
        stale = [roles.pop(role) for role in _conflicting_roles(connection.role) if role in roles]
        roles[connection.role] = connection
        log.info("onebot: %s up", connection)
        for old in stale:
            # The implementation reconnected before we noticed the old socket die; keep the new one.
            log.info("onebot: replacing %s", old)
            self._fail_pending(lambda pending, old=old: pending.connection is old, "connection replaced")
            await old.ws.close(code=WSCloseCode.GOING_AWAY, message=b"replaced by a new connection")
        await self._connection_changed()

    async def _unregister(self, connection: _Connection) -> None:
        roles = self._connections.get(connection.self_id, {})
        if roles.get(connection.role) is connection:
            del roles[connection.role]
            if not roles:
                del self._connections[connection.self_id]
            log.info("onebot: %s down (close code %s)", connection, connection.ws.close_code)
        # Responses to these calls will never come on a closed socket; fail them now, not at timeout.
        self._fail_pending(lambda pending: pending.connection is connection, "connection closed")
        await self._connection_changed()

    async def _connection_changed(self) -> None:
        async with self._connections_changed:
            self._connections_changed.notify_all()
        for listener in self._connection_listeners:
            try:
                listener()
            except Exception:
                log.exception("onebot: a connection listener failed")

    async def _on_frame(self, connection: _Connection, raw: str) -> None:
        try:
            payload = json.loads(raw)
        except ValueError:
            log.warning("onebot: %s sent a frame that is not JSON: %.200r", connection, raw)
            return
        if not isinstance(payload, dict):
            log.warning("onebot: %s sent a frame that is not an object: %.200r", connection, raw)
        elif "post_type" in payload:
            await self._on_event(payload, connection.self_id)
        elif "echo" in payload:
            self._on_response(payload)
        else:
            log.debug("onebot: %s sent an unexpected frame: %.200r", connection, raw)

    def _on_response(self, payload: dict[str, Any]) -> None:
        echo = payload["echo"]
        pending = self._pending.get(str(echo))
        if pending is None or pending.future.done():
            log.debug("onebot: response to an unknown or expired call: echo=%r", echo)
            return
        pending.future.set_result(payload)

    # --- HTTP POST --------------------------------------------------------------------------------

    async def _handle_http_post(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        # http-post.md signs with the secret and sends no token; with no secret set, the access token
        # (if any) protects the endpoint instead, so it is never open by accident.
        refusal = self._check_signature(request, body) if self._secret else self._check_token(request)
        if refusal is not None:
            return refusal
        try:
            payload = json.loads(body)
        except ValueError:
            log.warning("onebot: HTTP POST event from %s is not JSON", request.remote)
            return web.Response(status=400, text="body must be a JSON event")
        if not isinstance(payload, dict):
            return web.Response(status=400, text="body must be a JSON object")
        self_id = request.headers.get("X-Self-ID") or str(payload.get("self_id", ""))
        await self._http_reachable("it posted an event")
        await self._on_event(payload, self_id)
        return web.Response(status=204)  # no quick operation: replies go through the outbox

    def _check_signature(self, request: web.Request, body: bytes) -> web.Response | None:
        assert self._secret is not None
        header = request.headers.get("X-Signature")
        if header is None:
            log.warning("onebot: refused unsigned HTTP POST from %s", request.remote)
            return web.Response(status=401, text="X-Signature required")
        expected = "sha1=" + hmac.new(self._secret.encode(), body, hashlib.sha1).hexdigest()
        if not hmac.compare_digest(header.strip().lower().encode(), expected.encode()):
            log.warning("onebot: refused HTTP POST from %s: bad X-Signature", request.remote)
            return web.Response(status=403, text="bad signature")
        return None

    def _check_token(self, request: web.Request) -> web.Response | None:
        if self._access_token is None:
            return None
        supplied = _supplied_token(request)
        if supplied is None:
            log.warning(
                "onebot: refused %s %s from %s: no access token", request.method, request.path, request.remote
            )
            return web.Response(status=401, text="access token required")
        if not hmac.compare_digest(supplied.encode(), self._access_token.encode()):
            log.warning(
                "onebot: refused %s %s from %s: wrong access token",
                request.method,
                request.path,
                request.remote,
            )
            return web.Response(status=403, text="wrong access token")
        return None

    # --- events -----------------------------------------------------------------------------------

    async def _on_event(self, event: dict[str, Any], self_id: str) -> None:
        post_type = event.get("post_type")
        if post_type == "message":
            await self._on_message_event(event, self_id)
        elif post_type == "meta_event":
            log.debug(
                "onebot: bot %s meta event %s/%s status=%s",
                self_id,
                event.get("meta_event_type"),
                event.get("sub_type"),
                event.get("status"),
            )
        else:
            # notice/request (joins, recalls, friend requests) and message_sent: nothing for us yet.
            log.debug("onebot: bot %s %s event ignored", self_id, post_type)

    async def _on_message_event(self, event: dict[str, Any], self_id: str) -> None:
        if str(event.get("user_id")) == self_id:
            # Our own messages echoed back (NapCat reportSelfMessage, Lagrange IgnoreSelf=false):
            # dispatching them could make the bot answer itself.
            log.debug("onebot: bot %s's own message %s ignored", self_id, event.get("message_id"))
            return
        try:
            message = parse_message_event(event, self_id)
        except (KeyError, TypeError, ValueError) as error:  # pydantic's ValidationError is a ValueError
            log.warning(
                "onebot: malformed message event from bot %s skipped: %r: %.300r", self_id, error, event
            )
            return
        if message.group_id is not None:
            self._routes[("group", message.group_id)] = self_id
        else:
            self._routes[("private", message.sender_id)] = self_id
        await self._enqueue(message)

    async def _deliver_loop(self) -> None:
        # Several events are handed over at once: the dispatcher queues them in this order and handles
        # those waiting together, in one transaction. A fixed set of delivering tasks rather than a task
        # per event (which cost more than reading the event): each takes the oldest queued event and
        # hands it over in the same step, so they reach the dispatcher in arrival order.
        workers = [
            asyncio.create_task(self._deliver_forever(), name=f"onebot-deliver-{index}")
            for index in range(self._deliveries_in_flight)
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()  # stops the waiting, not the dispatcher's work on the message
            await asyncio.gather(*workers, return_exceptions=True)

    async def _deliver_forever(self) -> None:
        assert self._deliver is not None
        inbox, deliver = self._inbox, self._deliver
        while True:
            message = await inbox.get()
            try:
                await deliver(message)
            except Exception:
                # One message the dispatcher chokes on must not stop the ones after it.
                log.exception("onebot: dispatcher failed on message %s", message.message_id)
            finally:
                inbox.task_done()


def _conflicting_roles(role: Role) -> tuple[Role, ...]:
    # A Universal socket carries both services, so it supersedes split ones and vice versa.
    return (Role.UNIVERSAL, Role.API, Role.EVENT) if role is Role.UNIVERSAL else (role, Role.UNIVERSAL)
