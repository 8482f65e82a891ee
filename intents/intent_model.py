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
weights ship as `intent_model.bin`, written by that script only, a `binfile` container (read in a few
milliseconds; the former text form took 0.2-0.4 s of every start to parse):

    format   loudong-intent-ngram/2
    meta     comment (the trainer's header), classes (the 17 intents, in the order of every weight row),
             max_n, the thresholds of the combination rule (propose, veto, switch, quiet, emergency_veto;
             see engine.py), scale (1000), grams (the vocabulary, in the order of the weight rows)
    arrays   weights (n-grams x classes) and bias (one per class), each round(weight x scale) as 16-bit
             integers (32-bit if one does not fit): the weights are three-decimal numbers, and q / 1000 is
             the same float as the decimal text "q/1000" parsed, so the format changed no score.
"""

from __future__ import annotations

import heapq
import math
import operator
import re
import time
from pathlib import Path
from typing import Any, Final

import numpy as np

from intents.binfile import BinFileError, pack, unpack
from intents.matcher import NEVER, build_automaton
from intents.model import Intent
from intents.native import PACKAGE_DIR

FORMAT = "loudong-intent-ngram/2"
# The package's directory, not this file's: a compiled module's __file__ is elsewhere.
DEFAULT_INTENT_MODEL_PATH = PACKAGE_DIR / "intent_model.bin"
SCALE = 1000  # weights are stored as round(weight x SCALE)
_DIGITS: Final = str.maketrans("0123456789", "0000000000")
_ROW: Final = operator.itemgetter(1)  # of an automaton match (end, row)
_PLACEHOLDER: Final = -1  # the row of the automaton's placeholders, which no text without a NUL matches
_THRESHOLDS: Final = ("propose", "veto", "switch", "quiet", "emergency_veto")
_add_reduce = np.add.reduce


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
_DIGITS_ANY: Final = re.compile(r"\d")


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
        "_margins",
        "_rankings",
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
        # Per intent column, each row's place in the ranking of `evidence`, built on first use (`_ranking`).
        self._rankings: dict[int, tuple[np.ndarray, list[int]]] = {}
        self._automaton = build_automaton(((gram, row) for row, gram in enumerate(grams)), _PLACEHOLDER)

    def rows(self, norm: str) -> list[int]:
        """The weight rows of the model's n-grams in the text (each once)."""
        if not self.grams:
            return []
        # No digit folding here: the vocabulary has no n-gram with a digit (folded or not), so a digit only
        # keeps n-grams out either way, and str.translate costs about 7 µs on Chinese text.
        found: Any = map(_ROW, self._automaton.iter(norm))
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
            # `np.add.reduce` is what `ndarray.sum` calls, minus its Python wrapper (numpy's `_methods._sum`):
            # the same sums, one Python frame fewer on half of all messages.
            summed = _add_reduce(self.weights.take(rows, axis=0), 0).tolist()
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
        # Each row's place in the column's ranking, looked up in one small integer array: ranking the rows
        # per call read, per row, a margin, an n-gram and a weight from Python lists of 42k objects, a few
        # cache misses each, which in the engine's pipeline (the caches full of other stages' data) cost
        # about 150 µs per explained decision.
        rank, order = self._ranking(column)
        unranked = len(order)
        places = heapq.nsmallest(count, rank.take(rows).tolist())
        grams = self.grams
        weights = self.weights
        return [(grams[r], float(weights[r, column])) for r in (order[k] for k in places if k < unranked)]

    def rank_columns(self) -> None:
        """Build every column's ranking for `evidence` now (`IntentEngine.warm` does, in its thread)."""
        for column in range(len(self.classes)):
            self._ranking(column)
            time.sleep(0)  # let the other threads run (compiled, this thread would not give way by itself)

    def _ranking(self, column: int) -> tuple[np.ndarray, list[int]]:
        """The rows of positive margin for the column in the order of `evidence` (n-grams of two or three
        characters before single ones, then the larger margin, then the n-gram's string order: a total
        order, the grams being distinct), and each row's place in it (the count of ranked rows for a row
        of no positive margin), computed once per column (a few milliseconds)."""
        ranking = self._rankings.get(column)
        if ranking is None:
            grams = self.grams
            margins = self._margins[:, column]
            rows = np.flatnonzero(margins > 0)
            single = np.array([len(grams[r]) < 2 for r in rows.tolist()], dtype=bool)
            by_string = sorted(range(len(rows)), key=[grams[r] for r in rows.tolist()].__getitem__)
            string_place = np.empty(len(rows), dtype=np.int64)
            string_place[by_string] = np.arange(len(rows))
            # np.lexsort: the last key first.
            order = rows[np.lexsort((string_place, -margins[rows], single))]
            rank = np.full(len(grams), len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            ranking = (rank, order.tolist())
            self._rankings[column] = ranking  # the same whichever thread builds it first
        return ranking

    def to_bytes(self, header: str = "") -> bytes:
        """The model file's bytes (`binfile`); `header` is kept as the file's comment. Weights and bias are
        rounded to three decimals, as the text form wrote them."""
        weights = _thousandths(self.weights)
        bias = _thousandths(self.bias)
        meta = {
            "comment": header,
            "classes": [c.value for c in self.classes],
            "max_n": self.max_n,
            **{name: float(getattr(self, name)) for name in _THRESHOLDS},
            "scale": SCALE,
            "grams": list(self.grams),
        }
        return pack(FORMAT, meta, {"weights": weights, "bias": bias})


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


def _thousandths(values: np.ndarray) -> np.ndarray:
    """round(value x SCALE) as the text form rounded (each value formatted to three decimals), as 16-bit
    integers, or 32-bit if one does not fit."""
    flat = [round(float(f"{float(v):.3f}") * SCALE) for v in np.asarray(values, dtype=np.float64).ravel()]
    out = np.array(flat, dtype=np.int64).reshape(values.shape)
    if out.size and int(np.abs(out).max()) >= 2**31:
        raise ValueError("a weight does not fit 32 bits in thousandths")
    small = not out.size or int(np.abs(out).max()) < 2**15
    return out.astype("<i2" if small else "<i4")


def load_intent_model(path: str | Path = DEFAULT_INTENT_MODEL_PATH) -> IntentModel:
    """Read a model file; any problem raises `IntentModelError` naming the file and what is wrong."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IntentModelError(f"{path}: cannot read intent model: {exc}") from exc
    try:
        meta, arrays = unpack(data, FORMAT)
    except BinFileError as error:
        raise IntentModelError(f"{path}: not an intent model: {error}") from None
    return _from_parts(meta, arrays, path)


def _from_parts(meta: dict[str, object], arrays: dict[str, np.ndarray], path: Path) -> IntentModel:
    try:
        classes = tuple(Intent(name) for name in meta["classes"])  # type: ignore[attr-defined]
    except (KeyError, TypeError, ValueError) as exc:
        raise IntentModelError(f"{path}: missing or bad classes: {exc}") from None
    if len(set(classes)) != len(classes) or set(classes) != set(Intent):
        raise IntentModelError(f"{path}: classes must name each intent once")
    try:
        max_n = meta["max_n"]
        scale = meta["scale"]
        thresholds: dict[str, Any] = {name: meta[name] for name in _THRESHOLDS}
        if not all(type(t) in (int, float) for t in thresholds.values()):
            raise ValueError("a threshold is not a number")
        if type(max_n) is not int or type(scale) is not int or scale < 1:
            raise ValueError("max_n and scale must be integers")
    except (KeyError, ValueError) as error:
        raise IntentModelError(f"{path}: missing or bad header field: {error}") from None
    if not 1 <= max_n <= 5 or not all(0.0 < t <= 1.0 for t in thresholds.values()):
        raise IntentModelError(f"{path}: thresholds must be in (0, 1], max_n in 1..5")
    grams = meta.get("grams")
    # (Checked with C-level passes, not a generator over the n-grams: a few milliseconds of every start.)
    if not isinstance(grams, list) or not set(map(type, grams)) <= {str}:
        raise IntentModelError(f"{path}: grams must be a list of non-empty strings")
    if not grams:
        raise IntentModelError(f"{path}: no weights")
    unique = set(grams)
    if "" in unique:
        raise IntentModelError(f"{path}: grams must be a list of non-empty strings")
    if len(unique) != len(grams):
        seen: set[str] = set()
        twice = next(g for g in grams if g in seen or seen.add(g))  # type: ignore[func-returns-value]
        raise IntentModelError(f"{path}: n-gram {twice!r} twice")
    weights, bias = arrays.get("weights"), arrays.get("bias")
    if weights is None or bias is None:
        raise IntentModelError(f"{path}: missing weights or bias")
    if weights.dtype.kind != "i" or bias.dtype.kind != "i":
        raise IntentModelError(f"{path}: weights and bias must be integers (thousandths)")
    if weights.shape != (len(grams), len(classes)):
        got = " x ".join(map(str, weights.shape))
        raise IntentModelError(f"{path}: expected {len(grams)} x {len(classes)} weights, got {got}")
    if bias.shape != (len(classes),):
        raise IntentModelError(f"{path}: expected {len(classes)} bias values, got {bias.size}")
    # q / scale: the same float as the decimal the text form wrote (an exact quotient correctly rounded).
    return IntentModel(
        grams,
        weights.astype(np.float64) / float(scale),
        bias.astype(np.float64) / float(scale),
        classes=classes,
        max_n=max_n,
        path=path,
        **{name: float(t) for name, t in thresholds.items()},
    )
