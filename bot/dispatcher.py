"""The dispatcher: one inbound Message in, handler work and outbound actions committed together.

It resolves the group to its unit and the sender to a person and role (an unknown sender in a
building group is registered as a resident), drops message ids it has already processed, then routes:
a reply to one of the bot's own messages to the handler that asked, a command to its handler (after a
role check), and anything else through the intent classifier to the handlers of that intent."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import Outbox
from handlers.clock import Clock
from handlers.context import Context
from handlers.contract import Action, Message
from handlers.router import Handler, Registry
from storage import repos
from storage.models import Group, Person
from storage.roles import UnitKind

log = logging.getLogger("loudong.dispatch")

Classifier = Callable[[str], Any]  # intents.classify: text -> Classification


@dataclass
class Outcome:
    """What happened to one message, for the log line."""

    route: str = "silent"
    handler: str | None = None
    intent: str | None = None
    confidence: float | None = None
    actions: list[Action] = field(default_factory=list)
    building: str | None = None
    role: str | None = None


def _handler_name(handler: Handler) -> str:
    module = getattr(handler, "__module__", "?").removeprefix("handlers.")
    return f"{module}.{getattr(handler, '__name__', '?')}"


def _refusal_for_role(ctx: Context, command_name: str) -> Action:
    return ctx.reply(
        f"\u201c{command_name}\u201d需要相应的工作人员来操作,您可以发\u201c帮助\u201d看看能用哪些功能。"
    )


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        registry: Registry,
        outbox: Outbox,
        clock: Clock,
        classify: Classifier,
    ) -> None:
        self._sessions = sessions
        self._registry = registry
        self._outbox = outbox
        self._clock = clock
        self._classify = classify

    async def dispatch(self, message: Message) -> Outcome | None:
        """Handle one message. Never raises: a failing message is logged, rolled back and skipped."""
        started = time.perf_counter()
        try:
            async with self._sessions() as session, session.begin():
                outcome = await self._handle(session, message)
                if outcome.actions:
                    await self._outbox.enqueue(session, outcome.actions, self._clock.now())
        except Exception:
            log.exception(
                "message failed; rolled back",
                extra={
                    "platform": message.platform,
                    "group": message.group_id,
                    "message_id": message.message_id,
                },
            )
            return None
        if outcome.actions:
            self._outbox.wake()
        self._log(message, outcome, started)
        return outcome

    async def _handle(self, session: AsyncSession, message: Message) -> Outcome:
        if not await repos.mark_processed(session, message.platform, message.message_id, self._clock.now()):
            return Outcome(route="duplicate")
        group: Group | None = None
        if message.group_id is not None:
            group = await repos.find_group(session, message.platform, message.group_id)
            if group is None:
                return Outcome(route="unknown-group")
        sender = await self._resolve_sender(session, message, group)
        ctx = Context(
            message=message,
            sender=sender,
            group=group,
            session=session,
            clock=self._clock,
            registry=self._registry,
        )
        outcome = await self._route(ctx)
        outcome.role = ctx.role.value
        outcome.building = ctx.building.name if ctx.building else None
        return outcome

    async def _resolve_sender(self, session: AsyncSession, message: Message, group: Group | None) -> Person:
        person = await repos.find_person_by_account(session, message.platform, message.sender_id)
        if person is not None:
            return person
        home = group.unit if group is not None and group.unit.kind == UnitKind.BUILDING else None
        return await repos.register_chat_person(
            session,
            platform=message.platform,
            external_id=message.sender_id,
            name=message.sender_name or message.sender_id,
            unit=home,
        )

    async def _route(self, ctx: Context) -> Outcome:
        if ctx.message.reply_to is not None:
            outcome = await self._route_reply(ctx)
            if outcome is not None:
                return outcome
        match = self._registry.match_command(ctx.message.text)
        if match is not None:
            ctx.args = match.args
            route = f"command:{match.command.name}"
            if not match.command.allows(ctx.role):
                return Outcome(
                    route=route, handler="refused", actions=[_refusal_for_role(ctx, match.command.name)]
                )
            return await self._run(ctx, match.command.handler, route)
        return await self._route_intent(ctx)

    async def _route_reply(self, ctx: Context) -> Outcome | None:
        assert ctx.message.reply_to is not None
        asked = await repos.find_outbox_by_sent_message(
            ctx.session, ctx.message.platform, ctx.message.reply_to
        )
        if asked is None or asked.origin is None:
            return None
        handler = self._registry.reply_handler(asked.origin)
        if handler is None:
            return None
        ctx.origin = asked.origin
        outcome = await self._run(ctx, handler, f"reply:{asked.origin}")
        # A handler that declines (returns None) lets the message be treated as ordinary text.
        return outcome if outcome.handler is not None else None

    async def _route_intent(self, ctx: Context) -> Outcome:
        classification = self._classify(ctx.message.text)
        ctx.classification = classification
        intent = str(classification.intent)
        confidence = float(classification.confidence)
        for handler in self._registry.intent_handlers(intent, confidence):
            outcome = await self._run(ctx, handler, f"intent:{intent}")
            if outcome.handler is not None:
                outcome.intent, outcome.confidence = intent, confidence
                return outcome
        return Outcome(intent=intent, confidence=confidence)

    async def _run(self, ctx: Context, handler: Handler, route: str) -> Outcome:
        result: Sequence[Action] | None = await handler(ctx)
        if result is None:
            return Outcome(route=route)
        return Outcome(route=route, handler=_handler_name(handler), actions=list(result))

    def _log(self, message: Message, outcome: Outcome, started: float) -> None:
        log.info(
            "message handled",
            extra={
                "platform": message.platform,
                "group": message.group_id,
                "building": outcome.building,
                "role": outcome.role,
                "route": outcome.route,
                "intent": outcome.intent,
                "confidence": None if outcome.confidence is None else round(outcome.confidence, 3),
                "handler": outcome.handler,
                "actions": len(outcome.actions),
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
