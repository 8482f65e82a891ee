"""A fake OneBot v11 implementation (the NapCat/Lagrange side), for testing our adapter over real sockets.

`FakeOneBot` is a reverse-WebSocket client as ws-reverse.md describes it: it connects to our server
with X-Self-ID, X-Client-Role and the access token (header or query), as one Universal socket or as
split API and Event sockets, pushes events, and answers action requests with their echo. Answers can
be automatic (ok, with a fresh message_id) or held, so a test replies in any order it likes.
`FakeOneBotHttpApi` is the implementation's HTTP API (http.md) for the HTTP action path, and
`post_event` is its HTTP POST event reporting (http-post.md), signed when given a secret.

Imported by the test modules beside it (they put this directory on sys.path); not a test itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

FIXTURES = Path(__file__).parent / "fixtures" / "onebot"

WAIT = 5.0  # seconds a test waits for something that should happen at once

TokenVia = Literal["bearer", "token", "query", "none"]
Response = dict[str, Any]
Responder = Callable[[dict[str, Any]], Response | None]


def load_fixture(name: str) -> dict[str, Any]:
    """One event from fixtures/onebot/<name>.json."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def ok(data: Any = None) -> Response:
    return {"status": "ok", "retcode": 0, "data": data}


def failed(retcode: int = 100, message: str = "failed") -> Response:
    return {"status": "failed", "retcode": retcode, "data": None, "message": message}


class _Ids:
    """message_ids the fake hands out for messages the bot sends."""

    def __init__(self) -> None:
        self._counter = itertools.count(5001)

    def respond(self, request: dict[str, Any]) -> Response:
        if request["action"] in {"send_group_msg", "send_private_msg", "send_msg"}:
            return ok({"message_id": next(self._counter)})
        if request["action"] == "get_group_member_list":
            return ok(
                [
                    {
                        "group_id": 700001,
                        "user_id": 20001,
                        "nickname": "阿芳",
                        "card": "3-502 王阿姨",
                        "role": "member",
                    },
                    {"group_id": 700001, "user_id": 30001, "nickname": "李网格", "card": "", "role": "admin"},
                ]
            )
        return failed(1404, "no such action")


class FakeOneBot:
    """The implementation side of a reverse WebSocket, for one bot account."""

    def __init__(
        self,
        url: str,
        *,
        self_id: str = "10001",
        access_token: str | None = None,
        token_via: TokenVia = "bearer",
        split: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        self.self_id = self_id
        self.access_token = access_token
        self.token_via: TokenVia = token_via if access_token else "none"
        self.split = split
        self.auto_answer = True
        self.responder: Responder = _Ids().respond
        self.actions: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # every action request received
        self._session = aiohttp.ClientSession()
        self._api: aiohttp.ClientWebSocketResponse | None = None
        self._event: aiohttp.ClientWebSocketResponse | None = None
        self._readers: list[asyncio.Task[None]] = []

    async def connect(self, *, lifecycle: bool = True) -> None:
        """Connect as the configuration says; then, like real implementations, report `connect`."""
        if self.split:
            self._api = await self._open(f"{self.url}/api", "API")
            self._event = await self._open(f"{self.url}/event", "Event")
        else:
            self._api = self._event = await self._open(self.url, "Universal")
        self._readers = [asyncio.create_task(self._read_actions(self._api))]
        if lifecycle:
            await self.send_event(load_fixture("lifecycle_connect") | {"self_id": int(self.self_id)})

    async def _open(self, url: str, role: str) -> aiohttp.ClientWebSocketResponse:
        headers = {"X-Self-ID": self.self_id, "X-Client-Role": role, "User-Agent": "FakeOneBot/11"}
        if self.token_via == "bearer":
            headers["Authorization"] = f"Bearer {self.access_token}"
        elif self.token_via == "token":
            headers["Authorization"] = f"Token {self.access_token}"
        elif self.token_via == "query":
            url = f"{url}?access_token={self.access_token}"
        return await self._session.ws_connect(url, headers=headers)

    async def send_event(self, event: dict[str, Any]) -> None:
        assert self._event is not None, "connect first"
        await self._event.send_str(json.dumps(event, ensure_ascii=False))

    async def send_raw(self, frame: str) -> None:
        assert self._event is not None, "connect first"
        await self._event.send_str(frame)

    async def next_action(self) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            return await self.actions.get()

    async def reply(self, request: dict[str, Any], response: Response) -> None:
        """Answer one action request (held when auto_answer is off), echo included."""
        assert self._api is not None
        await self._api.send_str(json.dumps(response | {"echo": request["echo"]}, ensure_ascii=False))

    async def _read_actions(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            request = json.loads(frame.data)
            await self.actions.put(request)
            if self.auto_answer:
                response = self.responder(request)
                if response is not None:  # None: never answer (a hung implementation)
                    await self.reply(request, response)

    async def drop(self) -> None:
        """The implementation goes away (restart, network loss): its sockets close."""
        for ws in dict.fromkeys(ws for ws in (self._api, self._event) if ws is not None):
            await ws.close()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._api = self._event = None

    async def close(self) -> None:
        await self.drop()
        await self._session.close()


class FakeOneBotHttpApi:
    """The implementation's HTTP API: POST /<action> with JSON params (http.md)."""

    def __init__(self, *, access_token: str | None = None, port: int | None = None) -> None:
        self.access_token = access_token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.responder: Responder = _Ids().respond
        app = web.Application()
        app.router.add_post("/{action}", self._handle)
        self.server = TestServer(app, host="127.0.0.1", port=port)

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def start(self) -> None:
        await self.server.start_server()

    async def close(self) -> None:
        await self.server.close()

    async def _handle(self, request: web.Request) -> web.Response:
        if self.access_token:
            header = request.headers.get("Authorization")
            if header is None:
                return web.Response(status=401)
            if header != f"Bearer {self.access_token}":
                return web.Response(status=403)
        params = await request.json()
        action = request.match_info["action"]
        self.calls.append((action, params))
        response = self.responder({"action": action, "params": params})
        return web.json_response(response or failed())


async def post_event(
    session: aiohttp.ClientSession,
    url: str,
    event: dict[str, Any],
    *,
    secret: str | None = None,
    signature: str | None = None,
    self_id: str = "10001",
    headers: dict[str, str] | None = None,
) -> int:
    """Report one event by HTTP POST as http-post.md does; returns the HTTP status we answered."""
    body = json.dumps(event, ensure_ascii=False).encode()
    all_headers = {"Content-Type": "application/json", "X-Self-ID": self_id, **(headers or {})}
    if signature is not None:
        all_headers["X-Signature"] = signature
    elif secret is not None:
        all_headers["X-Signature"] = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    async with session.post(url, data=body, headers=all_headers) as response:
        return response.status
