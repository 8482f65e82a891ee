"""The outbox: every outbound action is stored in the same transaction as the work that produced it,
then sent by a worker that marks it sent. Unsent actions survive a crash and go out on the next start;
failures are retried with exponential backoff and logged; an action that keeps failing is given up
("dead") after `max_attempts` and logged as an error."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.adapters.base import Adapter, SendError
from handlers.clock import Clock
from handlers.contract import Mention, SendToGroup, SendToUser
from storage import repos
from storage.models import OutboxEntry

log = logging.getLogger("loudong.outbox")


@dataclass(frozen=True)
class _Result:
    entry_id: int
    previous_attempts: int = 0
    sent_message_id: str | None = None
    error: str | None = None
    permanent: bool = False


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
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._adapters: dict[str, Adapter] = {}
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._idle_poll = idle_poll
        self._wakeup = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._worker: asyncio.Task[None] | None = None

    def register(self, adapter: Adapter) -> None:
        self._adapters[adapter.platform] = adapter

    async def enqueue(
        self, session: AsyncSession, actions: Iterable[SendToGroup | SendToUser], now: datetime
    ) -> None:
        """Store actions in the caller's transaction; they are sent once it commits."""
        stored = False
        for action in actions:
            is_group = isinstance(action, SendToGroup)
            await repos.enqueue_outbox(
                session,
                platform=action.platform,
                target_kind=action.kind,
                target_id=action.group_id if is_group else action.user_id,
                text=action.text,
                mentions=[m.model_dump() for m in action.mentions] if is_group else [],
                reply_to=action.reply_to if is_group else None,
                origin=action.origin,
                now=now,
                flush=False,  # one flush (one round trip) for all of them, below
            )
            stored = True
        if stored:
            await session.flush()

    def wake(self) -> None:
        self._wakeup.set()

    async def flush(self) -> int:
        """Send every due action; returns how many were sent."""
        async with self._flush_lock:
            sent = 0
            while True:
                async with self._sessions() as session:
                    batch = await repos.due_outbox(session, self._clock.now())
                if not batch:
                    return sent
                results = await self._send_batch(batch)
                await self._record(results)
                sent += sum(1 for result in results if result.error is None)
                if all(result.error is not None for result in results):
                    return sent  # everything due failed; the backoff decides when to try again

    async def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="outbox")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def _run(self) -> None:
        while True:
            try:
                await self.flush()
            except Exception:
                log.exception("outbox flush failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._idle_poll)
            self._wakeup.clear()

    async def _send_batch(self, batch: list[OutboxEntry]) -> list[_Result]:
        # One target's messages go out in order; different targets go out concurrently.
        by_target: dict[tuple[str, str, str], list[OutboxEntry]] = defaultdict(list)
        for entry in batch:
            by_target[(entry.platform, entry.target_kind, entry.target_id)].append(entry)
        per_target = await asyncio.gather(*(self._send_in_order(entries) for entries in by_target.values()))
        return [result for results in per_target for result in results]

    async def _send_in_order(self, entries: list[OutboxEntry]) -> list[_Result]:
        results: list[_Result] = []
        for entry in entries:
            result = await self._send_one(entry)
            results.append(result)
            if result.error is not None:
                break  # later messages to this target wait, so the group never sees them out of order
        return results

    async def _send_one(self, entry: OutboxEntry) -> _Result:
        failed = partial(_Result, entry.id, entry.attempts)
        adapter = self._adapters.get(entry.platform)
        if adapter is None:
            return failed(error=f"no adapter for platform {entry.platform!r}")
        try:
            receipt = await adapter.send(to_action(entry))
        except SendError as error:
            return failed(error=str(error) or type(error).__name__, permanent=error.permanent)
        except Exception as error:  # an adapter bug must not stop the outbox
            log.exception("adapter raised while sending", extra={"outbox_id": entry.id})
            return failed(error=f"{type(error).__name__}: {error}")
        return _Result(entry.id, sent_message_id=receipt.message_id)

    async def _record(self, results: list[_Result]) -> None:
        now = self._clock.now()
        sent = [repos.Sent(r.entry_id, r.sent_message_id) for r in results if r.error is None]
        async with self._sessions() as session, session.begin():
            # One statement for the whole batch: this transaction holds SQLite's write lock, which
            # the dispatcher is waiting for.
            await repos.mark_outbox_sent_many(session, sent, now=now)
            for result in results:
                if result.error is None:
                    continue
                retry_at = self._retry_at(now, result.previous_attempts + 1, result.permanent)
                await repos.mark_outbox_failed(
                    session, result.entry_id, error=result.error, retry_at=retry_at
                )
                self._log_failure(result, retry_at)

    def _retry_at(self, now: datetime, attempt: int, permanent: bool) -> datetime | None:
        if permanent or attempt >= self._max_attempts:
            return None
        delay = min(self._base_delay * (2 ** (attempt - 1)), self._max_delay)
        return now + delay

    def _log_failure(self, result: _Result, retry_at: datetime | None) -> None:
        fields = {"outbox_id": result.entry_id, "error": result.error}
        if retry_at is None:
            log.error("outbound message given up", extra=fields)
        else:
            log.warning("outbound message failed; will retry", extra={**fields, "retry_at": retry_at})
