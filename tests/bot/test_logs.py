"""The JSON log line: masked wherever a phone or ID number may be, and the cheap check that skips the
masking agrees with `mask_pii` on what needs it."""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime

import pytest

from bot.logs import JsonFormatter, PlainFormatter, may_hold_pii
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


def test_the_json_is_what_json_dumps_made_of_the_entry() -> None:
    """The encoder is made once; each line is still exactly `json.dumps(entry, ensure_ascii=False,
    default=str)` of the entry (masked), whatever the fields hold."""
    extras = {
        "group": "731000005",
        "building": "3号楼",
        "confidence": 0.912,
        "ms": 1e-7,
        "actions": 0,
        "handler": None,
        "ok": True,
        "when": datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
        "ids": [1, "二", {"x": 3.5}],
        "quote": 'a "b" \\ \n \x01 \u2028',
        "nan": float("nan"),
    }
    line = JsonFormatter().format(record("message handled", **extras))
    entry = {"level": "info", "logger": "loudong.dispatch", "msg": "message handled", **extras}
    rest = json.dumps(entry, ensure_ascii=False, default=str)
    assert line.split(", ", 1)[1] == rest[1:]


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
