from datetime import UTC, datetime, timedelta

import pytest

from handlers.clock import LOCAL_TZ, ManualClock, SystemClock, local


def test_manual_clock_moves_only_forward() -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=LOCAL_TZ)
    clock = ManualClock(start)
    clock.advance(timedelta(hours=2))
    assert clock.now() == start + timedelta(hours=2)
    clock.set(start)  # an out-of-order script line does not turn time back
    assert clock.now() == start + timedelta(hours=2)


def test_manual_clock_refuses_naive_times() -> None:
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 12, 1, 9, 0))


def test_system_clock_is_aware_and_local_converts_to_beijing_time() -> None:
    assert SystemClock().now().tzinfo is not None
    assert local(datetime(2026, 12, 1, 1, 0, tzinfo=UTC)).hour == 9
