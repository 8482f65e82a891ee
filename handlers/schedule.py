"""What handlers may schedule, and the protocol the bot's scheduler implements (bot/scheduler.py).

A job is an importable module-level coroutine function `async def job(tick: TickContext, *args)`
with plain JSON-able args (a notice's id, say): it looks up what it needs in the database when it runs,
so a job stored before a restart runs after it. A handler asks for jobs through `ctx.schedule`; the
requests are kept with the handler's session and applied only once its transaction has committed, so a
rolled-back message schedules nothing (and the job store is never written inside another transaction)."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

if TYPE_CHECKING:
    from handlers.router import HandlerResult, Registry

log = logging.getLogger("loudong.schedule")

JobArg = int | str
JobFunc = Callable[..., Awaitable["HandlerResult"]]


@dataclass(frozen=True)
class Once:
    at: datetime


@dataclass(frozen=True)
class Weekly:
    """At hour:minute Beijing time on the given weekdays (0 = Monday); every day if `weekdays` is empty."""

    hour: int
    minute: int
    weekdays: tuple[int, ...] = ()


When = Once | Weekly


@dataclass(frozen=True)
class Plan:
    """Schedule `func(tick, *args)` under `key` (replacing a job of that key), or with `func` None
    cancel the job of that key."""

    key: str
    func: JobFunc | None = None
    when: When | None = None
    args: tuple[JobArg, ...] = ()


def job_ref(func: Callable[..., Any]) -> str:
    """ "module:function", the form a job is stored under."""
    return f"{func.__module__}:{func.__qualname__}"


class Backend(Protocol):
    """The bot's scheduler, as handlers see it."""

    def apply(self, plans: Sequence[Plan]) -> None:
        """Add, replace or cancel jobs (called after the asking transaction committed)."""
        ...

    def next_run(self, key: str) -> datetime | None:
        """When the job of that key runs next, if it is scheduled."""
        ...

    def connected_platforms(self) -> frozenset[str] | None:
        """The platforms this bot process serves: one adapter started for each, whether or not it is
        connected at this moment (the outbox retries a disconnected one). None: not known, post
        everywhere."""
        ...

    def private_platforms(self) -> frozenset[str] | None:
        """Of the platforms this process serves, those on which it can send a private message (not a
        WeCom group robot's). None: not known, any."""
        ...


_backends: weakref.WeakKeyDictionary[Registry, Backend] = weakref.WeakKeyDictionary()
_PENDING = "loudong.schedule.pending"


def bind(registry: Registry, backend: Backend) -> None:
    """Make `backend` the scheduler of the handlers in `registry` (done by the bot's runtime)."""
    _backends[registry] = backend


class Schedule:
    """A handler's view: scheduling requests kept until its session commits."""

    def __init__(self, registry: Registry, session: AsyncSession) -> None:
        self._backend = _backends.get(registry)
        self._session = session

    def once(self, key: str, func: JobFunc, at: datetime, *args: JobArg) -> None:
        self._plan(Plan(key, func, Once(at), args))

    def weekly(self, key: str, func: JobFunc, when: Weekly, *args: JobArg) -> None:
        self._plan(Plan(key, func, when, args))

    def cancel(self, key: str) -> None:
        self._plan(Plan(key))

    def next_run(self, key: str) -> datetime | None:
        return self._backend.next_run(key) if self._backend is not None else None

    def connected_platforms(self) -> frozenset[str] | None:
        return self._backend.connected_platforms() if self._backend is not None else None

    def private_platforms(self) -> frozenset[str] | None:
        return self._backend.private_platforms() if self._backend is not None else None

    def _plan(self, plan: Plan) -> None:
        if self._backend is None:
            raise RuntimeError("no scheduler is bound to this registry")
        _pending(self._session.sync_session, self._backend).append(plan)


def _pending(sync_session: Session, backend: Backend) -> list[Plan]:
    """The plans kept with a session, applied once its transaction commits and dropped if it rolls back."""
    kept: _Kept | None = sync_session.info.get(_PENDING)
    if kept is None:
        kept = sync_session.info[_PENDING] = _Kept(backend)
    return kept.plans


@dataclass
class _Kept:
    backend: Backend
    plans: list[Plan] = field(default_factory=list)


# Listeners on the Session class, once: a dispatcher batch shares one session among its messages, and a
# savepoint in it (a first-time sender registered) commits or rolls back without the batch doing so.
@event.listens_for(Session, "after_commit")
def _apply_kept(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction's work is not final yet
    kept: _Kept | None = session.info.pop(_PENDING, None)
    if kept is None:
        return
    try:
        kept.backend.apply(kept.plans)
    except Exception:  # the work is committed; a lost job must not look like a failed message
        log.exception("scheduling after commit failed", extra={"jobs": [p.key for p in kept.plans]})


@event.listens_for(Session, "after_soft_rollback")
def _drop_kept(session: Session, previous_transaction: SessionTransaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
