"""`intents.native`: which form of the hot path runs. A compiled build is used only while every compiled
module's source is the one it was built from (else one warning and the pure modules),
`LOUDONG_INTENTS_PURE=1` forces the pure modules, and the compiled build classifies every tests/data text
exactly as the pure modules do.

The identity and the real-build guard tests need a build (`make`, or `python intents/build_native.py`);
without one they skip, unless `LOUDONG_REQUIRE_NATIVE=1` (CI), when they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import intents
from intents import native

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
REQUIRED = os.environ.get("LOUDONG_REQUIRE_NATIVE", "") not in ("", "0")


def _need_build() -> None:
    usable, why = native.check()
    if usable:
        return
    reason = f"no usable compiled build ({why or 'none built'}): run `make native`"
    if REQUIRED:
        pytest.fail(f"LOUDONG_REQUIRE_NATIVE is set but there is {reason}")
    pytest.skip(reason)


def _fake_build(package: Path, native_dir: Path) -> None:
    """A package directory with the compiled modules' sources and a build directory whose stamp matches
    them (empty files for the extension modules: `check` only looks for them)."""
    package.mkdir(parents=True)
    for name in native.MODULES:
        shutil.copy2(native.PACKAGE_DIR / f"{name}.py", package / f"{name}.py")
    native_dir.mkdir()
    for name in (*native.MODULES, native.SHARED_LIB):
        (native_dir / f"{name}{EXTENSION_SUFFIXES[0]}").write_bytes(b"")
    stamp = {"python": native.build_tag(), "sources": native.source_hashes(package)}
    (native_dir / native.STAMP_NAME).write_text(json.dumps(stamp), encoding="utf-8")


def test_a_build_matching_its_sources_is_used(tmp_path: Path) -> None:
    package, native_dir = tmp_path / "intents", tmp_path / "native"
    _fake_build(package, native_dir)
    assert native.check(native_dir, package) == (True, "build matches the sources")


def test_a_changed_source_makes_the_build_unusable(tmp_path: Path) -> None:
    package, native_dir = tmp_path / "intents", tmp_path / "native"
    _fake_build(package, native_dir)
    with (package / "engine.py").open("a", encoding="utf-8") as f:
        f.write("# edited after the build\n")
    usable, why = native.check(native_dir, package)
    assert not usable
    assert why == "engine.py changed since the build"


def test_a_missing_extension_module_or_another_python_makes_the_build_unusable(tmp_path: Path) -> None:
    package, native_dir = tmp_path / "intents", tmp_path / "native"
    _fake_build(package, native_dir)
    (native_dir / f"segment{EXTENSION_SUFFIXES[0]}").unlink()
    assert native.check(native_dir, package) == (False, f"missing segment{EXTENSION_SUFFIXES[0]}")
    stamp_path = native_dir / native.STAMP_NAME
    stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    stamp["python"] = "cpython-39 .cpython-39-x86_64-linux-gnu.so"
    stamp_path.write_text(json.dumps(stamp), encoding="utf-8")
    usable, why = native.check(native_dir, package)
    assert not usable
    assert why.startswith("built for cpython-39")
    stamp_path.write_text("{not json", encoding="utf-8")
    assert native.check(native_dir, package)[1].startswith("unreadable stamp")


def test_no_build_means_pure_without_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    path: list[str] = ["/somewhere/intents"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        selection = native.select(path, tmp_path / "no-build")
    assert (selection.implementation, selection.reason) == ("pure", "no compiled build")
    assert path == ["/somewhere/intents"]


def test_a_stale_build_means_pure_and_one_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    native_dir = tmp_path / "native"
    native_dir.mkdir()
    stamp = {"python": native.build_tag(), "sources": {name: "0" * 64 for name in native.MODULES}}
    (native_dir / native.STAMP_NAME).write_text(json.dumps(stamp), encoding="utf-8")
    path: list[str] = ["/somewhere/intents"]
    with pytest.warns(RuntimeWarning, match="compiled build not used") as caught:
        selection = native.select(path, native_dir)
    assert len(caught) == 1
    assert selection.implementation == "pure"
    assert path == ["/somewhere/intents"]


def test_the_environment_forces_pure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package, native_dir = tmp_path / "intents", tmp_path / "native"
    _fake_build(package, native_dir)
    monkeypatch.setenv(native.PURE_ENV, "1")
    path: list[str] = []
    assert native.select(path, native_dir).implementation == "pure"
    assert path == []


def test_a_usable_build_goes_first_on_the_package_path(monkeypatch: pytest.MonkeyPatch) -> None:
    _need_build()
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    path = [str(native.PACKAGE_DIR)]
    assert native.select(path).implementation == "compiled"
    assert path == [str(native.NATIVE_DIR), str(native.PACKAGE_DIR)]


def test_the_engine_says_which_form_runs() -> None:
    assert intents.IMPLEMENTATION in ("compiled", "pure")
    engine_module = sys.modules["intents.engine"]
    compiled = engine_module.__file__ is not None and not engine_module.__file__.endswith(".py")
    assert compiled == (intents.IMPLEMENTATION == "compiled")
    if os.environ.get(native.PURE_ENV, "") in ("", "0") and native.check()[0]:
        assert intents.IMPLEMENTATION == "compiled"


def _run(code: str, *, pure: bool, pythonpath: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    env["PYTHONPATH"] = str(pythonpath)
    if pure:
        env[native.PURE_ENV] = "1"
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=pythonpath,  # `-c` puts the working directory first on sys.path
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )


_WHICH = "import sys, intents; print(intents.IMPLEMENTATION); print(sys.modules['intents.engine'].__file__)"


def test_a_source_altered_after_the_build_is_never_run_compiled(tmp_path: Path) -> None:
    """A copy of the package with its build: as built it runs compiled; with one source altered (a
    comment added) it runs the pure modules, and says why on stderr."""
    _need_build()
    copy = tmp_path / "intents"
    shutil.copytree(native.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.new"))
    as_built = _run(_WHICH, pure=False, pythonpath=tmp_path)
    assert as_built.stdout.split("\n")[:2] == [
        "compiled",
        str(copy / "_native" / f"engine{EXTENSION_SUFFIXES[0]}"),
    ]
    assert "compiled build not used" not in as_built.stderr
    with (copy / "normalize.py").open("a", encoding="utf-8") as f:
        f.write("\n# altered after the build\n")
    altered = _run(_WHICH, pure=False, pythonpath=tmp_path)
    assert altered.stdout.split("\n")[:2] == ["pure", str(copy / "engine.py")]
    assert altered.stderr.count("compiled build not used (normalize.py changed since the build)") == 1


_DUMP = """
import json, sys
from pathlib import Path
import intents
from intents import IntentEngine
engine = IntentEngine.load()
engine.warm()
out = [intents.IMPLEMENTATION]
for path in sorted(Path(sys.argv[1]).glob("*.jsonl")):
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(engine.classify(json.loads(line)["text"]).model_dump(mode="json"))
sys.stdout.write(json.dumps(out, ensure_ascii=False))
"""


def test_compiled_and_pure_classify_every_test_text_identically() -> None:
    """Every field of every result (intent, confidence, runner-up, keywords with their positions, roles,
    states and weights, flags, places) on every text of tests/data, in two fresh processes."""
    _need_build()
    code = _DUMP.replace("sys.argv[1]", repr(str(DATA)))
    compiled = json.loads(_run(code, pure=False).stdout)
    pure = json.loads(_run(code, pure=True).stdout)
    assert (compiled[0], pure[0]) == ("compiled", "pure")
    assert len(compiled) == len(pure) > 10_000
    differing = [(a, b) for a, b in zip(compiled[1:], pure[1:], strict=True) if a != b]
    assert not differing, f"{len(differing)} results differ, the first (compiled, pure): {differing[0]}"
