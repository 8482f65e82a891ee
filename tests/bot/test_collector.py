"""Full garbage collections on the bot's schedule: CPython's automatic ones are off while a bot runs
(each walked tens of thousands of live objects, stalling every chat), and the bot runs one itself on an
interval; the last schedule to stop puts CPython's thresholds back."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from bot.collector import FullCollections


async def test_automatic_full_collections_are_off_while_a_schedule_runs_and_back_after() -> None:
    before = gc.get_threshold()
    first, second = FullCollections(interval=3600), FullCollections(interval=3600)
    first.start()
    second.start()
    try:
        young, middle, oldest = gc.get_threshold()
        assert (young, middle) == before[:2]
        assert oldest > 10**9  # no count of younger collections ever reaches it
        await first.stop()
        assert gc.get_threshold()[2] == oldest  # the other schedule still runs
    finally:
        await second.stop()
        await first.stop()  # a second stop changes nothing
    assert gc.get_threshold() == before


async def test_the_schedule_runs_full_collections_itself() -> None:
    full: list[int] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(info["collected"])

    gc.callbacks.append(seen)
    schedule = FullCollections(interval=0.01)
    schedule.start()
    try:
        async with asyncio.timeout(2):
            while len(full) < 2:  # noqa: ASYNC110 - the collector has no event to wait on
                await asyncio.sleep(0.005)
    finally:
        await schedule.stop()
        gc.callbacks.remove(seen)


async def test_the_warm_state_is_frozen_once_after_one_collection(monkeypatch: Any) -> None:
    import bot.collector

    monkeypatch.setattr(bot.collector, "_warm_frozen", False)
    full: list[int] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(info["collected"])

    gc.callbacks.append(seen)
    schedule = FullCollections(interval=3600, warm_after=0.01)
    schedule.start()
    try:
        async with asyncio.timeout(2):
            while not bot.collector._warm_frozen:  # noqa: ASYNC110 - the collector has no event to wait on
                await asyncio.sleep(0.005)
        assert full  # collected first, then frozen
        assert gc.get_freeze_count() > 0
        collections = len(full)
        again = FullCollections(interval=3600, warm_after=0.01)  # a second runtime: frozen once per process
        again.start()
        await asyncio.sleep(0.05)
        await again.stop()
        assert len(full) == collections  # no second warm collection (and freeze)
    finally:
        await schedule.stop()
        gc.callbacks.remove(seen)
