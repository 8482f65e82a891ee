"""Values derived from the directory, kept between the sessions of one session factory.

Who serves a building (its unit chain and the workers placed on it) is read by every new report and
changes only when a directory is imported. Sessions made by `storage.db.make_session_factory` share one
`DirectoryMemo` through `Session.info`; an import in this process clears it (`import_directory` and,
after the import committed, the runtime), and entries expire after `ttl` seconds, so an import by
another process (the command line while the bot runs) is seen within that time, as by the dispatcher's
directory cache.

A value is shared by sessions that run concurrently, so it must never join one: keep plain data, or
ORM objects detached from every session (`detached_copy`), read them, and give a session its own copy
(`in_session`) before relating anything of it to one."""

from __future__ import annotations

import pickle
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

DIRECTORY_MEMO = "loudong.directory_memo"  # the key in Session.info
DIRECTORY_MEMO_TTL = 60.0
# Entries at most. Some keys come from what residents write (a building named in a report, "N号楼" for
# any N), and an expired entry leaves only when its key is asked for again: without a bound, every
# name ever written would stay. A community's buildings, policies and names in use fit many times over.
DIRECTORY_MEMO_SIZE = 4096

_Key = TypeVar("_Key", bound=Hashable)
_Value = TypeVar("_Value")


def _as_it_is(value: _Value) -> _Value:
    return value


class ExpiringCache(Generic[_Key, _Value]):
    """A mapping whose entries expire `ttl` seconds after they were stored, the least recently used
    dropped first beyond `size`. `get` tells a missing entry from a stored None: (found, value)."""

    def __init__(self, *, ttl: float, size: int | None = None) -> None:
        self.ttl = ttl
        self._size = size
        self._entries: OrderedDict[_Key, tuple[float, _Value]] = OrderedDict()

    def get(self, key: _Key) -> tuple[bool, _Value | None]:
        item = self._entries.get(key)
        if item is None:
            return False, None
        stored_at, value = item
        if time.monotonic() - stored_at > self.ttl:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, value

    def put(self, key: _Key, value: _Value) -> None:
        self._entries[key] = (time.monotonic(), value)
        self._entries.move_to_end(key)
        if self._size is not None:
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        """Entries held, the expired ones not asked for since included."""
        return len(self._entries)


class DirectoryMemo:
    def __init__(self, *, ttl: float = DIRECTORY_MEMO_TTL, size: int = DIRECTORY_MEMO_SIZE) -> None:
        self.generation = 0
        self._values: ExpiringCache[Hashable, Any] = ExpiringCache(ttl=ttl, size=size)

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable) -> Any | None:
        """The value stored under the key, or None if there is none or it expired."""
        return self._values.get(key)[1]

    def lookup(self, key: Hashable) -> tuple[bool, Any | None]:
        """(found, value): a stored None is found, so an answer of "nothing" is kept like any other."""
        return self._values.get(key)

    def put(self, key: Hashable, value: Any, *, generation: int) -> None:
        """Store a value loaded while the memo had this generation; dropped if it was cleared meanwhile
        (the value may have been read before the import that cleared it)."""
        if generation == self.generation:
            self._values.put(key, value)

    def clear(self) -> None:
        self._values.clear()
        self.generation += 1


async def remembered(
    session: AsyncSession,
    key: Hashable,
    load: Callable[[], Awaitable[_Value]],
    *,
    keep: Callable[[_Value], _Value] = _as_it_is,
) -> _Value:
    """The value the memo of the session's factory holds under the key; else `load()`'s, kept as
    `keep(value)` (`detached_copy` for ORM objects) and returned so. Without a memo, `load()`'s. A None
    from `load()` is kept too: a building name that matches nothing is not looked up again until an
    import or the memo's time limit."""
    memo = directory_memo(session)
    if memo is None:
        return await load()
    found, value = memo.lookup(key)
    if found:
        return cast(_Value, value)  # what `keep` made of a `load()` of this key
    generation = memo.generation
    kept = keep(await load())
    memo.put(key, kept, generation=generation)
    return kept


def directory_memo(session: AsyncSession) -> DirectoryMemo | None:
    """The memo of the session's factory; None for a session made elsewhere (nothing is kept)."""
    memo = session.info.get(DIRECTORY_MEMO)
    return memo if isinstance(memo, DirectoryMemo) else None


def detached_copy(value: _Value) -> _Value:
    """A deep copy whose ORM objects belong to no session, with what was loaded of them (SQLAlchemy
    instances pickle as detached objects with their loaded attributes and relationships)."""
    copied: _Value = pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return copied


def in_session(session: AsyncSession, instance: _Value) -> _Value:
    """The session's own copy of a persistent object: the object itself if it belongs to the session,
    the session's instance of the same row if it has one (an earlier message of a batch loaded or
    changed it), else a copy of the object (`merge(load=False)`: no SQL, and nothing done to the copy
    reaches the original). No SQL, so no await: the synchronous session merges, without a trip through
    the async bridge (every report takes two or three copies)."""
    if instance in session:
        return instance
    key = inspect(instance).key
    present = session.sync_session.identity_map.get(key) if key is not None else None
    if present is not None:
        return present  # type: ignore[no-any-return]
    return session.sync_session.merge(instance, load=False)
