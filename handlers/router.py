"""Routers: a capability declares its commands, intents and reply hooks on a `Router`; the bot
includes the routers in one `Registry` and the dispatcher asks the registry where a message goes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from storage.roles import Role

if TYPE_CHECKING:
    from handlers.context import Context, TickContext
    from handlers.contract import Action

HandlerResult = Sequence["Action"] | None
Handler = Callable[["Context"], Awaitable[HandlerResult]]
PeriodicHandler = Callable[["TickContext"], Awaitable[HandlerResult]]
# A pure test of a message (no database, no await) that must pass before an intent handler runs. Most
# messages are chatter that concerns no handler; filters let the dispatcher see that without preparing
# the message's database session for a handler.
Filter = Callable[["Context"], bool]


@dataclass(frozen=True)
class Command:
    """A command word with its aliases. `words[0]` is the Chinese name shown in help."""

    words: tuple[str, ...]
    handler: Handler
    summary: str
    usage: str
    roles: frozenset[Role] | None  # None: anyone may use it
    # What to tell someone whose role may not use it; the dispatcher has a general wording.
    refusal: str | None = None

    @property
    def name(self) -> str:
        return self.words[0]

    def allows(self, role: Role) -> bool:
        return self.roles is None or role in self.roles


@dataclass(frozen=True)
class IntentRoute:
    intents: frozenset[str]
    handler: Handler
    min_confidence: float
    when: Filter | None = None

    def accepts(self, intent: str, confidence: float, ctx: Context | None) -> bool:
        if intent not in self.intents or confidence < self.min_confidence:
            return False
        return ctx is None or self.when is None or self.when(ctx)


@dataclass(frozen=True)
class ReplyRoute:
    origin_prefix: str
    handler: Handler


@dataclass(frozen=True)
class PeriodicJob:
    """Time-based work (sweeps, reminders): run every `interval` of clock time, live and in replay."""

    name: str
    interval: timedelta
    handler: PeriodicHandler


@dataclass
class Router:
    name: str
    commands: list[Command] = field(default_factory=list)
    intent_routes: list[IntentRoute] = field(default_factory=list)
    reply_routes: list[ReplyRoute] = field(default_factory=list)
    periodic_jobs: list[PeriodicJob] = field(default_factory=list)

    def command(
        self,
        *words: str,
        summary: str,
        usage: str = "",
        roles: Iterable[Role] | None = None,
        refusal: str | None = None,
    ) -> Callable[[Handler], Handler]:
        if not words:
            raise ValueError("a command needs at least one word")

        def register(handler: Handler) -> Handler:
            self.commands.append(
                Command(
                    words=tuple(words),
                    handler=handler,
                    summary=summary,
                    usage=usage or words[0],
                    roles=frozenset(roles) if roles is not None else None,
                    refusal=refusal,
                )
            )
            return handler

        return register

    def intent(
        self, *intents: str, min_confidence: float = 0.0, when: Filter | None = None
    ) -> Callable[[Handler], Handler]:
        """Handle messages classified as one of the intents; `when`, if given, must accept the message
        too (a handler still checks what it needs: the filter only spares work)."""

        def register(handler: Handler) -> Handler:
            self.intent_routes.append(IntentRoute(frozenset(intents), handler, min_confidence, when))
            return handler

        return register

    def every(self, interval: timedelta) -> Callable[[PeriodicHandler], PeriodicHandler]:
        def register(handler: PeriodicHandler) -> PeriodicHandler:
            name = f"{self.name}.{getattr(handler, '__name__', 'job')}"
            self.periodic_jobs.append(PeriodicJob(name, interval, handler))
            return handler

        return register

    def reply(self, origin_prefix: str) -> Callable[[Handler], Handler]:
        """Handle replies to the bot's own messages whose origin starts with `origin_prefix`."""

        def register(handler: Handler) -> Handler:
            self.reply_routes.append(ReplyRoute(origin_prefix, handler))
            return handler

        return register


@dataclass(frozen=True)
class CommandMatch:
    command: Command
    args: str


class Registry:
    """All routers of one bot process."""

    def __init__(self, routers: Iterable[Router] = ()) -> None:
        self._commands: dict[str, Command] = {}
        self._intent_routes: list[IntentRoute] = []
        self._reply_routes: list[ReplyRoute] = []
        self.periodic_jobs: list[PeriodicJob] = []
        self._command_pattern: re.Pattern[str] | None = None
        for router in routers:
            self.include(router)

    def include(self, router: Router) -> None:
        for command in router.commands:
            for word in command.words:
                key = word.lower()
                if key in self._commands:
                    raise ValueError(f"command word {word!r} is registered twice")
                self._commands[key] = command
        self._intent_routes.extend(router.intent_routes)
        self._reply_routes.extend(router.reply_routes)
        self.periodic_jobs.extend(router.periodic_jobs)
        self._command_pattern = None

    @property
    def commands(self) -> list[Command]:
        unique: dict[int, Command] = {}
        for command in self._commands.values():
            unique.setdefault(id(command), command)
        return list(unique.values())

    def match_command(self, text: str) -> CommandMatch | None:
        """A command is its word at the start of the message, followed by a space, `#` or the end;
        so "通知 全体 …" is a command and "通知一下大家" is chatter."""
        match = self._pattern().match(text.strip())
        if match is None:
            return None
        command = self._commands[match.group("word").lower()]
        return CommandMatch(command, match.group("args").strip())

    def intent_handlers(self, intent: str, confidence: float, ctx: Context | None = None) -> list[Handler]:
        """The handlers for a classified message, in registration order; with a context, only those
        whose filter accepts it."""
        return [route.handler for route in self._intent_routes if route.accepts(intent, confidence, ctx)]

    def reply_handler(self, origin: str) -> Handler | None:
        best: ReplyRoute | None = None
        for route in self._reply_routes:
            if origin.startswith(route.origin_prefix) and (
                best is None or len(route.origin_prefix) > len(best.origin_prefix)
            ):
                best = route
        return best.handler if best else None

    def _pattern(self) -> re.Pattern[str]:
        if self._command_pattern is None:
            # Longest words first so that "通知回执" wins over "通知".
            words = sorted(self._commands, key=len, reverse=True)
            alternation = "|".join(re.escape(word) for word in words) or r"(?!)"
            self._command_pattern = re.compile(
                rf"^[#＃]?(?P<word>{alternation})(?=$|[\s#＃])(?P<args>.*)$", re.IGNORECASE | re.DOTALL
            )
        return self._command_pattern
