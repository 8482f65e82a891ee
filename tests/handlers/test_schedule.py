"""Scheduling requests wait for the transaction that asked: applied once it commits, dropped if it rolls
back; in a dispatcher batch, that is the batch's transaction, not the message's own session."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from handlers.clock import LOCAL_TZ
from handlers.router import Registry
from handlers.schedule import Plan, Schedule, bind
from storage.db import make_engine, make_session_factory

AT = datetime(2026, 12, 1, 9, 0, tzinfo=LOCAL_TZ)


async def job(tick: object, notice_id: int) -> None:
    return None


class RecordingBackend:
    def __init__(self) -> None:
        self.applied: list[list[str]] = []

    def apply(self, plans: Sequence[Plan]) -> None:
        self.applied.append([plan.key for plan in plans])

    def next_run(self, key: str) -> datetime | None:
        return None

    def connected_platforms(self) -> frozenset[str] | None:
        return None

    def private_platforms(self) -> frozenset[str] | None:
        return None


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite:///{tmp_path}/schedule.db")
    yield engine
    await engine.dispose()


@pytest.fixture
def registry() -> tuple[Registry, RecordingBackend]:
    registry, backend = Registry([]), RecordingBackend()
    bind(registry, backend)
    return registry, backend


async def test_plans_are_applied_when_the_session_commits(
    engine: AsyncEngine, registry: tuple[Registry, RecordingBackend]
) -> None:
    jobs, backend = registry
    sessions = make_session_factory(engine)
    async with sessions() as session, session.begin():
        schedule = Schedule(jobs, session)
        schedule.once("notice:1", job, AT, 1)
        schedule.cancel("notice:2")
        assert backend.applied == []
    assert backend.applied == [["notice:1", "notice:2"]]


async def test_plans_of_a_rolled_back_session_are_dropped(
    engine: AsyncEngine, registry: tuple[Registry, RecordingBackend]
) -> None:
    jobs, backend = registry
    sessions = make_session_factory(engine)
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            Schedule(jobs, session).once("notice:1", job, AT, 1)
            raise RuntimeError("the message failed")
    assert backend.applied == []


async def _batch(
    sessions: async_sessionmaker,
    jobs: Registry,
    backend: RecordingBackend,
    keys: Sequence[str],
    *,
    fail: bool,
) -> None:
    """A dispatcher batch: the messages' handlers share one session and one transaction."""
    async with sessions() as session:
        await session.begin()
        for key in keys:
            Schedule(jobs, session).once(key, job, AT, 1)
            # The next message's first-time sender is registered in a savepoint: released, and one that
            # lost a race rolled back. Neither is the batch's commit or rollback.
            async with session.begin_nested():
                await session.flush()
            with contextlib.suppress(RuntimeError):
                async with session.begin_nested():
                    raise RuntimeError("registered by another process a moment ago")
            assert backend.applied == []
        if fail:
            await session.rollback()
        else:
            await session.commit()


async def test_in_a_batch_plans_wait_for_the_batch_to_commit(
    engine: AsyncEngine, registry: tuple[Registry, RecordingBackend]
) -> None:
    jobs, backend = registry
    await _batch(make_session_factory(engine), jobs, backend, ["notice:1", "notice:2"], fail=False)
    assert backend.applied == [["notice:1", "notice:2"]]


async def test_plans_of_a_batch_rolled_back_are_dropped(
    engine: AsyncEngine, registry: tuple[Registry, RecordingBackend]
) -> None:
    jobs, backend = registry
    await _batch(make_session_factory(engine), jobs, backend, ["notice:1", "notice:2"], fail=True)
    assert backend.applied == []
