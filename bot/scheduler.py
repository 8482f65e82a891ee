"""The scheduler: APScheduler 3 with a SQLAlchemy job store in the bot's own database, so scheduled and
recurring work (notices, their reminders, patrol reminders, the daily digest) survives restarts.

One job store, two drivers:
- live (a system clock): an AsyncIOScheduler runs the jobs in real time. Its job-store calls are
  synchronous, so they run in a worker thread, never on the event loop: on SQLite a synchronous write
  there would wait for a transaction that the blocked loop can never finish. Plans (add, replace,
  cancel) go to one single-worker executor, so they reach the store in the order they were committed:
  a cancel never overtakes the add it cancels.
- simulated (a ManualClock, in replay and tests): the APScheduler loop is not run; `run_due()` is called
  as the clock passes and fetches the due jobs from the same store, runs them and advances them with
  their trigger's `get_next_fire_time`, just as APScheduler does.

Misfires: every job has `misfire_grace_time=None` and `coalesce=True`: a job that fell due while the bot
was down runs once when it is back, and the handler gets the time it was due (`TickContext.scheduled_for`)
to decide — a notice is then sent and marked late, unless its deadline has passed.

A stored job's function is the placeholder `scheduled` with args `["module:function", *args]`; the bot
runs `function(tick, *args)` itself, so APScheduler never calls handler code with the wrong arguments.

Pacing: actions a job produces are enqueued in the outbox with staggered due times per platform
(`PLATFORM_PACING`: the k-th group message on a platform is due k × the platform's interval later), so
a notice fanned out to 40 QQ groups does not trip the platform's rate limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler, run_in_event_loop
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import ref_to_obj
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.outbox import Outbox
from handlers.clock import LOCAL_TZ, Clock
from handlers.context import TickContext
from handlers.contract import SendToGroup, SendToUser
from handlers.router import Registry
from handlers.schedule import Once, Plan, Weekly, bind, job_ref
from storage.db import normalize_url

log = logging.getLogger("loudong.scheduler")

# Minimum interval between two group messages of one fan-out, per platform. The web chat is ours;
# QQ bridges get flagged for bursts; a WeCom group robot allows 20 messages a minute.
PLATFORM_PACING: Mapping[str, timedelta] = {
    "webchat": timedelta(0),
    "onebot": timedelta(seconds=1.5),
    "wecom": timedelta(seconds=3),
}
DEFAULT_PACING = timedelta(seconds=1)
# A run_due() pass never runs more jobs than this (a guard against a job that keeps itself due).
MAX_JOBS_PER_PASS = 500


def scheduled(ref: str, *args: Any) -> None:
    """The function every stored job names. The bot runs `ref` itself (see `Scheduler.execute`)."""
    raise RuntimeError(f"job {ref} must be run by bot.scheduler, not called directly")


def sync_url(url: str) -> str:
    """The synchronous-driver URL of the bot's database, for the job store."""
    parsed = make_url(normalize_url(url))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return parsed.render_as_string(hide_password=False)


def trigger_for(when: Once | Weekly) -> BaseTrigger:
    if isinstance(when, Once):
        return DateTrigger(run_date=when.at, timezone=UTC)
    days = ",".join(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day] for day in when.weekdays)
    return CronTrigger(day_of_week=days or "*", hour=when.hour, minute=when.minute, timezone=LOCAL_TZ)


def _at(value: str, weekdays: tuple[int, ...] = ()) -> Weekly:
    hour, minute = (int(part) for part in value.split(":"))
    return Weekly(hour, minute, weekdays)


def standing_jobs(settings: Settings) -> list[Plan]:
    """The jobs every bot runs: the daily digest, the morning patrol reminders, the week's patrol
    schedule posted to the groups on Monday morning."""
    from handlers import digest, patrols

    return [
        Plan("digest.daily", digest.send_digests, _at(settings.digest_time)),
        Plan("patrols.reminders", patrols.morning_reminders, _at(settings.patrol_reminder_time)),
        Plan("patrols.week", patrols.post_week_schedule, Weekly(7, 30, (0,))),
    ]


class _ThreadedAsyncIOScheduler(AsyncIOScheduler):
    """AsyncIOScheduler whose job-store work (`_process_jobs`) runs in a worker thread."""

    @run_in_event_loop
    def wakeup(self) -> None:
        self._stop_timer()
        future = self._eventloop.run_in_executor(None, self._process_jobs)
        future.add_done_callback(self._processed)

    def _processed(self, future: asyncio.Future[float | None]) -> None:
        if future.cancelled() or future.exception() is not None:
            self._start_timer(self.jobstore_retry_interval)
            return
        self._start_timer(future.result())


class _BotExecutor(BaseExecutor):
    """Runs a due job as a task on the bot's event loop through `Scheduler.execute`."""

    def __init__(self, runner: Scheduler) -> None:
        super().__init__()
        self._runner = runner

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        loop = self._runner.loop
        assert loop is not None

        def launch() -> None:
            task = loop.create_task(self._runner.execute(list(job.args), run_times[-1]))
            task.add_done_callback(lambda _: self._run_job_success(job.id, []))

        loop.call_soon_threadsafe(launch)


class Scheduler:
    """The bot's scheduler (implements handlers.schedule.Backend)."""

    def __init__(
        self,
        database_url: str,
        sessions: async_sessionmaker[AsyncSession],
        registry: Registry,
        clock: Clock,
        outbox: Outbox,
        *,
        connected_platforms: Callable[[], frozenset[str] | None] = lambda: None,
        private_platforms: Callable[[], frozenset[str] | None] = lambda: None,
        pacing: Mapping[str, timedelta] = PLATFORM_PACING,
    ) -> None:
        self._url = sync_url(database_url)
        self._sessions = sessions
        self._registry = registry
        self._clock = clock
        self._outbox = outbox
        self._connected = connected_platforms
        self._private = private_platforms
        self._pacing = pacing
        self._engine: Engine | None = None
        self._store: SQLAlchemyJobStore | None = None
        self._aps: _ThreadedAsyncIOScheduler | None = None
        # One worker: plans applied live must keep their commit order (see the module docstring).
        self._plans = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loudong-plans")
        self.loop: asyncio.AbstractEventLoop | None = None
        self.live = False

    # Lifecycle ------------------------------------------------------------------------------------

    async def open(self, standing: Sequence[Plan] = ()) -> None:
        """Attach to the job store (paused: nothing runs by itself) and install the standing jobs."""
        self.loop = asyncio.get_running_loop()
        self._engine = create_engine(self._url, pool_pre_ping=True)
        self._store = SQLAlchemyJobStore(engine=self._engine)
        self._aps = _ThreadedAsyncIOScheduler(
            jobstores={"default": self._store},
            executors={"default": _BotExecutor(self)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=UTC,
        )
        self._aps.start(paused=True)
        bind(self._registry, self)
        await asyncio.to_thread(self._install_standing, list(standing))

    def go_live(self) -> None:
        """Run jobs in real time (a live bot with a system clock)."""
        assert self._aps is not None
        self.live = True
        self._aps.resume()

    async def close(self) -> None:
        # Plans already committed are applied before the engine goes away, not lost.
        await asyncio.to_thread(self._plans.shutdown, wait=True)
        if self._aps is not None and self.live:
            self._aps.pause()
            self._aps._stop_timer()  # we are on the loop: no wakeup after close
            self.live = False
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _install_standing(self, plans: list[Plan]) -> None:
        """Add standing jobs that are missing or changed; an unchanged one keeps its next run time, so a
        digest that fell due while the bot was down is still run (late) on start."""
        store = self._require_store()
        for plan in plans:
            assert plan.func is not None and plan.when is not None
            trigger = trigger_for(plan.when)
            existing = store.lookup_job(plan.key)
            args = [job_ref(plan.func), *plan.args]
            if existing is not None and str(existing.trigger) == str(trigger) and list(existing.args) == args:
                continue
            self._add(plan)

    # Backend protocol ----------------------------------------------------------------------------

    def apply(self, plans: Sequence[Plan]) -> None:
        """Called after a transaction that asked for jobs committed."""
        if not plans:
            return
        if self.live:
            # Never touch the job store on the event loop (see the module docstring); the single worker
            # applies plans in the order apply() was called.
            future: Future[None] = self._plans.submit(self._apply_now, list(plans))
            future.add_done_callback(_log_failure)
            return
        self._apply_now(plans)

    async def settled(self) -> None:
        """Wait until every plan passed to apply() so far is in the job store (live; at once otherwise)."""
        if self.live:
            await asyncio.wrap_future(self._plans.submit(lambda: None))

    def next_run(self, key: str) -> datetime | None:
        job = self._require_store().lookup_job(key)
        return job.next_run_time if job is not None else None

    def connected_platforms(self) -> frozenset[str] | None:
        return self._connected()

    def private_platforms(self) -> frozenset[str] | None:
        return self._private()

    def _apply_now(self, plans: Iterable[Plan]) -> None:
        for plan in plans:
            if plan.func is None:
                # Through the scheduler, not the store: it holds the job-store lock its own loop takes.
                with contextlib.suppress(JobLookupError):
                    self._require_aps().remove_job(plan.key)
                continue
            self._add(plan)

    def _add(self, plan: Plan) -> None:
        assert plan.func is not None and plan.when is not None and self._aps is not None
        trigger = trigger_for(plan.when)
        first = trigger.get_next_fire_time(None, self._clock.now())
        if first is None:
            return
        self._aps.add_job(
            scheduled,
            trigger=trigger,
            args=[job_ref(plan.func), *plan.args],
            id=plan.key,
            name=plan.key,
            replace_existing=True,
            next_run_time=first,
        )
        log.info("job scheduled", extra={"job": plan.key, "next_run": first.isoformat()})

    # Simulated time --------------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        if self.live or self._store is None:
            return None
        return self._store.get_next_run_time()

    async def run_due(self) -> None:
        """Run every job due at the clock's time (simulated clock only; live, APScheduler does it)."""
        if self.live or self._store is None:
            return
        for _ in range(MAX_JOBS_PER_PASS):
            now = self._clock.now()
            due = self._store.get_due_jobs(now)
            if not due:
                return
            await self._run_one(due[0], now)
        log.error("too many due jobs in one pass; the rest wait", extra={"limit": MAX_JOBS_PER_PASS})

    async def _run_one(self, job: Job, now: datetime) -> None:
        store = self._require_store()
        run_times = job._get_run_times(now) or [job.next_run_time]
        due_at = run_times[-1]
        await self.execute(list(job.args), due_at)
        current = store.lookup_job(job.id)
        if current is None or current.next_run_time != job.next_run_time:
            return  # the job removed or rescheduled itself
        following = job.trigger.get_next_fire_time(due_at, now)
        if following is None:
            store.remove_job(job.id)
            return
        job._modify(next_run_time=following)
        store.update_job(job)

    # Running a job ---------------------------------------------------------------------------------

    async def execute(self, args: list[Any], scheduled_for: datetime) -> None:
        """Run a stored job's function with a TickContext; its actions go to the outbox, paced."""
        ref, *rest = args
        started = time.perf_counter()
        try:
            func = ref_to_obj(ref)
            async with self._sessions() as session, session.begin():
                tick = TickContext(
                    session=session, clock=self._clock, registry=self._registry, scheduled_for=scheduled_for
                )
                actions = list(await func(tick, *rest) or ())
                await self._enqueue(session, actions)
        except Exception:
            log.exception("scheduled job failed; rolled back", extra={"job": ref, "job_args": rest})
            return
        log.info(
            "scheduled job ran",
            extra={
                "job": ref,
                "job_args": rest,
                "late_s": round((self._clock.now() - scheduled_for).total_seconds()),
                "actions": len(actions),
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )

    async def _enqueue(self, session: AsyncSession, actions: list[SendToGroup | SendToUser]) -> None:
        now = self._clock.now()
        counts: dict[str, int] = defaultdict(int)
        for action in actions:
            due = now
            if isinstance(action, SendToGroup):
                interval = self._pacing.get(action.platform, DEFAULT_PACING)
                due = now + interval * counts[action.platform]
                counts[action.platform] += 1
            await self._outbox.enqueue(session, [action], due)

    def _require_aps(self) -> _ThreadedAsyncIOScheduler:
        if self._aps is None:
            raise RuntimeError("Scheduler.open() has not been called")
        return self._aps

    def _require_store(self) -> SQLAlchemyJobStore:
        if self._store is None:
            raise RuntimeError("Scheduler.open() has not been called")
        return self._store


def _log_failure(future: Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("applying scheduled jobs failed", exc_info=future.exception())
