"""The intent second opinion: a linear model over character n-grams that scores all 17 intents, its scores
turned into probabilities by a softmax. It is trained as a linear SVM (one-vs-rest squared hinge; the scores
are scaled by a temperature at training time, so that their softmax is a fair probability); the engine only
reads the weights.

The keyword lexicon stays the primary, explainable decision; this model only speaks where the keywords
are weakest (engine.py: `IntentEngine.intent_model_applies`, `intent_opinion`): it may propose a ticket
for a message the keywords left as chitchat, veto a keyword ticket it is sure is chatter, or move a
keyword ticket to the ticket intent it is sure of. A real emergency is never suppressed.

Features: the distinct character 1..max_n-grams of the normalised text (n-grams with a space or a digit
carry no weight: phone numbers and floors are no evidence), each worth 1/sqrt(characters of the text other
than digits and spaces), plus a bias.
Scoring is one Aho-Corasick pass (C) over the model's n-grams, collecting row numbers, and one numpy
gather-and-sum of the rows: a few microseconds. Trained by `python -m intents.train_intents`; the
weights ship as `intent_model.txt`, written by that script only:

    # comment lines
    format<TAB>loudong-intent-ngram/1
    classes<TAB>repair sanitation ... chitchat      (the 17 intents, in the order of every weight row)
    max_n<TAB>3
    propose<TAB>0.8        (thresholds of the combination rule, see engine.py)
    veto<TAB>0.95
    switch<TAB>0.9
    quiet<TAB>0.9
    emergency_veto<TAB>0.9
    bias<TAB>0.12 -0.3 ...
    救命<TAB>0.5 0 -0.25 ...
"""

from __future__ import annotations

import heapq
import math
import operator
import re
import warnings
from pathlib import Path

import numpy as np

from intents.matcher import NEVER, build_automaton
from intents.model import Intent

FORMAT = "loudong-intent-ngram/1"
DEFAULT_INTENT_MODEL_PATH = Path(__file__).with_name("intent_model.txt")
_DIGITS = str.maketrans("0123456789", "0000000000")
_ROW = operator.itemgetter(1)  # of an automaton match (end, row)
_PLACEHOLDER = -1  # the row of the automaton's placeholders, which no text without a NUL matches
_THRESHOLDS = ("propose", "veto", "switch", "quiet", "emergency_veto")
_HEADER = ("format", "classes", "max_n", "bias", *_THRESHOLDS)


class IntentModelError(ValueError):
    """The model file is missing or malformed; the message names the file (and the line)."""


def features(norm: str, max_n: int = 3) -> set[str]:
    """The distinct character 1..max_n-grams of normalised text, digits folded to 0, without those
    containing a space or a digit (places and phone numbers are no evidence). For training; the model
    finds the same n-grams of its vocabulary with its automaton."""
    text = norm.translate(_DIGITS)
    n = len(text)
    grams = {text[i : i + k] for k in range(1, max_n + 1) for i in range(n - k + 1)}
    return {g for g in grams if " " not in g and "0" not in g}


# Characters that make no n-gram of the model: decimal digits of any script (\d; str.isdigit also counts
# a few digit-like signs such as Ethiopic numerals, which no resident types) and spaces.
_DIGITS_ANY = re.compile(r"\d")


def content_chars(text: str) -> int:
    """Characters that carry words: not digits (places, phone numbers) nor spaces. (Spaces by `str.count`,
    digits by a regex and only when there is one: a generator over the characters cost about 3 µs of every
    message the model may be asked about, a regex over digits and spaces together 0.3 µs more than this.)"""
    n = len(text) - text.count(" ")
    if _DIGITS_ANY.search(text) is None:
        return n
    return n - len(_DIGITS_ANY.findall(text))


def scale(norm: str, chars: int | None = None) -> float:
    """Each present n-gram's feature value, 1/sqrt(characters other than digits and spaces): long messages
    do not get more confident for their length, and a report with a phone and an ID number (2单元402漏水了,急,
    我电话138…,身份证110…) is not drowned by digits, which make no n-gram (it was, with 1/sqrt(len): the
    SVM read it as chatter at 0.93). `chars`: that count, if at hand."""
    n = content_chars(norm) if chars is None else chars
    return 1.0 / math.sqrt(n) if n > 0 else 0.0


class IntentModel:
    """Immutable once built; `probabilities` is thread-safe (the automaton is only read)."""

    __slots__ = (
        "_automaton",
        "_bias",
        "_columns",
        "_margins",
        "bias",
        "classes",
        "emergency_veto",
        "grams",
        "index",
        "max_n",
        "path",
        "propose",
        "quiet",
        "switch",
        "veto",
        "weights",
    )

    def __init__(
        self,
        grams: list[str],
        weights: np.ndarray,
        bias: np.ndarray,
        *,
        classes: tuple[Intent, ...] = tuple(Intent),
        max_n: int = 3,
        propose: float = 0.9,
        veto: float = 0.99,
        switch: float = 0.9,
        quiet: float = 0.9,
        emergency_veto: float = 1.0,
        path: Path | None = None,
    ) -> None:
        if weights.shape != (len(grams), len(classes)) or bias.shape != (len(classes),):
            raise ValueError("weights must be n-grams x classes, bias one per class")
        self.grams = grams
        self.weights = weights
        self.bias = bias
        self.classes = classes
        self.index = {intent: i for i, intent in enumerate(classes)}
        self.max_n = max_n
        self.propose = propose
        self.veto = veto
        self.switch = switch
        self.quiet = quiet
        self.emergency_veto = emergency_veto
        self.path = path
        self._bias = bias.tolist()
        self._margins = _margins(weights)
        # Per intent column, its weights and margins as Python lists, built on first use by `evidence`:
        # indexing a list per row beats the numpy calls (array, two takes, two tolist) for a few dozen rows.
        self._columns: dict[int, tuple[list[float], list[float]]] = {}
        self._automaton = build_automaton(((gram, row) for row, gram in enumerate(grams)), _PLACEHOLDER)

    def rows(self, norm: str) -> list[int]:
        """The weight rows of the model's n-grams in the text (each once)."""
        if not self.grams:
            return []
        # No digit folding here: the vocabulary has no n-gram with a digit (folded or not), so a digit only
        # keeps n-grams out either way, and str.translate costs about 7 µs on Chinese text.
        found = map(_ROW, self._automaton.iter(norm))
        if NEVER in norm:  # only then can a placeholder match (`matcher`): never in normalised text
            found = filter(_PLACEHOLDER.__ne__, found)
        return list(set(found))

    def logits(self, norm: str) -> np.ndarray:
        return self._logits(norm, self.rows(norm))

    def _logits(self, norm: str, rows: list[int], chars: int | None = None) -> np.ndarray:
        if not rows:
            return self.bias.copy()
        # take + sum: about three times faster than fancy indexing for a few dozen rows.
        return self.weights.take(rows, axis=0).sum(axis=0) * scale(norm, chars) + self.bias

    def probabilities(self, norm: str) -> list[float]:
        """P(intent) for normalised text, in the order of `classes`."""
        return self.scored(norm)[0]

    def scored(self, norm: str, chars: int | None = None) -> tuple[list[float], list[int]]:
        """P(intent) in the order of `classes`, and the weight rows of the text's n-grams (for `evidence`,
        which then needs no second automaton pass). The softmax of 17 values is cheaper in plain Python
        than in numpy calls, and the rule reads single values of it. `chars`: the text's characters other
        than digits and spaces, if the caller has counted them (`scale`)."""
        rows = self.rows(norm)
        if rows:
            # The numpy row sum, then the scale and bias in plain floats (the same IEEE products and sums
            # as numpy's, one element at a time): two numpy calls and an array fewer.
            s = scale(norm, chars)
            summed = self.weights.take(rows, axis=0).sum(axis=0).tolist()
            z = [v * s + b for v, b in zip(summed, self._bias, strict=True)]
        else:
            z = list(self._bias)
        top = max(z)
        e = [math.exp(v - top) for v in z]
        total = sum(e)
        return [v / total for v in e], rows

    def evidence(
        self, norm: str, intent: Intent, count: int, rows: list[int] | None = None
    ) -> list[tuple[str, float]]:
        """The `count` n-grams of the text that speak most for `intent` against the other intents (its
        weight minus the largest other weight), words of two or three characters before single ones,
        which explain little (的, 一): for explaining a decision. `rows`: those of `scored(norm)`, if at
        hand (the ranking is a total order, so their order does not matter)."""
        column = self.index[intent]
        if rows is None:
            rows = self.rows(norm)
        if not rows:
            return []
        columns = self._columns.get(column)
        if columns is None:
            columns = (self.weights[:, column].tolist(), self._margins[:, column].tolist())
            self._columns[column] = columns  # the same lists whichever thread builds them first
        own, margins = columns
        grams = self.grams
        # The ranking as plain tuples (no key function), of which only the best `count` are kept.
        ranked = heapq.nsmallest(
            count,
            [(len(grams[r]) < 2, -margins[r], grams[r], own[r]) for r in rows if margins[r] > 0],
        )
        return [(g, w) for _, _, g, w in ranked]

    def dumps(self, header: str = "") -> str:
        lines = [f"# {line}".rstrip() for line in header.splitlines()]
        lines += [
            f"format\t{FORMAT}",
            "classes\t" + " ".join(c.value for c in self.classes),
            f"max_n\t{self.max_n}",
            f"propose\t{self.propose}",
            f"veto\t{self.veto}",
            f"switch\t{self.switch}",
            f"quiet\t{self.quiet}",
            f"emergency_veto\t{self.emergency_veto}",
            "bias\t" + _row(self.bias),
        ]
        lines += [f"{gram}\t{_row(self.weights[i])}" for i, gram in enumerate(self.grams)]
        return "\n".join(lines) + "\n"


def _margins(weights: np.ndarray) -> np.ndarray:
    """Each weight minus the largest other weight of its row (what `evidence` ranks by), computed once
    at load: per explained decision this was a numpy delete and max costing about 30 µs."""
    if weights.shape[1] < 2:
        return np.zeros_like(weights)
    order = np.sort(weights, axis=1)
    first, second = order[:, -1:], order[:, -2:-1]
    # The largest other weight is the row's maximum, except in the column holding it (the first such
    # column, as argmax), where it is the second largest.
    others = np.repeat(first, weights.shape[1], axis=1)
    top = weights.argmax(axis=1)
    others[np.arange(len(weights)), top] = second[:, 0]
    return weights - others


def _row(values: np.ndarray) -> str:
    """Weights to three decimals, zeros as "0" (most of a row), so the file stays small and diffs cleanly."""
    out = []
    for v in values:
        text = f"{float(v):.3f}".rstrip("0").rstrip(".")
        out.append("0" if text in ("-0", "") else text)
    return " ".join(out)


def load_intent_model(path: str | Path = DEFAULT_INTENT_MODEL_PATH) -> IntentModel:
    """Read a model file; any problem raises `IntentModelError` naming the file and, for a bad line, the
    line number."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IntentModelError(f"{path}: cannot read intent model: {exc}") from exc
    header: dict[str, str] = {}
    grams: list[str] = []
    values: list[str] = []
    numbers: list[int] = []
    seen: set[str] = set()
    width = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        key, tab, value = line.partition("\t")
        if not tab or not key or not value:
            raise IntentModelError(f"{path}:{lineno}: expected 'key<TAB>value', got {line[:40]!r}")
        if key in _HEADER and not grams:
            header[key] = value
            if key == "classes":
                width = len(value.split())
            continue
        if "format" not in header or not width:
            raise IntentModelError(f"{path}:{lineno}: weights before the format and classes lines")
        if key in seen:
            raise IntentModelError(f"{path}:{lineno}: n-gram {key!r} twice")
        seen.add(key)
        grams.append(key)
        values.append(value)
        numbers.append(lineno)
    weights = _weights(values, width)
    if weights is None:  # a bad row somewhere: find it and name its line
        for value, lineno in zip(values, numbers, strict=True):
            _floats(value, width, f"{path}:{lineno}")
        raise IntentModelError(f"{path}: bad weights")
    if header.get("format") != FORMAT:
        raise IntentModelError(f"{path}: not an intent model (format must be {FORMAT!r})")
    try:
        classes = tuple(Intent(name) for name in header["classes"].split())
    except (KeyError, ValueError) as exc:
        raise IntentModelError(f"{path}: missing or bad classes line: {exc}") from None
    if len(set(classes)) != len(classes) or set(classes) != set(Intent):
        raise IntentModelError(f"{path}: classes must name each intent once")
    try:
        max_n = int(header["max_n"])
        thresholds = {name: float(header[name]) for name in _THRESHOLDS}
        bias = _floats(header["bias"], width, f"{path}: bias")
    except (KeyError, ValueError) as exc:
        raise IntentModelError(f"{path}: missing or bad header field: {exc}") from None
    if not 1 <= max_n <= 5 or not all(0.0 < t <= 1.0 for t in thresholds.values()):
        raise IntentModelError(f"{path}: thresholds must be in (0, 1], max_n in 1..5")
    if not grams:
        raise IntentModelError(f"{path}: no weights")
    return IntentModel(
        grams,
        weights,
        np.array(bias, dtype=np.float64),
        classes=classes,
        max_n=max_n,
        path=path,
        **thresholds,
    )


def _weights(values: list[str], width: int) -> np.ndarray | None:
    """All weight rows parsed by numpy in one call (a tenth of the time of a float() per number), or None
    if any row is malformed: not `width` finite numbers."""
    if not values:
        return np.zeros((0, width))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy only warns about unparsable text, and returns what it read
        try:
            flat = np.fromstring(" ".join(values), dtype=np.float64, sep=" ")
        except (ValueError, DeprecationWarning):
            return None
    if flat.size != len(values) * width or not np.isfinite(flat).all():
        return None
    rows = flat.reshape(len(values), width)
    # A row one short next to a row one long has the right total: count every row's numbers too.
    if any(v.count(" ") != width - 1 for v in values) and any(len(v.split()) != width for v in values):
        return None
    return rows


def _floats(value: str, width: int, where: str) -> list[float]:
    parts = value.split()
    if len(parts) != width:
        raise IntentModelError(f"{where}: expected {width} weights, got {len(parts)}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise IntentModelError(f"{where}: bad weight in {value[:40]!r}") from None
    if not all(math.isfinite(x) for x in numbers):
        raise IntentModelError(f"{where}: weight is not finite")
    return numbers
