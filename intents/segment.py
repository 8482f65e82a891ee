"""jieba where it is strong: word boundaries around keyword hits and the scope of a negation.

A dedicated `jieba.Tokenizer` (never the global one, so the bot's lexicon does not leak into other users of
jieba) with every lexicon word added. Only the clause around a keyword hit is segmented, with the
dictionary's maximum-probability path and no HMM: new-word discovery is not needed to decide whether
停电 in 停电动车 is a word.

jieba builds its prefix dictionary on first use (0.5-1 s, mostly unmarshalling 500k entries). The tokenizer
state after the lexicon words are added is cached as a pickle in the temp directory, keyed by the jieba
dictionary and the lexicon words. Only the `KEPT_CACHES` most recently used caches of a directory are kept.

The cache holds the prefix dictionary grouped by first character, each group one string, and a cache hit
loads only these ~7k strings (a few milliseconds: building the 500k-entry dict took 0.2-0.4 s of every
start). A group's entries go into the one prefix dictionary the first time a text with its character is
looked at (`prefixes`): a handful of groups per new message at first, then none, and every lookup stays a
plain dict lookup.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import pickle
import tempfile
import threading
import time
from collections.abc import Iterable
from math import log
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

# A cached state: (total, groups, eager). `groups` maps a first character to its entries as one string,
# word NUL frequency NUL word NUL ...; `eager` holds the entries whose word has a NUL (none in practice).
_Cached = tuple[int | float, dict[str, str], dict[str, int]]
_SEP: Final = "\x00"

if TYPE_CHECKING:
    import jieba

_CACHE_VERSION: Final = "2"  # 2: the prefix dictionary grouped by first character
_CACHE_PREFIX: Final = "loudong-intents-jieba-"
# Tokenizer caches kept per directory (~7 MB each, so at most ~220 MB): one per lexicon, so every edit of
# a community's lexicon file (and every test lexicon: the suite uses a few dozen) would otherwise leave one
# behind for good.
KEPT_CACHES = 32
# First characters whose groups `Segmenter.full` adds between two pauses (about 10 ms of work).
_FULL_CHUNK: Final = 256


def _jieba_identity() -> tuple[str, Path | None]:
    """jieba's version and dictionary file, found without importing jieba (which takes a noticeable
    part of a second, mostly in its import of pkg_resources)."""
    try:
        version = importlib.metadata.version("jieba")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    spec = importlib.util.find_spec("jieba")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return version, (Path(locations[0]) / "dict.txt") if locations else None


def _cache_path(words: Iterable[str], cache_dir: Path | None) -> Path:
    version, dictionary = _jieba_identity()
    digest = hashlib.sha256()
    digest.update(_CACHE_VERSION.encode())
    digest.update(version.encode())
    try:
        stat = dictionary.stat() if dictionary else None
        digest.update(f"{dictionary}:{stat.st_size}:{stat.st_mtime_ns}".encode() if stat else b"-")
    except OSError:
        digest.update(b"no-default-dict")
    for word in sorted(words):
        digest.update(word.encode("utf-8"))
        digest.update(b"\0")
    directory = cache_dir or Path(tempfile.gettempdir())
    return directory / f"{_CACHE_PREFIX}{digest.hexdigest()[:20]}.pkl"


class Segmenter:
    """Thread-safe once loaded: segmentation only reads the prefix dictionary, and a group is added to it
    (the same entries whichever thread adds them) before it is marked as added.

    On a cache hit only the grouped prefix dictionary (jieba's FREQ and total) is loaded, and jieba itself
    is not even imported; `tokenizer()` builds the equivalent `jieba.Tokenizer` when one is wanted."""

    def __init__(self, words: Iterable[str], *, cache_dir: Path | None = None) -> None:
        self._words = sorted({w for w in words if len(w) > 1})
        self._cache_dir = cache_dir
        self._state: tuple[dict[str, int], int | float] | None = None
        # First characters whose entries are not yet in the prefix dictionary -> their entries (a string).
        self._pending: dict[str, str] = {}
        self._tokenizer: Any = None  # jieba.Tokenizer, built on demand
        self._lock = threading.Lock()
        self.loaded_from_cache: bool | None = None

    @property
    def loaded(self) -> bool:
        return self._state is not None

    def load(self) -> dict[str, int]:
        """The prefix dictionary (word or prefix -> frequency, 0 for a prefix only), loading it once; after
        a cache hit it holds only the groups added so far: see `prefixes`."""
        state = self._state
        if state is None:
            with self._lock:
                if self._state is None:
                    self._state = self._build()
                state = self._state
        return state[0]

    def prefixes(self, text: str) -> dict[str, int]:
        """The prefix dictionary with every entry starting with a character of `text` in it: right for any
        lookup of a fragment of `text`."""
        freq = self._state[0] if self._state is not None else self.load()
        pending = self._pending
        if pending and not pending.keys().isdisjoint(text):
            for char in set(text):  # (not iterating `pending`, which another thread may shrink)
                entries = pending.get(char)
                if entries is not None:
                    parts = entries.split(_SEP)
                    freq.update(zip(parts[0::2], map(int, parts[1::2]), strict=True))
                    pending.pop(char, None)  # only once its entries are all in
        return freq

    def full(self) -> dict[str, int]:
        """The whole prefix dictionary (every group added), a few hundred groups at a time with a pause
        between: compiled (mypyc), a thread gives up the interpreter lock only when it asks to, so added in
        one go (0.2-0.4 s, in `IntentEngine.warm`'s thread) the groups held up every other thread, the
        first message's classification too."""
        freq = self.load()
        chars = list(self._pending)  # (a copy: another thread may shrink `_pending`)
        for i in range(0, len(chars), _FULL_CHUNK):
            self.prefixes("".join(chars[i : i + _FULL_CHUNK]))
            time.sleep(0)  # let the other threads run
        return freq

    def tokenizer(self) -> jieba.Tokenizer:
        """A `jieba.Tokenizer` on the same dictionary (the lexicon words added)."""
        freq = self.full()
        with self._lock:
            if self._tokenizer is None:
                import jieba

                tokenizer = jieba.Tokenizer()
                assert self._state is not None
                tokenizer.FREQ, tokenizer.total = freq, self._state[1]
                tokenizer.initialized = True
                self._tokenizer = tokenizer
            return self._tokenizer

    def _build(self) -> tuple[dict[str, int], int | float]:
        path = _cache_path(self._words, self._cache_dir)
        cached = _read_cache(path)
        if cached is not None:
            total, groups, eager = cached
            self._pending = dict(groups)
            self.loaded_from_cache = True
            return dict(eager), total
        import jieba

        jieba.setLogLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        for word in self._words:
            tokenizer.add_word(word)
        _write_cache(path, _grouped(tokenizer.FREQ, tokenizer.total))
        prune_caches(path.parent)
        self._tokenizer = tokenizer
        self.loaded_from_cache = False
        return tokenizer.FREQ, tokenizer.total

    def tokens(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """Token spans (absolute offsets) of text[start:end] on jieba's maximum-probability path."""
        state = self._state
        if state is None:
            self.load()
            state = self._state
            assert state is not None
        sentence = text[start:end]
        n = len(sentence)
        if n == 0:
            return []
        total = state[1]
        get = self.prefixes(sentence).get
        log_total = log(total)
        # jieba's get_DAG + calc (the same maximum-probability path, ties to the longer word), fused into
        # one backward pass: the words starting at idx are found while the best path from idx is chosen.
        score = [0.0] * (n + 1)
        jump = [0] * (n + 1)
        for idx in range(n - 1, -1, -1):
            best = -1e300
            best_x = idx
            found = False
            i = idx
            f = get(sentence[idx])
            while f is not None:  # a word or a prefix of one (frequency 0)
                if f:
                    found = True
                    value = log(f) - log_total + score[i + 1]
                    if value > best or (value == best and i > best_x):
                        best = value
                        best_x = i
                i += 1
                if i >= n:
                    break
                f = get(sentence[idx : i + 1])
            if not found:  # no word starts here: the character alone, frequency 1 as in jieba
                best = log(1) - log_total + score[idx + 1]
                best_x = idx
            score[idx] = best
            jump[idx] = best_x
        spans: list[tuple[int, int]] = []
        x = 0
        while x < n:
            y = jump[x] + 1
            spans.append((start + x, start + y))
            x = y
        return spans

    def cut(self, text: str) -> list[str]:
        """The whole text segmented the same way (for debugging and tests)."""
        return [text[s:e] for s, e in self.tokens(text, 0, len(text))]


def _grouped(freq: dict[str, int], total: int | float) -> _Cached:
    """The cached form of a prefix dictionary: its entries grouped by first character, each group one
    string (the whole loads in milliseconds; a group is parsed when first needed)."""
    groups: dict[str, list[str]] = {}
    eager: dict[str, int] = {}
    for word, f in freq.items():
        if _SEP in word or not word:
            eager[word] = f
        else:
            group = groups.get(word[0])
            if group is None:
                group = groups[word[0]] = []
            group.append(word)
            group.append(str(f))
    return total, {char: _SEP.join(entries) for char, entries in groups.items()}, eager


def _read_cache(path: Path) -> _Cached | None:
    try:
        stat = path.stat()
        # Only trust a cache this user wrote and nobody else can write: it is unpickled.
        if hasattr(os, "getuid") and (stat.st_uid != os.getuid() or stat.st_mode & 0o022):
            return None
        data = path.read_bytes()
    except OSError:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: the last a pruning removes
    try:
        state = pickle.loads(data)
    except Exception:
        return None
    if (
        isinstance(state, tuple)
        and len(state) == 3
        and isinstance(state[0], int | float)
        and isinstance(state[1], dict)
        and isinstance(state[2], dict)
    ):
        return state
    return None


def _write_cache(path: Path, state: _Cached) -> None:
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def prune_caches(directory: Path, keep: int = KEPT_CACHES) -> list[Path]:
    """Remove this user's tokenizer caches in `directory` but the `keep` most recently used (a cache hit
    touches its file); return the removed paths."""
    caches: list[tuple[float, Path]] = []
    with contextlib.suppress(OSError):
        for path in directory.glob(f"{_CACHE_PREFIX}*.pkl"):
            with contextlib.suppress(OSError):
                stat = path.stat()
                if not hasattr(os, "getuid") or stat.st_uid == os.getuid():
                    caches.append((stat.st_mtime, path))
    caches.sort(reverse=True)
    removed = []
    for _, path in caches[keep:]:
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed
