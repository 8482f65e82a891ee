"""Train the emergency second opinion (emergency.py) and choose its threshold by cross-validation.

    .venv/bin/python -m intents.train_emergency            # CV report, then write intents/emergency_model.txt
    .venv/bin/python -m intents.train_emergency --cv-only  # CV report only
    .venv/bin/python -m intents.train_emergency --check    # retrain and fail if the shipped file differs

Multinomial naive Bayes on binary character 1-3-grams (n-grams seen in at least two messages), emergency
against everything else (deterministic: same data, same file), pruned to the `KEEP` n-grams with the
largest log-likelihood ratios. (A logistic regression trained by SGD was tried first: under the same
cross-validation it caught fewer of the emergencies it had not been trained on.)

Two thresholds (for a quiet keyword result, and for a non-emergency ticket) are chosen by k-fold
cross-validation of the whole engine on the tuning part: for each fold a model is trained on the other
folds and asked about the fold's messages exactly as the engine asks it (keyword result not an
emergency, `IntentEngine.second_opinion_applies`). Kept: the pair with the highest emergency recall
whose extra false tickets (chatter turned into emergencies) stay within `MAX_EXTRA_FT` percentage points
of the chatter, and whose other tickets promoted to emergencies (a repair or a safety hazard) stay within
as many points of those tickets; ties go to the pair under which the second opinion alone (as if the
keywords had missed every emergency) catches most emergencies, which is its recall on phrasing the
lexicon has not seen, then to fewer false tickets, fewer promoted tickets and higher thresholds.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import unicodedata
from collections import Counter
from pathlib import Path

from intents.emergency import DEFAULT_EMERGENCY_MODEL_PATH, EmergencyModel, ngrams
from intents.engine import IntentEngine
from intents.evaluate import read_corpus
from intents.model import QUIET_INTENTS, TICKET_INTENTS, Intent

TUNING = Path(__file__).resolve().parents[1] / "tests" / "data" / "intents_tuning.jsonl"
SEED = 20261128  # of the stratified fold split
ALPHA = 1.0  # Laplace smoothing
MIN_DF = 2
KEEP = 3000
FOLDS = 5
MAX_EXTRA_FT = 1.0
MIN_THRESHOLD = 0.9  # percentage points of chatter
# N-grams with a punctuation mark in them carry no weight: "!!!" and "了!!" made 下雪了!!!孩子们快下楼打雪仗
# an emergency at P 1.00 (held-out v6). Leave-one-author-out CV (train_intents.py), against keeping them: the
# same false tickets, one more emergency of the blind folds caught, macro-F1 +0.002; and the 5-fold CV
# here chooses the same thresholds as before (0.905 / 0.99999).
PUNCTUATION = "any"
# A design floor for the threshold at which the model overrules a keyword ticket (not an emergency): a
# deliberate ticket already reaches a person, and naive Bayes is overconfident. Without it, after held-out v6
# and families2 were folded in, the search traded 8 more tickets turned emergencies (a burst pipe, a
# sparking meter box) for one more emergency caught (ticket threshold 0.99999 -> 0.924).
# Raised to 0.99999 after held-out v12 (2026-11-29, 03:35 UTC): with v12 in the data the 5-fold CV here chose
# 0.999665 (was 0.999994) to catch one more emergency, but it leaves out the intent model's confirmation
# (`IntentEngine._confirmed`: above the quiet threshold with the SVM's P(emergency) >= 0.3), which catches
# that emergency anyway. In the leave-one-author-out CV of the whole engine (train_intents.py) 0.999665
# promoted two more tickets to emergencies and caught no more (a sewage pit's smell, v11; a burst pipe, v12).
MIN_TICKET_THRESHOLD = 0.99999


def train(
    grams: list[set[str]], labels: list[bool], *, keep: int = KEEP, threshold: float = 0.5
) -> EmergencyModel:
    """Multinomial naive Bayes over binary n-gram presence (each n-gram counted once per message),
    Laplace smoothing `ALPHA`, n-grams seen in at least `MIN_DF` messages, with no space or digit;
    pruned to the `keep` n-grams with the largest log-likelihood ratios in absolute value.
    Deterministic."""
    pos: Counter[str] = Counter()
    neg: Counter[str] = Counter()
    for g, y in zip(grams, labels, strict=True):
        (pos if y else neg).update(g)
    df = pos + neg
    # No n-gram with a space or a digit (folded to 0): places and phone numbers are no evidence.
    vocab = sorted(
        g for g, c in df.items() if c >= MIN_DF and " " not in g and "0" not in g and not _punctuation(g)
    )
    pos_total = sum(pos[g] for g in vocab) + ALPHA * len(vocab)
    neg_total = sum(neg[g] for g in vocab) + ALPHA * len(vocab)
    weights = {
        g: math.log((pos[g] + ALPHA) / pos_total) - math.log((neg[g] + ALPHA) / neg_total) for g in vocab
    }
    positives = sum(labels)
    bias = math.log(positives / (len(labels) - positives))
    kept = sorted(weights.items(), key=lambda x: (-abs(x[1]), x[0]))[:keep]
    return EmergencyModel({g: round(v, 4) for g, v in kept if round(v, 4) != 0.0}, round(bias, 4), threshold)


def _punctuation(gram: str) -> bool:
    """Whether an n-gram is left out as punctuation (`PUNCTUATION`): "only" n-grams of nothing but
    punctuation (!!, ?), "any" n-grams with a punctuation mark in them (了!!), "none" nothing."""
    if PUNCTUATION == "none":
        return False
    marks = [unicodedata.category(ch).startswith("P") for ch in gram]
    return all(marks) if PUNCTUATION == "only" else any(marks)


def _folds(labels: list[bool], k: int, seed: int) -> list[int]:
    """Stratified fold number of each message."""
    rng = random.Random(seed)
    fold = [0] * len(labels)
    for cls in (True, False):
        idx = [i for i, y in enumerate(labels) if y is cls]
        rng.shuffle(idx)
        for n, i in enumerate(idx):
            fold[i] = n % k
    return fold


def cross_validate(k: int = FOLDS, max_extra_ft: float = MAX_EXTRA_FT, out=sys.stdout) -> dict:
    rows = read_corpus(TUNING)
    engine = IntentEngine.load(emergency_model=None)
    norms = [engine.second_opinion_text(engine.prepare(ex.text)) for ex in rows]
    grams = [ngrams(n) for n in norms]
    labels = [ex.intent is Intent.EMERGENCY for ex in rows]
    keyword = [engine.classify_keywords(ex.text) for ex in rows]
    applies = [engine.second_opinion_applies(r.text, r) for r in keyword]
    # For the second opinion's own recall: as if the keywords had found nothing urgent.
    applies_alone = [
        engine.second_opinion_applies(r.text, r.model_copy(update={"urgent": False})) for r in keyword
    ]
    fold = _folds(labels, k, SEED)
    scores = [0.0] * len(rows)
    for f in range(k):
        train_idx = [i for i in range(len(rows)) if fold[i] != f]
        model = train([grams[i] for i in train_idx], [labels[i] for i in train_idx])
        for i in range(len(rows)):
            if fold[i] == f:
                scores[i] = model.score(norms[i])

    quiet = [i for i, ex in enumerate(rows) if ex.intent in QUIET_INTENTS]
    emerg = [i for i, y in enumerate(labels) if y]

    is_ticket = [r.intent in TICKET_INTENTS for r in keyword]

    def figures(t: tuple[float, float] | None, subset: list[int] | None = None) -> dict:
        """Figures with thresholds t = (for a quiet keyword result, for a ticket keyword result)."""
        chosen = set(range(len(rows)) if subset is None else subset)
        final = []
        for i, r in enumerate(keyword):
            fired = (
                t is not None
                and r.intent is not Intent.EMERGENCY
                and applies[i]
                and scores[i] >= t[is_ticket[i]]
            )
            final.append(Intent.EMERGENCY if fired else r.intent)
        e = [i for i in emerg if i in chosen]
        q = [i for i in quiet if i in chosen]
        caught = sum(final[i] is Intent.EMERGENCY for i in e)
        ft = sum(final[i] in TICKET_INTENTS for i in q)
        other = sum(
            final[i] is Intent.EMERGENCY and keyword[i].intent is not Intent.EMERGENCY and not labels[i]
            for i in chosen
        )
        # The second opinion alone (as if the keywords had missed every emergency): its recall on unseen
        # phrasing, which the keyword figures hide (the lexicon was tuned on these messages).
        alone = sum(t is not None and applies_alone[i] and scores[i] >= t[0] for i in e)
        return {
            "emergencies": len(e),
            "caught": caught,
            "alone": alone,
            "quiet": len(q),
            "false_tickets": ft,
            "flips_wrong": other,
        }

    base = figures(None)
    best_t, best = None, None
    best_key = None
    # A threshold for quiet keyword results and a (higher) one for ticket keyword results, so that the
    # second opinion rarely overrules a deliberate ticket (电表箱那块老是冒火花 is a safety hazard).
    others = len(rows) - len(quiet) - len(emerg)  # the other tickets
    # From MIN_THRESHOLD (a design floor against noise, set before any blind evaluation: naive Bayes
    # probabilities are overconfident, and look-alikes the tuning part lacks, such as 门口那棵树歪了 快倒了,
    # score 0.85) to about 0.99999, evenly spaced in log-odds (the scores crowd near 0 and 1).
    grid = [t for step in range(0, 49) if (t := round(1.0 / (1.0 + math.exp(-step / 4)), 6)) >= MIN_THRESHOLD]
    for tq in grid:
        for tt in grid:
            if tt < tq or tt < MIN_TICKET_THRESHOLD:
                continue
            fig = figures((tq, tt))
            extra = 100 * (fig["false_tickets"] - base["false_tickets"]) / base["quiet"]
            promoted = 100 * fig["flips_wrong"] / others
            key = (fig["caught"], fig["alone"], -fig["false_tickets"], -fig["flips_wrong"], tt, tq)
            if (
                extra <= max_extra_ft + 1e-9
                and promoted <= max_extra_ft + 1e-9
                and (best_key is None or key > best_key)
            ):
                best_t, best, best_key = (tq, tt), fig, key
    assert best_t is not None
    sources = [
        json.loads(line).get("source") for line in TUNING.read_text(encoding="utf-8").splitlines() if line
    ]
    v3 = [i for i, src in enumerate(sources) if src == "heldout3"]
    out.write(
        f"{k}-fold CV on {TUNING.name} ({len(rows)} messages, {len(emerg)} emergencies,"
        f" {len(quiet)} chatter)\n"
    )
    for name, t in (
        ("keywords alone", None),
        (f"keywords + second opinion @ {best_t[0]}/{best_t[1]}", best_t),
    ):
        for label, subset in (("all", None), ("heldout3 rows", v3)):
            fig = figures(t, subset)
            out.write(
                f"  {name:38} {label:13} emergency recall {fig['caught']}/{fig['emergencies']}"
                f" ({100 * fig['caught'] / fig['emergencies']:.1f} %), false tickets {fig['false_tickets']}/"
                f"{fig['quiet']} ({100 * fig['false_tickets'] / fig['quiet']:.2f} %), non-emergency"
                f" tickets turned emergency {fig['flips_wrong']}\n"
            )
    out.write(
        f"  second opinion alone @ {best_t[0]} (guards applied): {best['alone']}/{len(emerg)} emergencies\n"
    )
    for t in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999):
        fig = figures((t, t))
        out.write(
            f"  @ {t}: recall {fig['caught']}/{fig['emergencies']}, second opinion alone {fig['alone']},"
            f" false tickets {fig['false_tickets']},"
            f" non-emergency tickets turned emergency {fig['flips_wrong']}\n"
        )
    return {"threshold": best_t, "base": base, "best": best, "rows": rows, "grams": grams, "labels": labels}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m intents.train_emergency", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cv-only", action="store_true")
    parser.add_argument(
        "--check", action="store_true", help="fail if the shipped file differs from a retrain"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_EMERGENCY_MODEL_PATH)
    args = parser.parse_args(argv)
    cv = cross_validate()
    if args.cv_only:
        return 0
    model = train(cv["grams"], cv["labels"], threshold=cv["threshold"][0])
    model.ticket_threshold = cv["threshold"][1]
    base, best = cv["base"], cv["best"]
    header = (
        "Emergency second opinion of the intent engine: written by `python -m intents.train_emergency`;\n"
        "do not edit by hand. Naive Bayes on character 1-3-grams (digits as 0), emergency\n"
        f"against everything else, {len(cv['labels'])} messages of tests/data/intents_tuning.jsonl, "
        f"fold seed {SEED}, alpha {ALPHA}, top {KEEP} n-grams.\n"
        f"Thresholds {cv['threshold'][0]} (keyword result quiet) and {cv['threshold'][1]} (a ticket)"
        f" chosen by {FOLDS}-fold CV: emergency recall "
        f"{base['caught']}/{base['emergencies']} -> {best['caught']}/{best['emergencies']}, false tickets "
        f"{base['false_tickets']} -> {best['false_tickets']} of {base['quiet']}."
    )
    text = model.dumps(header)
    if args.check:
        same = args.output.exists() and args.output.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{args.output} differs from a retrain")
        return 0 if same else 1
    args.output.write_text(text, encoding="utf-8")
    print(
        f"wrote {args.output}: {len(model.weights)} n-grams,"
        f" thresholds {model.threshold} / {model.ticket_threshold}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
