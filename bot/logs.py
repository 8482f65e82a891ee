"""Logging: one JSON object per line, with phone and ID numbers masked whatever a caller passed in.

While a bot runs, its own handlers (those formatting with the formatters below) write on a thread of
their own (`LogWriter`): the event loop only queues the record."""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import queue
import re
import threading
from collections.abc import Sequence
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
        rest = masked(json.dumps(entry, ensure_ascii=False, default=str))
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


# ---------------------------------------------------------------------------------------------------
# Off the event loop


class _Enqueue(logging.Handler):
    """Stands in on the root logger for the handlers a `LogWriter` took: puts the record on its queue."""

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord | None]) -> None:
        super().__init__()
        self._records = records

    def handle(self, record: logging.LogRecord) -> bool:
        # No lock and no filter of its own: a put is thread-safe, and the writer applies each handler's
        # level and filters as it would have.
        self._records.put(_fixed(record))
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() does it
        self._records.put(_fixed(record))


def _fixed(record: logging.LogRecord) -> logging.LogRecord:
    """The record with its message merged with its arguments now: an argument changed after the call
    must not change the line written later. Most records have no arguments and pass as they are."""
    if not record.args:
        return record
    fixed = logging.makeLogRecord(record.__dict__)
    fixed.msg, fixed.args = record.getMessage(), None
    return fixed


class LogWriter:
    """Formats and writes the log records of the given handlers on a thread of its own, and flushes
    them once per batch of records rather than once a line: the JSON line, its masking and above all
    the flush per line were 5-6 % of a message's CPU on the event loop (docs/benchmarks.md, ninth
    round). Every record queued before `stop()` is written by the time it returns."""

    def __init__(self, handlers: Sequence[logging.Handler]) -> None:
        self.handlers = tuple(handlers)
        self._records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
        self.enqueue = _Enqueue(self._records)
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write and flush what is queued, then end the thread."""
        if self._thread.is_alive():
            self._records.put(None)
            self._thread.join()

    def _run(self) -> None:
        while True:
            batch = [self._records.get()]
            while True:  # whatever else is queued by now goes out with the same flush
                try:
                    batch.append(self._records.get_nowait())
                except queue.Empty:
                    break
            for record in batch:
                if record is not None:
                    self._write(record)
            for handler in self.handlers:
                _flush(handler)
            if None in batch:
                return

    def _write(self, record: logging.LogRecord) -> None:
        for handler in self.handlers:
            if record.levelno < handler.level:
                continue
            stream = getattr(handler, "stream", None)
            if type(handler) not in _UNFLUSHED or stream is None:
                handler.handle(record)  # anything else emits as it would on the loop
                continue
            # StreamHandler.emit but for its flush, which the batch's end does.
            with handler.lock or _NO_LOCK:
                if not handler.filter(record):
                    continue
                try:
                    stream.write(handler.format(record) + handler.terminator)  # type: ignore[attr-defined]
                except RecursionError:
                    raise
                except Exception:
                    handler.handleError(record)


# Handlers whose emit is "format, write, flush", and nothing else (a subclass may do more).
_UNFLUSHED = frozenset({logging.StreamHandler, logging.FileHandler})
_NO_LOCK = threading.Lock()


def _flush(handler: logging.Handler) -> None:
    # A closed or broken stream: as with a failed emit, there is nobody to raise it to.
    with contextlib.suppress(Exception):
        handler.flush()


def _ours(handler: logging.Handler) -> bool:
    return isinstance(handler.formatter, JsonFormatter | PlainFormatter)


_writer: LogWriter | None = None
_users = 0


def start_writing_off_loop() -> None:
    """Hand the root logger's handlers that format with ours (those `configure_logging` installs) to a
    `LogWriter` thread, in their place a handler that only queues the record. Others (a test's capture)
    stay as they are. Process-wide and counted: the last `stop_writing_off_loop()` puts them back."""
    global _writer, _users
    _users += 1
    if _users > 1:
        return
    root = logging.getLogger()
    handlers = [handler for handler in root.handlers if _ours(handler)]
    if not handlers:
        return
    _writer = LogWriter(handlers)
    root.handlers[:] = [h for h in root.handlers if h not in handlers] + [_writer.enqueue]
    _writer.start()


def stop_writing_off_loop() -> None:
    """Write what is queued and put the handlers back on the root logger (unless logging was configured
    anew meanwhile)."""
    global _writer, _users
    _users = max(0, _users - 1)
    if _users or _writer is None:
        return
    writer, _writer = _writer, None
    root = logging.getLogger()
    if writer.enqueue in root.handlers:
        root.handlers[:] = [h for h in root.handlers if h is not writer.enqueue] + list(writer.handlers)
    # Records a thread logged between the swap and here still go into the queue: written before the end.
    writer.stop()


@atexit.register
def _write_what_is_queued() -> None:
    # An exit without the runtime's close (a crash): the lines queued still reach the file. Registered
    # after logging's own exit hook, so it runs before that closes the handlers.
    if _writer is not None:
        _writer.stop()
