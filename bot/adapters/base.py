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

    async def start(self, deliver: Deliver) -> None:
        """Begin receiving; every inbound message goes to `deliver` (the dispatcher)."""
        ...

    async def stop(self) -> None: ...

    async def send(self, action: SendToGroup | SendToUser) -> SentReceipt:
        """Deliver one action or raise SendError."""
        ...


@runtime_checkable
class WebMounted(Protocol):
    """Adapters that receive over HTTP/WebSocket add their routes to the bot's one web server."""

    def mount(self, app: web.Application) -> None: ...
