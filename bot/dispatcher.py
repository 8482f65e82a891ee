"""The dispatcher: one inbound Message in, handler work and outbound actions committed together.

It resolves the group to its unit and the sender to a person and role (an unknown sender in a
building group is registered as a resident), drops message ids it has already processed, then routes:
a reply to one of the bot's own messages to the handler that asked, a command to its handler (after a
role check), and anything else through the intent classifier to the handlers of that intent."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import Outbox
from handlers.clock import Clock
from handlers.context import Context
from handlers.contract import Action, Message
from handlers.router import Command, CommandMatch, Handler, Registry
from storage import repos
from storage.entries import GroupEntry, PersonEntry, group_entry, person_entry
from storage.memo import ExpiringCache
from storage.roles import UnitKind

log = logging.getLogger("loudong.dispatch")

Classifier = Callable[[str], Any]  # intents.classify: text -> Classification

# Directory entries (groups with their unit chain, persons with accounts and unit chain) are cached
# between messages as plain data (`storage.entries`): looking them up is most of a message's database
# work, and handlers relate rows to them by id, so no message copies them into its session. This process
# drops the cache whenever it imports a directory; an import run by another process (`python -m bot
# directory import` while the bot runs) is seen when entries expire, after this many seconds.
DIRECTORY_CACHE_TTL = 60.0
# Persons (and groups) kept at most, least recently used dropped first. An entry holds its own copy of
# the unit chain (up to five small frozen records): 10,000 covers a large community's active senders.
DIRECTORY_CACHE_SIZE = 10_000

# Messages handled in one transaction at most. A reply goes out when its batch commits, so this bounds
# the wait a batch adds to a reply (each message takes about a millisecond).
BATCH_LIMIT = 32
# Turns of the event loop given to everything else between two batches while messages wait (`_work`), after
# the one each batch gives as it commits.
_TURNS_BETWEEN_BATCHES = 2


class DirectoryCache:
    """The groups and persons messages came from, as loaded and committed by earlier messages.

    Entries are frozen plain data (`storage.entries`), shared by every message that needs them. Entries
    are stored only
    after the transaction that loaded them committed, and only if the cache was not cleared meanwhile
    (an import while the message was handled), so the cache never holds what the database does not."""

    def __init__(self, *, size: int = DIRECTORY_CACHE_SIZE, ttl: float = DIRECTORY_CACHE_TTL) -> None:
        # (platform, external id) -> the committed entry, or None: known not to exist.
        self.groups: ExpiringCache[tuple[str, str], GroupEntry | None] = ExpiringCache(ttl=ttl, size=size)
        self.persons: ExpiringCache[tuple[str, str], PersonEntry | None] = ExpiringCache(ttl=ttl, size=size)
        self.generation = 0

    def clear(self) -> None:
        self.groups.clear()
        self.persons.clear()
        self.generation += 1


@dataclass
class _Lookups:
    """What one message took from the cache and what it loaded for it, until its transaction ends."""

    generation: int
    used_cache: bool = False
    groups: dict[tuple[str, str], GroupEntry | None] = field(default_factory=dict)
    persons: dict[tuple[str, str], PersonEntry] = field(default_factory=dict)


class _MessageFailed(Exception):
    """A message failed (not its transaction): a batch is then handled one by one. `used_cache`: the
    message used cached directory entries (which may have gone stale)."""

    def __init__(self, *, used_cache: bool) -> None:
        super().__init__()
        self.used_cache = used_cache


class _Stored(NamedTuple):
    """A message of a batch that needs the database, with what was found out about it beforehand."""

    index: int  # in its batch
    message: Message
    command: CommandMatch | None
    classification: Any  # None: not classified yet


@dataclass
class _Waiting:
    message: Message
    started: float
    future: asyncio.Future[Outcome | None]


@dataclass
class Outcome:
    """What happened to one message, for the log line. Routes: `command:…`, `reply:…`, `intent:…`,
    `silent` (no handler took it), `chatter` (no handler is concerned with it), `duplicate`,
    `unknown-group`. `marked`: stored as processed (so that a redelivery is a duplicate); not for
    messages that concern no handler (`Dispatcher._unconcerned`)."""

    route: str = "silent"
    handler: str | None = None
    intent: str | None = None
    confidence: float | None = None
    actions: list[Action] = field(default_factory=list)
    building: str | None = None
    role: str | None = None
    marked: bool = True


def _handler_name(handler: Handler) -> str:
    module = getattr(handler, "__module__", "?").removeprefix("handlers.")
    return f"{module}.{getattr(handler, '__name__', '?')}"


def _refusal_for_role(ctx: Context, command: Command) -> Action:
    if command.refusal:
        return ctx.reply(command.refusal)
    return ctx.reply(
        f"\u201c{command.name}\u201d需要相应的工作人员来操作,您可以发\u201c帮助\u201d看看能用哪些功能。"
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
        self.directory_cache = DirectoryCache()
        self._waiting: deque[_Waiting] = deque()
        self._worker: asyncio.Task[None] | None = None

    def warm_up(self) -> None:
        """Load the classifier (its dictionary and models) before the first message needs it."""
        self._classify("")

    def forget_directory(self) -> None:
        """The directory changed (an import): look groups and persons up afresh."""
        self.directory_cache.clear()

    async def dispatch(self, message: Message) -> Outcome | None:
        """Handle one message. Never raises: a failing message is logged, rolled back and skipped.

        Messages that arrive while others are being handled wait, in arrival order, and are then
        handled together in one transaction (`_handle_batch`)."""
        future: asyncio.Future[Outcome | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(message, time.perf_counter(), future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="dispatcher")
        return await future

    async def close(self) -> None:
        """Wait until the messages already handed over are handled."""
        worker = self._worker
        if worker is not None:
            await asyncio.wait({worker})

    async def _work(self) -> None:
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                batch = [self._waiting.popleft() for _ in range(min(len(self._waiting), BATCH_LIMIT))]
                outcomes = await self._handle_batch([waiting.message for waiting in batch])
                for waiting, outcome in zip(batch, outcomes, strict=True):
                    if outcome is not None:
                        self._log(waiting.message, outcome, waiting.started)
                    if not waiting.future.done():  # its caller may have given up waiting
                        waiting.future.set_result(outcome)
                if self._waiting:
                    # A batch runs without a pause (SQLite calls never wait): let the replies it committed
                    # go out and the sockets be read before the next one, rather than after the backlog.
                    # Three turns of the event loop in all since the batch committed (one right after the
                    # commit, in `_handle_in_transaction`): an event the socket holds takes three to reach
                    # the queue (the connection reads it, the adapter parses it, a delivering task hands
                    # it over), and the window a OneBot implementation keeps counts the events on their
                    # way. With one turn, more of the window waited in that pipeline and batches were
                    # smaller: ~10 % more CPU per event at full speed (fifteenth round), once the batch's
                    # session stopped yielding two turns of its own on close.
                    for _ in range(_TURNS_BETWEEN_BATCHES):
                        await asyncio.sleep(0)
        finally:
            self._worker = None
            # Cancelled mid-batch (the bot stopping): nobody may wait forever on what was not handled.
            for waiting in (*batch, *self._waiting):
                if not waiting.future.done():
                    waiting.future.cancel()
            self._waiting.clear()

    async def _handle_batch(self, messages: Sequence[Message]) -> list[Outcome | None]:
        """Several messages in one transaction and one session: one BEGIN, one dedupe insert and one
        COMMIT (one write of each page touched) for all of them. Optimistic: if a message fails, the
        whole transaction is rolled back and each message is handled again alone, so the failing one
        fails alone and the others still count once. (A savepoint per message would isolate failures in
        place, but cost as much as it saves.) If the transaction itself fails (the write lock not had in
        time, the commit refused), every message of the batch fails once, as it would have alone, rather
        than each waiting for the lock again."""
        if len(messages) == 1:
            return [await self._handle_alone(messages[0])]
        try:
            handled = await self._handle_in_transaction(messages)
        except _MessageFailed:
            log.info("a message failed in a batch of %d; handling them one by one", len(messages))
            return [await self._handle_alone(message) for message in messages]
        except Exception:
            log.exception(
                "a batch of %d messages could not be handled; they are skipped (a redelivery may retry)",
                len(messages),
            )
            return [None] * len(messages)
        for _, lookups in handled:
            self._remember(lookups)
        return [outcome for outcome, _ in handled]

    async def _handle_alone(self, message: Message) -> Outcome | None:
        """The message in a transaction of its own; on failure, logged and None."""
        try:
            try:
                [(outcome, lookups)] = await self._handle_in_transaction([message])
            except _MessageFailed as failed:
                if not (isinstance(failed.__cause__, IntegrityError) and failed.used_cache):
                    raise
                # A cached person or group may have been deleted by an import in another process
                # (the cache learns of those only on expiry): try once more with fresh lookups.
                log.warning("message failed on cached directory entries; retrying without the cache")
                self.forget_directory()
                [(outcome, lookups)] = await self._handle_in_transaction([message])
        except Exception as error:
            log.exception(
                "message failed; rolled back",
                exc_info=error.__cause__ if isinstance(error, _MessageFailed) else error,
                extra={
                    "platform": message.platform,
                    "group": message.group_id,
                    "message_id": message.message_id,
                },
            )
            return None
        self._remember(lookups)
        return outcome

    async def _handle_in_transaction(self, messages: Sequence[Message]) -> list[tuple[Outcome, _Lookups]]:
        """One transaction: the dedupe marks, the handlers' work and their actions commit together. A
        message's failure is raised as `_MessageFailed` (the transaction is rolled back).

        Chatter no handler is concerned with, from a group and a sender already cached, is told apart
        first (`_unconcerned`) and needs no database work at all: the transaction begins only if some
        message of the batch needs it (an empty one still costs more than the classification)."""
        now = self._clock.now()
        generation = self.directory_cache.generation
        handled: dict[int, tuple[Outcome, _Lookups]] = {}
        # Entered (and so closed) only if a message needs the database: the filters of `_unconcerned` get
        # the session for their context but never use it, and closing an unused AsyncSession is still a
        # greenlet hop, ~80 µs of CPU, about as much as classifying the message (fifteenth round).
        session = self._sessions()
        stored: list[_Stored] = []
        for index, message in enumerate(messages):
            # Matched once here for `_unconcerned` and `_route`: the pattern (every command word in
            # one alternation) ran twice per message before.
            command = self._registry.match_command(message.text)
            classification, outcome = self._unconcerned(session, message, command)
            if outcome is not None:
                handled[index] = (outcome, _Lookups(generation))
            else:
                stored.append(_Stored(index, message, command, classification))
        if stored:
            try:
                async with session.begin():
                    await self._store(session, stored, handled, generation, now)
            finally:
                # Closed here rather than by `async with session`, which runs the close in a task of its
                # own and waits for it behind a shield (so that a cancellation cannot cut it short): a
                # task, a future and two turns of the event loop per batch, ~80 µs of CPU. On the bot's
                # SQLite (`storage.sqlite_inline`) the close never suspends, so no cancellation can reach
                # it anyway; on a driver whose close does wait, a cancellation there makes SQLAlchemy's
                # pool discard the connection rather than take it back half reset.
                await session.close()
            # One turn of the event loop as soon as the batch has committed, before its log lines: its
            # replies go out and the sockets are read (the responses to earlier replies, which hold back
            # the next reply to their group, and new events) now rather than after the rest of this step.
            # The close above used to yield here by accident; without a yield the dispatcher's steps grew
            # by half and at 200 events/s the p99 reply latency doubled (fifteenth round).
            await asyncio.sleep(0)
        return [handled[index] for index in range(len(messages))]

    async def _store(
        self,
        session: AsyncSession,
        stored: Sequence[_Stored],
        handled: dict[int, tuple[Outcome, _Lookups]],
        generation: int,
        now: datetime,
    ) -> None:
        """The messages that need the database, in the session's transaction: marked as processed,
        handled, their actions stored; each outcome put in `handled` under its index."""
        fresh = await repos.mark_processed_many(
            session, [(item.message.platform, item.message.message_id) for item in stored], now
        )
        for index, message, command, classification in stored:
            lookups = _Lookups(generation)
            key = (message.platform, message.message_id)
            if key not in fresh:
                handled[index] = (Outcome(route="duplicate"), lookups)
                continue
            fresh.discard(key)  # the same id twice in one batch: the second is a duplicate
            try:
                outcome = await self._handle(session, message, lookups, command, classification)
                if outcome.actions:
                    await self._outbox.enqueue(session, outcome.actions, now)
            except Exception as error:
                raise _MessageFailed(used_cache=lookups.used_cache) from error
            handled[index] = (outcome, lookups)

    def _unconcerned(
        self, session: AsyncSession, message: Message, command: CommandMatch | None
    ) -> tuple[Any, Outcome | None]:
        """(classification or None, the outcome) of a message that concerns no handler, told from cached
        directory entries alone: no reply to the bot, no command (`command`: the message's, matched
        once for here and `_route`), a known group (or one known not to be ours) and a known sender,
        and no intent handler whose filter takes it. Such a message is not marked as processed either:
        handling it again would change nothing. (None, None) or (classification, None) when the
        database is needed."""
        if message.reply_to is not None or command is not None:
            return None, None
        group: GroupEntry | None = None
        if message.group_id is not None:
            found, group = self.directory_cache.groups.get((message.platform, message.group_id))
            if not found:
                return None, None
            if group is None:
                return None, Outcome(route="unknown-group", marked=False)
        found, sender = self.directory_cache.persons.get((message.platform, message.sender_id))
        if not found or sender is None:
            return None, None
        classification = self._classify(message.text)
        # The filters are pure: the session is there for the type, and is never used.
        ctx = self._context(session, message, sender, group, classification)
        intent, confidence = str(classification.intent), float(classification.confidence)
        if self._registry.intent_handlers(intent, confidence, ctx):
            return classification, None
        return classification, Outcome(
            route="chatter",
            intent=intent,
            confidence=confidence,
            role=ctx.role.value,
            building=ctx.building.name if ctx.building else None,
            marked=False,
        )

    def _remember(self, lookups: _Lookups) -> None:
        # Committed (with its whole batch), and no import cleared the cache meanwhile: what was loaded is
        # what the database holds.
        cache = self.directory_cache
        if lookups.generation != cache.generation:
            return
        for key, group in lookups.groups.items():
            cache.groups.put(key, group)
        for key, person in lookups.persons.items():
            cache.persons.put(key, person)

    async def _handle(
        self,
        session: AsyncSession,
        message: Message,
        lookups: _Lookups,
        command: CommandMatch | None,
        classification: Any = None,
    ) -> Outcome:
        group: GroupEntry | None = None
        if message.group_id is not None:
            group = await self._find_group(session, message.platform, message.group_id, lookups)
            if group is None:
                return Outcome(route="unknown-group")
        sender = await self._resolve_sender(session, message, group, lookups)
        ctx = self._context(session, message, sender, group, classification)
        outcome = await self._route(ctx, command)
        outcome.role = ctx.role.value
        outcome.building = ctx.building.name if ctx.building else None
        return outcome

    def _context(
        self,
        session: AsyncSession,
        message: Message,
        sender: PersonEntry,
        group: GroupEntry | None,
        classification: Any,
    ) -> Context:
        return Context(
            message=message,
            sender=sender,
            group=group,
            session=session,
            clock=self._clock,
            registry=self._registry,
            classification=classification,
        )

    async def _find_group(
        self, session: AsyncSession, platform: str, external_id: str, lookups: _Lookups
    ) -> GroupEntry | None:
        key = (platform, external_id)
        found, cached = self.directory_cache.groups.get(key)
        if found:
            lookups.used_cache = True
            return cached
        row = await repos.find_group(session, platform, external_id)
        group = group_entry(row) if row is not None else None
        lookups.groups[key] = group
        return group

    async def _resolve_sender(
        self, session: AsyncSession, message: Message, group: GroupEntry | None, lookups: _Lookups
    ) -> PersonEntry:
        key = (message.platform, message.sender_id)
        found, cached = self.directory_cache.persons.get(key)
        if found and cached is not None:
            lookups.used_cache = True
            return cached
        row = await repos.find_person_by_account(session, message.platform, message.sender_id)
        home = group.unit if group is not None and group.unit.kind == UnitKind.BUILDING else None
        if row is not None:
            # A resident of the group's building (every sender again once their entry expired) takes
            # the building's entry as it is: a chain of unit entries of their own each was ~1 KB a
            # sender, a fresh copy every minute, for the same rows.
            person = person_entry(row, unit=home if home is not None and row.unit_id == home.id else None)
        else:
            row = await repos.register_chat_person(
                session,
                platform=message.platform,
                external_id=message.sender_id,
                name=message.sender_name or message.sender_id,
                unit=home,
            )
            # Registered just now with the group's building as home (or found so, had another task
            # registered the sender first): the entry takes the building's entry as it is.
            same_home = home is not None and row.unit_id == home.id
            person = person_entry(row, unit=home if same_home else None)
        lookups.persons[key] = person
        return person

    async def _route(self, ctx: Context, match: CommandMatch | None) -> Outcome:
        """`match`: the message's command, if it is one (`Registry.match_command`)."""
        if ctx.message.reply_to is not None:
            outcome = await self._route_reply(ctx)
            if outcome is not None:
                return outcome
        if match is not None:
            ctx.args = match.args
            route = f"command:{match.command.name}"
            if not match.command.allows(ctx.role):
                return Outcome(
                    route=route, handler="refused", actions=[_refusal_for_role(ctx, match.command)]
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
        classification = ctx.classification
        if classification is None:
            classification = ctx.classification = self._classify(ctx.message.text)
        intent = str(classification.intent)
        confidence = float(classification.confidence)
        for handler in self._registry.intent_handlers(intent, confidence, ctx):
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
