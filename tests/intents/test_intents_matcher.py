"""The automata of intents/matcher.py find exactly what an automaton built in the given order finds."""

from __future__ import annotations

import ahocorasick
from hypothesis import given, settings
from hypothesis import strategies as st

from intents.matcher import NEVER, build_automaton

PLACEHOLDER = ("", 0.0)
WORDS = ["电梯", "电梯坏", "梯坏了", "坏", "漏水", "水", "1号楼", "12楼", " 楼道", "楼道灯", "灯不亮", "不亮"]


def plain_automaton(words: list[str]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for word in words:
        automaton.add_word(word, (word, float(len(word))))
    automaton.make_automaton()
    return automaton


def matches(automaton: ahocorasick.Automaton, text: str) -> list[tuple[int, object]]:
    return [m for m in automaton.iter(text) if m[1] is not PLACEHOLDER]


def test_the_same_matches_in_the_same_order_as_an_automaton_built_as_given():
    built = build_automaton(((w, (w, float(len(w)))) for w in WORDS), PLACEHOLDER)
    text = "1号楼12楼 楼道灯不亮,电梯坏了!漏水 2 3"
    assert list(built.iter(text)) == list(plain_automaton(WORDS).iter(text))
    assert ("电梯坏", 3.0) in [value for _, value in built.iter(text)]


def test_a_placeholder_matches_only_a_text_with_a_nul():
    built = build_automaton(((w, (w, 1.0)) for w in WORDS), PLACEHOLDER)
    assert all(value is not PLACEHOLDER for _, value in built.iter("楼道 灯 1 2 3 ,.!?"))
    assert any(value is PLACEHOLDER for _, value in built.iter("楼道 " + NEVER + "灯"))


def test_an_empty_vocabulary_finds_nothing():
    assert list(build_automaton([], PLACEHOLDER).iter("电梯坏了 123")) == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="电梯坏了漏水楼道灯不亮号12 ,.!", max_size=40))
def test_any_text_gives_the_plain_automaton_s_matches(text: str):
    built = build_automaton(((w, (w, float(len(w)))) for w in WORDS), PLACEHOLDER)
    assert matches(built, text) == list(plain_automaton(WORDS).iter(text))
