"""Time comes to handlers through a clock, so the same code runs live, in replay and in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# The communities we serve keep Beijing time; working hours and dates shown to people use it.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: replay scripts and tests drive it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        # Time never runs backwards: out-of-order script lines keep the later time.
        self._now = max(self._now, moment)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def local(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_TZ)


def moment_text(moment: datetime) -> str:
    """12月1日 09:00, in local time: how the bot writes a moment in the group."""
    at = local(moment)
    return f"{at.month}月{at.day}日 {at:%H:%M}"
