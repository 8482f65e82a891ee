"""Extract where a message says something happens: building, unit, floor, room.

Works on normalised text (half-width digits). Chinese numerals up to 99 are understood (五号楼, 十二楼).
Results are canonical: 7栋/7幢/7#楼 -> "7号楼", 12层 -> "12楼", 负一楼/地下一层 -> "-1楼"."""

from __future__ import annotations

import re
from typing import Final

from intents.model import Places

_CN: Final = "零〇一二两三四五六七八九十"
_NUM: Final = rf"(?:\d{{1,3}}|[{_CN}]{{1,3}})"
_CN_VALUE: Final = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7}
_CN_VALUE.update({"八": 8, "九": 9})

# 5-2-402 / 5-2-1202: building-unit-room, the way addresses are written on parcels and in forms.
_TRIPLE: Final = re.compile(r"(?<![\d\-])(\d{1,2})-(\d{1,2})-(\d{3,4})(?![\d\-])")
_BUILDING: Final = re.compile(rf"(?<![\d.])({_NUM}) ?(?:号楼|#楼|栋|幢|#(?![\d]))")
_UNIT: Final = re.compile(rf"(?<![\d.])({_NUM}) ?单元")
_FLOOR: Final = re.compile(rf"(?<![\d.#号])(负|地下)?({_NUM}) ?(?:楼|层)(?!号)")
_ROOM: Final = re.compile(
    r"(?<![\d.:/\-¥$])(\d{3,4})"
    r"(?![\d.:/\-%]|号楼|号线|号院|栋|幢|单元|楼(?![道上下])|层|元|块|米|斤|年|月|日|天|分|秒|点|个|次|人|户|w|万|平|度|"
    r"毫|克|公|路|岁|多|余|cm|mm|kg|g|ml|h)"
)
_NONE: Final = Places()  # frozen, so one instance serves every message without a place
_HOTLINES: Final = frozenset({"110", "119", "120", "122", "114", "1234", "9559"})
_HAS_PLACE: Final = re.compile(rf"\d|[{_CN}] ?(?:号楼|栋|幢|单元|楼|层)")
_DIGIT: Final = re.compile(r"\d")
# What a match of _FLOOR and of _ROOM cannot do without: a numeral before 楼 or 层, three digits in a row.
# A pattern that opens with a lookbehind (_TRIPLE, _BUILDING, _UNIT, _FLOOR, _ROOM) gets no first-character
# scan from `re` and is tried at every position (_FLOOR: 5 µs over a 30-character message); these open
# with a character class and are scanned for (under 1 µs). Most messages that name a place say 楼 (楼上,
# 楼道, 5号楼) or a number, but no floor or room.
_FLOOR_HINT: Final = re.compile(rf"[\d{_CN}] ?[楼层]")
_ROOM_HINT: Final = re.compile(r"\d\d\d")
# How far before its 单元 (or before its hint's first character) a match of _UNIT or _FLOOR can start:
# 地下 and the first two characters of a three-character numeral. Each is searched for from there on, not
# from the start of the message: no match starts earlier, and the lookbehinds still see the text before.
_REACH: Final = 4


def _number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if "十" in text:
        tens, _, ones = text.partition("十")
        if len(tens) > 1 or len(ones) > 1:
            return None
        t = _CN_VALUE.get(tens, 1 if tens == "" else -100)
        o = _CN_VALUE.get(ones, 0 if ones == "" else -100)
        value = t * 10 + o
        return value if value > 0 else None
    if len(text) == 1:
        return _CN_VALUE.get(text)
    return None


def _plausible_room(digits: str) -> bool:
    if digits in _HOTLINES:
        return False
    floor, number = int(digits[:-2]), int(digits[-2:])
    return 1 <= floor <= 60 and 1 <= number <= 12


def extract_places(text: str) -> Places:
    """Places mentioned in `text` (the first of each kind); all None when there is none."""
    if not _HAS_PLACE.search(text):
        return _NONE
    # Each pattern is tried only if the text has what it cannot match without (a substring test costs a
    # tenth of a regex scan, and most messages name one kind of place at most).
    digits = _DIGIT.search(text) is not None
    building = unit = floor = room = None
    triple = _TRIPLE.search(text) if digits and "-" in text else None
    if triple:
        b, u, r = triple.groups()
        if _plausible_room(r):
            building, unit, room = f"{int(b)}号楼", f"{int(u)}单元", r
    if (
        building is None
        and ("#" in text or "号楼" in text or "栋" in text or "幢" in text)
        and (m := _BUILDING.search(text))
    ):
        n = _number(m.group(1))
        if n is not None and 0 < n < 1000:
            building = f"{n}号楼"
    if unit is None and (at := text.find("单元")) >= 0 and (m := _UNIT.search(text, max(0, at - _REACH))):
        n = _number(m.group(1))
        if n is not None and 0 < n < 100:
            unit = f"{n}单元"
    hint = _FLOOR_HINT.search(text)
    for m in _FLOOR.finditer(text, max(0, hint.start() - _REACH)) if hint else ():
        n = _number(m.group(2))
        if n is not None and 0 < n <= 60:
            floor = f"-{n}楼" if m.group(1) else f"{n}楼"
            break
    if room is None and digits and (hint := _ROOM_HINT.search(text)):
        for m in _ROOM.finditer(text, hint.start()):  # a room number starts with three digits
            if _plausible_room(m.group(1)):
                room = m.group(1)
                break
    if floor is None and room is not None:
        floor = f"{int(room[:-2])}楼"
    if building is None and unit is None and floor is None and room is None:
        return _NONE
    return Places(building=building, unit=unit, floor=floor, room=room)
