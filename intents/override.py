"""The baseline emergency override: a third opinion that only ever says "emergency".

The rule was written down before held-out v15 existed (tests/data/README.md, "The emergency override"):
the engine's result, except an emergency whenever the TF-IDF + LinearSVC baseline of
benchmarks/intents_bench.py (character 1-3-grams of the normalised text, sublinear tf, smooth idf, L2
norm; a linear SVM over the 17 intents, C 1, balanced class weights, trained on the whole tuning part)
puts `emergency` first. On the eight blind sets v15-v22 it caught ten more emergencies of 160 (each the
one the engine missed: a crane jib buckling, an oxygen concentrator stopped, puffer-fish poisoning, a
crowd crush, a kayak drifting out to sea …) for 0.6 more false tickets per 150 chatter messages. The
engine asks it only about a message it did not already call an emergency, with at least
`OVERRIDE_MIN_CHARS` word characters, that is not resolved (engine.py: `IntentEngine.override_applies`);
until held-out v31/v32 it also had to pass the emergency guards (not hypothetical, past, hearsay, a drill
or a joke), which on v29-v32 cost three of 80 emergencies for two false tickets fewer in 600.

This module scores the rule exactly as scikit-learn does, from the weights `python -m
intents.train_override` writes (scikit-learn is needed to train only; here numpy reads them): every
occurrence of every character 1-3-gram of the normalised text is looked up in the vocabulary, each n-gram
as one 64-bit integer key (its code points side by side) found by one numpy `searchsorted` in the sorted
keys of the vocabulary (no n-gram string is built: a dict of the n-gram strings took twice the time, and
an Aho-Corasick automaton over 121k n-grams 0.2-0.4 s to build at load), each vocabulary n-gram weighs (1
+ ln count) x idf, the vector is L2-normalised over them, and the 17 scores are its dot product with the
weight rows plus the intercepts. Only whether `emergency` is the largest matters. The weights are stored
in thousandths (integers): out of fold over the corpus and on the v15-v22 rows this gives the decision of
scikit-learn's `predict` for every message (`python -m intents.train_override --agreement`).

File format (`override_model.bin.gz`: gzip, for a small file, of a `binfile` container, whose arrays numpy
reads without parsing; the former text form, with the weights in base64, took about twice as long to load):

    format   loudong-override-tfidf-svm/2
    meta     comment (the trainer's header), classes (the 17 intents, in the order of the weight columns),
             documents (the training messages: idf = ln((1 + documents) / (1 + df)) + 1), max_n, scale
             (each weight is stored as round(weight x scale)), grams (the vocabulary, in row order)
    arrays   bias (one float per class, six decimals), df (each n-gram's document frequency, 32-bit),
             weights (n-grams x classes, round(weight x scale) as 16-bit integers, 32-bit if one does
             not fit)
"""

from __future__ import annotations

import gzip
import math
import zlib
from collections import Counter
from pathlib import Path
from typing import Final

import numpy as np

from intents.binfile import BinFileError, pack, unpack
from intents.model import Intent
from intents.native import PACKAGE_DIR

FORMAT = "loudong-override-tfidf-svm/2"
# The package's directory, not this file's: a compiled module's __file__ is elsewhere.
DEFAULT_OVERRIDE_MODEL_PATH = PACKAGE_DIR / "override_model.bin.gz"
# An n-gram of up to three characters as one 64-bit key: the code points (< 2**21) side by side, and a tag
# in the top bits telling the lengths apart (a trigram uses bits 0-62 and has neither tag bit).
_SHIFT: Final = np.uint64(21)
_SHIFT2: Final = np.uint64(42)
_TAG2: Final = np.uint64(1 << 63)
_TAG1: Final = np.uint64((1 << 63) | (1 << 62))
# After the vocabulary's keys, greater than any key (a unigram's is at most 2**64 - 2**62 + 2**21): a text's
# n-gram not in the vocabulary and above its last key is found at this position, not past the end.
_PAST: Final = np.array([(1 << 64) - 1], dtype=np.uint64)
# The override's confidence: the softmax of its 17 scores times this (the intent model's temperature;
# the SVM's scores are margins, not log-odds).
TEMPERATURE = 5.0


def _text_keys(codes: np.ndarray, max_n: int) -> np.ndarray:
    """The keys of every 1..max_n-gram at every position of a text given as its code points (uint64)."""
    parts = [codes | _TAG1]
    if max_n >= 2:
        shifted = codes << _SHIFT  # shared by the bigrams and trigrams (one numpy call fewer)
        parts.append(shifted[:-1] | codes[1:] | _TAG2)
        if max_n >= 3:
            parts.append((codes[:-2] << _SHIFT2) | shifted[1:-1] | codes[2:])
    return np.concatenate(parts)


def _gram_keys(grams: list[str]) -> np.ndarray:
    """The key of each n-gram (one to three characters), computed for all at once."""
    if not grams:
        return np.zeros(0, dtype=np.uint64)
    if min(map(len, grams)) < 1 or max(map(len, grams)) > 3:
        raise ValueError("n-grams must have one to three characters")
    joined = "\t".join(grams)  # no n-gram holds a tab (a normalised text has none)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    tabs = np.flatnonzero(codes == 9)
    if len(tabs) != len(grams) - 1:
        raise ValueError("an n-gram holds a tab")
    starts = np.concatenate(([0], tabs + 1))
    lengths = np.concatenate((tabs, [len(codes)])) - starts
    last = len(codes) - 1
    c0 = codes[starts]
    c1 = codes[np.minimum(starts + 1, last)]
    c2 = codes[np.minimum(starts + 2, last)]
    return np.where(
        lengths == 1,
        c0 | _TAG1,
        np.where(lengths == 2, (c0 << _SHIFT) | c1 | _TAG2, (c0 << _SHIFT2) | (c1 << _SHIFT) | c2),
    )


def _tfidf(idf: np.ndarray, rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each n-gram's (1 + ln count) x idf, as scikit-learn's sublinear tf times idf (most counts are 1)."""
    v = idf.take(rows)
    if counts.max() > 1:
        v = (np.log(counts) + 1.0) * v
    return v


class OverrideModelError(ValueError):
    """The model file is missing or malformed; the message names the file (and the line)."""


class OverrideModel:
    """Immutable once built; `emergency` is thread-safe (it only reads)."""

    __slots__ = (
        "_bias",
        "_emergency",
        "_keys",
        "_rows",
        "bias",
        "classes",
        "df",
        "documents",
        "grams",
        "idf",
        "max_n",
        "path",
        "scale",
        "weights",
    )

    def __init__(
        self,
        grams: list[str],
        df: np.ndarray,
        weights: np.ndarray,
        bias: np.ndarray,
        documents: int,
        *,
        classes: tuple[Intent, ...],
        scale: int = 1000,
        max_n: int = 3,
        path: Path | None = None,
    ) -> None:
        if (
            weights.shape != (len(grams), len(classes))
            or df.shape != (len(grams),)
            or bias.shape != (len(classes),)
        ):
            raise ValueError("weights must be n-grams x classes, df one per n-gram, bias one per class")
        self.grams = grams
        self.df = df
        self.weights = weights  # int16: round(weight x scale), as stored (4 MB for 121k n-grams)
        self.bias = bias
        self.documents = documents
        self.classes = classes
        self.scale = scale
        self.max_n = max_n
        self.path = path
        # scikit-learn's smooth idf, computed as it does (float64).
        self.idf = np.log((documents + 1) / (df.astype(np.float64) + 1)) + 1.0
        self._bias = bias.tolist()
        if max_n > 3:
            raise ValueError("max_n must be at most 3 (an n-gram is one 64-bit key)")
        # Each n-gram as one integer key (`_gram_keys`), sorted, with the weight row of each: a text's
        # n-grams are looked up by one numpy searchsorted, not a dict lookup per n-gram string.
        keys = _gram_keys(grams)
        order = np.argsort(keys, kind="stable")
        self._keys = np.concatenate((keys[order], _PAST))
        self._rows = order
        if len(keys) > 1 and bool((self._keys[1:-1] == self._keys[:-2]).any()):
            raise ValueError("an n-gram twice")
        self._emergency = classes.index(Intent.EMERGENCY)

    def found(self, norm: str) -> tuple[np.ndarray, np.ndarray]:
        """The weight rows of the vocabulary n-grams in the normalised text and how often each occurs
        (scikit-learn's char analyzer: every 1..max_n-gram at every position), rows ascending."""
        # Few numpy calls (each costs 2-10 µs in the engine's pipeline, whose other stages have pushed numpy's
        # code and data out of the caches, against under 1 µs timed alone): the keys found are counted by
        # `Counter` over a list rather than sorted and run-length counted in numpy (six calls and np.diff's).
        raw = norm.encode("utf-32-le", "surrogatepass")  # code points, a lone surrogate too
        keys = _text_keys(np.frombuffer(raw, dtype=np.uint32).astype(np.uint64), self.max_n)
        vocabulary = self._keys  # ends with `_PAST`, where no text key is ever found
        pos = vocabulary.searchsorted(keys)
        counts = Counter(self._rows.take(pos[vocabulary.take(pos) == keys]).tolist())
        rows = sorted(counts)
        return np.array(rows, dtype=np.int64), np.array([counts[r] for r in rows], dtype=np.int64)

    def scores(self, norm: str) -> list[float]:
        """The 17 decision values of the SVM for normalised text, in the order of `classes`."""
        return self._scores(*self.found(norm))

    def _scores(self, rows: np.ndarray, counts: np.ndarray) -> list[float]:
        if not rows.size:
            return list(self._bias)
        v = _tfidf(self.idf, rows, counts)
        summed = (v @ self.weights.take(rows, axis=0)).tolist()
        inv = 1.0 / (self.scale * math.sqrt(float(v @ v)))
        return [s * inv + b for s, b in zip(summed, self._bias, strict=True)]

    def emergency(self, norm: str) -> bool:
        """Whether `emergency` scores highest (ties: the first class, as numpy's argmax and scikit-learn)."""
        s = self.scores(norm)
        return s.index(max(s)) == self._emergency

    def opinion(self, norm: str, count: int) -> tuple[float, list[tuple[str, int, float]]] | None:
        """None unless `emergency` scores highest; then its softmax probability (the 17 scores times
        `TEMPERATURE`, as the intent model's: a confidence for the result, not a calibrated one) and the
        `count` n-grams of the text (no space in them; words of two or three characters before single
        ones) that speak most for emergency against the runner-up intent: (n-gram, first start, weight)."""
        rows, counts = self.found(norm)
        s = self._scores(rows, counts)
        e = self._emergency
        if s.index(max(s)) != e:
            return None
        top = max(s)
        exps = [math.exp(TEMPERATURE * (x - top)) for x in s]
        p = exps[e] / sum(exps)
        rest = [*s[:e], -math.inf, *s[e + 1 :]]
        second = rest.index(max(rest))
        # Each n-gram's share of the emergency score's lead, as in the scores: tf x idf over the L2 norm.
        v = _tfidf(self.idf, rows, counts)
        lead = self.weights[rows, e].astype(np.float64) - self.weights[rows, second]
        shares = (lead * v / (self.scale * math.sqrt(float(v @ v)))).tolist()
        ranked = []
        for r, w in zip(rows.tolist(), shares, strict=True):
            gram = self.grams[r]
            if w > 0 and " " not in gram:
                ranked.append((len(gram) < 2, -w, gram))
        ranked.sort()
        return p, [(gram, norm.find(gram), -w) for _, w, gram in ranked[:count]]

    def margin(self, norm: str) -> float:
        """The emergency score minus the largest other score: positive when the rule says emergency."""
        s = self.scores(norm)
        e = s.pop(self._emergency)
        return e - max(s)

    def to_bytes(self, header: str = "") -> bytes:
        """The model file's content (`binfile`, before gzip: `dump_bytes`); `header` is kept as its comment.
        The bias is rounded to six decimals, as the text form wrote it."""
        if np.abs(self.weights).max(initial=0) >= 2**31:
            raise ValueError("weights must fit 32 bits (|round(weight x scale)| < 2**31)")
        small = np.abs(self.weights).max(initial=0) < 2**15
        if self.df.size and int(self.df.max()) >= 2**31:
            raise ValueError("document frequencies must fit 32 bits")
        meta = {
            "comment": header,
            "classes": [c.value for c in self.classes],
            "documents": int(self.documents),
            "max_n": int(self.max_n),
            "scale": int(self.scale),
            "grams": list(self.grams),
        }
        arrays = {
            "bias": np.array([float(f"{float(b):.6f}") for b in self.bias], dtype="<f8"),
            "df": self.df.astype("<i4"),
            "weights": self.weights.astype("<i2" if small else "<i4"),
        }
        return pack(FORMAT, meta, arrays)


def dump_bytes(content: bytes) -> bytes:
    """The file's bytes: gzip with no timestamp (the same content, the same bytes on one zlib)."""
    return gzip.compress(content, compresslevel=9, mtime=0)


def read_content(path: str | Path) -> bytes:
    """The decompressed content of a model file."""
    path = Path(path)
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise OverrideModelError(f"{path}: cannot read override model: {exc}") from exc


def load_override_model(path: str | Path = DEFAULT_OVERRIDE_MODEL_PATH) -> OverrideModel:
    """Read a model file; any problem raises `OverrideModelError` naming the file and what is wrong."""
    path = Path(path)
    return parse_override_model(read_content(path), path)


def parse_override_model(content: bytes, path: Path) -> OverrideModel:
    """The model in a file's decompressed content (`path` names it in errors)."""
    try:
        meta, arrays = unpack(content, FORMAT)
    except BinFileError as exc:
        raise OverrideModelError(f"{path}: not an override model: {exc}") from None
    try:
        classes = tuple(Intent(name) for name in meta["classes"])
    except (KeyError, TypeError, ValueError) as error:
        raise OverrideModelError(f"{path}: missing or bad classes: {error}") from None
    if len(set(classes)) != len(classes) or set(classes) != set(Intent):
        raise OverrideModelError(f"{path}: classes must name each intent once")
    numbers: dict[str, int] = {}
    for key in ("documents", "max_n", "scale"):
        value = meta.get(key)
        if type(value) is not int or value < 1:
            raise OverrideModelError(f"{path}: {key} must be a positive integer")
        numbers[key] = value
    if numbers["max_n"] > 3:
        raise OverrideModelError(f"{path}: max_n must be in 1..3")
    grams = meta.get("grams")
    # (Checked with C-level passes: a generator over the 131k n-grams cost 15-20 ms of every start.)
    if not isinstance(grams, list) or not set(map(type, grams)) <= {str}:
        raise OverrideModelError(f"{path}: grams must be a list of non-empty strings")
    unique = set(grams)
    if "" in unique:
        raise OverrideModelError(f"{path}: grams must be a list of non-empty strings")
    if len(unique) != len(grams):
        raise OverrideModelError(f"{path}: an n-gram twice")
    if grams and max(map(len, grams)) > numbers["max_n"]:
        raise OverrideModelError(f"{path}: an n-gram longer than max_n")
    for name in ("bias", "df", "weights"):
        if name not in arrays:
            raise OverrideModelError(f"{path}: no {name}")
    bias, df, weights = arrays["bias"], arrays["df"], arrays["weights"]
    if bias.dtype.kind != "f" or bias.shape != (len(classes),) or not np.isfinite(bias).all():
        raise OverrideModelError(f"{path}: bias must be {len(classes)} finite numbers")
    if df.dtype.kind != "i" or df.shape != (len(grams),):
        raise OverrideModelError(f"{path}: expected {len(grams)} document frequencies, got {df.size}")
    if df.size and (int(df.min()) < 1 or int(df.max()) > numbers["documents"]):
        raise OverrideModelError(f"{path}: document frequencies must be in 1..documents")
    if weights.dtype.kind != "i" or weights.shape != (len(grams), len(classes)):
        got = " x ".join(map(str, weights.shape))
        raise OverrideModelError(f"{path}: expected {len(grams)} x {len(classes)} integer weights, got {got}")
    return OverrideModel(
        grams,
        df.astype(np.int64),
        weights,
        bias.astype(np.float64),
        numbers["documents"],
        classes=classes,
        scale=numbers["scale"],
        max_n=numbers["max_n"],
        path=path,
    )
