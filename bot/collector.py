"""Full garbage collections on the bot's schedule rather than CPython's.

CPython starts a full (generation 2) collection whenever the objects promoted into the oldest
generation since the last one exceed a quarter of those that survived it. In the bot most promotions are
a batch's short-lived objects that happened to be alive at a young collection (session state, rows,
statements) and that reference counting frees soon after; what a full collection walks is the live
rest: the directory cache, SQLAlchemy's compiled statements and path registries, some 60,000 objects,
20-110 ms during which no chat is served. At 200 events/s that came every 4-12 s and was the largest
part of the OneBot load's p99 (docs/benchmarks.md, seventh round). The cyclic garbage that reaches the
oldest generation is little (about one object per message, most of it directory cache entries as they
expire), so while a bot runs the automatic full collections are off and it runs one itself every
`FULL_COLLECTION_INTERVAL` seconds: a pause of the same size, a fifth to a fifteenth as often, and
memory a saw-tooth over a minute rather than a few seconds. Young collections are left as they are.
Process-wide: the last runtime to stop puts CPython's thresholds back.

Once warm (`WARM_AFTER` seconds after the first schedule started, one extra collection), what survives
is frozen (`gc.freeze()`), once per process: SQLAlchemy's compiled statements and registries, the
caches filled by the first messages. Later full collections then walk only what was made since, a
fraction of the pause (one process after 3,000 messages: 42 -> 8.5 ms, docs/benchmarks.md, eleventh
round). What is frozen is still freed by reference counting; only cyclic garbage among it would never
be collected, and the long-lived state is plain data (directory entries, `storage.entries`), so that is
bounded by what was alive at that one moment."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time

log = logging.getLogger("loudong.runtime")

FULL_COLLECTION_INTERVAL = 60.0
# Seconds after start when the warm state is frozen (after one collection): see the module docstring.
WARM_AFTER = 15.0
# Generation 2's threshold counts generation-1 collections; past this none starts a full one.
_NEVER = 2**31 - 1

_running = 0  # schedules started and not stopped, in this process
_saved_threshold: tuple[int, int, int] | None = None
_warm_frozen = False  # the warm state frozen already, in this process


class FullCollections:
    """Turns CPython's automatic full collections off and runs one every `interval` seconds instead."""

    def __init__(self, interval: float = FULL_COLLECTION_INTERVAL, warm_after: float = WARM_AFTER) -> None:
        self.interval = interval
        self.warm_after = warm_after
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        global _running, _saved_threshold
        if self._task is not None:
            return
        if _running == 0:
            _saved_threshold = gc.get_threshold()
            young, middle, _ = _saved_threshold
            gc.set_threshold(young, middle, _NEVER)
        _running += 1
        self._task = asyncio.create_task(self._run(), name="full-collections")

    async def stop(self) -> None:
        global _running
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        _running -= 1
        if _running == 0 and _saved_threshold is not None:
            gc.set_threshold(*_saved_threshold)

    async def _run(self) -> None:
        global _warm_frozen
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval
        if not _warm_frozen and self.warm_after < self.interval:
            await asyncio.sleep(self.warm_after)
            if not _warm_frozen:
                self._collect()
                gc.freeze()
                _warm_frozen = True
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due += self.interval
            self._collect()

    @staticmethod
    def _collect() -> None:
        started = time.perf_counter()
        collected = gc.collect()
        log.debug(
            "full garbage collection",
            extra={"collected": collected, "ms": round((time.perf_counter() - started) * 1000, 2)},
        )
