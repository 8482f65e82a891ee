"""The outbox: every outbound action is stored in the same transaction as the work that produced it,
then sent by a worker that marks it sent. Unsent actions survive a crash and go out on the next start;
failures are retried with exponential backoff and logged; an action that keeps failing is given up
("dead") after `max_attempts` and logged as an error. An action for a platform no adapter of this
process serves is given up at its first attempt (kept as "dead", one error line naming the platform):
no retry can reach it.

An outage is not a failure. While a platform's adapter is not connected (`bot.adapters.base.Connected`:
a QQ bridge restarting, its network down) its actions are neither sent nor counted as attempts: they
stay pending, unread (the rows of a platform out of reach are not even read), and go out oldest first as
soon as the adapter says it is back, which wakes the worker. A send that fails because the connection
dropped under it waits the same way. Only an action that has waited longer than `max_wait` since it
was stored (a day by default) is given up, with one error line naming the platform and how long it
waited: a reply to yesterday morning's message is not posted out of the blue.

Two ways out, one source of truth. The rows are what counts: a crash, a retry, an action stored by
another process are all found by reading them (`due_outbox`), at start, every `idle_poll` seconds and
on `flush()`. But the actions this process stores are also kept in memory with their row ids and,
once their transaction has committed (a session event, so a rolled-back transaction's actions are
never seen), sent from there: reading back what was just written, and building the actions again
from the rows, cost more per message than the send. Each target has a sender of its own, so a reply
goes out as its transaction commits and never waits for another group's response. Order per target is
kept: while a target has an older pending row the memory path did not send (a retry waiting for its
time, a paced action not yet due, a row from before a restart), new actions to it are left to the rows,
which go out oldest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from bot.adapters.base import Adapter, Connected, SendError
from handlers.clock import Clock
from handlers.contract import Mention, SendToGroup, SendToUser
from storage import repos
from storage.models import OutboxEntry

log = logging.getLogger("loudong.outbox")

# Entries taken in one go, by either path: bounds a batch's sends and its mark-sent statement.
BATCH_LIMIT = 100

# Sent entries are marked sent together, at most this many seconds after the first of them went out (or
# when a batch's worth is waiting): one write transaction for many replies rather than one for each,
# which at a low rate cost more than sending them. A crash in between sends those again on restart, as
# the outbox's at-least-once already allows for.
RECORD_DELAY = 0.05

# How often, at most, the actions waiting for a platform are looked at for any that waited too long.
WAIT_SWEEP = timedelta(minutes=1)

# Row ids read back remembered, far more than can commit between a commit and its event.
READ_BACK_REMEMBERED = 4 * BATCH_LIMIT

Target = tuple[str, str, str]  # platform, target kind, target id


@dataclass(frozen=True, slots=True)
class _Item:
    """One stored action on its way out."""

    entry_id: int
    action: SendToGroup | SendToUser
    attempts: int = 0  # attempts made before this one
    due: datetime | None = None  # when it may go (memory path; rows read back are due)

    @property
    def target(self) -> Target:
        action = self.action
        target_id = action.group_id if isinstance(action, SendToGroup) else action.user_id
        return (action.platform, action.kind, target_id)


@dataclass(frozen=True, slots=True)
class _Result:
    item: _Item
    sent_message_id: str | None = None
    error: str | None = None
    permanent: bool = False
    unserved: bool = False  # no adapter in this process serves the action's platform
    waiting: bool = False  # its platform is not connected: no attempt made (or none counted)


def to_action(entry: OutboxEntry) -> SendToGroup | SendToUser:
    if entry.target_kind == "group":
        return SendToGroup(
            platform=entry.platform,
            group_id=entry.target_id,
            text=entry.text,
            mentions=tuple(Mention.model_validate(item) for item in entry.mentions),
            reply_to=entry.reply_to,
            origin=entry.origin,
        )
    return SendToUser(platform=entry.platform, user_id=entry.target_id, text=entry.text, origin=entry.origin)


def _row(action: SendToGroup | SendToUser) -> dict[str, Any]:
    if isinstance(action, SendToGroup):
        return {
            "platform": action.platform,
            "target_kind": action.kind,
            "target_id": action.group_id,
            "text": action.text,
            "mentions": [{"user_id": m.user_id, "name": m.name} for m in action.mentions],
            "reply_to": action.reply_to,
            "origin": action.origin,
        }
    return {
        "platform": action.platform,
        "target_kind": action.kind,
        "target_id": action.user_id,
        "text": action.text,
        "mentions": [],
        "reply_to": None,
        "origin": action.origin,
    }


# ---------------------------------------------------------------------------------------------------
# Actions kept with the session that stored them until it commits.

# In a session's info: [(outbox, item), …] stored in its transaction and not committed yet.
_HELD = "loudong.outbox.held"


def _hold(session: Session, held: Iterable[tuple[Outbox, _Item]]) -> None:
    session.info.setdefault(_HELD, []).extend(held)


# Listeners on the Session class, once, rather than on each session that stores an action:
# `event.listen` on an instance costs more than the rest of storing a reply.
@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released (a dispatcher batch registering a sender): nothing is final yet
    held: list[tuple[Outbox, _Item]] | None = session.info.pop(_HELD, None)
    if not held:
        return
    for outbox, item in held:
        outbox._committed(item)


# Any rollback, a savepoint's too, rather than only a real one ("after_rollback"): an action dropped here
# still goes out by the rows if its transaction commits after all; one kept past a rollback could be
# sent for a transaction that never committed.
@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    session.info.pop(_HELD, None)


class Outbox:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        max_attempts: int = 8,
        base_delay: timedelta = timedelta(seconds=2),
        max_delay: timedelta = timedelta(minutes=5),
        idle_poll: float = 1.0,
        max_wait: timedelta = timedelta(hours=24),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._adapters: dict[str, Adapter] = {}
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._idle_poll = idle_poll
        self._max_wait = max_wait
        # Platforms whose adapter is not connected now: their actions wait, unread and unspent.
        self._down: set[str] = set()
        self._next_wait_sweep: datetime | None = None
        self._read_rows_now = False  # a platform came back: read the rows at once
        self._wakeup = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._worker: asyncio.Task[None] | None = None
        # Committed actions of this process not sent yet, by row id (the memory path).
        self._ready: dict[int, _Item] = {}
        # Targets with an older pending row the memory path must not overtake; None until the rows have
        # been read once (until then every action goes by the rows).
        self._held_back: set[Target] | None = None
        # Row ids the rows path took lately. With a driver that really waits on a commit (PostgreSQL),
        # the rows can be read between the commit and its event: such an entry must not go twice.
        self._read_back: dict[int, None] = {}
        # Sent and not yet marked so, and (loop time) since when.
        self._unrecorded: list[repos.Sent] = []
        self._unrecorded_since = 0.0
        # The memory path's sends: per target, a queue and the task sending it, so that a reply goes out
        # as soon as its transaction commits rather than after the sends before it to other groups have
        # been answered. Row ids it took stay in `_taken` until they are marked sent (or their failure
        # is), so the rows path never sends them too.
        self._queues: dict[Target, deque[_Item]] = {}
        self._senders: dict[Target, asyncio.Task[None]] = {}
        self._taken: set[int] = set()
        self._sent_total = 0  # by either path, for flush()'s count

    def register(self, adapter: Adapter) -> None:
        self._adapters[adapter.platform] = adapter
        self._down.discard(adapter.platform)
        if isinstance(adapter, Connected):
            adapter.watch_connection(partial(self._connection_changed, adapter))
            self._connection_changed(adapter)

    def _connection_changed(self, adapter: Connected) -> None:
        platform = adapter.platform
        if self._adapters.get(platform) is not adapter:
            return  # replaced by another adapter for the platform
        if not adapter.connected:
            self._down.add(platform)
        elif platform in self._down:
            self._down.discard(platform)
            log.info("outbox: platform %s connected; sending what waited for it", platform)
            self._read_rows_now = True
            self._wakeup.set()

    async def enqueue(
        self, session: AsyncSession, actions: Iterable[SendToGroup | SendToUser], now: datetime
    ) -> None:
        """Store actions in the caller's transaction; they are sent once it commits."""
        actions = list(actions)
        if not actions:
            return
        ids = await repos.insert_outbox(session, [_row(action) for action in actions], now=now)
        _hold(
            session.sync_session,
            [(self, _Item(entry_id, action, due=now)) for entry_id, action in zip(ids, actions, strict=True)],
        )

    def _committed(self, item: _Item) -> None:
        if item.entry_id in self._read_back:
            return
        self._ready[item.entry_id] = item
        if self._worker is not None and self._held_back is not None:
            # Straight from the commit to the target's sender: waking the worker first would cost the
            # reply a turn of the event loop, which under load is another batch of messages.
            self._dispatch_ready()
        else:
            self._wakeup.set()

    async def flush(self) -> int:
        """Send every due action (reading the rows too) and mark them sent; returns how many were sent."""
        async with self._flush_lock:
            before = self._sent_total
            await self._flush_locked(read_rows=True)
            await self._senders_done()
            await self._record_sent()
            return self._sent_total - before

    async def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="outbox")

    async def stop(self) -> None:
        # Sends in flight are cancelled, as the worker's own were: their rows stay pending and go out
        # after the restart (at least once).
        tasks = [*self._senders.values(), *([self._worker] if self._worker is not None else [])]
        self._worker = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            async with self._flush_lock:
                await self._record_sent()
        except Exception:  # they are sent again after the restart, which is all that is lost
            log.exception("outbox: marking the last sent entries failed")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_read = loop.time()
        while True:
            read_rows = loop.time() >= next_read or self._read_rows_now
            self._read_rows_now = False
            try:
                async with self._flush_lock:
                    await self._flush_locked(read_rows=read_rows)
                    await self._record_sent_if_due()
            except Exception:
                log.exception("outbox flush failed")
            if read_rows:
                next_read = loop.time() + self._idle_poll
            until = min(next_read, self._unrecorded_since + RECORD_DELAY) if self._unrecorded else next_read
            # asyncio.timeout rather than wait_for: no task per wait.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, until - loop.time())):
                    await self._wakeup.wait()
            self._wakeup.clear()

    async def _flush_locked(self, *, read_rows: bool) -> None:
        if read_rows or self._held_back is None:
            await self._flush_rows()
        self._dispatch_ready()

    async def _flush_rows(self) -> None:
        """The due rows, oldest first; then which targets the memory path must leave to the rows."""
        # Rows sent and not marked yet would be read back as due.
        await self._record_sent()
        await self._give_up_waited_too_long()
        while True:
            async with self._sessions() as session:
                entries = await repos.due_outbox(
                    session, self._clock.now(), limit=BATCH_LIMIT, skip_platforms=self._down
                )
            # The memory path's sends in flight (or waiting to be marked) are its own.
            entries = [entry for entry in entries if entry.id not in self._taken]
            if not entries:
                break
            batch = []
            for entry in entries:
                self._ready.pop(entry.id, None)  # read back: it goes this way, and only this way
                self._read_back[entry.id] = None
                batch.append(_Item(entry.id, to_action(entry), entry.attempts))
            while len(self._read_back) > READ_BACK_REMEMBERED:
                del self._read_back[next(iter(self._read_back))]
            results = await self._send_batch(batch)
            await self._record(results)
            if all(result.error is not None for result in results):
                break  # everything due failed; the backoff decides when to try again
        async with self._sessions() as session:
            pending = await repos.pending_outbox_targets(session)
        # Rows still pending that the memory path holds are its own to send; the others hold it back.
        self._held_back = {
            (platform, kind, target)
            for entry_id, platform, kind, target in pending
            if entry_id not in self._ready and entry_id not in self._taken
        }

    def _dispatch_ready(self) -> None:
        """Hand the committed actions that may go now to their targets' senders, in order."""
        if self._held_back is None:
            return
        loop = asyncio.get_running_loop()
        while batch := self._take_ready():
            for item in batch:
                self._taken.add(item.entry_id)
                target = item.target
                queue = self._queues.get(target)
                if queue is None:
                    queue = self._queues[target] = deque()
                    self._senders[target] = loop.create_task(self._send_queue(target, queue))
                queue.append(item)

    async def _send_queue(self, target: Target, queue: deque[_Item]) -> None:
        """One target's committed actions, one after the other. A failure leaves it and the ones after
        it to the rows, which send them oldest first once its retry is due."""
        try:
            while queue:
                result = await self._send_one(queue[0])
                queue.popleft()
                if result.error is None:
                    self._note_sent(result)
                    continue
                self._hold_back(target)
                if not result.waiting:
                    await self._record_failure(result)
                # Again: a rows read meanwhile did not count this target's rows, which were ours. Then they
                # are the rows path's, with whatever joined the queue meanwhile.
                self._hold_back(target)
                self._taken.difference_update(item.entry_id for item in (result.item, *queue))
                queue.clear()
        finally:
            del self._queues[target], self._senders[target]

    def _hold_back(self, target: Target) -> None:
        if self._held_back is not None:
            self._held_back.add(target)

    def _note_sent(self, result: _Result) -> None:
        if not self._unrecorded:
            self._unrecorded_since = asyncio.get_running_loop().time()
            self._wakeup.set()  # the worker marks them within RECORD_DELAY
        self._unrecorded.append(repos.Sent(result.item.entry_id, result.sent_message_id))
        self._sent_total += 1

    async def _record_failure(self, result: _Result) -> None:
        """Mark a failed send of the memory path. Until then the rows path must not take it, nor the
        later actions to its target (the mark is what holds those back behind its retry)."""
        try:
            await self._write([], [result], self._clock.now())
        except Exception:  # the row stays pending and due: the rows path tries it again
            log.exception("outbox: marking a failed send failed", extra={"outbox_id": result.item.entry_id})

    async def _senders_done(self) -> None:
        """Wait for the senders running now, not for ones started meanwhile: under steady traffic every
        commit can start one (without `_flush_lock`), so waiting until none was left held the lock —
        and with it the worker's marking of sent entries — as long as the traffic lasted, and the
        periodic jobs' flush never returned (OneBot load: unmarked entries grew by one per reply from a
        minute in, docs/benchmarks.md, sixteenth round)."""
        await asyncio.gather(*self._senders.values(), return_exceptions=True)

    async def _record_sent_if_due(self) -> None:
        if self._unrecorded and (
            len(self._unrecorded) >= BATCH_LIMIT
            or asyncio.get_running_loop().time() >= self._unrecorded_since + RECORD_DELAY
        ):
            await self._record_sent()

    def _take_ready(self) -> list[_Item]:
        """Committed actions that may go now, oldest first. One that may not (not due yet, or behind an
        older pending row to its target) is left to the rows, and holds back its target's later ones."""
        assert self._held_back is not None
        if not self._ready:
            return []
        now = self._clock.now()
        taken: list[_Item] = []
        for entry_id in sorted(self._ready)[:BATCH_LIMIT]:
            item = self._ready.pop(entry_id)
            target = item.target
            if (
                target in self._held_back
                or (item.due is not None and item.due > now)
                or item.action.platform in self._down
            ):
                self._held_back.add(target)
            else:
                taken.append(item)
        return taken

    async def _send_batch(self, batch: list[_Item]) -> list[_Result]:
        # One target's messages go out in order; different targets go out concurrently.
        by_target: dict[Target, list[_Item]] = defaultdict(list)
        for item in batch:
            by_target[item.target].append(item)
        if len(by_target) == 1:
            return await self._send_in_order(batch)
        per_target = await asyncio.gather(*(self._send_in_order(items) for items in by_target.values()))
        return [result for results in per_target for result in results]

    async def _send_in_order(self, items: list[_Item]) -> list[_Result]:
        results: list[_Result] = []
        for item in items:
            result = await self._send_one(item)
            results.append(result)
            if result.error is not None:
                # Later messages to this target wait (their rows stay pending behind this one's retry),
                # so the group never sees them out of order.
                if self._held_back is not None:
                    self._held_back.add(item.target)
                break
        return results

    async def _send_one(self, item: _Item) -> _Result:
        failed = partial(_Result, item)
        adapter = self._adapters.get(item.action.platform)
        if adapter is None:
            platform = item.action.platform
            return failed(
                error=f"no adapter for platform {platform!r} in this bot", permanent=True, unserved=True
            )
        platform = item.action.platform
        if platform in self._down:
            return failed(error=f"waiting for platform {platform!r} to connect", waiting=True)
        try:
            receipt = await adapter.send(item.action)
        except SendError as error:
            # The connection dropped before or while it went: that is the outage's, not an attempt.
            waiting = not error.permanent and platform in self._down
            return failed(
                error=str(error) or type(error).__name__, permanent=error.permanent, waiting=waiting
            )
        except Exception as error:  # an adapter bug must not stop the outbox
            log.exception("adapter raised while sending", extra={"outbox_id": item.entry_id})
            return failed(error=f"{type(error).__name__}: {error}")
        return _Result(item, sent_message_id=receipt.message_id)

    async def _record(self, results: list[_Result]) -> None:
        """Mark a batch of the rows path's results: failures at once (with their retry time), together
        with whatever was sent and waits to be marked."""
        sent = [repos.Sent(r.item.entry_id, r.sent_message_id) for r in results if r.error is None]
        if sent:
            if not self._unrecorded:
                self._unrecorded_since = asyncio.get_running_loop().time()
            self._unrecorded.extend(sent)
            self._sent_total += len(sent)
        await self._record_sent(failed=[r for r in results if r.error is not None and not r.waiting])

    async def _give_up_waited_too_long(self) -> None:
        """Give up the actions that have waited longer than `max_wait` for their platform to connect."""
        now = self._clock.now()
        if not self._down or (self._next_wait_sweep is not None and now < self._next_wait_sweep):
            return
        self._next_wait_sweep = now + WAIT_SWEEP
        limit = _duration(self._max_wait)
        async with self._sessions() as session, session.begin():
            expired = await repos.give_up_waiting_outbox(
                session,
                sorted(self._down),
                stored_before=now - self._max_wait,
                error=f"platform not connected for more than {limit}",
            )
        for entry_id, platform, created_at in expired:
            self._ready.pop(entry_id, None)
            waited = _duration(now - created_at)
            log.error(
                "outbound message given up: waited %s for platform %s to connect (limit %s)",
                waited,
                platform,
                limit,
                extra={"outbox_id": entry_id, "platform": platform, "waited": waited},
            )

    async def _record_sent(self, failed: Iterable[_Result] = ()) -> None:
        sent, self._unrecorded = self._unrecorded, []
        failed = list(failed)
        if not sent and not failed:
            return
        now = self._clock.now()
        try:
            await self._write(sent, failed, now)
        except BaseException:
            self._unrecorded[:0] = sent  # still sent, still to be marked: keep them for the next try
            raise
        self._taken.difference_update(entry.entry_id for entry in sent)

    async def _write(self, sent: list[repos.Sent], failed: list[_Result], now: datetime) -> None:
        session = self._sessions()
        try:
            async with session.begin():
                # All sent at once: this transaction holds SQLite's write lock, which the dispatcher is
                # waiting for.
                await repos.mark_outbox_sent_many(session, sent, now=now)
                for result in failed:
                    retry_at = self._retry_at(now, result.item.attempts + 1, result.permanent)
                    await repos.mark_outbox_failed(
                        session, result.item.entry_id, error=result.error or "failed", retry_at=retry_at
                    )
                    self._log_failure(result, retry_at)
        finally:
            # Not `async with session`, whose close runs in a task of its own behind a shield: one every
            # RECORD_DELAY at a steady rate (the dispatcher's batches close theirs the same way).
            await session.close()

    def _retry_at(self, now: datetime, attempt: int, permanent: bool) -> datetime | None:
        if permanent or attempt >= self._max_attempts:
            return None
        delay = min(self._base_delay * (2 ** (attempt - 1)), self._max_delay)
        return now + delay

    def _log_failure(self, result: _Result, retry_at: datetime | None) -> None:
        fields = {"outbox_id": result.item.entry_id, "error": result.error}
        if result.unserved:
            log.error(
                "outbound message undeliverable: no adapter for its platform in this bot; not retried",
                extra={**fields, "platform": result.item.action.platform},
            )
        elif retry_at is None:
            log.error("outbound message given up", extra=fields)
        else:
            log.warning("outbound message failed; will retry", extra={**fields, "retry_at": retry_at})


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    return f"{minutes // 60}h{minutes % 60:02d}m"
