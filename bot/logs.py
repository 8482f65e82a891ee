"""Logging: one JSON object per line, with phone and ID numbers masked whatever a caller passed in."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from handlers.privacy import mask_pii

_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


# Every number `mask_pii` masks holds ten digits in a row (the shortest, a landline without separators,
# 0xx + xxx + xxxx) or a separator between two digits (138-1234-5678, 0371 6688 1234): a line with
# neither has nothing to mask, and this one scan costs a fraction of the masking's three (a typical
# dispatcher line: group ids have 9 digits). tests/bot/test_logs.py checks the two stay in step.
# (One leading \d rather than an alternation: the regex engine then skips to digits, 3x faster.)
_MAY_HOLD_PII = re.compile(r"\d(?:\d{9}|[- ]\d)")


# What `json.dumps(entry, ensure_ascii=False, default=str)` builds on every call (its arguments are not the
# defaults, so it makes an encoder each time), made once.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def may_hold_pii(text: str) -> bool:
    """False only if `mask_pii` would leave `text` as it is."""
    return _MAY_HOLD_PII.search(text) is not None


def masked(text: str) -> str:
    return mask_pii(text) if may_hold_pii(text) else text


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line. The time is ours and never masked (its date would always look like a
    number worth masking); everything else is, when it may hold a phone or ID number."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            # A number that looks like a phone number goes as a string, so that masking it keeps the
            # line valid JSON.
            number = type(value) is int or type(value) is float
            entry[key] = str(value) if number and may_hold_pii(str(value)) else value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        rest = masked(_ENCODER.encode(entry))
        return f'{{"time": "{self._time(record.created)}", {rest[1:]}'

    def _time(self, created: float) -> str:
        # ISO 8601 in UTC to the millisecond; the part up to the second is the same for many lines.
        second = int(created)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        # Microseconds first, then truncated to milliseconds, as datetime.isoformat does.
        millis = min(999, round((created - second) * 1_000_000) // 1000)
        return f"{self._second_text}.{millis:03d}+00:00"


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{key}={value}" for key, value in extra_fields(record).items())
        line = super().format(record)
        return masked(f"{line} {extras}" if extras else line)


def configure_logging(level: str = "INFO", *, as_json: bool = True) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if as_json else PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log would print every static file and WebSocket upgrade.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
