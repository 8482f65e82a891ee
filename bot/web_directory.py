"""The web chat's view of the directory: webchat groups and the people who can be picked."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from bot.adapters.webchat import WebChatAdapter, WebChatDirectory, WebChatGroup, WebChatPerson
from bot.runtime import Runtime
from storage import repos
from storage.models import OutboxEntry, Unit
from storage.roles import Role, UnitKind

PLATFORM = "webchat"
CACHE_SECONDS = 10.0


def _grid_of(unit: Unit) -> str:
    node: Unit | None = unit
    while node is not None:
        if node.kind == UnitKind.GRID:
            return node.name
        node = node.parent
    return ""


async def load_webchat_directory(runtime: Runtime) -> WebChatDirectory:
    async with runtime.sessions() as session:
        groups = await repos.list_groups(session, PLATFORM)
        people = await repos.list_persons_on_platform(session, PLATFORM)
        return WebChatDirectory(
            groups=[
                WebChatGroup(
                    id=group.external_id,
                    name=group.name or group.unit.name,
                    unit=group.unit.name,
                    kind=group.unit.kind,
                    grid=_grid_of(group.unit),
                )
                for group in groups
            ],
            people=[
                WebChatPerson(
                    id=account.external_id,
                    name=person.name,
                    role=person.role,
                    role_label=Role(person.role).label,
                    unit=person.unit.name if person.unit else "",
                )
                for person, account in people
            ],
        )


class CachedDirectory:
    """The page asks on every join and message; the directory changes only on import."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._value: WebChatDirectory | None = None
        self._loaded_at = 0.0

    async def __call__(self) -> WebChatDirectory:
        if self._value is None or time.monotonic() - self._loaded_at > CACHE_SECONDS:
            self._value = await load_webchat_directory(self._runtime)
            self._loaded_at = time.monotonic()
        return self._value


async def webchat_adapter(runtime: Runtime) -> WebChatAdapter:
    # Bot message ids continue above every id ever stored, so a reply to a message from before a
    # restart is never taken for a reply to a new one.
    async with runtime.sessions() as session:
        highest = (await session.execute(select(func.max(OutboxEntry.id)))).scalar_one_or_none() or 0
    return WebChatAdapter(
        directory=CachedDirectory(runtime),
        bot_name=runtime.settings.bot_name,
        clock=runtime.clock.now,
        first_bot_number=highest + 1,
    )
