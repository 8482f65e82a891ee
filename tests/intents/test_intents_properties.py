"""Any string classifies without error in bounded time."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intents import Classification, Intent, classify, normalize

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
    for hit in result.keywords:
        assert result.text[hit.start : hit.end] == hit.word
    assert normalize(result.text) == result.text


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
