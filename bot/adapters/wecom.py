"""WeCom (企业微信): post to groups through group robots (群机器人), receive through the app callback.

- `WeComRobot` sends: each group's robot has a webhook URL; we POST text (with mentioned_list /
  mentioned_mobile_list) or markdown to it, never more than 20 messages in any rolling minute per
  webhook (the documented limit), queueing the rest.
- `WeComCallback` receives: WeCom calls our URL with encrypted XML (wecom_crypto.py). It serves the
  GET URL verification and turns POSTed text messages into `Message`s. Two shapes arrive there: an
  app's messages (FromUserName/Content/MsgId/CreateTime, one person talking to the app) and a group
  robot's callback when someone @-mentions it (From/UserId, ChatId, ChatType, Text/Content, and a
  WebhookUrl for answering that chat, which we hand to the robot).

Replies go out through the robot; an app's own message API (access_token, agentid) is not
implemented, so a `SendToUser` fails permanently here (docs/platforms.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element

import aiohttp
from aiohttp import web

from bot.adapters.base import Deliver, SendError
from bot.adapters.wecom_crypto import (
    WeComCrypto,
    WeComCryptoError,
    WeComReceiveIdError,
    WeComSignatureError,
    child_text,
    parse_xml,
)
from handlers.clock import Clock, SystemClock
from handlers.contract import Mention, Message, SendToGroup, SendToUser, SentReceipt

log = logging.getLogger(__name__)

PLATFORM = "wecom"
PER_MINUTE = 20  # 群机器人: each robot may send at most 20 messages a minute
WINDOW_SECONDS = 60.0
TEXT_LIMIT = 2048  # bytes of UTF-8 in text.content
MARKDOWN_LIMIT = 4096  # bytes of UTF-8 in markdown.content
_MOBILE = re.compile(r"1\d{10}")  # mainland mobile numbers: mentioned by mobile, not userid


# ---------------------------------------------------------------------------------------------------
# Outbound: the group robot
# ---------------------------------------------------------------------------------------------------


def robot_payloads(
    text: str, mentions: tuple[Mention, ...], *, markdown: bool = False
) -> list[dict[str, Any]]:
    """The webhook bodies for one message: split to the size limit, the mentions on the first."""
    mobiles = [m.user_id for m in mentions if _MOBILE.fullmatch(m.user_id)]
    userids = [m.user_id for m in mentions if not _MOBILE.fullmatch(m.user_id)]
    # Markdown can only @ by userid (<@userid>); someone known only by mobile would not be notified,
    # and a missed @ is worse than plain formatting, so fall back to text then.
    if markdown and not mobiles:
        content = _markdown_mentions(text, mentions)
        return [
            {"msgtype": "markdown", "markdown": {"content": chunk}}
            for chunk in _split(content, MARKDOWN_LIMIT)
        ]
    payloads: list[dict[str, Any]] = []
    for index, chunk in enumerate(_split(text, TEXT_LIMIT)):
        body: dict[str, Any] = {"content": chunk}
        if index == 0 and userids:
            body["mentioned_list"] = list(dict.fromkeys(userids))
        if index == 0 and mobiles:
            body["mentioned_mobile_list"] = list(dict.fromkeys(mobiles))
        payloads.append({"msgtype": "text", "text": body})
    return payloads


def _markdown_mentions(text: str, mentions: tuple[Mention, ...]) -> str:
    prefix: list[str] = []
    for mention in mentions:
        inline = f"@{mention.name}" if mention.name else None
        if inline and inline in text:
            text = text.replace(inline, f"<@{mention.user_id}>")
        else:
            prefix.append(f"<@{mention.user_id}>")
    return " ".join([*prefix, text]) if prefix else text


def _split(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` UTF-8 bytes, cut at line ends where possible (long notices)."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line.encode()) > limit:  # a single line too long: cut by characters
            head = _prefix_within(line, limit)
            if current:
                chunks.append(current)
                current = ""
            chunks.append(head)
            line = line[len(head) :]
        if len((current + line).encode()) > limit:
            chunks.append(current)
            current = ""
        current += line
    if current or not chunks:
        chunks.append(current)
    return [chunk.rstrip("\n") or chunk for chunk in chunks]


def _prefix_within(text: str, limit: int) -> str:
    encoded = text.encode()[:limit]
    return encoded.decode(errors="ignore")  # drop a character cut in half


def _redact(url: str) -> str:
    # The webhook key is the robot's only credential; keep it out of the logs.
    return re.sub(r"(key=)[^&]+", r"\1…", url)


@dataclass
class _Window:
    """Send times of one webhook within the last minute, and the queue in front of it."""

    sent: deque[float] = field(default_factory=deque)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class WeComRobot:
    """Posts group messages through each group's robot webhook, within the rate limit."""

    platform = PLATFORM
    sends_private = False

    def __init__(
        self,
        *,
        webhooks: Mapping[str, str] | None = None,
        default_webhook: str | None = None,
        markdown: bool = False,
        per_minute: int = PER_MINUTE,
        timeout: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Clock | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """
        webhooks: group id -> that group's robot webhook URL.
        default_webhook: the webhook for groups not in `webhooks` (a one-group deployment).
        markdown: send markdown instead of text (mentions as <@userid>).
        monotonic/sleep: the clock the rate limit runs on; tests pass a fake one.
        """
        self._webhooks = dict(webhooks or {})
        self._default_webhook = default_webhook
        self._markdown = markdown
        self._per_minute = per_minute
        self._timeout = timeout
        self._monotonic = monotonic
        self._sleep = sleep
        self._clock: Clock = clock or SystemClock()
        self._session = session
        self._owns_session = session is None
        self._windows: dict[str, _Window] = {}

    def add_webhook(self, group_id: str, url: str) -> None:
        """Learn a group's webhook (a robot callback carries one for the chat it came from)."""
        if self._webhooks.get(group_id) != url:
            log.info("wecom: group %s now posts through %s", group_id, _redact(url))
            self._webhooks[group_id] = url

    async def start(self, deliver: Deliver) -> None:
        """Nothing to receive: a robot only sends (WeComCallback receives)."""

    async def stop(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, action: SendToGroup | SendToUser) -> SentReceipt:
        if action.platform != PLATFORM:
            raise SendError(f"wecom robot cannot send to platform {action.platform!r}", permanent=True)
        if isinstance(action, SendToUser):
            raise SendError("a WeCom group robot cannot send private messages", permanent=True)
        url = self._webhooks.get(action.group_id, self._default_webhook)
        if url is None:
            raise SendError(f"no WeCom robot webhook for group {action.group_id}", permanent=True)
        # reply_to is dropped: robot messages cannot quote.
        for payload in robot_payloads(action.text, action.mentions, markdown=self._markdown):
            await self._post(url, payload)
        return SentReceipt(message_id=None, sent_at=self._clock.now())  # webhooks return no message id

    async def _post(self, url: str, payload: dict[str, Any]) -> None:
        window = self._windows.setdefault(url, _Window())
        # One at a time per webhook, in arrival order (asyncio.Lock is fair): the lock is the queue.
        async with window.lock:
            await self._take_slot(window)
            await self._post_now(url, payload)

    async def _take_slot(self, window: _Window) -> None:
        while True:
            now = self._monotonic()
            while window.sent and now - window.sent[0] >= WINDOW_SECONDS:
                window.sent.popleft()
            if len(window.sent) < self._per_minute:
                window.sent.append(now)
                return
            await self._sleep(window.sent[0] + WINDOW_SECONDS - now)

    async def _post_now(self, url: str, payload: dict[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                url, json=payload, timeout=aiohttp.ClientTimeout(total=self._timeout)
            ) as response:
                if response.status != 200:
                    raise SendError(f"wecom webhook {_redact(url)}: HTTP {response.status}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise SendError(f"wecom webhook {_redact(url)}: {error!r}") from None
        errcode = answer.get("errcode") if isinstance(answer, Mapping) else None
        if errcode != 0:
            # 45009 (over the limit) and the rest: the outbox retries with backoff.
            errmsg = answer.get("errmsg") if isinstance(answer, Mapping) else answer
            raise SendError(f"wecom webhook {_redact(url)}: errcode={errcode} {errmsg}")


# ---------------------------------------------------------------------------------------------------
# Inbound: the callback
# ---------------------------------------------------------------------------------------------------


def parse_callback_message(
    plaintext: str, *, now: datetime, robot_name: str | None = None
) -> tuple[Message, str | None] | None:
    """A decrypted text message as (Message, the chat's webhook URL if a robot callback); None if not text."""
    root = parse_xml(plaintext)
    if (child_text(root, "MsgType") or "").lower() != "text":
        return None
    if root.find("From") is not None:
        return _robot_message(root, now, robot_name), child_text(root, "WebhookUrl")
    return _app_message(root, now), None


def _app_message(root: Element, now: datetime) -> Message:
    created = child_text(root, "CreateTime")
    chat_id = child_text(root, "ChatId")
    return Message(
        platform=PLATFORM,
        group_id=chat_id or None,
        sender_id=_required(root, "FromUserName"),
        message_id=_required(root, "MsgId"),
        text=child_text(root, "Content") or "",
        time=datetime.fromtimestamp(int(created), UTC) if created else now,
    )


def _robot_message(root: Element, now: datetime, robot_name: str | None) -> Message:
    in_group = (child_text(root, "ChatType") or "group") == "group"
    text = child_text(root, "Text/Content") or ""
    if robot_name:
        text = text.replace(f"@{robot_name}", "", 1).strip()
    return Message(
        platform=PLATFORM,
        group_id=_required(root, "ChatId") if in_group else None,
        sender_id=_required(root, "From/UserId"),
        sender_name=child_text(root, "From/Name") or "",
        message_id=_required(root, "MsgId"),
        text=text,
        # In a group a robot is only called back when someone @-mentions it.
        mentions_bot=in_group,
        time=now,  # robot callbacks carry no CreateTime
    )


def _required(root: Element, path: str) -> str:
    value = child_text(root, path)
    if not value:
        raise WeComCryptoError(f"callback message without {path}")
    return value


class WeComCallback:
    """The app / robot callback URL: verification, decryption, and inbound Messages."""

    platform = PLATFORM
    sends_private = False

    def __init__(
        self,
        *,
        token: str,
        encoding_aes_key: str,
        corp_id: str,
        path: str = "/wecom/callback",
        robot: WeComRobot | None = None,
        robot_name: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        """
        token, encoding_aes_key: as set in the app's "接收消息" (API receive) page.
        corp_id: the receiveid every decrypted payload must carry.
        robot: sends replies (SendToGroup); also learns each chat's webhook from robot callbacks.
        robot_name: the robot's display name, stripped from "@<name> …" in robot callbacks.
        """
        self._crypto = WeComCrypto(token, encoding_aes_key, corp_id)
        self._path = path
        self._robot = robot
        self._robot_name = robot_name
        self._clock: Clock = clock or SystemClock()
        self._inbox: asyncio.Queue[Message] = asyncio.Queue(maxsize=10_000)
        self._worker: asyncio.Task[None] | None = None

    @property
    def crypto(self) -> WeComCrypto:
        return self._crypto

    def mount(self, app: web.Application) -> None:
        app.router.add_get(self._path, self._handle_verification)
        app.router.add_post(self._path, self._handle_callback)

    async def start(self, deliver: Deliver) -> None:
        # WeCom retries a callback not answered within 5 s; answer first, dispatch from a queue.
        self._worker = asyncio.create_task(self._deliver_loop(deliver), name="wecom-deliver")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._robot is not None:
            await self._robot.stop()

    async def send(self, action: SendToGroup | SendToUser) -> SentReceipt:
        if isinstance(action, SendToUser) or self._robot is None:
            raise SendError("WeCom: sending through the app's message API is not implemented", permanent=True)
        return await self._robot.send(action)

    async def _handle_verification(self, request: web.Request) -> web.StreamResponse:
        try:
            query = {name: request.query[name] for name in ("msg_signature", "timestamp", "nonce", "echostr")}
        except KeyError as missing:
            return web.Response(status=400, text=f"missing {missing}")
        try:
            plain = self._crypto.verify_url(**query)
        except WeComCryptoError as error:
            return self._refusal(request, error)
        log.info("wecom: callback URL verified from %s", request.remote)
        return web.Response(text=plain)

    async def _handle_callback(self, request: web.Request) -> web.StreamResponse:
        try:
            query = {name: request.query[name] for name in ("msg_signature", "timestamp", "nonce")}
        except KeyError as missing:
            return web.Response(status=400, text=f"missing {missing}")
        body = await request.read()
        try:
            plaintext = self._crypto.decrypt_message(**query, body=body)
            parsed = parse_callback_message(plaintext, now=self._clock.now(), robot_name=self._robot_name)
        except (WeComCryptoError, ValueError) as error:  # pydantic's ValidationError is a ValueError
            return self._refusal(request, error)
        if parsed is None:
            log.debug("wecom: non-text callback ignored")
        else:
            message, webhook = parsed
            if webhook and message.group_id and self._robot is not None:
                self._robot.add_webhook(message.group_id, webhook)
            await self._inbox.put(message)
        return web.Response(text="")  # 200 and no passive reply: answers go through the outbox

    def _refusal(self, request: web.Request, error: Exception) -> web.Response:
        forged = isinstance(error, WeComSignatureError | WeComReceiveIdError)
        log.warning("wecom: refused %s from %s: %s", request.method, request.remote, error)
        return web.Response(status=403 if forged else 400, text="refused")

    async def _deliver_loop(self, deliver: Deliver) -> None:
        while True:
            message = await self._inbox.get()
            try:
                await deliver(message)
            except Exception:
                log.exception("wecom: dispatcher failed on message %s", message.message_id)
            finally:
                self._inbox.task_done()
