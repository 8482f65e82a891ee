"""The adapter protocol: one platform in, normalised Messages out, actions back to the platform.
Several adapters run in one process; adapters that serve HTTP mount their routes on the shared
aiohttp application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from aiohttp import web

from handlers.contract import Message, SendToGroup, SendToUser, SentReceipt

Deliver = Callable[[Message], Awaitable[None]]


class SendError(Exception):
    """Delivery failed; the outbox retries with backoff unless `permanent` is set."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Adapter(Protocol):
    platform: str
    # Whether `send` can deliver a SendToUser: a WeCom group robot posts to groups only, so a digest or
    # a reminder must go to the person's account on another platform.
    sends_private: bool

    async def start(self, deliver: Deliver) -> None:
        """Begin receiving; every inbound message goes to `deliver` (the dispatcher)."""
        ...

    async def stop(self) -> None: ...

    async def send(self, action: SendToGroup | SendToUser) -> SentReceipt:
        """Deliver one action or raise SendError."""
        ...


ConnectionListener = Callable[[], None]


@runtime_checkable
class Connected(Protocol):
    """Adapters whose platform can be out of reach while they are configured (a bridge that connects to
    us, and may restart or lose its network). `connected` says whether a send can go now; the listener
    is called on every change, up or down. While an adapter is not connected the outbox keeps its
    actions waiting, attempts unspent, and sends them in order once it is. An adapter without this
    (the WeCom webhook robot, the web chat, replay) is connected whenever it is configured."""

    platform: str

    @property
    def connected(self) -> bool: ...

    def watch_connection(self, listener: ConnectionListener) -> None: ...


@runtime_checkable
class WebMounted(Protocol):
    """Adapters that receive over HTTP/WebSocket add their routes to the bot's one web server."""

    def mount(self, app: web.Application) -> None: ...
