"""Train the intent second opinion (intent_model.py) and measure it by leave-one-author-out
cross-validation.

    .venv/bin/python -m intents.train_intents            # write intents/intent_model.bin (no CV)
    .venv/bin/python -m intents.train_intents --cv-only  # the CV report (about 4 minutes)
    .venv/bin/python -m intents.train_intents --choose   # CV, then write with the thresholds it chose
    .venv/bin/python -m intents.train_intents --check    # retrain and fail if the shipped file differs
    .venv/bin/python -m intents.train_intents --cv-only --lexicon old.toml  # CV with another lexicon
    .venv/bin/python -m intents.train_intents --cv-only --save-rows /tmp/rows.pkl  # keep the out-of-fold rows
    .venv/bin/python -m intents.train_intents --cv-only --rows /tmp/rows.pkl  # report on them (seconds)

Model: a linear SVM over the 17 intents (one-vs-rest, squared hinge loss, L2 penalty with `C`:
scikit-learn's LinearSVC, liblinear, seeded, so the same data give the same file) on character 1-3-grams
seen in at least `MIN_DF` messages, each worth `scale(norm)`; its scores times `TEMPERATURE` go through a
softmax at run time, so the combination rule reads probabilities. scikit-learn is needed to train only
(the `bench` extra); the engine reads the weights with numpy. The weights do not depend on the lexicon;
the thresholds of the combination rule do.

Until 2026-11-28 (22:30 UTC) the model was a softmax regression fitted by 300 full-batch Adam steps and
pruned to 6000 n-grams; on the same folds it scored macro-F1 0.926 alone against the SVM's 0.956 (and the
TF-IDF + LinearSVC baseline of benchmarks/intents_bench.py did better than the engine on held-out v7):
underfitted, not short of data.

Cross-validation: each blind author (sources heldout1..26, 28-45, 47, 48, authors5: `AUTHORS`) is one
fold. For each fold, the intent model and the emergency second opinion are trained on every other row, and
the fold's messages go through the engine as at run time (`IntentEngine.classify_emergency`,
`intent_model_applies`, `intent_opinion`, `emergency_agreed`); the baseline emergency override
(`train_override`, the third opinion) is trained on every other row too and applied last (`hybrid`;
`IntentEngine.override_applies`), and the report shows the hybrid with and without it, behind the emergency
guards (its gate before held-out v31/v32) and without its gate. Saved rows (`--save-rows`) carry each
message's out-of-fold scores of both models and the override's verdict, so a rule or threshold over them can
be tried without retraining (rows are only valid for the engine code that made them). Thresholds: the grid
point maximising macro-F1 minus `FT_WEIGHT` times the false-ticket rate (noise is the bot's worst sin) on
the pooled `BLIND` folds (authors the lexicon had not been tuned on), with emergency recall never below the
keywords'; each fold is also reported with thresholds chosen on the other blind folds only (nested), and the
folds are also pooled with the later authors (`LATER`: heldout5-26, 28-45, 47, 48, on whom the lexicon was
tuned only by families). The shipped `THRESHOLDS` were chosen so (the last time on 2026-11-29 at 05:50 UTC,
after held-out v14 was folded in; the veto kept at 0.9 for the hard cases, see `THRESHOLDS`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from intents.emergency import ngrams as emergency_ngrams
from intents.engine import (
    _MODEL_EMERGENCY_MIN_CHARS,
    _MODEL_EMERGENCY_P,
    _MODEL_EMERGENCY_VETO,
    _NO_HIT_MIN_CHARS,
    _VETO_MIN_CHARS,
    OVERRIDE_MIN_CHARS,
    IntentEngine,
    intent_opinion,
    objects_only,
)
from intents.evaluate import read_corpus
from intents.intent_model import DEFAULT_INTENT_MODEL_PATH, IntentModel, content_chars, features, scale
from intents.lexicon import load_lexicon
from intents.model import QUIET_INTENTS, TICKET_INTENTS, Intent
from intents.train_emergency import train as train_emergency
from intents.train_override import train as train_override

TUNING = Path(__file__).resolve().parents[1] / "tests" / "data" / "intents_tuning.jsonl"
CLASSES = tuple(Intent)
MIN_DF = 2
C = 1.0  # LinearSVC's default; 0.5 and 2 scored the same in the CV
# The SVM's scores are margins, not log-odds: times this, a softmax of them is a fair probability (the value
# of 1..8 with the least log-loss on the out-of-fold scores of the leave-one-author-out CV, 2026-11-28).
TEMPERATURE = 5.0
FT_WEIGHT = 2.0
# Chosen by `--choose` on 2026-11-28 (22:45 UTC) on heldout3, heldout4 and authors5, with the SVM and the
# rule of that commit (short no-hit messages, thanks, acks and pending tickets not asked; questions asked),
# except the veto: 0.85, not the 0.8 chosen. Between 0.8 and 0.9 the blind folds' macro-F1 is flat (0.952),
# 0.85 costs one false ticket there (6/470 against 5/470), gains 0.003 on heldout7 and 0.001 on all folds, and
# keeps the keywords' say where the SVM is barely sure (谢谢物业,不过楼道灯又坏了: P(thanks) 0.80). Design
# floors: the veto of a keyword ticket at 0.8 or more (it silenced a real leak report with a phone number and
# an ID at 0.5, after held-out v5), the emergency veto at 0.6 or more.
# Re-chosen on 2026-11-29 (00:30 UTC) after held-out v8 and families4, with the bare-cry veto and the laughter
# rule: propose and veto the same; switch 0.3 (from 0.4), quiet off (from 0.7: turning chitchat into thanks or
# ack makes no noise and gained nothing) and emergency veto 0.9 (from 0.8: more cautious, now that a bare cry
# for help is put to the model too). Blind folds 0.952 / 3/470 / 74/74 against 0.950 with the old values.
# Kept on 2026-11-29 (01:05 UTC) after held-out v9 and families5: the CV chose veto 0.95 and switch 0.5 (blind
# folds 0.951 / 3/470 against 0.948 / 3/470), but on all ten folds they make twice the false tickets (10/1348
# against 5/1348).
# Veto 0.9 (from 0.85) on 2026-11-29 (03:10 UTC), after held-out v12: in the leave-one-author-out CV of
# the thirteen folds 0.85 and 0.9 give the same prediction for every message (blind folds 0.955 / 4/470 /
# 74/74, all folds 0.962 / 20/1744 / 272/275), and ties go to the more conservative threshold; the SVM
# retrained on v12 is surer of thanks in 谢谢物业,不过楼道灯又坏了 (0.886), which 0.9 leaves to the keywords.
# Emergency veto 0.8 (from 0.9) on 2026-11-29 (03:40 UTC), after the disbelief rule (engine._disbelieved) put
# more keyword emergencies to the model: the CV chose 0.8 on the blind folds (and in two of the three nested
# choices); 0.7 and 0.8 tie. Blind folds 0.955 / 4/470 -> 0.955 / 3/470 (这价格救命啊 羊毛快薅, P(chatter)
# 0.88), all folds 14/1744 -> 13/1744, every emergency kept: the real emergencies the model is asked about
# score P(chatter) <= 0.11, the chatter 0.88 and above.
# Propose 0.7 (from 0.8) and emergency veto 0.85 (from 0.8) on 2026-11-29 (05:50 UTC), after held-out
# v14, with 0.7 added to the grid of propose and 0.85 to that of the emergency veto; `--choose` on the
# blind folds picks both (and two of the three nested choices do). Propose 0.7: blind folds 0.953 -> 0.954,
# all fifteen folds 0.958 -> 0.959, no false ticket more on any fold (seven quiet keyword results of four
# authors proposed at 0.7-0.8, six of them rightly). Emergency veto 0.85 ties 0.8 on every fold (ties go to
# the more conservative); the models retrained on v14 give a hard case's real fainting
# (不是网上的 就在咱楼下 有人晕倒了 快打120) P(chatter) 0.82, while 这价格救命啊 scores 0.88.
# The CV also chose veto 0.8 (blind 2/470 against 3/470 false tickets; all 13/2008 against 15/2008),
# but the retrained SVM gives two real reports of the hard cases P(chatter) 0.86 and 0.87
# (如果方便麻烦物业来修一下漏水的水管; a leak with a phone and an ID number): the veto stays 0.9, and
# switch 0.3 (0.3 and 0.4 tie on every fold).
THRESHOLDS = {"propose": 0.7, "veto": 0.9, "switch": 0.3, "quiet": 1.0, "emergency_veto": 0.85}
# The authors the lexicon had not been tuned on when the thresholds were chosen (2026-11-28): heldout3 and
# heldout4 were folded in untouched, authors5 written for this. On heldout1-2 the lexicon is near perfect
# (it was tuned on them), so any second opinion only loses there; choosing on them would silence it.
BLIND = ("heldout3", "heldout4", "authors5")
# Later blind authors, each folded in after its one evaluation; the lexicon was tuned on families written from
# their misses (tests/data/README.md), so they flatter the keywords less than heldout1-2 but more than BLIND.
LATER = (
    "heldout5",
    "heldout6",
    "heldout7",
    "heldout8",
    "heldout9",
    "heldout10",
    "heldout11",
    "heldout12",
    "heldout13",
    "heldout14",
    "heldout15",
    "heldout16",
    "heldout17",
    "heldout18",
    "heldout19",
    "heldout20",
    "heldout21",
    "heldout22",
    "heldout23",
    "heldout24",
    "heldout25",
    "heldout26",
    "heldout28",
    "heldout29",
    "heldout30",
    "heldout31",
    "heldout32",
    "heldout33",
    "heldout34",
    "heldout35",
    "heldout37",
    "heldout38",
    "heldout36",
    "heldout39",
    "heldout40",
    "heldout41",
    "heldout42",
    "heldout44",
    "heldout43",
    "heldout45",
    "heldout47",
    "heldout48",
)
# Every blind author is one fold of the cross-validation: the two the lexicon was tuned on, then the rest.
AUTHORS = ("heldout1", "heldout2", *BLIND, *LATER)
# 1.0 turns a rule off. Design floors, set before looking at the CV: the veto of a keyword ticket starts
# at 0.8 and the emergency veto at 0.6. The lexicon stays the primary decision: a community's own words
# (电梯又罢工了, 水表冻了) are unknown to the model, and a short message gives it little to read, so it may
# silence the keywords only when it is sure of chatter.
GRID = {
    "propose": (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0),
    "veto": (0.8, 0.85, 0.9, 0.95, 1.0),
    "switch": (0.3, 0.4, 0.5, 0.6, 0.8, 1.0),
    "quiet": (0.5, 0.7, 0.9, 1.0),
    "emergency_veto": (0.6, 0.7, 0.8, 0.85, 0.9, 1.0),
}


def design(norms: list[str], vocab: dict[str, int]) -> Any:
    """The sparse design matrix (scipy CSR) of these messages over the vocabulary: each present n-gram
    worth `scale(norm)`, as `IntentModel.logits` weighs it."""
    from scipy.sparse import csr_matrix

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for r, norm in enumerate(norms):
        found = sorted(vocab[g] for g in features(norm) if g in vocab)
        rows.extend([r] * len(found))
        cols.extend(found)
        vals.extend([scale(norm)] * len(found))
    return csr_matrix((vals, (rows, cols)), shape=(len(norms), len(vocab)), dtype=np.float64)


def train(norms: list[str], labels: list[Intent]) -> IntentModel:
    """The model for these messages: vocabulary by document frequency, a linear SVM (deterministic)."""
    try:
        from sklearn.svm import LinearSVC
    except ImportError:  # pragma: no cover - the bench extra
        raise SystemExit("training the intent model needs scikit-learn: pip install -e '.[bench]'") from None
    df: Counter[str] = Counter()
    for norm in norms:
        df.update(features(norm))
    vocab_list = sorted(g for g, c in df.items() if c >= MIN_DF)
    vocab = {g: i for i, g in enumerate(vocab_list)}
    y = np.array([CLASSES.index(label) for label in labels])
    present = sorted(set(y.tolist()))
    svm = LinearSVC(C=C, random_state=0, max_iter=10000).fit(design(norms, vocab), y)
    k = len(CLASSES)
    w = np.zeros((len(vocab_list), k))
    b = np.full(k, -1.0)  # a class absent from the data (tiny test sets) scores as a one-vs-rest "no"
    if len(present) == 2:  # scikit-learn fits one binary problem, for the second class
        w[:, present[1]] = svm.coef_[0]
        b[present[1]] = svm.intercept_[0]
        w[:, present[0]] = -svm.coef_[0]
        b[present[0]] = -svm.intercept_[0]
    else:
        w[:, present] = svm.coef_.T
        b[present] = svm.intercept_
    # Rounded as the file stores them, so a model in memory scores exactly as the shipped one.
    return IntentModel(vocab_list, np.round(TEMPERATURE * w, 3), np.round(TEMPERATURE * b, 3))


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
    laughing: bool = False  # laughter in the message (IntentEngine.laughing)
    # For trying gates offline (`--save-rows`): the fold's emergency model on the masked text of every row
    # (gate or not), whether the keywords found no word at all, and the keyword result's urgency.
    emergency_score: float = 0.0
    no_hit: bool = False
    urgent: bool = False
    # IntentEngine.emergency_agreed: both second opinions see an emergency in a chitchat the model is asked
    # about.
    agreed: bool = False
    # IntentEngine.model_made: the emergency model made an emergency of a keyword chitchat (the intent model
    # may return it to chatter: `_MODEL_EMERGENCY_VETO`).
    model_made: bool = False
    # The baseline emergency override (override.py), trained without the fold's author: whether its top intent
    # is emergency, whether the message is not resolved (`IntentEngine.override_applies` but the length),
    # whether it passes the emergency guards too (the gate before v31/v32, kept to measure it), and the
    # message's characters that carry words (`content_chars`, for its length bound).
    override: bool = False
    override_open: bool = False
    override_guarded: bool = False
    chars: int = 0
    # IntentEngine.told_as_unreal: a hypothetical or past event, a drill, hearsay (model_emergency skips it).
    unreal: bool = False


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
    labels = [ex.intent for ex in examples]
    if lexicon is None:
        engine = IntentEngine.load(intent_model=None, override_model=None)
    else:
        engine = IntentEngine.load([lexicon], include_default=False, intent_model=None, override_model=None)
    # The models read the text as the engine prepares it (normalised, the dialect map applied).
    norms = [engine.prepare(ex.text) for ex in examples]
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
        override = train_override([norms[i] for i in train_idx], [labels[i] for i in train_idx])
        # classify_emergency asks the intent model whether it, too, sees an emergency in a keyword ticket.
        engine.intent_model = model
        for i in test_idx:
            result = engine.classify_emergency(examples[i].text)
            keywords = engine.classify_keywords(examples[i].text)
            rows.append(
                FoldRow(
                    author,
                    labels[i],
                    keywords.intent,
                    result.intent,
                    engine.intent_model_applies(result),
                    model.probabilities(result.text),
                    result.confidence,
                    examples[i].text,
                    objects_only(result),
                    engine.laughing(result.text),
                    emergency.score(masked[i]),
                    not keywords.keywords and keywords.runner_up is None,
                    keywords.urgent,
                    result.intent is Intent.CHITCHAT
                    and engine.intent_model_applies(result)
                    and engine.emergency_agreed(result, model.probabilities(result.text)) is not None,
                    result.intent is Intent.EMERGENCY
                    and engine.model_made(result)
                    and content_chars(result.text) >= _VETO_MIN_CHARS,
                    override.emergency(result.text),
                    not result.resolved,
                    not result.resolved
                    and engine.emergency_guards(result.text, quiet=False, blank=False) is not None,
                    content_chars(result.text),
                    engine.told_as_unreal(result.text),
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


def hybrid(
    rows: list[FoldRow],
    t: _Thresholds,
    *,
    ask_all: bool = False,
    override: str = "shipped",
    min_chars: int | None = None,
    model_emergency: bool = True,
) -> list[Intent]:
    """The engine's result per row with thresholds `t`; then the baseline emergency override (`override`:
    "shipped": not resolved; "guarded": past the emergency guards too, the gate before held-out v31/v32;
    "unguarded": the pre-registered rule, no gate but the length; "off"), from `min_chars` word characters
    (the shipped `OVERRIDE_MIN_CHARS` by default); and the intent model's own emergencies
    (`IntentEngine.model_emergency`) unless `model_emergency` is False. (The engine asks the intent model
    before the override; either only adds emergencies, so the order changes no label.)"""
    bound = OVERRIDE_MIN_CHARS if min_chars is None else min_chars
    out = []
    for r in rows:
        decided = (
            intent_opinion(r.engine, r.probabilities, t, objects_only=r.objects_only, laughing=r.laughing)  # type: ignore[arg-type]
            if r.asks or (ask_all and r.engine is not Intent.EMERGENCY)
            else None
        )
        if decided is None and r.agreed and (r.asks or ask_all):
            decided = (Intent.EMERGENCY, 1.0)
        if r.model_made:
            p_quiet = sum(r.probabilities[_CODE[i]] for i in (Intent.CHITCHAT, Intent.THANKS, Intent.ACK))
            if p_quiet >= _MODEL_EMERGENCY_VETO:
                decided = (Intent.CHITCHAT, p_quiet)
        intent = r.engine if decided is None else decided[0]
        if (
            intent is not Intent.EMERGENCY
            and override != "off"
            and r.override
            and r.chars >= bound
            and (
                override == "unguarded" or (r.override_open if override == "shipped" else r.override_guarded)
            )
        ):
            intent = Intent.EMERGENCY
        if model_emergency and _model_emergency(r, intent):
            intent = Intent.EMERGENCY
        out.append(intent)
    return out


def _model_emergency(r: FoldRow, intent: Intent) -> bool:
    """`IntentEngine.model_emergency` on a fold row whose result so far is `intent`."""
    bound = _NO_HIT_MIN_CHARS if r.no_hit else _MODEL_EMERGENCY_MIN_CHARS
    if intent in (Intent.EMERGENCY, Intent.THANKS, Intent.ACK) or r.chars < bound:
        return False
    p = r.probabilities[_CODE[Intent.EMERGENCY]]
    return p >= _MODEL_EMERGENCY_P and p >= max(r.probabilities) and not r.unreal


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
        "hybrid (shipped thresholds), no override": lambda rs: hybrid(
            rs, _Thresholds(**THRESHOLDS), override="off"
        ),
        "hybrid (shipped thresholds), override behind the emergency guards (before v31/v32)": lambda rs: (
            hybrid(rs, _Thresholds(**THRESHOLDS), override="guarded")
        ),
        "hybrid (shipped thresholds), override without its gate (the pre-registered rule)": lambda rs: hybrid(
            rs, _Thresholds(**THRESHOLDS), override="unguarded"
        ),
        "hybrid (shipped thresholds), without the intent model's own emergencies (before 2026-11-30)": (
            lambda rs: hybrid(rs, _Thresholds(**THRESHOLDS), model_emergency=False)
        ),
        "hybrid (shipped thresholds)": lambda rs: hybrid(rs, _Thresholds(**THRESHOLDS)),
        "hybrid (chosen thresholds)": lambda rs: hybrid(rs, chosen),
        "hybrid (nested thresholds)": lambda rs: [nested[id(r)] for r in rs],
        "hybrid (chosen), asking all but emergencies": lambda rs: hybrid(rs, chosen, ask_all=True),
    }
    for name, predict in systems.items():
        out.write(f"  {name}\n")
        for author in [*authors, "blind", "blind+later", "all"]:
            if author == "all":
                subset = rows
            elif author == "blind":
                subset = blind
            elif author == "blind+later":
                subset = [r for r in rows if r.source in BLIND + LATER]
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
    parser.add_argument(
        "--save-rows",
        type=Path,
        help="also write the CV's out-of-fold rows (pickle) here, to try rules on them without a rerun",
    )
    parser.add_argument("--rows", type=Path, help="the CV report on rows saved by --save-rows (no training)")
    args = parser.parse_args(argv)
    t = _Thresholds(**THRESHOLDS)
    if args.cv_only or args.choose:
        rows = None
        if args.rows is not None:
            with args.rows.open("rb") as f:
                rows = pickle.load(f)  # a file this command wrote
        chosen, rows = cross_validate(lexicon=args.lexicon, rows=rows)
        if args.save_rows is not None:
            with args.save_rows.open("wb") as f:
                pickle.dump(rows, f)
        if args.cv_only:
            return 0
        t = chosen
    data = build(t)
    if args.check:
        same = args.output.exists() and args.output.read_bytes() == data
        print("up to date" if same else f"{args.output} differs from a retrain")
        return 0 if same else 1
    args.output.write_bytes(data)
    print(f"wrote {args.output}: thresholds {t}")
    return 0


def build(t: _Thresholds) -> bytes:
    """The model file's bytes for the whole tuning part with thresholds `t`."""
    examples = read_corpus(TUNING)
    prepare = load_lexicon().prepare
    model = train([prepare(ex.text) for ex in examples], [ex.intent for ex in examples])
    # The text form of the file (loudong-intent-ngram/1) read a line starting with "#" as a comment, so
    # the models it shipped never had the n-grams starting with "#" (#, #楼, #东): they are left out here
    # too, so that the binary form changed no score. Keeping them is a model change, for a tuning round.
    keep = [row for row, gram in enumerate(model.grams) if not gram.startswith("#")]
    model = IntentModel(
        [model.grams[row] for row in keep], model.weights[keep], model.bias, max_n=model.max_n
    )
    for name in GRID:
        setattr(model, name, getattr(t, name))
    header = (
        "Intent second opinion of the intent engine: written by `python -m intents.train_intents`;\n"
        "do not edit by hand. Linear SVM (one-vs-rest, squared hinge) on character 1-3-grams (none with a\n"
        f"digit or a space, each worth 1/sqrt(chars but digits and spaces)), {len(examples)} messages of"
        f" tests/data/intents_tuning.jsonl,\nmin df {MIN_DF}, C {C}, scores times {TEMPERATURE}"
        " (a softmax of them at run time). Thresholds by leave-one-author-out CV."
    )
    return model.to_bytes(header)


if __name__ == "__main__":
    raise SystemExit(main())
