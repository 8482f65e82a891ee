"""Replay: a chat script (JSON lines) fed through the real pipeline with simulated time; every
outbound action is printed as one JSON line. Staff use it to try the bot on their own chat logs and
tests use it to drive whole conversations.

Script line: {"group": "b5", "user": "zhang-ayi", "name": "张阿姨", "text": "…", "time": "2026-12-01T09:00"}
with optional "id" (the message id; default "line-<n>") and "reply_to" (a message id, such as the
"bot-<n>" id of an earlier bot message). Ids are those of the webchat platform in the directory."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.adapters.base import Deliver
from handlers.clock import LOCAL_TZ, ManualClock
from handlers.contract import Message, SendToGroup, SendToUser, SentReceipt

PLATFORM = "webchat"


class ScriptLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: str | None = Field(default=None, min_length=1)  # None: a private message to the bot
    user: str = Field(min_length=1)
    name: str = ""
    text: str
    time: datetime | None = None
    id: str | None = Field(default=None, min_length=1)
    reply_to: str | None = None

    @field_validator("time")
    @classmethod
    def _local_if_naive(cls, value: datetime | None) -> datetime | None:
        # Chat logs are written in local time; a bare "2026-12-01T09:00" means Beijing time.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=LOCAL_TZ)
        return value


class ScriptError(ValueError):
    def __init__(self, line_number: int, reason: str) -> None:
        super().__init__(f"line {line_number}: {reason}")
        self.line_number = line_number


def parse_line(line_number: int, raw: str) -> ScriptLine | None:
    """The script line, or None for a blank line; raises ScriptError naming the line."""
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ScriptError(line_number, f"not valid JSON ({error.msg} at column {error.colno})") from None
    try:
        return ScriptLine.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "line"
        raise ScriptError(line_number, f"{key}: {first['msg']}") from None


def action_record(action: SendToGroup | SendToUser) -> dict[str, Any]:
    if isinstance(action, SendToGroup):
        return {
            "to": f"group:{action.group_id}",
            "text": action.text,
            "mentions": [mention.user_id for mention in action.mentions],
            "reply_to": action.reply_to,
        }
    return {"to": f"user:{action.user_id}", "text": action.text, "mentions": [], "reply_to": None}


class ReplayAdapter:
    """Stands in for the webchat platform: inbound from a script, outbound printed."""

    platform = PLATFORM
    sends_private = True

    def __init__(self, out: TextIO, clock: ManualClock) -> None:
        self._out = out
        self._clock = clock
        self._deliver: Deliver | None = None
        self._sent = 0
        self.records: list[dict[str, Any]] = []

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def stop(self) -> None:
        self._deliver = None

    async def send(self, action: SendToGroup | SendToUser) -> SentReceipt:
        self._sent += 1
        record = action_record(action)
        self.records.append(record)
        self._out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._out.flush()
        return SentReceipt(message_id=f"bot-{self._sent}", sent_at=self._clock.now())

    async def play(
        self,
        lines: Iterable[str],
        *,
        advance: Callable[[datetime], Awaitable[None]],
        settle: Callable[[], Awaitable[Any]],
        on_error: Callable[[ScriptError], None],
    ) -> int:
        """Feed every line; returns how many were delivered. `advance` moves simulated time (running
        whatever fell due), `settle` sends what the line produced before the next line is read."""
        if self._deliver is None:
            raise RuntimeError("ReplayAdapter.start() has not been called")
        delivered = 0
        for number, raw in enumerate(lines, start=1):
            try:
                line = parse_line(number, raw)
            except ScriptError as error:
                on_error(error)
                continue
            if line is None:
                continue
            if line.time is not None:
                await advance(line.time)
            await self._deliver(self._message(number, line))
            await settle()
            delivered += 1
        return delivered

    def _message(self, number: int, line: ScriptLine) -> Message:
        return Message(
            platform=PLATFORM,
            group_id=line.group,
            sender_id=line.user,
            sender_name=line.name,
            message_id=line.id or f"line-{number}",
            text=line.text,
            reply_to=line.reply_to,
            time=self._clock.now(),
        )
