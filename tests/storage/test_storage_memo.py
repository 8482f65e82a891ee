"""storage.memo: values kept between sessions until an import (or their time) is up, and ORM objects
shared without ever joining a session."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import repos
from storage.memo import (
    DIRECTORY_MEMO_SIZE,
    DirectoryMemo,
    ExpiringCache,
    detached_copy,
    directory_memo,
    in_session,
    remembered,
)
from storage.models import Person


def test_a_value_is_kept_until_cleared_or_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("storage.memo.time.monotonic", lambda: now[0])
    memo = DirectoryMemo(ttl=60.0)
    memo.put("a", 1, generation=memo.generation)
    assert memo.get("a") == 1
    now[0] += 61
    assert memo.get("a") is None  # another process may have imported a directory meanwhile
    memo.put("a", 2, generation=memo.generation)
    memo.clear()
    assert memo.get("a") is None


def test_an_expiring_cache_drops_the_least_recently_used_and_the_expired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr("storage.memo.time.monotonic", lambda: now[0])
    cache: ExpiringCache[str, str | None] = ExpiringCache(ttl=60.0, size=2)
    cache.put("group", None)  # known not to exist: found, unlike a key never stored
    cache.put("li", "李叔")
    assert cache.get("group") == (True, None) and cache.get("wang") == (False, None)
    cache.put("zhang", "张阿姨")  # "li" was used least recently
    assert cache.get("li") == (False, None)
    assert cache.get("group") == (True, None) and cache.get("zhang") == (True, "张阿姨")
    now[0] += 61
    assert cache.get("zhang") == (False, None)


def test_the_memo_holds_at_most_its_size_the_least_recently_used_dropped() -> None:
    """Keys include what residents write (a building named in a report): any number of them."""
    memo = DirectoryMemo()
    for number in range(DIRECTORY_MEMO_SIZE + 500):
        memo.put(("building named", 7, f"{number}号楼"), None, generation=memo.generation)
        memo.get(("building named", 7, "0号楼"))  # in use: kept
    assert len(memo) == DIRECTORY_MEMO_SIZE
    assert memo.lookup(("building named", 7, "0号楼")) == (True, None)
    assert memo.lookup(("building named", 7, "1号楼")) == (False, None)


def test_a_value_read_before_a_clear_is_not_kept() -> None:
    memo = DirectoryMemo()
    generation = memo.generation
    memo.clear()  # an import committed while the value was being read
    memo.put("a", "stale", generation=generation)
    assert memo.get("a") is None


async def test_remembered_loads_once_per_memo_and_keeps_what_it_is_given(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    loads: list[str] = []

    async def load() -> list[str]:
        loads.append("loaded")
        return ["value"]

    async with session_factory() as first, session_factory() as second:
        kept = await remembered(first, "key", load, keep=lambda value: [*value, "kept"])
        assert kept == ["value", "kept"] and await remembered(second, "key", load) is kept
        assert loads == ["loaded"]
        memo = directory_memo(first)
        assert memo is not None
        memo.clear()  # an import
        assert await remembered(second, "key", load) == ["value"] and len(loads) == 2
    async with AsyncSession(first.bind) as elsewhere:  # no memo: loaded every time
        assert await remembered(elsewhere, "key", load) == ["value"] and len(loads) == 3


async def test_sessions_of_one_factory_share_one_memo(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as first, session_factory() as second:
        memo = directory_memo(first)
        assert memo is not None and memo is directory_memo(second)


@pytest.mark.usefixtures("imported_demo")
async def test_a_detached_copy_keeps_what_was_loaded_and_joins_sessions_only_as_a_copy(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        key = await session.scalar(select(Person.key).where(Person.name == "刘秀英"))
        assert key is not None
        loaded = await repos.find_person_by_key(session, key)
        assert loaded is not None
        shared = detached_copy(loaded)
    assert shared not in session
    assert shared.unit is not None and shared.unit.parent is not None  # loaded with its chain
    assert [account.platform for account in shared.accounts] == ["webchat"]
    async with session_factory() as first, session_factory() as second:
        mine, theirs = in_session(first, shared), in_session(second, shared)
        assert mine in first and theirs in second and shared not in first and shared not in second
        mine.name = "改了名"
        assert shared.name == "刘秀英"  # what one session does to its copy stays there
        again = await first.get(Person, shared.id)
        assert in_session(first, shared) is again is mine  # the session's instance is reused


async def test_remembered_keeps_an_answer_of_nothing(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A building name that matches nothing is asked once, not on every report that names it."""
    loads: list[str] = []

    async def load() -> None:
        loads.append("loaded")

    async with session_factory() as first, session_factory() as second:
        assert await remembered(first, "nowhere", load) is None
        assert await remembered(second, "nowhere", load) is None
        assert loads == ["loaded"]
        memo = directory_memo(first)
        assert memo is not None
        memo.clear()  # an import may have added the building
        assert await remembered(second, "nowhere", load) is None and len(loads) == 2
