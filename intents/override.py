"""The baseline emergency override: a third opinion that only ever says "emergency".

The rule was written down before held-out v15 existed (tests/data/README.md, "The emergency override"):
the engine's result, except an emergency whenever the TF-IDF + LinearSVC baseline of
benchmarks/intents_bench.py (character 1-3-grams of the normalised text, sublinear tf, smooth idf, L2
norm; a linear SVM over the 17 intents, C 1, balanced class weights, trained on the whole tuning part)
puts `emergency` first. On the eight blind sets v15-v22 it caught ten more emergencies of 160 (each the
one the engine missed: a crane jib buckling, an oxygen concentrator stopped, puffer-fish poisoning, a
crowd crush, a kayak drifting out to sea …) for 0.6 more false tickets per 150 chatter messages. The
engine asks it only about a message it did not already call an emergency, with at least
`OVERRIDE_MIN_CHARS` word characters, that is not hypothetical, past, hearsay, resolved, a drill or a joke
(engine.py: `IntentEngine.override_applies`).

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

File format (`override_model.txt.gz`: gzip of text, one line per field, by column, so that it loads in a few
calls rather than a Python loop over 121k lines; the weights as base64 of 16-bit integers, which numpy reads
without parsing: 0.1 s, not 0.2 s with them in decimals):

    # comment lines
    format<TAB>loudong-override-tfidf-svm/1
    classes<TAB>ack chitchat ... thrown_objects   (the 17 intents, in the order of the weight lines)
    documents<TAB>8002        (the training messages: idf = ln((1 + documents) / (1 + df)) + 1)
    max_n<TAB>3
    scale<TAB>1000            (each weight is stored as round(weight x scale))
    bias<TAB>-0.778941 -0.141061 ...
    grams<TAB>救<TAB>救命<TAB>...  (the vocabulary, tab-separated: a normalised text has no tab)
    df<TAB>12 3 ...           (each n-gram's document frequency)
    ack<TAB>AQD+/z...         (one line per class, as `classes`: each n-gram's weight, round(weight x
    ...                        scale), as little-endian 16-bit integers in base64)
    ...
"""

from __future__ import annotations

import base64
import gzip
import math
import warnings
import zlib
from pathlib import Path

import numpy as np

from intents.model import Intent

FORMAT = "loudong-override-tfidf-svm/1"
DEFAULT_OVERRIDE_MODEL_PATH = Path(__file__).with_name("override_model.txt.gz")
# An n-gram of up to three characters as one 64-bit key: the code points (< 2**21) side by side, and a tag
# in the top bits telling the lengths apart (a trigram uses bits 0-62 and has neither tag bit).
_SHIFT = np.uint64(21)
_SHIFT2 = np.uint64(42)
_TAG2 = np.uint64(1 << 63)
_TAG1 = np.uint64((1 << 63) | (1 << 62))
# The override's confidence: the softmax of its 17 scores times this (the intent model's temperature;
# the SVM's scores are margins, not log-odds).
TEMPERATURE = 5.0


def _text_keys(codes: np.ndarray, max_n: int) -> np.ndarray:
    """The keys of every 1..max_n-gram at every position of a text given as its code points (uint64)."""
    parts = [codes | _TAG1]
    if max_n >= 2:
        parts.append((codes[:-1] << _SHIFT) | codes[1:] | _TAG2)
    if max_n >= 3:
        parts.append((codes[:-2] << _SHIFT2) | (codes[1:-1] << _SHIFT) | codes[2:])
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


_HEADER = ("format", "classes", "documents", "max_n", "scale", "bias", "grams", "df")


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
        self._keys = keys[order]
        self._rows = order
        if len(keys) > 1 and bool((self._keys[1:] == self._keys[:-1]).any()):
            raise ValueError("an n-gram twice")
        self._emergency = classes.index(Intent.EMERGENCY)

    def found(self, norm: str) -> tuple[np.ndarray, np.ndarray]:
        """The weight rows of the vocabulary n-grams in the normalised text and how often each occurs
        (scikit-learn's char analyzer: every 1..max_n-gram at every position), rows ascending."""
        raw = norm.encode("utf-32-le", "surrogatepass")  # code points, a lone surrogate too
        codes = np.frombuffer(raw, dtype=np.uint32).astype(np.uint64)
        keys = _text_keys(codes, self.max_n)
        vocabulary = self._keys
        pos = np.searchsorted(vocabulary, keys)
        pos[pos == len(vocabulary)] = 0
        rows = np.sort(self._rows[pos[vocabulary[pos] == keys]])
        if not rows.size:
            return rows, rows
        # np.unique's work, without its generality (half the time): the first of each run of equal rows.
        first = np.empty(rows.size, dtype=bool)
        first[0] = True
        np.not_equal(rows[1:], rows[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        return rows[starts], np.diff(starts, append=rows.size)

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

    def dumps(self, header: str = "") -> str:
        lines = [f"# {line}".rstrip() for line in header.splitlines()]
        lines += [
            f"format\t{FORMAT}",
            "classes\t" + " ".join(c.value for c in self.classes),
            f"documents\t{self.documents}",
            f"max_n\t{self.max_n}",
            f"scale\t{self.scale}",
            "bias\t" + " ".join(f"{float(b):.6f}" for b in self.bias),
            "grams\t" + "\t".join(self.grams),
            "df\t" + " ".join(map(str, self.df.tolist())),
        ]
        if np.abs(self.weights).max(initial=0) >= 2**15:
            raise ValueError("weights must fit 16 bits (|round(weight x scale)| < 32768)")
        for column, intent in enumerate(self.classes):
            packed = self.weights[:, column].astype("<i2").tobytes()
            lines.append(f"{intent.value}\t" + base64.b64encode(packed).decode("ascii"))
        return "\n".join(lines) + "\n"


def dump_bytes(text: str) -> bytes:
    """The file's bytes: gzip with no timestamp (the same text, the same bytes on one zlib)."""
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def read_text(path: str | Path) -> str:
    """The decompressed text of a model file."""
    path = Path(path)
    try:
        return gzip.decompress(path.read_bytes()).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise OverrideModelError(f"{path}: cannot read override model: {exc}") from exc


def load_override_model(path: str | Path = DEFAULT_OVERRIDE_MODEL_PATH) -> OverrideModel:
    """Read a model file; any problem raises `OverrideModelError` naming the file and, for a bad line, the
    line number."""
    path = Path(path)
    return parse_override_model(read_text(path), path)


def parse_override_model(text: str, path: Path) -> OverrideModel:
    """The model in a file's text (`path` names it in errors)."""
    fields: dict[str, tuple[int, str]] = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        key, tab, value = line.partition("\t")
        if not tab or not key or not value:
            raise OverrideModelError(f"{path}:{lineno}: expected 'key<TAB>value', got {line[:40]!r}")
        if key in fields:
            raise OverrideModelError(f"{path}:{lineno}: {key!r} twice")
        fields[key] = (lineno, value)
    if fields.get("format", (0, ""))[1] != FORMAT:
        raise OverrideModelError(f"{path}: not an override model (format must be {FORMAT!r})")
    missing = [key for key in _HEADER if key not in fields]
    if missing:
        raise OverrideModelError(f"{path}: missing {', '.join(missing)}")
    lineno, value = fields["classes"]
    try:
        classes = tuple(Intent(name) for name in value.split())
    except ValueError as exc:
        raise OverrideModelError(f"{path}:{lineno}: {exc}") from None
    if len(set(classes)) != len(classes) or set(classes) != set(Intent):
        raise OverrideModelError(f"{path}:{lineno}: classes must name each intent once")
    numbers: dict[str, int] = {}
    for key in ("documents", "max_n", "scale"):
        lineno, value = fields[key]
        if not value.isdigit() or int(value) < 1:
            raise OverrideModelError(f"{path}:{lineno}: {key} must be a positive integer")
        numbers[key] = int(value)
    if numbers["max_n"] > 3:
        raise OverrideModelError(f"{path}:{fields['max_n'][0]}: max_n must be in 1..3")
    lineno, value = fields["bias"]
    try:
        bias = [float(b) for b in value.split(" ")]
    except ValueError:
        raise OverrideModelError(f"{path}:{lineno}: bad bias {value[:40]!r}") from None
    if len(bias) != len(classes) or not all(math.isfinite(b) for b in bias):
        raise OverrideModelError(f"{path}:{lineno}: bias must be {len(classes)} finite numbers")
    lineno, value = fields["grams"]
    grams = value.split("\t")
    if len(set(grams)) != len(grams) or not all(grams):
        raise OverrideModelError(f"{path}:{lineno}: an n-gram empty or twice")
    if max(map(len, grams)) > numbers["max_n"]:
        raise OverrideModelError(f"{path}:{lineno}: an n-gram longer than max_n")
    df = _integers(fields["df"], len(grams), path)
    if int(df.min()) < 1 or int(df.max()) > numbers["documents"]:
        raise OverrideModelError(f"{path}:{fields['df'][0]}: document frequencies must be in 1..documents")
    unknown = set(fields) - set(_HEADER) - {intent.value for intent in classes}
    if unknown:
        raise OverrideModelError(f"{path}: unknown fields {sorted(unknown)}")
    weights = np.empty((len(grams), len(classes)), dtype=np.int16)
    for j, intent in enumerate(classes):
        if intent.value not in fields:
            raise OverrideModelError(f"{path}: no weights for {intent.value}")
        lineno, value = fields[intent.value]
        try:
            packed = base64.b64decode(value, validate=True)
        except ValueError:
            raise OverrideModelError(f"{path}:{lineno}: weights are not base64") from None
        if len(packed) != 2 * len(grams):
            raise OverrideModelError(
                f"{path}:{lineno}: expected {len(grams)} weights, got {len(packed) / 2:g}"
            )
        weights[:, j] = np.frombuffer(packed, dtype="<i2")
    return OverrideModel(
        grams,
        df,
        weights,
        np.array(bias, dtype=np.float64),
        numbers["documents"],
        classes=classes,
        scale=numbers["scale"],
        max_n=numbers["max_n"],
        path=path,
    )


def _integers(field: tuple[int, str], count: int, path: Path) -> np.ndarray:
    """`count` integers of a line parsed by numpy in one call; any problem names the line."""
    lineno, value = field
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy only warns about unparsable text, and returns what it read
        try:
            numbers = np.fromstring(value, dtype=np.int64, sep=" ")
        except (ValueError, DeprecationWarning):
            raise OverrideModelError(f"{path}:{lineno}: expected {count} integers") from None
    if numbers.size != count or value.count(" ") != count - 1 or np.abs(numbers).max(initial=0) >= 2**31:
        raise OverrideModelError(f"{path}:{lineno}: expected {count} integers, got {numbers.size}")
    return numbers
