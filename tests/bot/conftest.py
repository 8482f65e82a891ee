"""Fixtures for the bot package: a full Runtime on the demo community with a simulated clock and a
recording adapter standing in for the web chat platform."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

import pytest

from bot.adapters.base import SendError
from bot.config import DEMO_DIRECTORY, Settings
from bot.runtime import Runtime
from handlers.clock import LOCAL_TZ, ManualClock
from handlers.contract import SendToGroup, SendToUser, SentReceipt
from storage import repos
from storage.roles import Role


class RecordingAdapter:
    """A platform that records what it is asked to send and fails when told to."""

    platform = "webchat"
    sends_private = True

    def __init__(self) -> None:
        self.sent: list[SendToGroup | SendToUser] = []
        self.failures: list[SendError] = []

    async def start(self, deliver) -> None:
        self.deliver = deliver

    async def stop(self) -> None:
        return None

    async def send(self, action: SendToGroup | SendToUser) -> SentReceipt:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(action)
        return SentReceipt(message_id=f"bot-{len(self.sent)}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=LOCAL_TZ))


@pytest.fixture
async def runtime(database_url: str, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Runtime]:
    settings = Settings(database_url=database_url, data_dir=tmp_path, directory=DEMO_DIRECTORY)
    bot = Runtime(settings, clock=clock)
    await bot.open()
    await bot.import_directory(str(DEMO_DIRECTORY))
    yield bot
    await bot.close()


@pytest.fixture
def platform(runtime: Runtime) -> RecordingAdapter:
    adapter = RecordingAdapter()
    runtime.add_adapter(adapter)
    return adapter


AccountLookup = Callable[[Role], Awaitable[tuple[str, str]]]


@pytest.fixture
def account_with_role(runtime: Runtime) -> AccountLookup:
    """(webchat id, name) of the first directory person with a role."""

    async def lookup(role: Role) -> tuple[str, str]:
        async with runtime.sessions() as session:
            for person, account in await repos.list_persons_on_platform(session, "webchat"):
                if person.role == role:
                    return account.external_id, person.name
        raise LookupError(role)

    return lookup
