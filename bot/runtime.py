"""Assembly of one bot process: database, registry of handlers, dispatcher, outbox and adapters,
with the adapters that serve HTTP mounted on one aiohttp server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.adapters.base import Adapter, WebMounted
from bot.collector import FullCollections
from bot.config import Settings
from bot.dispatcher import Classifier, Dispatcher
from bot.outbox import Outbox
from bot.scheduler import Scheduler, standing_jobs
from handlers import default_routers
from handlers.clock import Clock, SystemClock
from handlers.context import TickContext
from handlers.request_policy import validate_policy
from handlers.router import PeriodicJob, Registry
from storage import db, repos
from storage.checkpoints import WalCheckpointer, without_automatic_checkpoints
from storage.directory import import_directory, load_directory
from storage.memo import directory_memo

log = logging.getLogger("loudong.runtime")

_startup_frozen = False  # see Runtime._freeze_startup_objects


def default_classifier() -> Classifier:
    from intents import classify

    return classify


class Runtime:
    """The parts of a running bot. `open()` connects and migrates; `start()` begins serving."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None, classify: Classifier | None = None):
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._classify = classify
        self.engine: AsyncEngine | None = None
        self.adapters: list[Adapter] = []
        self._web_runner: web.AppRunner | None = None
        self._last_runs: dict[str, datetime] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._checkpointer: WalCheckpointer | None = None
        self._full_collections = FullCollections()

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        if self._sessions is None:
            raise RuntimeError("Runtime.open() has not been called")
        return self._sessions

    _sessions: async_sessionmaker[AsyncSession] | None = None

    async def open(self) -> None:
        self.engine = db.make_engine(self.settings.resolved_database_url)
        database_file = db.sqlite_file(self.engine.url)
        if database_file is not None:
            # Before the first connection: every pooled connection must leave checkpoints to the thread.
            without_automatic_checkpoints(self.engine.sync_engine)
            self._checkpointer = WalCheckpointer(database_file)
            self._checkpointer.start()
        await db.migrate(self.engine)
        self._sessions = db.make_session_factory(self.engine)
        self.registry = Registry(default_routers())
        self.outbox = Outbox(
            self.sessions, self.clock, max_wait=timedelta(hours=self.settings.outbox_wait_hours)
        )
        self.dispatcher = Dispatcher(
            self.sessions, self.registry, self.outbox, self.clock, self._classify or default_classifier()
        )
        self.scheduler = Scheduler(
            self.settings.resolved_database_url,
            self.sessions,
            self.registry,
            self.clock,
            self.outbox,
            connected_platforms=self._connected_platforms,
            private_platforms=self._private_platforms,
        )
        await self.scheduler.open(standing_jobs(self.settings))

    def _connected_platforms(self) -> frozenset[str] | None:
        """The platforms of the adapters this process runs (handlers.schedule.Backend), connected now
        or not; None before any adapter is added."""
        return frozenset(adapter.platform for adapter in self.adapters) or None

    def _private_platforms(self) -> frozenset[str] | None:
        """Of those, the platforms on which a private message can be sent."""
        if not self.adapters:
            return None
        return frozenset(adapter.platform for adapter in self.adapters if adapter.sends_private)

    async def import_directory(self, path: str) -> str:
        directory = load_directory(path, policy_check=validate_policy)
        async with self.sessions() as session:
            async with session.begin():
                report = await import_directory(session, directory)
            # Committed: what was read of the directory before (by sessions that ran meanwhile too)
            # may be out of date now.
            if (memo := directory_memo(session)) is not None:
                memo.clear()
        self.dispatcher.forget_directory()
        return report.summary()

    async def directory_is_empty(self) -> bool:
        async with self.sessions() as session:
            return not await repos.has_units(session)

    async def run_due(self) -> None:
        """Run time-based work that fell due at the clock's current time, then send what it produced."""
        now = self.clock.now()
        for job in self.registry.periodic_jobs:
            last = self._last_runs.setdefault(job.name, now)
            if now - last >= job.interval:
                self._last_runs[job.name] = now
                await self._run_job(job)
        await self.scheduler.run_due()
        await self.outbox.flush()

    async def settle(self) -> None:
        """After a message: run scheduled jobs it made due (a notice sent at once), then send."""
        await self.scheduler.run_due()
        await self.outbox.flush()

    def next_due(self) -> datetime | None:
        """When the next periodic or scheduled job falls due (for a simulated clock to step through)."""
        now = self.clock.now()
        dues = [self._last_runs.get(job.name, now) + job.interval for job in self.registry.periodic_jobs]
        scheduled = self.scheduler.next_due()
        if scheduled is not None:
            dues.append(scheduled)
        return min(dues, default=None)

    async def _run_job(self, job: PeriodicJob) -> None:
        started = time.perf_counter()
        try:
            async with self.sessions() as session, session.begin():
                ctx = TickContext(session=session, clock=self.clock, registry=self.registry)
                actions = list(await job.handler(ctx) or ())
                await self.outbox.enqueue(session, actions, self.clock.now())
        except Exception:
            log.exception("periodic job failed; rolled back", extra={"job": job.name})
            return
        log.info(
            "periodic job ran",
            extra={
                "job": job.name,
                "actions": len(actions),
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )

    async def _tick_forever(self) -> None:
        interval = min((job.interval for job in self.registry.periodic_jobs), default=timedelta(minutes=1))
        while True:
            await asyncio.sleep(min(interval, timedelta(minutes=1)).total_seconds())
            try:
                await self.run_due()
            except Exception:
                log.exception("time-based work failed")

    def add_adapter(self, adapter: Adapter) -> None:
        self.adapters.append(adapter)
        self.outbox.register(adapter)

    async def start(self, *, serve_web: bool = True, tick: bool = True) -> None:
        for adapter in self.adapters:
            await adapter.start(self.dispatcher.dispatch)
        if serve_web and any(isinstance(adapter, WebMounted) for adapter in self.adapters):
            await self._start_web(self.adapters)
        # Actions left unsent by a crash or stop go out now.
        await self.outbox.start()
        if isinstance(self.clock, SystemClock):
            self.scheduler.go_live()
        if tick:
            self._ticker = asyncio.create_task(self._tick_forever(), name="ticker")
        self._freeze_startup_objects()
        self._full_collections.start()

    def _freeze_startup_objects(self) -> None:
        """Load the classifier now and exempt everything made so far from the garbage collector: jieba's
        dictionary and the intent models are hundreds of thousands of objects that live as long as the
        bot, and every full collection walked them all again, stalling the message loop for tens of
        milliseconds at a time (OneBot load at 200/s: p99 86-98 ms without, 41-51 ms with). Once per
        process: a second runtime in the same process (tests) finds them frozen already."""
        global _startup_frozen
        self.dispatcher.warm_up()
        if not _startup_frozen:
            gc.collect()
            gc.freeze()
            _startup_frozen = True

    async def _start_web(self, adapters: Sequence[Adapter]) -> None:
        app = web.Application(client_max_size=2 * 1024 * 1024)
        for adapter in adapters:
            if isinstance(adapter, WebMounted):
                adapter.mount(app)
        self._web_runner = web.AppRunner(app, access_log=None)
        await self._web_runner.setup()
        site = web.TCPSite(self._web_runner, self.settings.web_host, self.settings.web_port)
        await site.start()

    async def close(self) -> None:
        await self._full_collections.stop()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._sessions is not None:
            # Messages already handed over are handled, their replies stored and their jobs scheduled.
            await self.dispatcher.close()
            await self.outbox.stop()
        for adapter in reversed(self.adapters):
            try:
                await adapter.stop()
            except Exception:
                log.exception("adapter failed to stop", extra={"platform": adapter.platform})
        if self._sessions is not None:
            await self.dispatcher.close()  # anything handed over while the adapters stopped
            # Last: a message handled above may still have asked for jobs.
            if getattr(self, "scheduler", None) is not None:
                await self.scheduler.close()
        if self._web_runner is not None:
            await self._web_runner.cleanup()
            self._web_runner = None
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None
        if self._checkpointer is not None:
            await self._checkpointer.stop()
            self._checkpointer = None
