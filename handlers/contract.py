"""The handlers' contract: the normalised inbound `Message` adapters produce and the outbound actions
handlers return. Adapters (bot/adapters/) convert to and from these; nothing here knows a platform."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Message(_Frozen):
    """One inbound chat message, whatever platform it came from."""

    platform: str = Field(min_length=1)
    group_id: str | None = None  # None for a private message to the bot
    sender_id: str = Field(min_length=1)
    sender_name: str = ""
    message_id: str = Field(min_length=1)
    text: str
    mentions: tuple[str, ...] = ()  # platform user ids @-mentioned in the message
    mentions_bot: bool = False  # the message @-mentions the bot itself
    reply_to: str | None = None  # platform message id this message replies to
    time: AwareDatetime

    @property
    def is_private(self) -> bool:
        return self.group_id is None


class Mention(_Frozen):
    """A person to @-tag, as the platform knows them. The text carries "@name"; adapters render it."""

    user_id: str
    name: str


class SendToGroup(_Frozen):
    kind: Literal["group"] = "group"
    platform: str
    group_id: str
    text: str = Field(min_length=1)
    mentions: tuple[Mention, ...] = ()
    reply_to: str | None = None
    # Which handler asked, e.g. "requests.followup:12"; replies to this message are routed back to it.
    origin: str | None = None


class SendToUser(_Frozen):
    kind: Literal["user"] = "user"
    platform: str
    user_id: str
    text: str = Field(min_length=1)
    origin: str | None = None


Action = Annotated[SendToGroup | SendToUser, Field(discriminator="kind")]


class SentReceipt(_Frozen):
    """What an adapter reports after delivering an action."""

    message_id: str | None = None
    sent_at: datetime | None = None
