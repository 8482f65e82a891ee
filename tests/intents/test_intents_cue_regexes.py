"""What the speed work on the cue regexes relies on: the tries of `intents.engine._group` match exactly
as the flat alternation sorted longest first did, alone and inside larger patterns that backtrack into
them; and the emergency guards' flat list (`_Markers.guard`) covers every cue `IntentEngine._unreal`
skips when it finds none of its words."""

from __future__ import annotations

import random
import re

from intents.engine import _group, default_engine


def _flat(words: frozenset[str]) -> str:
    return "(?:" + "|".join(map(re.escape, sorted(words, key=lambda w: (-len(w), w)))) + ")"


def _spans(pattern: re.Pattern[str], text: str, lo: int, hi: int) -> tuple[object, ...]:
    search = pattern.search(text, lo, hi)
    match = pattern.match(text, lo)
    return (
        [m.span() for m in pattern.finditer(text)],
        [m.span() for m in pattern.finditer(text, lo, hi)],
        pattern.sub("#", text),
        search.span() if search else None,
        match.span() if match else None,
    )


def test_trie_group_matches_like_the_sorted_alternation() -> None:
    rng = random.Random(9)
    alphabet = "ab不是没有.?*"

    def words(longest: int, most: int) -> frozenset[str]:
        return frozenset(
            "".join(rng.choice(alphabet) for _ in range(rng.randint(1, longest)))
            for _ in range(rng.randint(1, most))
        )

    shapes = (
        lambda g, h: g,
        lambda g, h: g + h,
        lambda g, h: g + "?" + h + "b",
        lambda g, h: "(?<!a)" + g + h + "|" + h,
    )
    for _ in range(400):
        first, second = words(5, 12), words(3, 4)
        for shape in shapes:
            old = re.compile(shape(_flat(first), _flat(second)))
            new = re.compile(shape(_group(first), _group(second)))
            for _ in range(10):
                text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
                lo = rng.randint(0, len(text))
                hi = rng.randint(lo, len(text))
                assert _spans(old, text, lo, hi) == _spans(new, text, lo, hi), (first, second, text)


def test_trie_group_shape() -> None:
    assert _group(frozenset({"没有", "没", "不是", "不管", "未", "不"})) == "(?:不(?:是|管)?|未|没(?:有)?)"
    assert _group(frozenset({"a"})) == "(?:a)"
    assert re.compile(_group(frozenset())).search("anything") is None


def test_guard_covers_the_cues_unreal_skips() -> None:
    engine = default_engine()
    cues = engine.lexicon.cues
    guard = engine._markers.guard
    skipped = cues.laughter | cues.elsewhere | cues.food | cues.pet | cues.reassurance
    skipped |= cues.drill | cues.hypothetical | cues.figure | cues.simile_close | {"不是"}
    assert skipped
    for word in skipped:
        assert guard.search(word) is not None, word
