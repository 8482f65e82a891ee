"""WeCom: the callback crypto against the official sample vectors, the callback over real HTTP, and
the group robot's payloads and 20-per-minute limit against a fake webhook server."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from bot.adapters.base import SendError, WebMounted
from bot.adapters.wecom import (
    MARKDOWN_LIMIT,
    TEXT_LIMIT,
    WeComCallback,
    WeComRobot,
    parse_callback_message,
    robot_payloads,
)
from bot.adapters.wecom_crypto import (
    WeComCrypto,
    WeComCryptoError,
    WeComReceiveIdError,
    WeComSignatureError,
    signature,
)
from handlers.clock import ManualClock
from handlers.contract import Mention, Message, SendToGroup, SendToUser

WAIT = 5.0

# The official sample (企业微信 加解密方案说明 and the WXBizMsgCrypt Sample programs).
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wx5823bf96d3bd56c7"
VERIFY = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
}
VERIFY_PLAIN = "1616140317555161061"
POST_QUERY = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "timestamp": "1409659813",
    "nonce": "1372623149",
}
POST_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/"
    "sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJ"
    "YuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUca"
    "llcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5P"
    "l/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
POST_BODY = (
    f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{POST_ENCRYPT}]]></Encrypt>"
    "<AgentID><![CDATA[218]]></AgentID></xml>"
)
NOW = datetime(2024, 6, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


# --- crypto -------------------------------------------------------------------------------------


def test_official_url_verification_vector(crypto: WeComCrypto) -> None:
    assert crypto.verify_url(**VERIFY) == VERIFY_PLAIN


def test_official_message_vector(crypto: WeComCrypto) -> None:
    assert (
        signature(TOKEN, POST_QUERY["timestamp"], POST_QUERY["nonce"], POST_ENCRYPT)
        == POST_QUERY["msg_signature"]
    )
    plaintext = crypto.decrypt_message(**POST_QUERY, body=POST_BODY)
    parsed = parse_callback_message(plaintext, now=NOW)
    assert parsed == (
        Message(
            platform="wecom",
            group_id=None,
            sender_id="mycreate",
            message_id="4561255354251345929",
            text="hello",
            time=datetime.fromtimestamp(1409659813, UTC),
        ),
        None,
    )


def test_fixed_vector_with_a_known_random_prefix(crypto: WeComCrypto) -> None:
    # 16 + 4 + 5 ("hello") + 18 (corp id) = 43 bytes, padded with 21 bytes of 21 to 64: four AES blocks.
    encrypted = crypto.encrypt("hello", random_prefix=bytes(range(16)))
    assert len(base64.b64decode(encrypted)) == 64
    assert (
        crypto.encrypt("hello", random_prefix=bytes(range(16))) == encrypted
    )  # deterministic given the prefix
    assert crypto.decrypt(encrypted) == "hello"


def test_crypto_round_trip_at_every_padding_length(crypto: WeComCrypto) -> None:
    # 16 + 4 + 18 bytes of frame around the message: 64 lengths cover every padding from 1 to 32 twice.
    for size in range(64):
        message = "x" * size
        assert crypto.decrypt(crypto.encrypt(message)) == message
    assert crypto.decrypt(crypto.encrypt("楼道堆物 ✔ 🏠")) == "楼道堆物 ✔ 🏠"


def test_passive_reply_envelope_round_trip(crypto: WeComCrypto) -> None:
    reply = (
        "<xml><ToUserName><![CDATA[mycreate]]></ToUserName><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[已收到，3号楼电梯已报修]]></Content></xml>"
    )
    envelope = crypto.encrypt_message(reply, "1409659813", "1372623149")
    signed = envelope.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    assert crypto.decrypt_message(signed, "1409659813", "1372623149", envelope) == reply


def test_signature_mismatch_is_refused(crypto: WeComCrypto) -> None:
    with pytest.raises(WeComSignatureError):
        crypto.verify_url(**(VERIFY | {"nonce": "263014781"}))
    with pytest.raises(WeComSignatureError):
        WeComCrypto("another-token", AES_KEY, CORP_ID).decrypt_message(**POST_QUERY, body=POST_BODY)


def test_payload_for_another_corp_is_refused(crypto: WeComCrypto) -> None:
    with pytest.raises(WeComReceiveIdError):
        WeComCrypto(TOKEN, AES_KEY, "ww-not-us").verify_url(**VERIFY)


def test_wrong_key_and_garbage_are_crypto_errors(crypto: WeComCrypto) -> None:
    other_key = WeComCrypto(TOKEN, "A" * 43, CORP_ID)
    with pytest.raises(WeComCryptoError):
        other_key.decrypt(VERIFY["echostr"])
    with pytest.raises(WeComCryptoError):
        crypto.decrypt("not base64!")
    with pytest.raises(WeComCryptoError):
        crypto.decrypt_message(
            **POST_QUERY, body='<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>'
        )
    with pytest.raises(ValueError):
        WeComCrypto(TOKEN, AES_KEY[:-1], CORP_ID)


# --- the callback over HTTP ---------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()

    async def __call__(self, message: Message) -> None:
        await self.messages.put(message)

    async def next(self) -> Message:
        async with asyncio.timeout(WAIT):
            return await self.messages.get()


class FakeWebhook:
    """The robot webhook endpoint (qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…)."""

    def __init__(self, now: Any = None) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []  # (key, body)
        self.times: list[float] = []
        self.now = now
        self.errcode = 0
        app = web.Application()
        app.router.add_post("/cgi-bin/webhook/send", self._handle)
        self.server = TestServer(app, host="127.0.0.1")

    def url(self, key: str = "robot-1") -> str:
        return str(self.server.make_url("/cgi-bin/webhook/send").with_query(key=key))

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append((request.query["key"], await request.json()))
        if self.now is not None:
            self.times.append(self.now())
        if self.errcode:
            return web.json_response({"errcode": self.errcode, "errmsg": "invalid webhook url"})
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@pytest.fixture
async def webhook() -> AsyncIterator[FakeWebhook]:
    fake = FakeWebhook()
    await fake.server.start_server()
    yield fake
    await fake.server.close()


@pytest.fixture
async def callback_server(
    webhook: FakeWebhook,
) -> AsyncIterator[tuple[TestServer, WeComCallback, Inbox, WeComRobot]]:
    robot = WeComRobot(default_webhook=webhook.url())
    adapter = WeComCallback(
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        corp_id=CORP_ID,
        robot=robot,
        robot_name="楼栋助手",
        clock=ManualClock(NOW),
    )
    app = web.Application()
    adapter.mount(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    inbox = Inbox()
    await adapter.start(inbox)
    yield server, adapter, inbox, robot
    await adapter.stop()
    await server.close()


def test_callback_meets_the_protocols() -> None:
    adapter = WeComCallback(token=TOKEN, encoding_aes_key=AES_KEY, corp_id=CORP_ID)
    assert isinstance(adapter, WebMounted)
    assert adapter.platform == WeComRobot.platform == "wecom"


async def test_url_verification_over_http(callback_server: Any) -> None:
    server, _, _, _ = callback_server
    async with aiohttp.ClientSession() as session:
        async with session.get(server.make_url("/wecom/callback"), params=VERIFY) as response:
            assert (response.status, await response.text()) == (200, VERIFY_PLAIN)

        # WeCom URL-encodes echostr, but a "+" left raw decodes to a space; it must still verify.
        raw = "&".join(f"{k}={v if k == 'echostr' else quote(v)}" for k, v in VERIFY.items())
        url = URL(str(server.make_url("/wecom/callback")) + "?" + raw, encoded=True)
        async with session.get(url) as response:
            assert (response.status, await response.text()) == (200, VERIFY_PLAIN)

        async with session.get(
            server.make_url("/wecom/callback"), params=VERIFY | {"timestamp": "1"}
        ) as response:
            assert response.status == 403


async def test_encrypted_message_over_http(callback_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    server, _, inbox, _ = callback_server
    caplog.set_level(logging.WARNING, logger="bot.adapters.wecom")
    url = server.make_url("/wecom/callback")
    async with aiohttp.ClientSession() as session:
        forged = POST_QUERY | {"msg_signature": "0" * 40}
        async with session.post(url, params=forged, data=POST_BODY) as response:
            assert response.status == 403
        assert "refused POST" in caplog.text

        async with session.post(url, params=POST_QUERY, data=POST_BODY) as response:
            assert response.status == 200
    message = await inbox.next()
    assert (message.sender_id, message.text, message.message_id) == (
        "mycreate",
        "hello",
        "4561255354251345929",
    )
    assert inbox.messages.empty()  # the forged one never got through


async def test_robot_callback_in_a_group(
    callback_server: Any, crypto: WeComCrypto, webhook: FakeWebhook
) -> None:
    server, adapter, inbox, _ = callback_server
    plaintext = (
        "<xml><WebhookUrl><![CDATA[" + webhook.url("chat-robot") + "]]></WebhookUrl>"
        "<ChatId><![CDATA[wrkSFfCgAALFgnrSsWU38puiv4yvExuw]]></ChatId>"
        "<From><UserId>zhangsan</UserId><Name><![CDATA[张三]]></Name><Alias><![CDATA[san]]></Alias></From>"
        "<ChatType>group</ChatType><MsgType>text</MsgType>"
        "<Text><Content><![CDATA[@楼栋助手 5号楼门禁坏了]]></Content></Text><MsgId>CAIQ16HMjQYY</MsgId></xml>"
    )
    body = crypto.encrypt_message(plaintext, "1718000000", "42")
    query = {
        "msg_signature": crypto.sign("1718000000", "42", body.split("<Encrypt><![CDATA[")[1].split("]]>")[0])
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.make_url("/wecom/callback"),
            params=query | {"timestamp": "1718000000", "nonce": "42"},
            data=body,
        ) as response,
    ):
        assert response.status == 200
    message = await inbox.next()
    assert message == Message(
        platform="wecom",
        group_id="wrkSFfCgAALFgnrSsWU38puiv4yvExuw",
        sender_id="zhangsan",
        sender_name="张三",
        message_id="CAIQ16HMjQYY",
        text="5号楼门禁坏了",
        mentions_bot=True,
        time=NOW,
    )
    # The reply goes to that chat's own webhook, learned from the callback.
    await adapter.send(SendToGroup(platform="wecom", group_id=message.group_id, text="已报修"))
    assert webhook.received[-1] == ("chat-robot", {"msgtype": "text", "text": {"content": "已报修"}})
    with pytest.raises(SendError) as error:
        await adapter.send(SendToUser(platform="wecom", user_id="zhangsan", text="您好"))
    assert error.value.permanent


# --- the robot ----------------------------------------------------------------------------------


def test_robot_payload_mentions_by_userid_and_mobile() -> None:
    mentions = (Mention(user_id="13800001111", name="王阿姨"), Mention(user_id="lisi", name="李网格"))
    assert robot_payloads("@李网格 @王阿姨 3号楼电梯故障，请处理", mentions) == [
        {
            "msgtype": "text",
            "text": {
                "content": "@李网格 @王阿姨 3号楼电梯故障，请处理",
                "mentioned_list": ["lisi"],
                "mentioned_mobile_list": ["13800001111"],
            },
        }
    ]


def test_robot_markdown_mentions_by_userid_and_falls_back_to_text_for_mobiles() -> None:
    by_userid = (Mention(user_id="lisi", name="李网格"), Mention(user_id="wuye", name="物业"))
    assert robot_payloads("**通知** @李网格 请跟进", by_userid, markdown=True) == [
        {"msgtype": "markdown", "markdown": {"content": "<@wuye> **通知** <@lisi> 请跟进"}}
    ]
    by_mobile = (Mention(user_id="13800001111", name="王阿姨"),)
    assert robot_payloads("@王阿姨 您的报修已办结", by_mobile, markdown=True)[0]["msgtype"] == "text"


def test_long_text_is_split_under_the_byte_limits() -> None:
    notice = "\n".join(
        f"第{i}条：请各位居民于本周六前完成退休认证，逾期将影响养老金发放。" for i in range(60)
    )
    payloads = robot_payloads(notice, (Mention(user_id="lisi", name="李网格"),))
    assert len(payloads) > 1
    assert all(len(p["text"]["content"].encode()) <= TEXT_LIMIT for p in payloads)
    assert "mentioned_list" in payloads[0]["text"] and all(
        "mentioned_list" not in p["text"] for p in payloads[1:]
    )
    assert "\n".join(p["text"]["content"] for p in payloads) == notice

    one_line = "楼" * 3000  # no line breaks at all: cut by characters, never inside one
    pieces = robot_payloads(one_line, (), markdown=True)
    assert all(len(p["markdown"]["content"].encode()) <= MARKDOWN_LIMIT for p in pieces)
    assert "".join(p["markdown"]["content"] for p in pieces) == one_line


class FakeTime:
    """A monotonic clock whose sleep just moves it forward."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


async def test_robot_never_sends_more_than_20_in_a_rolling_minute() -> None:
    fake_time = FakeTime()
    hook = FakeWebhook(now=fake_time)
    await hook.server.start_server()
    robot = WeComRobot(default_webhook=hook.url(), monotonic=fake_time, sleep=fake_time.sleep)
    try:
        sends = [robot.send(SendToGroup(platform="wecom", group_id="g", text=f"通知 {i}")) for i in range(45)]
        await asyncio.gather(*sends)
    finally:
        await robot.stop()
        await hook.server.close()

    assert [body["text"]["content"] for _, body in hook.received] == [
        f"通知 {i}" for i in range(45)
    ]  # in order
    assert hook.times == [0.0] * 20 + [60.0] * 20 + [120.0] * 5
    for start in hook.times:
        assert sum(start <= t < start + 60 for t in hook.times) <= 20


async def test_robot_errcode_raises_send_error(webhook: FakeWebhook) -> None:
    webhook.errcode = 93000
    robot = WeComRobot(webhooks={"g": webhook.url("robot-key-secret")})
    try:
        with pytest.raises(SendError, match="errcode=93000") as error:
            await robot.send(SendToGroup(platform="wecom", group_id="g", text="通知"))
        assert "robot-key-secret" not in str(error.value)  # the webhook key stays out of logs
        with pytest.raises(SendError, match="no WeCom robot webhook") as unknown:
            await robot.send(SendToGroup(platform="wecom", group_id="elsewhere", text="通知"))
        assert unknown.value.permanent
    finally:
        await robot.stop()
