"""The JSON log line: masked wherever a phone or ID number may be, and the cheap check that skips the
masking agrees with `mask_pii` on what needs it; written off the event loop while a bot runs, every
line by the time it stops."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.logs import (
    JsonFormatter,
    PlainFormatter,
    may_hold_pii,
    start_writing_off_loop,
    stop_writing_off_loop,
)
from handlers.privacy import mask_pii

SAMPLES = [
    "我电话13812345678,有事打我",
    "联系 138-1234-5678 或 +86 139 1234 5678",
    "身份证110101199003071234",
    "证件号 41010519881212001X 请核对",
    "物业座机 0371-66881234",
    "座机 010 1234 5678",
    "0371 66881234",
    "037166881234",
    "8613812345678",
    "+86-13812345678",
    "１３８１２３４５６７８",  # full-width digits are digits to both
    "5号楼2单元402",
    "group 731000005",
]


def record(msg: str, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("loudong.dispatch", logging.INFO, __file__, 1, msg, (), None)
    entry.__dict__.update(extra)
    return entry


@pytest.mark.parametrize("text", SAMPLES)
def test_whatever_mask_pii_changes_the_check_lets_through(text: str) -> None:
    assert mask_pii(text) == text or may_hold_pii(text)


def test_the_check_agrees_with_mask_pii_on_random_numbers() -> None:
    # Digits, separators and the odd letter, in the shapes phone and ID numbers take.
    rng = random.Random(6)
    alphabet = "0123456789" * 4 + "-  +X86a"
    for _ in range(30_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(8, 24)))
        assert mask_pii(text) == text or may_hold_pii(text), text


def test_a_dispatcher_line_skips_the_masking() -> None:
    assert not may_hold_pii('{"group": "731000005", "ms": 3.21, "confidence": 0.912, "actions": 1}')


def test_json_lines_mask_the_message_and_every_extra_field() -> None:
    line = JsonFormatter().format(
        record("resident 13812345678 wrote", phone=13812345678, note="身份证110101199003071234", n=1)
    )
    entry = json.loads(line)
    assert entry["msg"] == "resident 138****5678 wrote"
    assert entry["phone"] == "138****5678"  # a string now, so the line stays JSON
    assert entry["note"] == "身份证110***********1234"
    assert entry["n"] == 1
    assert list(entry)[:4] == ["time", "level", "logger", "msg"]


def test_json_time_is_iso_utc_to_the_millisecond() -> None:
    entry = record("x")
    entry.created = datetime(2026, 11, 28, 19, 5, 7, 152_999, tzinfo=UTC).timestamp()
    formatter = JsonFormatter()
    assert json.loads(formatter.format(entry))["time"] == "2026-11-28T19:05:07.152+00:00"
    entry.created += 1.5
    assert json.loads(formatter.format(entry))["time"] == "2026-11-28T19:05:08.652+00:00"


def test_plain_lines_are_masked_too() -> None:
    line = PlainFormatter("%(message)s").format(record("call 138-1234-5678", who="0371-66881234"))
    assert line == "call 138****5678 who=0371-****1234"


@pytest.fixture
def json_file(tmp_path: Path) -> Iterator[Path]:
    """The root logger writing JSON lines to a file (as `configure_logging` does to the terminal), put
    back as it was afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    path = tmp_path / "bot.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    yield path
    handler.close()
    root.handlers[:], root.level = saved_handlers, saved_level


def _writes_on_the_loop() -> bool:
    """Whether the JSON file handler is on the root logger (rather than with the writer thread)."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_off_the_loop_every_line_is_written_as_before_by_the_time_it_stops(json_file: Path) -> None:
    log = logging.getLogger("loudong.dispatch")
    start_writing_off_loop()
    assert not _writes_on_the_loop()  # the file handler went to the writer thread
    words = ["电话"]
    for n in range(500):
        log.info("message %d handled by %s", n, words, extra={"phone": 13812345678, "n": n})
    words.append("改了")  # after the call: the line keeps what the arguments were then
    log.warning("the last line before the stop")
    stop_writing_off_loop()
    lines = _lines(json_file)
    assert len(lines) == 501
    assert lines[0]["msg"] == "message 0 handled by ['电话']" and lines[499]["n"] == 499
    assert lines[0]["phone"] == "138****5678"
    assert list(lines[0])[:4] == ["time", "level", "logger", "msg"]
    assert lines[-1]["msg"] == "the last line before the stop" and lines[-1]["level"] == "warning"
    # Back on the loop after the stop, in the same file.
    assert _writes_on_the_loop()
    log.info("after")
    assert _lines(json_file)[-1]["msg"] == "after"


def test_the_writer_is_shared_until_the_last_user_stops(json_file: Path) -> None:
    log = logging.getLogger("loudong.runtime")
    start_writing_off_loop()
    start_writing_off_loop()  # a second runtime in the same process
    stop_writing_off_loop()
    log.info("still off the loop")
    assert not _writes_on_the_loop()
    stop_writing_off_loop()
    assert _lines(json_file)[-1]["msg"] == "still off the loop"


def test_other_handlers_stay_on_the_loop(json_file: Path) -> None:
    captured: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = captured.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(capture)
    start_writing_off_loop()
    try:
        logging.getLogger("loudong.dispatch").info("seen at once")
        assert [r.getMessage() for r in captured] == ["seen at once"]
    finally:
        stop_writing_off_loop()
        logging.getLogger().removeHandler(capture)
    assert _lines(json_file)[-1]["msg"] == "seen at once"


async def test_a_runtime_writes_what_it_logged_just_before_it_stopped(
    json_file: Path, tmp_path: Path
) -> None:
    from bot.config import Settings
    from bot.runtime import Runtime

    runtime = Runtime(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", data_dir=tmp_path)
    )
    await runtime.open()
    await runtime.start(serve_web=False, tick=False)
    try:
        assert not _writes_on_the_loop()
        for n in range(200):
            logging.getLogger("loudong.dispatch").info("message handled", extra={"n": n})
    finally:
        await runtime.close()
    handled = [line for line in _lines(json_file) if line["msg"] == "message handled"]
    assert [line["n"] for line in handled] == list(range(200))
    assert _writes_on_the_loop()
