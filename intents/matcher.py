"""Aho-Corasick automata (pyahocorasick) built so that the characters of a message are found fast.

pyahocorasick keeps a node's children in insertion order and looks a character up by a linear scan of
them. Every character of a message ends at the root once its longer matches are exhausted, and the roots
here have hundreds to thousands of children (the intent model's n-grams start with 1,751 characters), so
the order of the root's children is most of the cost of a pass, and a character that starts no entry at
all (a space, a digit, punctuation: most messages have several) scanned all of them. So the entries are
inserted with the characters that occur most in the entries themselves first (a stand-in for how often
they occur in messages, which the vocabulary reflects), after placeholders for the common characters that
start none: each a character followed by NUL, which no normalised text contains (`normalize` turns every
control character into a space), so a placeholder is only a node on the way, never a match.

Which entries match, and in which order they are reported, does not depend on the insertion order: the
same matches come out in the same order (by end, longest first), only sooner.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

import ahocorasick

# Never in a normalised text; in any other text, the callers filter out a placeholder's match.
NEVER = "\x00"
# Characters common in messages that start few or no entries: looked up first at the root.
_COMMON: Final = " 0123456789,.!?~:;-"


def build_automaton(entries: Iterable[tuple[str, Any]], placeholder: Any) -> ahocorasick.Automaton:
    """An automaton over `entries` (word, value), words with common first characters inserted first;
    `placeholder` is the value of the placeholder entries (see the module's doc), which match only a text
    with a NUL."""
    items = list(entries)
    counts = Counter("".join([word for word, _ in items]))  # one string: faster to count than a chain
    # Stable: words of equally common first characters keep their given order.
    items.sort(key=lambda item: -counts[item[0][:1]])
    automaton = ahocorasick.Automaton()
    for char in _COMMON:
        automaton.add_word(char + NEVER, placeholder)
    for word, value in items:
        automaton.add_word(word, value)
    automaton.make_automaton()
    return automaton
