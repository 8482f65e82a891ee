"""Any string classifies without error in bounded time."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intents import Classification, Intent, classify, normalize
from intents.engine import default_engine

_LEXICON_BITS = [
    "电梯",
    "坏了",
    "没",
    "不",
    "了",
    "着火",
    "收到",
    "谢谢",
    "楼道",
    "堆",
    "吗",
    "?",
    "5号楼",
    "402",
]
_pieces = st.one_of(
    st.text(max_size=40),
    st.sampled_from(_LEXICON_BITS),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "So"]), max_size=20),
)


@settings(max_examples=300, deadline=250, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pieces, max_size=12).map("".join))
def test_any_string(text: str) -> None:
    result = classify(text)
    assert isinstance(result, Classification)
    assert 0.0 <= result.confidence <= 1.0
    assert result.intent in Intent
    _in_own_words(text, result)
    assert normalize(result.text) == result.text


def _in_own_words(text: str, result: Classification) -> None:
    """The result is reported on the resident's normalised text as written; a keyword's span holds its word,
    or, where the dialect map changed the words, a form that maps to text holding the (Mandarin) lexicon word;
    a model's n-gram is always the resident's own characters."""
    assert result.text == normalize(text)
    dialect = default_engine().lexicon.dialect
    for hit in result.keywords:
        own = result.text[hit.start : hit.end]
        assert own == hit.word or (hit.role != "model" and hit.word in dialect.apply(own)), (hit, own)


def test_empty_and_blank() -> None:
    for text in ("", " ", "\n\t", "\x00\x01\x02", "\u200b\ufeff"):
        assert classify(text).intent is Intent.CHITCHAT


def test_emoji_only() -> None:
    assert classify("😂🤣🌹🎉" * 50).intent is Intent.CHITCHAT


def test_control_characters() -> None:
    result = classify("电\x00梯\x1b坏\x7f了\u202e")
    assert isinstance(result, Classification)


def test_100_kb_is_bounded() -> None:
    for text in ("电梯坏了没人修" * 15_000, "a" * 100_000, "不" * 100_000, "🔥" * 100_000, "[CQ:" * 25_000):
        start = time.perf_counter()
        classify(text)
        assert time.perf_counter() - start < 0.5


def test_dialect_messages_are_reported_in_the_residents_words() -> None:
    texts = ("阿婆跌低咗唔郁 快啲叫白车", "有人喺楼上掟咗个樽落嚟", "𨋢坏咗成日都冇人整", "楼上嘈到我瞓唔着")
    for text in texts:
        result = classify(text)
        assert result.text == normalize(text)
        _in_own_words(text, result)
    result = classify("有人喺楼上掟咗个樽落嚟")
    words = {hit.word: result.text[hit.start : hit.end] for hit in result.keywords}
    assert words.get("扔") == "掟"  # the lexicon's word, over the resident's own
