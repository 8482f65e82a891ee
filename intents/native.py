"""Which form of the intent engine's hot path runs: the modules compiled by mypyc (`intents/build_native.py`,
run by `make`), or the pure-Python modules they are compiled from, which stay the reference and the
fallback.

The compiled build lives in `intents/_native/` (not in git): one extension module per compiled module and
mypyc's shared library, with `stamp.json`, written at build time, holding the SHA-256 of every compiled
source file. `intents/__init__.py` calls `select` before importing any of these modules; it puts the build
directory first on the package's `__path__` only when the stamp matches the sources byte for byte, for this
interpreter. A build whose source has changed since (or of another Python) is never used: one warning, then
the pure modules. `LOUDONG_INTENTS_PURE=1` forces the pure modules without a warning. With no build at all
the pure modules are used silently (`make` builds it; a machine without a C compiler has none).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

# The modules compiled, in the order mypyc is given them. `lexicon.py` is loaded once, but its rule,
# settings and cue classes are read on every message (native attribute reads once it is compiled too);
# `model.py` (pydantic: mypyc cannot compile it) stays interpreted, and the training, evaluation and CLI
# modules are not on the hot path.
MODULES = (
    "binfile",
    "matcher",
    "lexicon",
    "normalize",
    "places",
    "segment",
    "emergency",
    "override",
    "intent_model",
    "engine",
)
PACKAGE_DIR = Path(__file__).resolve().parent
NATIVE_DIR = PACKAGE_DIR / "_native"
STAMP_NAME = "stamp.json"
SHARED_LIB = "_native__mypyc"  # mypyc's shared library, as `intents._native__mypyc` (group name)
PURE_ENV = "LOUDONG_INTENTS_PURE"

COMPILED = "compiled"
PURE = "pure"


class Selection:
    """What `select` decided: `implementation` is "compiled" or "pure", `reason` says why in a few words."""

    def __init__(self, implementation: str, reason: str) -> None:
        self.implementation = implementation
        self.reason = reason

    def __repr__(self) -> str:
        return f"{self.implementation} ({self.reason})"


def source_hashes(package_dir: Path = PACKAGE_DIR) -> dict[str, str]:
    """SHA-256 of each compiled module's source file (about 0.3 ms for all of them)."""
    return {name: hashlib.sha256((package_dir / f"{name}.py").read_bytes()).hexdigest() for name in MODULES}


def build_tag() -> str:
    """The interpreter a build is for: an extension module of another one is never loaded."""
    return f"{sys.implementation.cache_tag} {EXTENSION_SUFFIXES[0]}"


def check(native_dir: Path = NATIVE_DIR, package_dir: Path = PACKAGE_DIR) -> tuple[bool, str]:
    """(usable, why) for the build in `native_dir` against the sources in `package_dir`. `why` is empty
    when there is no build at all (nothing to warn about)."""
    stamp_path = native_dir / STAMP_NAME
    if not stamp_path.exists():
        return False, ""
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
        built = stamp["sources"]
        tag = stamp["python"]
    except (OSError, ValueError, KeyError, TypeError):
        return False, f"unreadable stamp {stamp_path}"
    if tag != build_tag():
        return False, f"built for {tag}, not {build_tag()}"
    if not isinstance(built, dict) or set(built) != set(MODULES):
        return False, "built from another list of modules"
    try:
        current = source_hashes(package_dir)
    except OSError as exc:
        return False, f"cannot read a source: {exc}"
    changed = [name for name in MODULES if built[name] != current[name]]
    if changed:
        return False, f"{', '.join(f'{name}.py' for name in changed)} changed since the build"
    suffix = EXTENSION_SUFFIXES[0]
    missing = [name for name in (*MODULES, SHARED_LIB) if not (native_dir / f"{name}{suffix}").exists()]
    if missing:
        return False, f"missing {', '.join(f'{name}{suffix}' for name in missing)}"
    return True, "build matches the sources"


def select(package_path: list[str], native_dir: Path = NATIVE_DIR) -> Selection:
    """Put the compiled build first on `package_path` (the package's `__path__`) when it may be used,
    and say which form runs. Warns once when a build exists but may not be used."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return Selection(PURE, f"{PURE_ENV} is set")
    usable, why = check(native_dir)
    if not usable:
        if why:
            warnings.warn(
                f"intents: compiled build not used ({why}); running the pure-Python modules "
                "(rebuild with `make native` or `python intents/build_native.py`)",
                RuntimeWarning,
                stacklevel=3,
            )
            return Selection(PURE, f"stale or foreign build: {why}")
        return Selection(PURE, "no compiled build")
    directory = str(native_dir)
    if directory not in package_path:
        package_path.insert(0, directory)
    return Selection(COMPILED, "mypyc build matching the sources")


def unselect(package_path: list[str], error: BaseException, native_dir: Path = NATIVE_DIR) -> Selection:
    """Take the build off `package_path` after importing it failed, and forget what it had imported, so
    that the pure modules are imported instead. Warns once."""
    directory = str(native_dir)
    while directory in package_path:
        package_path.remove(directory)
    for name in (*MODULES, SHARED_LIB):
        sys.modules.pop(f"intents.{name}", None)
    warnings.warn(
        f"intents: compiled build failed to import ({error}); running the pure-Python modules",
        RuntimeWarning,
        stacklevel=3,
    )
    return Selection(PURE, f"compiled build failed to import: {error}")
