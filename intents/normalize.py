"""Text normalisation before matching: NFKC (full-width to half-width), lower-case Latin letters, and
removal of what is not the resident's own words: @mentions, CQ codes, [表情] codes, URLs and control
characters. Digits, Chinese punctuation and emoji are kept."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Final

# Raw input beyond this is ignored: a chat message is never that long, and time stays bounded.
MAX_RAW_CHARS = 8000
# Normalised text beyond this is not classified (keywords past it are not looked for).
MAX_CHARS = 1000

_CQ: Final = re.compile(r"\[CQ:[^\]]{0,500}\]", re.IGNORECASE)
# WeChat/QQ emoticon codes typed as text: [微笑] [捂脸] [OK] [Facepalm].
_EMOTE: Final = re.compile(r"\[[^\[\]\s]{1,10}\]")
# URLs stop at whitespace or at the first CJK character (people write "链接http://x.cn看看").
_URL: Final = re.compile(r"(?:https?://|www\.)[^\s\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]*", re.IGNORECASE)
# An @mention is "@name" followed by whitespace (WeChat appends U+2005, which NFKC turns into a space).
# A short "@name" ending the message after other text is a mention too ("谢谢@王师傅"). Any other "@"
# glued to the following words is kept as text minus the "@": where the name ends is unknowable.
_MENTION: Final = re.compile(r"@[^\s@]{1,24}(?=\s)|(?<=[^\s@])@[^\s@]{1,8}$")
_SPACE: Final = re.compile(r"\s+")
# Whether _SPACE.sub would change anything: two whitespace characters in a row, or one that is not " ".
_SPACE_TO_FIX: Final = re.compile(r"\s\s|[^\S ]")

_CONTROL: dict[int, str | None] = {c: " " for c in (*range(0, 32), *range(127, 160))}
_CONTROL.update(
    {c: None for c in (0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, 0x00AD, 0xFE0E, 0xFE0F)}
)
# Whether translate(_CONTROL) would change anything (most messages have no such character).
_HAS_CONTROL: Final = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_CONTROL)) + "]")


# The characters most Chinese messages need NFKC for (full-width punctuation) and their NFKC form, which is
# their full compatibility decomposition: folding them first leaves NFKC's result unchanged.
_FULL_WIDTH: Final = tuple((c, unicodedata.normalize("NFKD", c)) for c in "，！？：；（）～\u3000")


def _fold_full_width(text: str) -> str:
    """The common full-width punctuation replaced by its NFKC form before NFKC itself: a message with a
    full-width comma costs NFKC a full decomposition and recomposition (about 8 µs for 40 characters);
    folded, it is usually normalised already, and NFKC returns it after a quick check. `str.replace`,
    not `str.translate` (which takes its slow path on Chinese text and costs as much as NFKC)."""
    for full, folded in _FULL_WIDTH:
        if full in text:
            text = text.replace(full, folded)
    return text


def normalize(text: str) -> str:
    """Return the text as the matcher sees it. Idempotent: normalize(normalize(x)) == normalize(x)."""
    if len(text) > MAX_RAW_CHARS:
        text = text[:MAX_RAW_CHARS]
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", _fold_full_width(text))
    # `str.isprintable` (a C loop, a fifth of a regex scan) is False for every character of _CONTROL but
    # the two variation selectors, and for every whitespace character but " ": the regexes below are only
    # asked when it cannot answer for them.
    if (not text.isprintable() or "\ufe0e" in text or "\ufe0f" in text) and _HAS_CONTROL.search(text):
        text = text.translate(_CONTROL)
    if "[" in text:
        if "[CQ:" in text or "[cq:" in text:
            text = _CQ.sub(" ", text)
        text = _EMOTE.sub(" ", text)
    if "http" in text or "www." in text or "HTTP" in text or "WWW." in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _MENTION.sub(" ", text).replace("@", "")
    text = text.lower()
    if ("  " in text) if text.isprintable() else _SPACE_TO_FIX.search(text) is not None:
        text = _SPACE.sub(" ", text)
    text = text.strip()
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    return text


# Everyday Mandarin characters (the commonest few hundred of written Chinese), never chosen as a dialect
# form's gate key when the form has another: the gate of 跌低 is 跌, not 低.
_EVERYDAY: Final = frozenset(
    "的一是不了在人有我他这个们中来上大为和地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里用道行所"
    "然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心本前开但因只从想实日意无力把机十此"
    "已工使情明知全三又关点正外将两高间由问很最重并物手应向头文体相见被利什二等产或新己制身果加西月话合回代内信"
    "表化老给位次度门任常先海通教儿原东声提立比员解水名真论处走各入几口认条平系气题活更别打女变四总何电数安少才"
    "结反受目太量再感建务做接必场件计管期直命山金指许形社便空决展书非则听白却界达光放强即像难且车住今雨冷细"
)


class DialectMap:
    """The lexicon's dialect word map (`[dialect]`: a written dialect form → the Mandarin form the rest of
    the lexicon knows: 咗 → 了, 冇人 → 没人, 掟 → 扔), applied once to normalised text, before the keyword
    automaton, segmentation and the models. Left to right, the longest form at each position wins (冇人
    before 冇); what it puts in is never read again (the lexicon loader rejects a Mandarin form containing a
    dialect form, so mapping twice changes nothing). The forms are one regex built as a trie; before it, a
    gate: one character of each form (a form by itself if it holds one, else one no everyday character and
    fewest words of `common`, the lexicon's Mandarin vocabulary, hold: 好嘈 by 嘈, 我哋 by 哋), so that a
    message with none of these characters costs one character-class search."""

    __slots__ = ("_gate", "_pattern", "forms")

    def __init__(self, forms: dict[str, str], common: Iterable[str] = ()) -> None:
        self.forms = dict(forms)
        self._pattern = re.compile(_trie_regex(self.forms)) if self.forms else None
        # A character that is a form by itself (咗, 嘅, 嗰) is dialect-only: the best key of a longer form
        # holding it (嗰度 by 嗰, not 度); else the character fewest Mandarin words hold.
        counts = Counter("".join(set(common)))
        singles = {form for form in self.forms if len(form) == 1}
        keys = {
            min(form, key=lambda char: (char not in singles, char in _EVERYDAY, counts[char]))
            for form in self.forms
        }
        self._gate = re.compile("[" + "".join(re.escape(c) for c in sorted(keys)) + "]") if keys else None

    def __bool__(self) -> bool:
        return bool(self.forms)

    def apply(self, text: str) -> str:
        """The text with every dialect form replaced by its Mandarin form (the text itself if none)."""
        gate = self._gate
        if gate is None or gate.search(text) is None:
            return text
        pattern = self._pattern
        assert pattern is not None
        m = pattern.search(text)
        if m is None:
            return text
        forms = self.forms
        start = m.start()
        return text[:start] + pattern.sub(lambda found: forms[found.group()], text[start:])

    def spans(self, text: str) -> tuple[str, tuple[tuple[int, int, int, int], ...]]:
        """`apply`, with where each replacement sits: (start, end) in the mapped text and (start, end) in
        `text`, in order (none: the text is unchanged)."""
        gate = self._gate
        if gate is None or gate.search(text) is None:
            return text, ()
        pattern = self._pattern
        assert pattern is not None
        forms = self.forms
        parts: list[str] = []
        spans: list[tuple[int, int, int, int]] = []
        last = 0
        out = 0
        for m in pattern.finditer(text):
            start, end = m.span()
            parts.append(text[last:start])
            out += start - last
            mandarin = forms[m.group()]
            parts.append(mandarin)
            spans.append((out, out + len(mandarin), start, end))
            out += len(mandarin)
            last = end
        if not spans:
            return text, ()
        parts.append(text[last:])
        return "".join(parts), tuple(spans)


def _trie_regex(forms: dict[str, str]) -> str:
    """One regex matching every form, longest first at each position: the forms as a trie, each node a
    group of its children's branches, optional (greedy, so tried first) where a form ends there."""
    trie: dict[str, dict] = {}
    for form in forms:
        node = trie
        for char in form:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:
            return f"(?:{body})?"
        return body

    return build(trie)


def original_span(spans: tuple[tuple[int, int, int, int], ...], start: int, end: int) -> tuple[int, int]:
    """Where the span [start, end) of a mapped text (`DialectMap.spans`) was in the text before mapping: a
    position inside a replacement widens to the whole dialect form it came from."""
    return _original_at(spans, start, left=True), _original_at(spans, end, left=False)


def _original_at(spans: tuple[tuple[int, int, int, int], ...], pos: int, *, left: bool) -> int:
    shift = 0
    for m_start, m_end, o_start, o_end in spans:
        if pos <= m_start:
            break
        if pos < m_end:
            return o_start if left else o_end
        shift = o_end - m_end
    return pos + shift
