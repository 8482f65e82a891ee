"""Train the baseline emergency override (override.py) and measure its agreement with the pre-registered rule.

    .venv/bin/python -m intents.train_override              # write intents/override_model.bin.gz
    .venv/bin/python -m intents.train_override --check      # retrain and fail if the shipped file differs
    .venv/bin/python -m intents.train_override --agreement  # the shipped form against scikit-learn's predict

Model: the TF-IDF + LinearSVC baseline of benchmarks/intents_bench.py (scikit-learn's TfidfVectorizer,
char 1-3-grams, sublinear tf, the `normalize` preprocessor; LinearSVC C 1, balanced class weights) on the
whole tuning part as the engine prepares it (`Lexicon.prepare`: the dialect map applied, as at run time),
seeded (random_state 0: the bench leaves it unseeded, which only moves the solver's stopping point, and
the file must be the same at every run for `--check`). Every n-gram of the vocabulary is kept (each counts
in the L2 norm, so none can be dropped without changing scores), with its document frequency and its 17
weights in thousandths. scikit-learn is needed to train only (the `bench` extra).

`--agreement`: for each leave-one-author-out fold (`train_intents.AUTHORS`), the pipeline exactly as
benchmarks/intents_bench.py builds it (unseeded) trained on every other row and its `predict` on the
fold, against the shipped form (this script's seeded fit, rounded weights, `OverrideModel.emergency`);
likewise the shipped file against the whole-corpus pipeline on every row. Lists every message where
"emergency is the top class" differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from intents.evaluate import read_corpus
from intents.lexicon import load_lexicon
from intents.model import Intent
from intents.normalize import normalize
from intents.override import (
    DEFAULT_OVERRIDE_MODEL_PATH,
    OverrideModel,
    dump_bytes,
    load_override_model,
    read_content,
)

TUNING = Path(__file__).resolve().parents[1] / "tests" / "data" / "intents_tuning.jsonl"
SCALE = 1000
# The blind sets on which the rule was scored once each before it shipped (tests/data/README.md).
SCORED_BLIND = tuple(f"heldout{n}" for n in range(15, 23))


def _pipeline(seed: int | None) -> Any:
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline
        from sklearn.svm import LinearSVC
    except ImportError:  # pragma: no cover - the bench extra
        raise SystemExit("training the override needs scikit-learn: pip install -e '.[bench]'") from None
    return make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, preprocessor=normalize),
        LinearSVC(C=1.0, class_weight="balanced", random_state=seed),
    )


def train(texts: list[str], labels: list[Intent]) -> OverrideModel:
    """The rule's model for these messages, in the shipped form (weights rounded to 1/`SCALE`)."""
    pipe = _pipeline(0).fit(texts, [str(label) for label in labels])
    vectorizer, svm = pipe.steps[0][1], pipe.steps[1][1]
    x = vectorizer.transform(texts)
    df_by_column = np.bincount(x.indices, minlength=x.shape[1])
    grams = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)  # column order
    order = sorted(range(len(grams)), key=grams.__getitem__)  # the file sorted by n-gram: clean diffs
    classes = tuple(Intent(c) for c in svm.classes_)
    coef = svm.coef_.T  # n-grams x classes
    if len(classes) == 2:  # pragma: no cover - the corpus has all 17 intents
        raise ValueError("the override needs more than two intents")
    weights = np.rint(coef[order] * SCALE).astype(np.int64)
    return OverrideModel(
        [grams[i] for i in order],
        df_by_column[order].astype(np.int64),
        weights.astype(np.int16 if np.abs(weights).max() < 2**15 else np.int32),
        np.round(svm.intercept_.astype(np.float64), 6),
        len(texts),
        classes=classes,
        scale=SCALE,
    )


def build() -> bytes:
    """The model file's content (before gzip) for the whole tuning part."""
    examples = read_corpus(TUNING)
    prepare = load_lexicon().prepare
    model = train([prepare(ex.text) for ex in examples], [ex.intent for ex in examples])
    header = (
        "Baseline emergency override of the intent engine: written by `python -m intents.train_override`;\n"
        "do not edit by hand. TF-IDF (char 1-3-grams of the normalised text, sublinear tf, smooth idf, L2)\n"
        f"+ LinearSVC (C 1, balanced, random_state 0) on {len(examples)} messages of"
        " tests/data/intents_tuning.jsonl;\n"
        f"{len(model.grams)} n-grams (all of the vocabulary), weights in 1/{SCALE}. The engine reads only\n"
        "whether `emergency` scores highest (intents/override.py)."
    )
    return model.to_bytes(header)


def _sources() -> list[str]:
    return [
        json.loads(line).get("source", "")
        for line in TUNING.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def agreement(out: Any = sys.stdout) -> int:
    """The disagreements between the exact rule and the shipped form (see the module's doc)."""
    from intents.train_intents import AUTHORS

    examples = read_corpus(TUNING)
    sources = _sources()
    prepare = load_lexicon().prepare
    texts = [prepare(ex.text) for ex in examples]
    labels = [ex.intent for ex in examples]
    differ: list[tuple[str, int, bool, float]] = []
    rows = 0
    blind_rows = 0
    positives = 0
    for author in [a for a in AUTHORS if a in sources]:
        train_idx = [i for i, s in enumerate(sources) if s != author]
        test_idx = [i for i, s in enumerate(sources) if s == author]
        exact = _pipeline(None).fit([texts[i] for i in train_idx], [str(labels[i]) for i in train_idx])
        said = exact.predict([texts[i] for i in test_idx])
        shipped = train([texts[i] for i in train_idx], [labels[i] for i in train_idx])
        for i, s in zip(test_idx, said, strict=True):
            e = s == Intent.EMERGENCY.value
            positives += e
            norm = normalize(texts[i])
            if shipped.emergency(norm) != e:
                differ.append((author, i, e, shipped.margin(norm)))
        rows += len(test_idx)
        blind_rows += len(test_idx) if author in SCORED_BLIND else 0
        out.write(f"  fold {author}: {len(test_idx)} messages\n")
        out.flush()
    in_fold = len(differ)
    blind = sum(author in SCORED_BLIND for author, *_ in differ)
    out.write(
        f"out of fold: {in_fold} of {rows} messages differ (the exact rule says emergency for {positives});"
        f" on the v15-v22 rows {blind} of {blind_rows}\n"
    )
    exact = _pipeline(None).fit(texts, [str(label) for label in labels])
    said = exact.predict(texts)
    model = load_override_model()
    for i, s in enumerate(said):
        norm = normalize(texts[i])
        if model.emergency(norm) != (s == Intent.EMERGENCY.value):
            differ.append(("shipped", i, s == Intent.EMERGENCY.value, model.margin(norm)))
    out.write(f"the shipped file on the whole tuning part: {len(differ) - in_fold} of {len(texts)} differ\n")
    for author, i, e, margin in differ:
        said_e = "emergency" if e else "not"
        out.write(f"  {author}: exact {said_e}, shipped margin {margin:+.4f}  {texts[i]}\n")
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m intents.train_override", description=__doc__.split("\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail if the shipped file differs from a retrain")
    mode.add_argument("--agreement", action="store_true", help="the shipped form against the exact rule")
    parser.add_argument("--output", type=Path, default=DEFAULT_OVERRIDE_MODEL_PATH)
    args = parser.parse_args(argv)
    if args.agreement:
        return agreement()
    content = build()
    if args.check:
        try:
            same = read_content(args.output) == content
        except ValueError:
            same = False
        print("up to date" if same else f"{args.output} differs from a retrain")
        return 0 if same else 1
    args.output.write_bytes(dump_bytes(content))
    print(f"wrote {args.output}: {len(content)} bytes before gzip")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
