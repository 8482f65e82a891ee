"""The emergency second opinion: a character n-gram naive Bayes model scoring P(emergency).

Pure Python (no numpy): the log-likelihood ratios of the distinct 1-3-grams of the normalised text are
summed with the prior log-odds and squashed.
The engine asks it only when the keyword result is not an emergency, and overrules the keywords only
above the model's threshold and when the message is not hypothetical, past, hearsay, resolved, a drill
or a joke (engine.py). Trained by `python -m intents.train_emergency` on the tuning part; the weights
ship as `emergency_model.txt` (one `weight<TAB>n-gram` per line, sorted, so a retrain diffs cleanly).

File format:

    # comment lines
    format<TAB>loudong-emergency-ngram/1
    bias<TAB>-3.1
    threshold<TAB>0.62
    ticket_threshold<TAB>0.95
    max_n<TAB>3
    0.8312<TAB>救命
    ...
"""

from __future__ import annotations

import math
import operator
import re
from pathlib import Path
from typing import Final

from intents.matcher import NEVER, build_automaton
from intents.native import PACKAGE_DIR

FORMAT = "loudong-emergency-ngram/1"
# The package's directory, not this file's: a compiled module's __file__ is elsewhere.
DEFAULT_EMERGENCY_MODEL_PATH = PACKAGE_DIR / "emergency_model.txt"
_DIGIT: Final = re.compile("[0-9]")
_MATCH: Final = operator.itemgetter(1)  # of an automaton match (end, (n-gram, weight))
# The value of the automaton's placeholders, matched only in a text with a NUL.
_PLACEHOLDER: Final = ("", 0.0)


class EmergencyModelError(ValueError):
    """The model file is missing or malformed; the message names the file."""


def fold_digits(norm: str) -> str:
    """Every digit as 0: phone numbers and floors are no evidence. (A regex, not str.translate, which
    costs about 7 µs on Chinese text; most messages have no digit and are returned as they are.)"""
    if _DIGIT.search(norm) is None:
        return norm
    return _DIGIT.sub("0", norm)


def ngrams(norm: str, max_n: int = 3) -> set[str]:
    """The distinct character 1..max_n-grams of normalised text, digits folded to 0 (phone numbers and
    floors are no evidence). N-grams with a space are included but never carry weight (the trainer
    leaves them out), so a message is scored as if split at its spaces."""
    text = fold_digits(norm)
    grams = set(text)
    n = len(text)
    for k in range(2, max_n + 1):
        grams.update([text[i : i + k] for i in range(n - k + 1)])
    return grams


class EmergencyModel:
    """Its weights and thresholds are fixed once loaded; `score` is thread-safe (the one mutable slot, the
    last text scored, is replaced whole)."""

    __slots__ = ("_automaton", "_last", "bias", "max_n", "path", "threshold", "ticket_threshold", "weights")

    def __init__(
        self,
        weights: dict[str, float],
        bias: float,
        threshold: float,
        max_n: int = 3,
        path: Path | None = None,
        *,
        ticket_threshold: float | None = None,
    ) -> None:
        self.weights = weights
        self.bias = bias
        self.threshold = threshold
        # For a message the keywords made a (non-emergency) ticket: overruling a deliberate ticket needs more.
        self.ticket_threshold = threshold if ticket_threshold is None else ticket_threshold
        self.max_n = max_n
        self.path = path
        # The n-grams found by one Aho-Corasick pass (C) instead of slicing every 1-3-gram of the text and
        # looking each up: half the time. Its n-grams have no digit, so the text needs no digit folding.
        self._automaton = build_automaton(((gram, (gram, w)) for gram, w in weights.items()), _PLACEHOLDER)
        # The last text scored and its margin, as one tuple (replaced whole, so a thread reads a consistent
        # pair): the engine scores the same text up to three times per message (the gate, the intent
        # model's disbelief and agreement rules), and the automaton pass is most of a score.
        self._last: tuple[str, float] = ("", bias)

    def margin(self, norm: str) -> float:
        """The log-odds: the prior plus the weights of the distinct model n-grams in the text (the same
        sum as over `ngrams(norm)`, whose other n-grams weigh nothing)."""
        last = self._last
        if last[0] == norm:
            return last[1]
        if not self.weights:
            return self.bias
        found = self._automaton.iter(norm)
        if NEVER in norm:  # only then can a placeholder match (`matcher`): never in normalised text
            found = (match for match in found if match[1] is not _PLACEHOLDER)
        z = self.bias + sum(dict(map(_MATCH, found)).values(), 0.0)
        self._last = (norm, z)
        return z

    def found(self, norm: str) -> dict[str, tuple[int, float]]:
        """The model's n-grams in the text with a positive weight: n-gram -> (first start, weight), from
        the same automaton pass as `margin` (for explaining a decision without slicing every n-gram)."""
        out: dict[str, tuple[int, float]] = {}
        for end, (gram, weight) in self._automaton.iter(norm) if self.weights else ():
            if weight > 0 and gram not in out:  # a placeholder (weight 0) is never kept
                out[gram] = (end + 1 - len(gram), weight)
        return out

    def score(self, norm: str) -> float:
        """P(emergency) for normalised text."""
        z = self.margin(norm)
        if z < -30:
            return 0.0
        return 1.0 / (1.0 + math.exp(-z))

    def dumps(self, header: str = "") -> str:
        lines = [f"# {line}".rstrip() for line in header.splitlines()]
        lines += [
            f"format\t{FORMAT}",
            f"bias\t{self.bias:.4f}",
            f"threshold\t{self.threshold}",
            f"ticket_threshold\t{self.ticket_threshold}",
            f"max_n\t{self.max_n}",
        ]
        for gram, weight in sorted(self.weights.items(), key=lambda x: (-x[1], x[0])):
            lines.append(f"{weight:.4f}\t{gram}")
        return "\n".join(lines) + "\n"


def load_emergency_model(path: str | Path = DEFAULT_EMERGENCY_MODEL_PATH) -> EmergencyModel:
    """Read a model file; any problem raises `EmergencyModelError` naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EmergencyModelError(f"{path}: cannot read emergency model: {exc}") from exc
    header: dict[str, str] = {}
    weights: dict[str, float] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        key, tab, value = line.partition("\t")
        if not tab or not key or not value:
            raise EmergencyModelError(f"{path}:{lineno}: expected 'key<TAB>value', got {line[:40]!r}")
        if key in ("format", "bias", "threshold", "ticket_threshold", "max_n"):
            header[key] = value
            continue
        if value in weights:
            raise EmergencyModelError(f"{path}:{lineno}: n-gram {value!r} twice")
        try:
            weight = float(key)
        except ValueError:
            raise EmergencyModelError(f"{path}:{lineno}: bad weight {key!r}") from None
        if not math.isfinite(weight):
            raise EmergencyModelError(f"{path}:{lineno}: weight is not finite")
        weights[value] = weight
    if header.get("format") != FORMAT:
        raise EmergencyModelError(f"{path}: not an emergency model (format must be {FORMAT!r})")
    try:
        bias = float(header["bias"])
        threshold = float(header["threshold"])
        ticket_threshold = float(header["ticket_threshold"])
        max_n = int(header["max_n"])
    except (KeyError, ValueError) as error:
        raise EmergencyModelError(f"{path}: missing or bad header field: {error}") from None
    if (
        not (0.0 < threshold < 1.0)
        or not (0.0 < ticket_threshold < 1.0)
        or not math.isfinite(bias)
        or not 1 <= max_n <= 5
    ):
        raise EmergencyModelError(f"{path}: threshold must be in (0, 1), max_n in 1..5")
    if not weights:
        raise EmergencyModelError(f"{path}: no weights")
    return EmergencyModel(weights, bias, threshold, max_n, path, ticket_threshold=ticket_threshold)
