from __future__ import annotations

import random
import tomllib

import pytest

from intents import DEFAULT_LEXICON_PATH, Places, classify, extract_places, normalize, places
from intents.lexicon import load_lexicon
from intents.normalize import _TRADITIONAL, DialectMap, original_span


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("@张阿姨\u2005电梯坏了[捂脸]", "电梯坏了"),
        ("５号楼２单元　ＯＫ！", "5号楼2单元 ok!"),
        ("[CQ:at,qq=123456] 收到", "收到"),
        ("链接https://t.cn/abc?x=1看看", "链接 看看"),
        ("谢谢@王师傅", "谢谢"),
        ("@王师傅电梯坏了", "王师傅电梯坏了"),
        ("a\x00b\u200bc\td", "a bc d"),
        ("电话13812345678", "电话13812345678"),
        # traditional forms of the lexicon's characters folded to simplified; 係 is a dialect form of its own
        ("高空拋物 電梯壞咗", "高空抛物 电梯坏咗"),
        ("唔係 謝謝", "唔係 谢谢"),
        # a bare 好, 得 or 行 opening a message before a space or a comma: the answer "OK", written
        # 好的; not 好 glued to what follows (好臭, 好几天), nor alone (a whole-message ack word)
        ("好 明早带身份证过去", "好的 明早带身份证过去"),
        ("得　我听日去填表", "好的 我听日去填表"),
        ("行，周六上午过去", "好的,周六上午过去"),
        ("[CQ:face,id=14] 好 我帮阿婆交咗", "好的 我帮阿婆交咗"),
        ("好的 明早过去", "好的 明早过去"),
        ("好臭 垃圾没人收", "好臭 垃圾没人收"),
        ("好", "好"),
        ("真好 我也去", "真好 我也去"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected
    assert normalize(normalize(raw)) == normalize(raw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5号楼2单元402楼道灯坏了", Places(building="5号楼", unit="2单元", floor="4楼", room="402")),
        ("7栋3单元12楼", Places(building="7号楼", unit="3单元", floor="12楼")),
        ("7幢12层", Places(building="7号楼", floor="12楼")),
        ("七号楼十二楼", Places(building="7号楼", floor="12楼")),
        ("5-2-1202", Places(building="5号楼", unit="2单元", floor="12楼", room="1202")),
        ("5#楼", Places(building="5号楼")),
        ("负一楼车库", Places(floor="-1楼")),
        ("快打120", Places()),
        ("联系我13912345678", Places()),
        ("花了300块", Places()),
        ("2024年8:30", Places()),
        ("今天天气真好", Places()),
    ],
)
def test_places(text: str, expected: Places) -> None:
    assert extract_places(text) == expected


def test_places_from_full_width_input() -> None:
    assert classify("５号楼３单元电梯坏了").places == Places(building="5号楼", unit="3单元")


def test_place_hints_and_starts_change_no_match() -> None:
    """`extract_places` skips _FLOOR and _ROOM when their hints find nothing, and searches _UNIT, _FLOOR and
    _ROOM from a little before the first 单元 or hint: the same matches as a search of the whole text."""
    rng = random.Random(9)
    alphabet = "0123456789一二十两负地下楼层号单元栋# -.:/%米"

    def spans(matches: object) -> list[tuple[tuple[int, int], tuple[str | None, ...]]]:
        return [(m.span(), m.groups()) for m in matches]  # type: ignore[attr-defined]

    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 16)))
        floor, room = places._FLOOR_HINT.search(text), places._ROOM_HINT.search(text)
        whole_floor, whole_room = spans(places._FLOOR.finditer(text)), spans(places._ROOM.finditer(text))
        assert whole_floor == (
            spans(places._FLOOR.finditer(text, max(0, floor.start() - places._REACH))) if floor else []
        ), text
        assert whole_room == (spans(places._ROOM.finditer(text, room.start())) if room else []), text
        at = text.find("单元")
        unit = places._UNIT.search(text, max(0, at - places._REACH)) if at >= 0 else None
        assert spans(filter(None, [places._UNIT.search(text)])) == spans(filter(None, [unit])), text


# ------------------------------------------------------------------------------ the dialect word map


def test_dialect_map_longest_form_wins() -> None:
    dialect = DialectMap({"冇": "没", "冇人理": "没人管", "唔": "不", "唔郁": "不动"})
    assert dialect.apply("冇人理 冇钱") == "没人管 没钱"
    assert dialect.apply("佢唔郁唔") == "佢不动不"


def test_dialect_map_returns_other_text_untouched() -> None:
    dialect = DialectMap({"咗": "了", "好嘈": "好吵", "我哋": "我们"})
    text = "电梯坏了三天了 我们好烦"  # 好 and 我 start forms, but no form follows
    assert dialect.apply(text) is text
    assert dialect.apply("好嘈") == "好吵"
    assert dialect.spans(text) == (text, ())
    assert not DialectMap({}) and DialectMap({}).apply(text) is text


def test_dialect_map_spans_lead_back_to_the_residents_words() -> None:
    dialect = DialectMap({"跌低": "摔倒", "咗": "了", "唔郁": "不动", "𨋢": "电梯"})
    text = "阿婆喺𨋢度跌低咗唔郁"
    mapped, spans = dialect.spans(text)
    assert mapped == dialect.apply(text) == "阿婆喺电梯度摔倒了不动"
    start = mapped.index("电梯")
    assert original_span(spans, start, start + 2) == (3, 4)  # 电梯 came from 𨋢
    start = mapped.index("摔倒了")
    assert text[slice(*original_span(spans, start, start + 3))] == "跌低咗"
    start = mapped.index("倒了不")  # inside a replacement: widened to the whole form
    assert text[slice(*original_span(spans, start, start + 3))] == "跌低咗唔郁"
    assert original_span(spans, 0, 2) == (0, 2)  # before any replacement


def test_shipped_dialect_map_is_idempotent_and_leaves_mandarin_alone() -> None:
    dialect = load_lexicon().dialect
    for text in ("阿婆跌低咗唔郁 快啲叫白车", "楼上成日嘈到我瞓唔着", "有人掟嘢落嚟", "唔该晒 收到"):
        once = dialect.apply(normalize(text))
        assert dialect.apply(once) == once
        assert once != normalize(text)
    for text in ("电梯坏了三天了", "楼上天天半夜吵", "谢谢物业", "我们单位的食堂不错", "企业退休人员认证"):
        assert dialect.apply(text) == text


def test_traditional_folding_leaves_every_lexicon_word_alone() -> None:
    # The fold maps characters the lexicon does not use to ones it does (高空拋物 → 高空抛物): no string
    # of the shipped lexicon file (keyword, cue, block word, dialect form or its Mandarin) holds a character
    # it folds, so a dialect form written with a traditional character (係) is still the map's.
    def strings(value: object) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [*value, *(s for v in value.values() for s in strings(v))]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return []

    with DEFAULT_LEXICON_PATH.open("rb") as f:
        words = strings(tomllib.load(f))
    assert len(words) > 5000
    assert not [word for word in words if any(ord(char) in _TRADITIONAL for char in word)]
    assert normalize("謝謝物業") == "谢谢物业"
    assert classify("謝謝物業").intent is classify("谢谢物业").intent
