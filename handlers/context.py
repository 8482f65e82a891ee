"""What a handler gets: the message, who sent it and where, a database session and the clock.

Who sent it and where are directory entries (`storage.entries`): plain frozen data the dispatcher keeps
between messages, not objects of the handler's session. A handler relates rows to them by id
(`reporter_id=ctx.sender.id`); one that needs the sender as an object of its session (to make them a
request's owner) asks for it (`sender_row`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.clock import Clock
from handlers.contract import Mention, Message, SendToGroup, SendToUser
from handlers.privacy import mask_pii
from handlers.schedule import Schedule
from storage import repos
from storage.entries import GroupEntry, PersonEntry, UnitEntry
from storage.models import Person
from storage.roles import Role, UnitKind

if TYPE_CHECKING:
    from handlers.router import Registry


def mention_of(person: Person | PersonEntry, platform: str) -> Mention | None:
    """The person's @-handle on a platform, if they have an account there."""
    account = person.account_on(platform)
    return Mention(user_id=account.external_id, name=person.name) if account is not None else None


@dataclass
class Context:
    message: Message
    sender: PersonEntry
    group: GroupEntry | None  # None for a private chat
    session: AsyncSession
    clock: Clock
    registry: Registry
    args: str = ""  # a command's arguments
    classification: Any = None  # intents.Classification when routed by intent
    origin: str | None = None  # the origin of the bot message this one replies to

    @property
    def role(self) -> Role:
        return Role(self.sender.role)

    @property
    def schedule(self) -> Schedule:
        """Jobs to add or cancel once this message's transaction commits."""
        return Schedule(self.registry, self.session)

    @property
    def unit(self) -> UnitEntry | None:
        return self.group.unit if self.group else None

    @property
    def building(self) -> UnitEntry | None:
        unit = self.unit
        return unit if unit is not None and unit.kind == UnitKind.BUILDING else None

    @property
    def sender_name(self) -> str:
        return self.message.sender_name or self.sender.name

    def mention_sender(self) -> Mention:
        return Mention(user_id=self.message.sender_id, name=self.sender_name)

    async def sender_row(self) -> Person:
        """The sender as an object of this session (with accounts and unit), for a relationship that
        needs one: one query unless the session holds it already."""
        person = await repos.get_person(self.session, self.sender.id)
        if person is None:
            raise LookupError(f"person {self.sender.id} is no longer in the directory")
        return person

    def mention(self, person: Person | PersonEntry) -> Mention | None:
        """The person's @-handle on this message's platform, if they have an account there."""
        return mention_of(person, self.message.platform)

    def reply(
        self,
        text: str,
        *,
        mentions: Iterable[Mention] = (),
        at_sender: bool = True,
        quote: bool = True,
        origin: str | None = None,
    ) -> SendToGroup | SendToUser:
        """A reply where the message came from: in the group (tagging the sender and quoting the
        message unless told not to) or privately. Phone and ID numbers are masked here, once for all."""
        text = mask_pii(text)
        if self.message.group_id is None:
            return SendToUser(
                platform=self.message.platform, user_id=self.message.sender_id, text=text, origin=origin
            )
        tagged = list(mentions)
        if at_sender:
            sender = self.mention_sender()
            text = f"@{sender.name} {text}"
            tagged.insert(0, sender)
        return SendToGroup(
            platform=self.message.platform,
            group_id=self.message.group_id,
            text=text,
            mentions=tuple(dict.fromkeys(tagged)),
            reply_to=self.message.message_id if quote else None,
            origin=origin,
        )


@dataclass
class TickContext:
    """What a periodic job gets: no message, just the database, the clock and the registry."""

    session: AsyncSession
    clock: Clock
    registry: Registry
    # For a scheduled job: the time it was due (it runs late when the bot was down then).
    scheduled_for: datetime | None = None

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.registry, self.session)
