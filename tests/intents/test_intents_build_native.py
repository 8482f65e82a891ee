"""`intents/build_native.py`: a missing tool or a failed build is one line and the pure modules (exit 0),
except under `LOUDONG_REQUIRE_NATIVE=1` (exit 1); a finished build is installed whole with a stamp of the
sources it was built from. (The compile itself runs in `make` and CI: the build's tests in
`test_intents_native.py` use what it made.)"""

from __future__ import annotations

import json
import shutil
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from intents import build_native, native


def test_no_compiler_is_one_line_and_not_fatal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(build_native.REQUIRE_ENV, raising=False)
    monkeypatch.setattr(build_native.shutil, "which", lambda name: None)
    assert build_native.main([]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("intents: compiled build not made: no C compiler")
    assert err.rstrip().endswith("the pure-Python modules are used")


def test_the_compiler_named_by_cc_is_the_one_looked_for(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(build_native.REQUIRE_ENV, raising=False)
    monkeypatch.setenv("CC", "no-such-compiler-here -O2")
    assert build_native.main([]) == 0
    assert "no C compiler ('no-such-compiler-here' not found)" in capsys.readouterr().err


def test_a_failed_build_fails_when_required(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(build_native.REQUIRE_ENV, "1")
    monkeypatch.setattr(build_native.shutil, "which", lambda name: None)
    assert build_native.main([]) == 1
    assert "no C compiler" in capsys.readouterr().err


def test_the_first_error_of_a_log_is_the_note(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text(
        "running build_ext\nintents/engine.py:12: error: Incompatible types  [assignment]\nFound 1 error\n",
        encoding="utf-8",
    )
    assert build_native._first_error(log) == "intents/engine.py:12: error: Incompatible types  [assignment]"


def test_install_replaces_the_build_whole_with_its_stamp(tmp_path: Path) -> None:
    lib = tmp_path / "lib" / "intents"
    lib.mkdir(parents=True)
    for name in (*native.MODULES, native.SHARED_LIB):
        (lib / f"{name}{EXTENSION_SUFFIXES[0]}").write_bytes(b"new")
    target = tmp_path / "_native"
    target.mkdir()
    (target / "left-over").write_bytes(b"old")
    sources = {name: f"{i:064x}" for i, name in enumerate(native.MODULES)}
    build_native.install(tmp_path / "lib", sources, target)
    assert not (target / "left-over").exists()
    assert not target.with_name("_native.new").exists()
    stamp = json.loads((target / native.STAMP_NAME).read_text(encoding="utf-8"))
    assert stamp["sources"] == sources
    assert stamp["python"] == native.build_tag()
    assert (target / f"engine{EXTENSION_SUFFIXES[0]}").read_bytes() == b"new"


def test_an_incomplete_build_is_not_installed(tmp_path: Path) -> None:
    lib = tmp_path / "lib" / "intents"
    lib.mkdir(parents=True)
    for name in native.MODULES:  # no shared library
        (lib / f"{name}{EXTENSION_SUFFIXES[0]}").write_bytes(b"new")
    target = tmp_path / "_native"
    target.mkdir()
    (target / "previous").write_bytes(b"old")
    with pytest.raises(build_native.BuildError, match="made no _native__mypyc"):
        build_native.install(tmp_path / "lib", {}, target)
    assert (target / "previous").exists()
    shutil.rmtree(target)


def test_make_rebuilds_when_any_compiled_module_changes() -> None:
    """`make` rebuilds the compiled core when a file in the Makefile's `NATIVE_SRC` changes: a compiled module
    missing from that list would leave a stale build (used only after the stamp check refuses it, so the pure
    modules would run silently slower until `make native`)."""
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    joined = makefile.replace("\\\n", " ")
    line = next(line for line in joined.splitlines() if line.startswith("NATIVE_SRC"))
    listed = {Path(word.rstrip(")")).stem for word in line.split(",", 1)[1].split()}
    assert {*native.MODULES, "native", "build_native"} <= listed
