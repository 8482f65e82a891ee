"""A small binary container for the models' weights: a JSON header and raw little-endian numpy arrays, read
with one file read and zero-copy `np.frombuffer` views (no text to parse: the intent model's 630k weights
took 0.2-0.4 s to parse as decimals, a few milliseconds as bytes).

Layout, deterministic for the same content (the trainers' `--check` compares bytes):

    MAGIC (12 bytes) | header length (4 bytes, little-endian) | header (JSON, UTF-8) | padding to 8 bytes |
    arrays, each starting at a multiple of 8 from the start of the array section

The header is `{"format": ..., "meta": {...}, "arrays": [[name, dtype, shape, offset], ...]}` with sorted
keys; `meta` holds the model's scalars, labels and vocabulary. A malformed file raises `BinFileError` saying
what is wrong; each model's loader re-raises it with the file's path in its own error type.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Final

import numpy as np

MAGIC = b"loudong-bin\n"
_LENGTH: Final = struct.Struct("<I")
# Only plain little-endian numbers: what the models store.
_DTYPES: Final = frozenset({"<i2", "<i4", "<i8", "<f8", "|u1"})


class BinFileError(ValueError):
    """The bytes are not a well-formed container of the expected format; the message says what is wrong."""


def _pad(n: int) -> int:
    return -n % 8


def pack(fmt: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """The container's bytes: `meta` must be JSON (finite floats only), each array a supported dtype."""
    entries: list[list[Any]] = []
    blobs: list[bytes] = []
    offset = 0
    for name, array in arrays.items():
        data = np.ascontiguousarray(array)
        dtype = data.dtype.newbyteorder("<") if data.dtype.byteorder == ">" else data.dtype
        if dtype.str not in _DTYPES:
            raise BinFileError(f"array {name!r}: unsupported dtype {data.dtype}")
        raw = data.astype(dtype, copy=False).tobytes()
        entries.append([name, dtype.str, list(data.shape), offset])
        blobs.append(raw + b"\x00" * _pad(len(raw)))
        offset += len(blobs[-1])
    header = json.dumps(
        {"format": fmt, "meta": meta, "arrays": entries},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
    ).encode("utf-8")
    head = MAGIC + _LENGTH.pack(len(header)) + header
    return head + b"\x00" * _pad(len(head)) + b"".join(blobs)


def unpack(data: bytes, fmt: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The meta and the arrays (read-only views of `data`) of a container of format `fmt`."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _LENGTH.size:
        raise BinFileError(f"not a {fmt} file (no loudong-bin header)")
    (length,) = _LENGTH.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + _LENGTH.size
    if start + length > len(data):
        raise BinFileError("truncated header")
    try:
        header = json.loads(data[start : start + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BinFileError(f"bad header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != fmt:
        found = header.get("format") if isinstance(header, dict) else None
        raise BinFileError(f"not a {fmt} file (format {found!r})")
    meta = header.get("meta")
    entries = header.get("arrays")
    if not isinstance(meta, dict) or not isinstance(entries, list):
        raise BinFileError("bad header: no meta or arrays")
    base = start + length
    base += _pad(base)
    arrays: dict[str, np.ndarray] = {}
    for entry in entries:
        try:
            name, dtype, shape, offset = entry
            if dtype not in _DTYPES or not all(isinstance(n, int) and n >= 0 for n in shape):
                raise ValueError
            dt = np.dtype(dtype)
            count = int(np.prod(shape, dtype=np.int64))
            begin = base + int(offset)
        except (TypeError, ValueError):
            raise BinFileError(f"bad array entry {str(entry)[:60]}") from None
        if offset < 0 or begin + count * dt.itemsize > len(data):
            raise BinFileError(f"array {name!r} truncated: expected {count} values")
        arrays[name] = np.frombuffer(data, dtype=dt, count=count, offset=begin).reshape(shape)
    return meta, arrays
