"""Natural ordering of unit and group names: 2号楼 before 10号楼, 第二网格 before 第十网格."""

from __future__ import annotations

import re

_CN_DIGITS = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUMBER = re.compile(r"(\d+|[〇零一二两三四五六七八九十百千]+)")

# Numbers sort before text at the same position, and never compare with text directly.
NaturalKey = tuple[tuple[int, int | str], ...]


def chinese_numeral(text: str) -> int:
    """十一 → 11, 二十 → 20, 一百零五 → 105; a run of bare digits (一二三) reads digit by digit."""
    if not any(char in _CN_UNITS for char in text):
        return int("".join(str(_CN_DIGITS[char]) for char in text))
    total = current = 0
    for char in text:
        if char in _CN_DIGITS:
            current = _CN_DIGITS[char]
        else:
            # A unit with no digit before it counts once: 十一 is 11.
            total += (current or 1) * _CN_UNITS[char]
            current = 0
    return total + current


def natural_key(text: str) -> NaturalKey:
    parts: list[tuple[int, int | str]] = []
    for index, piece in enumerate(_NUMBER.split(text)):
        if not piece:
            continue
        if index % 2:  # the split pattern's group: a number
            value = int(piece) if piece.isdigit() else chinese_numeral(piece)
            parts.append((0, value))
        else:
            parts.append((1, piece.casefold()))
    return tuple(parts)
