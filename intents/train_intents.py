"""Train the intent second opinion (intent_model.py) and measure it by leave-one-author-out
cross-validation.

    .venv/bin/python -m intents.train_intents            # write intents/intent_model.txt (no CV)
    .venv/bin/python -m intents.train_intents --cv-only  # the CV report (about 4 minutes)
    .venv/bin/python -m intents.train_intents --choose   # CV, then write with the thresholds it chose
    .venv/bin/python -m intents.train_intents --check    # retrain and fail if the shipped file differs
    .venv/bin/python -m intents.train_intents --cv-only --lexicon old.toml  # CV with another lexicon

Model: softmax regression over the 17 intents, character 1-3-grams seen in at least `MIN_DF` messages,
L2 penalty `L2`, full-batch Adam for `ITERATIONS` steps from zero weights (deterministic: same data, same
file), then pruned to the `KEEP` n-grams with the largest weights and refitted on those. The weights do
not depend on the lexicon; the thresholds of the combination rule do.

Cross-validation: each blind author (sources heldout1..4, authors5) is one fold. For each fold, the
intent model and the emergency second opinion are trained on every other row, and the fold's messages
go through the engine as at run time (`IntentEngine.classify_emergency`, `intent_model_applies`,
`intent_opinion`). Thresholds: the grid point maximising macro-F1 minus `FT_WEIGHT` times the
false-ticket rate (noise is the bot's worst sin) on the pooled `BLIND` folds (authors the lexicon had
not been tuned on), with emergency recall never below the keywords'; each fold is also reported with
thresholds chosen on the other blind folds only (nested). The shipped `THRESHOLDS` were chosen so on
2026-11-28, before the lexicon was tuned on heldout4 and authors5; a `--choose` now would choose on folds
the lexicon has learnt, so it is for the next blind author, folded in before any lexicon tuning.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from intents.emergency import ngrams as emergency_ngrams
from intents.engine import IntentEngine, intent_opinion, objects_only
from intents.evaluate import read_corpus
from intents.intent_model import DEFAULT_INTENT_MODEL_PATH, IntentModel, features, scale
from intents.model import QUIET_INTENTS, TICKET_INTENTS, Intent
from intents.normalize import normalize
from intents.train_emergency import train as train_emergency

TUNING = Path(__file__).resolve().parents[1] / "tests" / "data" / "intents_tuning.jsonl"
AUTHORS = ("heldout1", "heldout2", "heldout3", "heldout4", "authors5", "heldout5", "heldout6")
CLASSES = tuple(Intent)
MIN_DF = 2
L2 = 1e-4  # per message
ITERATIONS = 300
LEARNING_RATE = 0.05
KEEP = 6000
FT_WEIGHT = 2.0
# Chosen by `--choose` on 2026-11-28 (17:00 UTC), on heldout3, heldout4 and authors5 before the lexicon was
# tuned on the last two (tests/data/README.md has the CV table). Lifting the veto's design floor of 0.8 made
# the CV choose 0.5, but that silenced real reports the folds lack (2单元402漏水了,急 with a phone number
# and an ID: P(chatter) 0.71), so the floor stays.
THRESHOLDS = {"propose": 0.2, "veto": 0.8, "switch": 0.4, "quiet": 1.0, "emergency_veto": 0.6}
# The authors the lexicon had not been tuned on when the thresholds were chosen (2026-11-28): heldout3 and
# heldout4 were folded in untouched, authors5 written for this. On heldout1-2 the lexicon is near perfect
# (it was tuned on them), so any second opinion only loses there; choosing on them would silence it.
BLIND = ("heldout3", "heldout4", "authors5")
# 1.0 turns a rule off. Design floors, set before looking at the CV: the veto of a keyword ticket starts
# at 0.8 and the emergency veto at 0.6. The lexicon stays the primary decision: a community's own words
# (电梯又罢工了, 水表冻了) are unknown to the model, and a short message gives it little to read, so it may
# silence the keywords only when it is sure of chatter.
GRID = {
    "propose": (0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0),
    "veto": (0.8, 0.85, 0.9, 0.95, 1.0),
    "switch": (0.3, 0.4, 0.5, 0.6, 0.8, 1.0),
    "quiet": (0.5, 0.7, 0.9, 1.0),
    "emergency_veto": (0.6, 0.7, 0.8, 0.9, 1.0),
}


@dataclass
class Design:
    """A sparse design matrix in both row-major and column-major order: X @ W and X.T @ G become one
    gather and one segmented sum each (np.add.reduceat), fast enough to fit in seconds."""

    rows: np.ndarray  # entries by row: the row, column and value of each
    cols: np.ndarray
    vals: np.ndarray
    row_starts: np.ndarray  # where each non-empty row's entries start
    row_ids: np.ndarray  # which rows are non-empty
    by_col: np.ndarray  # the entries re-ordered by column
    col_starts: np.ndarray
    col_ids: np.ndarray
    n: int
    width: int

    @classmethod
    def build(cls, norms: list[str], vocab: dict[str, int]) -> Design:
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for r, norm in enumerate(norms):
            found = sorted(vocab[g] for g in features(norm) if g in vocab)
            rows.extend([r] * len(found))
            cols.extend(found)
            vals.extend([scale(norm)] * len(found))
        row_arr = np.array(rows, dtype=np.int64)
        col_arr = np.array(cols, dtype=np.int64)
        by_col = np.argsort(col_arr, kind="stable")
        row_ids, row_starts = np.unique(row_arr, return_index=True)
        col_ids, col_starts = np.unique(col_arr[by_col], return_index=True)
        return cls(
            row_arr,
            col_arr,
            np.array(vals, dtype=np.float64),
            row_starts,
            row_ids,
            by_col,
            col_starts,
            col_ids,
            len(norms),
            len(vocab),
        )

    def times(self, weights: np.ndarray) -> np.ndarray:
        """X @ W."""
        out = np.zeros((self.n, weights.shape[1]))
        if len(self.cols):
            out[self.row_ids] = np.add.reduceat(weights[self.cols] * self.vals[:, None], self.row_starts)
        return out

    def transpose_times(self, g: np.ndarray) -> np.ndarray:
        """X.T @ G."""
        out = np.zeros((self.width, g.shape[1]))
        if len(self.cols):
            entries = self.by_col
            out[self.col_ids] = np.add.reduceat(
                g[self.rows[entries]] * self.vals[entries][:, None], self.col_starts
            )
        return out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _fit(design: Design, y: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression by full-batch Adam from zeros: mean cross-entropy + L2/2 |W|^2."""
    n, k = len(y), len(CLASSES)
    target = np.zeros((n, k))
    target[np.arange(n), y] = 1.0
    w = np.zeros((width, k))
    b = np.zeros(k)
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros(k), np.zeros(k)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, ITERATIONS + 1):
        g = (_softmax(design.times(w) + b) - target) / n
        grad_w = design.transpose_times(g) + L2 * w
        grad_b = g.sum(axis=0)
        m_w = beta1 * m_w + (1 - beta1) * grad_w
        v_w = beta2 * v_w + (1 - beta2) * grad_w * grad_w
        m_b = beta1 * m_b + (1 - beta1) * grad_b
        v_b = beta2 * v_b + (1 - beta2) * grad_b * grad_b
        c1, c2 = 1 - beta1**step, 1 - beta2**step
        w -= LEARNING_RATE * (m_w / c1) / (np.sqrt(v_w / c2) + eps)
        b -= LEARNING_RATE * (m_b / c1) / (np.sqrt(v_b / c2) + eps)
    return w, b


def train(norms: list[str], labels: list[Intent], *, keep: int = KEEP) -> IntentModel:
    """The model for these messages: vocabulary by document frequency, a first fit, the `keep` n-grams
    with the largest weights, a second fit on those (deterministic)."""
    df: Counter[str] = Counter()
    for norm in norms:
        df.update(features(norm))
    vocab_list = sorted(g for g, c in df.items() if c >= MIN_DF)
    y = np.array([CLASSES.index(label) for label in labels])
    vocab = {g: i for i, g in enumerate(vocab_list)}
    if len(vocab_list) > keep:
        w, _ = _fit(Design.build(norms, vocab), y, len(vocab))
        strength = np.abs(w).max(axis=1)
        order = sorted(range(len(vocab_list)), key=lambda i: (-strength[i], vocab_list[i]))[:keep]
        vocab_list = sorted(vocab_list[i] for i in order)
        vocab = {g: i for i, g in enumerate(vocab_list)}
    w, b = _fit(Design.build(norms, vocab), y, len(vocab))
    # Rounded as the file stores them, so a model in memory scores exactly as the shipped one.
    return IntentModel(vocab_list, np.round(w, 3), np.round(b, 3))


@dataclass
class FoldRow:
    """One message of a fold, as the engine sees it with models trained without its author."""

    source: str
    label: Intent
    keywords: Intent  # classify_keywords
    engine: Intent  # keywords + emergency second opinion (what the intent model is asked about)
    asks: bool  # IntentEngine.intent_model_applies
    probabilities: list[float]
    confidence: float  # of the engine's result
    text: str
    objects_only: bool = False  # engine.objects_only: the keywords found only objects (楼上, 装修)


def _sources() -> list[str]:
    return [
        json.loads(line).get("source", "")
        for line in TUNING.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def fold_rows(out: TextIO = sys.stdout, lexicon: Path | None = None) -> list[FoldRow]:
    """Every row of every author fold, scored by models trained on all other rows; the keywords are the
    shipped lexicon's, or those of `lexicon` instead (an older one, to measure before lexicon tuning)."""
    examples = read_corpus(TUNING)
    sources = _sources()
    norms = [normalize(ex.text) for ex in examples]
    labels = [ex.intent for ex in examples]
    if lexicon is None:
        engine = IntentEngine.load(intent_model=None)
    else:
        engine = IntentEngine.load([lexicon], include_default=False, intent_model=None)
    shipped = engine.emergency_model
    assert shipped is not None
    masked = [engine.second_opinion_text(n) for n in norms]
    grams = [emergency_ngrams(m) for m in masked]
    rows: list[FoldRow] = []
    for author in [a for a in AUTHORS if a in sources]:
        train_idx = [i for i, s in enumerate(sources) if s != author]
        test_idx = [i for i, s in enumerate(sources) if s == author]
        emergency = train_emergency(
            [grams[i] for i in train_idx],
            [labels[i] is Intent.EMERGENCY for i in train_idx],
            threshold=shipped.threshold,
        )
        emergency.ticket_threshold = shipped.ticket_threshold
        engine.emergency_model = emergency
        model = train([norms[i] for i in train_idx], [labels[i] for i in train_idx])
        for i in test_idx:
            result = engine.classify_emergency(examples[i].text)
            rows.append(
                FoldRow(
                    author,
                    labels[i],
                    engine.classify_keywords(examples[i].text).intent,
                    result.intent,
                    engine.intent_model_applies(result),
                    model.probabilities(result.text),
                    result.confidence,
                    examples[i].text,
                    objects_only(result),
                )
            )
        out.write(f"  fold {author}: {len(test_idx)} messages, model of {len(model.grams)} n-grams\n")
        out.flush()
    return rows


@dataclass(frozen=True)
class Figures:
    messages: int
    macro_f1: float
    false_tickets: int
    quiet: int
    emergencies: int
    caught: int

    @property
    def false_ticket_rate(self) -> float:
        return self.false_tickets / self.quiet if self.quiet else 0.0

    @property
    def objective(self) -> float:
        return self.macro_f1 - FT_WEIGHT * self.false_ticket_rate

    def __str__(self) -> str:
        return (
            f"macro-F1 {self.macro_f1:.3f}  false tickets {self.false_tickets}/{self.quiet}"
            f" ({100 * self.false_ticket_rate:.1f} %)  emergencies {self.caught}/{self.emergencies}"
        )


def figures(labels: list[Intent], predicted: list[Intent]) -> Figures:
    """Macro-F1 over the intents present (as `intents.evaluate`), false tickets and emergency recall;
    computed on integer codes, since the threshold search calls it thousands of times."""
    y = np.array([_CODE[i] for i in labels])
    p = np.array([_CODE[i] for i in predicted])
    k = len(CLASSES)
    confusion = np.bincount(y * k + p, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(float)
    support, guessed = confusion.sum(axis=1), confusion.sum(axis=0)
    present = (support + guessed) > 0
    f1 = np.where(present, 2 * tp / np.maximum(support + guessed, 1), 0.0)
    quiet = np.isin(y, _QUIET_CODES)
    emergency = y == _CODE[Intent.EMERGENCY]
    return Figures(
        len(labels),
        float(f1[present].mean()) if present.any() else 0.0,
        int(np.isin(p[quiet], _TICKET_CODES).sum()),
        int(quiet.sum()),
        int(emergency.sum()),
        int((p[emergency] == _CODE[Intent.EMERGENCY]).sum()),
    )


_CODE = {intent: i for i, intent in enumerate(CLASSES)}
_QUIET_CODES = [_CODE[i] for i in QUIET_INTENTS]
_TICKET_CODES = [_CODE[i] for i in TICKET_INTENTS]


class _Thresholds:
    """What `intent_opinion` reads of a model, with thresholds of the grid."""

    def __init__(
        self, propose: float, veto: float, switch: float, quiet: float, emergency_veto: float
    ) -> None:
        self.classes = CLASSES
        self.index = {intent: i for i, intent in enumerate(CLASSES)}
        self.propose, self.veto, self.switch, self.quiet = propose, veto, switch, quiet
        self.emergency_veto = emergency_veto

    def __str__(self) -> str:
        return ", ".join(f"{name} {getattr(self, name)}" for name in GRID)


def hybrid(rows: list[FoldRow], t: _Thresholds, *, ask_all: bool = False) -> list[Intent]:
    out = []
    for r in rows:
        decided = (
            intent_opinion(r.engine, r.probabilities, t, objects_only=r.objects_only)  # type: ignore[arg-type]
            if r.asks or (ask_all and r.engine is not Intent.EMERGENCY)
            else None
        )
        out.append(r.engine if decided is None else decided[0])
    return out


def choose(rows: list[FoldRow], floor: int) -> tuple[_Thresholds, Figures]:
    """The grid point with the best objective on these rows, emergency recall at least `floor`; ties to
    the more conservative (higher) thresholds."""
    labels = [r.label for r in rows]
    best: tuple[tuple[float, ...], _Thresholds, Figures] | None = None
    for values in itertools.product(*GRID.values()):
        t = _Thresholds(*values)
        fig = figures(labels, hybrid(rows, t))
        if fig.caught < floor:
            continue
        key = (round(fig.objective, 9), *values)
        if best is None or key > best[0]:
            best = (key, t, fig)
    assert best is not None
    return best[1], best[2]


def _caught(rows: list[FoldRow]) -> int:
    """The emergencies the keywords and the emergency second opinion catch: the hybrid's floor."""
    return sum(r.engine is Intent.EMERGENCY for r in rows if r.label is Intent.EMERGENCY)


def cross_validate(
    out: TextIO = sys.stdout, *, rows: list[FoldRow] | None = None, lexicon: Path | None = None
) -> tuple[_Thresholds, list[FoldRow]]:
    """The thresholds chosen on the pooled blind folds, and the per-fold report."""
    out.write(f"leave-one-author-out CV on {TUNING.name}, lexicon {lexicon or 'shipped'}\n")
    rows = fold_rows(out, lexicon) if rows is None else rows
    authors = list(dict.fromkeys(r.source for r in rows))
    blind = [r for r in rows if r.source in BLIND]
    chosen, _ = choose(blind, _caught(blind))
    # Nested: each blind fold scored with thresholds chosen on the other blind folds only.
    nested: dict[int, Intent] = {}  # by id of the row
    for author in authors:
        mine = [r for r in rows if r.source == author]
        if author in BLIND:
            others = [r for r in blind if r.source != author]
            t, _ = choose(others, _caught(others))
            out.write(f"  thresholds chosen without {author}: {t}\n")
        else:
            t = chosen
        nested.update((id(r), p) for r, p in zip(mine, hybrid(mine, t), strict=True))
    out.write(
        f"  thresholds chosen on the blind folds {', '.join(BLIND)}: {chosen}"
        f" (objective macro-F1 - {FT_WEIGHT} x false-ticket rate)\n"
    )
    systems = {
        "keywords alone": lambda rs: [r.keywords for r in rs],
        "keywords + emergency model": lambda rs: [r.engine for r in rs],
        "intent model alone": lambda rs: [CLASSES[int(np.argmax(r.probabilities))] for r in rs],
        "hybrid (shipped thresholds)": lambda rs: hybrid(rs, _Thresholds(**THRESHOLDS)),
        "hybrid (chosen thresholds)": lambda rs: hybrid(rs, chosen),
        "hybrid (nested thresholds)": lambda rs: [nested[id(r)] for r in rs],
        "hybrid (chosen), asking no-hit too": lambda rs: hybrid(rs, chosen, ask_all=True),
    }
    for name, predict in systems.items():
        out.write(f"  {name}\n")
        for author in [*authors, "blind", "all"]:
            if author == "all":
                subset = rows
            elif author == "blind":
                subset = blind
            else:
                subset = [r for r in rows if r.source == author]
            out.write(f"    {author:9} {figures([r.label for r in subset], predict(subset))}\n")
    return chosen, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m intents.train_intents", description=__doc__.split("\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--cv-only", action="store_true", help="the CV report only")
    mode.add_argument("--choose", action="store_true", help="CV, then write with the thresholds it chose")
    mode.add_argument("--check", action="store_true", help="fail if the shipped file differs from a retrain")
    parser.add_argument("--output", type=Path, default=DEFAULT_INTENT_MODEL_PATH)
    parser.add_argument(
        "--lexicon",
        type=Path,
        help="for the CV, this lexicon file instead of the shipped one (e.g. the one before tuning on an"
        " author: git show REV:intents/lexicon.toml > old.toml)",
    )
    args = parser.parse_args(argv)
    t = _Thresholds(**THRESHOLDS)
    if args.cv_only or args.choose:
        chosen, _ = cross_validate(lexicon=args.lexicon)
        if args.cv_only:
            return 0
        t = chosen
    text = build(t)
    if args.check:
        same = args.output.exists() and args.output.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{args.output} differs from a retrain")
        return 0 if same else 1
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}: thresholds {t}")
    return 0


def build(t: _Thresholds) -> str:
    """The model file for the whole tuning part with thresholds `t`."""
    examples = read_corpus(TUNING)
    model = train([normalize(ex.text) for ex in examples], [ex.intent for ex in examples])
    for name in GRID:
        setattr(model, name, getattr(t, name))
    header = (
        "Intent second opinion of the intent engine: written by `python -m intents.train_intents`;\n"
        "do not edit by hand. Softmax regression on character 1-3-grams (digits as 0, each worth\n"
        f"1/sqrt(len)), {len(examples)} messages of tests/data/intents_tuning.jsonl, min df {MIN_DF},"
        f" L2 {L2},\n{ITERATIONS} Adam steps, top {KEEP} n-grams. Thresholds by leave-one-author-out CV."
    )
    return model.dumps(header)


if __name__ == "__main__":
    raise SystemExit(main())
