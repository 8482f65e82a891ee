"""Compile the intent engine's hot-path modules (`intents.native.MODULES`) with mypyc:
`python intents/build_native.py` (run by `make`, about a minute; run as a file, not with `-m`, so that
the `intents` package, whose compiled modules it replaces, is not imported).

The modules are type-checked by mypy (mypyc compiles only what type-checks), compiled to C in one group
(`intents._native`: one shared library and a small extension module per module) and built with the C
compiler Python was built with. The work files (C sources, objects, mypy's cache, `build.log`) go to
`build/native/` beside the package's parent; the extension modules and `stamp.json` (the SHA-256 of every
compiled source, taken before the build and checked again after it) to `intents/_native/`, replacing the
previous build only when the new one is complete. `intents.native` reads the stamp at import and uses the
build only while every source is unchanged.

A missing compiler, mypy or Python headers, or a failed build, is not fatal: one line says so and the
pure-Python modules are used (exit status 0), unless `LOUDONG_REQUIRE_NATIVE=1` (CI), when the status is 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType


def _load_native() -> ModuleType:
    """`intents/native.py` on its own: the build never imports the `intents` package, which would load
    (and warn about) the very modules being rebuilt."""
    path = Path(__file__).resolve().with_name("native.py")
    spec = importlib.util.spec_from_file_location("_loudong_intents_native", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_native = _load_native()
MODULES: tuple[str, ...] = _native.MODULES
NATIVE_DIR: Path = _native.NATIVE_DIR
PACKAGE_DIR: Path = _native.PACKAGE_DIR
SHARED_LIB: str = _native.SHARED_LIB
STAMP_NAME: str = _native.STAMP_NAME
build_tag = _native.build_tag
source_hashes = _native.source_hashes

REQUIRE_ENV = "LOUDONG_REQUIRE_NATIVE"
GROUP = "intents._native"  # mypyc's group: its shared library is `intents._native__mypyc`
WORK_DIR = PACKAGE_DIR.parent / "build" / "native"
# mypy's options for the build: jieba and pyahocorasick ship no type information.
MYPY_OPTIONS = ("--ignore-missing-imports",)


class BuildError(Exception):
    """The build cannot be made; the message is the one-line reason."""


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def preflight() -> None:
    """Fail early, with a short reason, when the tools are missing."""
    # setuptools compiles with $CC when it is set, else with the compiler Python was built with.
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        raise BuildError(f"no C compiler ({compiler!r} not found)")
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not include.exists():
        raise BuildError(f"no Python headers ({include} missing)")
    try:
        import mypyc.build  # noqa: F401
    except ImportError as exc:
        raise BuildError(f"mypy/mypyc not installed ({exc}; `pip install -e '.[native]'`)") from None


def compile_to(lib_dir: Path, work_dir: Path) -> None:
    """mypyc and the C compiler, in this process: the extension modules end up under `lib_dir/intents/`."""
    from mypyc.build import mypycify
    from setuptools import Distribution

    os.chdir(PACKAGE_DIR.parent)  # mypy names the modules from the package layout
    paths = [f"intents/{name}.py" for name in MODULES]
    extensions = mypycify(
        [*MYPY_OPTIONS, f"--cache-dir={work_dir / 'mypy_cache'}", *paths],
        opt_level="3",
        group_name=GROUP,
        target_dir=str(work_dir / "c"),
    )
    dist = Distribution({"name": "loudong-intents-native", "ext_modules": extensions})
    command = dist.get_command_obj("build_ext")
    command.build_lib = str(lib_dir)  # type: ignore[attr-defined]
    command.build_temp = str(work_dir / "temp")  # type: ignore[attr-defined]
    command.inplace = False  # type: ignore[attr-defined]
    dist.run_command("build_ext")


def install(lib_dir: Path, sources: dict[str, str], native_dir: Path = NATIVE_DIR) -> None:
    """Move a finished build into `native_dir` with its stamp, replacing the previous one whole."""
    suffix = EXTENSION_SUFFIXES[0]
    built = lib_dir / "intents"
    files = [built / f"{name}{suffix}" for name in (*MODULES, SHARED_LIB)]
    missing = [path.name for path in files if not path.exists()]
    if missing:
        raise BuildError(f"the build made no {', '.join(missing)}")
    staging = native_dir.with_name(native_dir.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for path in files:
        shutil.copy2(path, staging / path.name)
    stamp = {"python": build_tag(), "group": GROUP, "sources": sources, "built": time.time()}
    (staging / STAMP_NAME).write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    shutil.rmtree(native_dir, ignore_errors=True)
    staging.rename(native_dir)


def build(work_dir: Path = WORK_DIR, native_dir: Path = NATIVE_DIR) -> float:
    """Build and install; returns the seconds taken. The compile runs in a child process whose output
    goes to `work_dir/build.log` (mypy's and the compiler's messages are long)."""
    preflight()
    started = time.perf_counter()
    sources = source_hashes()
    work_dir.mkdir(parents=True, exist_ok=True)
    lib_dir = work_dir / "lib"
    shutil.rmtree(lib_dir, ignore_errors=True)
    log_path = work_dir / "build.log"
    with log_path.open("w", encoding="utf-8") as log:
        done = subprocess.run(
            [sys.executable, __file__, "--compile-only", str(lib_dir), str(work_dir)],
            cwd=PACKAGE_DIR.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise BuildError(f"{_first_error(log_path)} (full log: {log_path})")
    if source_hashes() != sources:
        raise BuildError("a source file changed during the build; run it again")
    install(lib_dir, sources, native_dir)
    return time.perf_counter() - started


def _first_error(log_path: Path) -> str:
    """The line of the log that says what went wrong: mypy's first error, else the compiler's, else the
    last line."""
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    for marker in (": error:", "error:", "Error"):
        for line in lines:
            if marker in line:
                return line.strip()[:300]
    return (lines[-1].strip() if lines else "no output")[:300]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python intents/build_native.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--compile-only", nargs=2, metavar=("LIB_DIR", "WORK_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.compile_only:
        lib_dir, work_dir = (Path(p) for p in args.compile_only)
        compile_to(lib_dir, work_dir)
        return 0
    try:
        seconds = build()
    except BuildError as exc:
        print(f"intents: compiled build not made: {exc}; the pure-Python modules are used", file=sys.stderr)
        return 1 if _required() else 0
    print(f"intents: compiled {len(MODULES)} modules with mypyc in {seconds:.0f} s ({NATIVE_DIR})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
