"""The corpus is well-formed, the splits are disjoint, and the engine's held-out figures do not regress.

tests/data/intents_heldout.jsonl, when there is one, is evaluated once, blind, after all tuning (see
tests/data/README.md); the floors below are the figures of that evaluation, so a lexicon or model change
that loses ground on held-out fails here, and the targets it missed are strict xfails (they fail loudly
once met, and must then become plain tests). The file holds the five blind sets no tuning has seen, 1,498
messages, each row's `source` naming its set: held-out v46 (Hengyang, Yueyang, Changde, Zhuzhou, Xiangtan,
Shaoyang and Huaihua voices, evaluated once, blind, 2026-11-30 02:25 UTC at db12a55), v49 (northern Anhui)
and v50 (Shaanxi outside Xi'an), each evaluated once, blind, 04:30 UTC at bd3585e, and v51 (Jiangxi) and v52
(Gansu and Ningxia), each evaluated once, blind, 05:00 UTC at f127357, the first head with the intent
model's own emergencies (`IntentEngine.model_emergency`, chosen on other sets; its effect on v46, v49 and
v50 was seen while it was chosen). Pooled, five sets say more than the last one alone: 100 emergencies
rather than 20. Between folding the held-out sets into the tuning part and receiving the next, the held-out
tests skip (a folded set stays in the file until the next blind set replaces it)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from intents import QUIET_INTENTS, Intent, classify, normalize
from intents.evaluate import Report, evaluate, read_corpus
from intents.train_intents import BLIND, LATER

DATA = Path(__file__).resolve().parents[1] / "data"
TUNING = DATA / "intents_tuning.jsonl"
HELDOUT = DATA / "intents_heldout.jsonl"
# The source the held-out file's set gets when it is folded into the tuning part, named explicitly: the
# file's set is not always the trainer's last later author (held-out v25, evaluated with v26, was folded in
# from the blind-set folder as heldout25 while the file still holds v26, not folded). Only read when the
# file's set is folded (`_folded`); name the next file's set here when a new blind set replaces the file.
FOLDED = "heldout46"
# Sources the lexicon was not tuned on as a whole (only on some families written from their misses;
# families2 to families5 were written as training data for the models, with look-alikes the
# lexicon is not meant to learn one by one): the lexicon's stricter floors apply to the rest of the tuning
# part.
NOT_LEXICON_TUNED = (*BLIND, *LATER, "families2", "families3", "families4", "families5")


def _predict(text: str) -> tuple[Intent, float]:
    result = classify(text)
    return result.intent, result.confidence


def _folded() -> bool:
    """Whether the held-out file is a set already folded into the tuning part (every message of it is
    there): after its one blind evaluation, until the next blind set replaces the file."""
    if not HELDOUT.exists():
        return False
    tuned = {normalize(ex.text) for ex in read_corpus(TUNING)}
    return all(normalize(ex.text) in tuned for ex in read_corpus(HELDOUT))


# Between folding one held-out set into the tuning part and receiving the next, there is none to measure:
# the file is gone, or still there but folded in (its figures would be tuning figures).
needs_heldout = pytest.mark.skipif(
    not HELDOUT.exists() or _folded(),
    reason="no blind held-out set: the last one is folded into the tuning part (tests/data/README.md)",
)


@pytest.fixture(scope="module")
def heldout() -> Report:
    return evaluate(read_corpus(HELDOUT), _predict)


def test_corpus_shape() -> None:
    tuning = read_corpus(TUNING)
    heldout = read_corpus(HELDOUT) if HELDOUT.exists() else []
    if _folded():
        # The last blind set, folded in: each of its messages is in the tuning part with its label, under
        # its own source (stock chatter already there was not added twice).
        sources = [json.loads(line).get("source") for line in TUNING.read_text(encoding="utf-8").splitlines()]
        labelled = {normalize(ex.text): (ex.intent, src) for ex, src in zip(tuning, sources, strict=True)}
        for ex in heldout:
            intent, src = labelled[normalize(ex.text)]
            assert intent is ex.intent or {intent, ex.intent} <= QUIET_INTENTS, ex.text
            assert src == FOLDED or ex.intent in QUIET_INTENTS, ex.text
        heldout = []
    assert len(tuning) + len(heldout) >= 400
    for rows in (tuning, heldout):
        texts = [ex.text for ex in rows]
        assert len(texts) == len(set(texts)), "a message appears twice in one split"
    # Across splits only the stock chatter every group repeats word for word (收到, 好的, 👌) may recur,
    # as chatter in both; anything else in both is a leak. (The authors may label stock chatter
    # differently: 嗯 is chitchat in the tuning part and ack in held-out v3.)
    tuned = {normalize(ex.text): ex.intent for ex in tuning}
    leaks = [
        ex.text
        for ex in heldout
        if normalize(ex.text) in tuned
        and not (ex.intent in QUIET_INTENTS and tuned[normalize(ex.text)] in QUIET_INTENTS)
    ]
    assert not leaks, f"held-out leaks into tuning: {leaks}"
    for name, rows in (("tuning", tuning), ("heldout", heldout)):
        if not rows:
            continue
        counts = Counter(ex.intent for ex in rows)
        assert set(counts) == set(Intent), f"{name} lacks {set(Intent) - set(counts)}"
        quiet = sum(counts[i] for i in QUIET_INTENTS)
        assert 0.4 <= quiet / len(rows) <= 0.6, f"{name}: chatter should be about half"


@needs_heldout
def test_heldout_macro_f1_target(heldout: Report) -> None:
    # Met on the five sets pooled (0.972; v52 0.976, v51 0.989, v50 0.959, v49 0.961 alone), on v46
    # (0.967), v45 (0.959, two thirds written Cantonese), v44 (0.974), v43 (0.954, two thirds written
    # Cantonese), v42 (0.969), v41 (0.924, two thirds written Cantonese), v40 (0.964), v39 (0.916, two
    # thirds written Cantonese), v38 (0.973), v36 (0.974), v35 (0.960), v34 (0.951), v33 (0.961), v32
    # (0.954), v31 (0.941), v30 (0.935), v29 (0.940), v28 (0.950), v27 (0.967), v26 (0.967), v25 (0.961),
    # v24 (0.965), v23 (0.954), v22 (0.951), v21 (0.955), v20 (0.938), v19 (0.939), v18 (0.935), v16
    # (0.936), v15 (0.948), v14 (0.916), v13 (0.927), v12 (0.926), v11 (0.942), v10 (0.914), v9 (0.918),
    # v8 (0.952); not on v7 (0.875), v17 (0.837) nor v37 (0.884, mostly written Cantonese).
    assert heldout.macro_f1 >= 0.90, heldout.as_text()


@needs_heldout
def test_heldout_quality_floor(heldout: Report) -> None:
    # The pooled figures of the five sets: v46 (0.967 / 4/150 / 20/20 blind at db12a55), v49 and v50 (blind at
    # bd3585e 0.961 / 1/150 / 16/20 and 0.959 / 3/150 / 20/20; with the intent model's own emergencies, seen,
    # v49 0.968 / 1/150 / 18/20), v51 and v52 (blind at f127357, 0.989 / 0/150 / 20/20 and 0.976 / 1/150 /
    # 20/20): pooled 0.972 / 9/748 / 98/100. A change that loses ground on them fails here.
    assert heldout.macro_f1 >= 0.972 - 1e-3, heldout.as_text()
    assert heldout.false_ticket_rate <= 9 / 748 + 1e-9, heldout.as_text()
    assert heldout.emergency_recall >= 98 / 100 - 1e-9, heldout.as_text()


@needs_heldout
def test_heldout_false_ticket_target(heldout: Report) -> None:
    # Met on the five sets pooled (9/748 = 1.2 %; v52 1/150, v51 0/150, v50 3/150, v49 1/150), on v46 (4/150
    # = 2.7 %), v45 (1/150 = 0.7 %), v43 (3/150 = 2.0 %), v42 and v40 (2/150 = 1.3 % each), v38 (0/150),
    # v37 (4/150 = 2.7 %), v36 and v35 (3/150 = 2.0 % each, blind, with the other two targets), v29
    # (4/150 = 2.7 %), v28 (3/150 = 2.0 %, blind, with the other two targets), v24 (2.7 %), v22 (1.3 %),
    # v20, v19 and v18 (2.7 % each) and v15 (2.0 %); not on v44 (5/150 = 3.3 %), v41 (8/150 = 5.3 %),
    # v39 (5/150 = 3.3 %), v34 (4.0 %), v33, v32 and v30 (3.3 %), v31 (4.7 %), v27 (4.0 %), v26 and v23
    # and v14 (3.3 %), v25 (4.7 %), v21 and v16 (4.0 %), v17 (4.7 %).
    assert heldout.false_ticket_rate <= 0.03, heldout.as_text()


@needs_heldout
@pytest.mark.xfail(
    strict=True,
    reason="98 of the five sets' 100 emergencies: v49 (northern Anhui) 18 of 20 (16 at its blind "
    "evaluation); the two missed are told by signs alone: a trail of blood from the stairs with the person "
    "gone, a child fallen into a manhole",
)
def test_heldout_emergency_recall_target(heldout: Report) -> None:
    # Not met on the five sets pooled (98/100): v49 16/20 blind (18/20 with `model_emergency`, seen); v52,
    # v51, v50 and v46 20/20 each. Met on v46, v45, v44, v43, v42 and v41 (20/20 each, blind), v38, v36,
    # v35, v34, v33, v32, v28, v27, v26, v25 and v23 (20/20 each; three of v25's and v26's forty caught by
    # the baseline emergency override alone), v11 and v4; not on v40 and v39 (19/20 each: the unguarded
    # pre-registered rule caught both), v37, v29, v30, v31 nor v24 (19/20) nor v15-v22 (18-19/20).
    assert heldout.emergency_recall == 1.0, heldout.as_text()


def test_tuning_part_is_learnt() -> None:
    # The engine (keywords and both second opinions, which are trained on every row) learns the tuning
    # part almost perfectly; that says little about new authors (tests/data/README.md has the
    # leave-one-author-out figures). The lexicon's stricter floors apply to the sources it was tuned on.
    rows = read_corpus(TUNING)
    sources = [json.loads(line).get("source") for line in TUNING.read_text(encoding="utf-8").splitlines()]
    assert len(sources) == len(rows)
    report = evaluate(rows, _predict)
    # 390/390 on 2026-11-29 (01:10 UTC), after held-out v9 and families5: a smell with an alarm sign
    # (臭鸡蛋味 … 冲得人头疼, 敲不开门, 千万别开灯) is put to the emergency model even when the keywords made
    # it urgent sanitation, and sudden stroke signs in new words are learnt.
    # 410/410 after held-out v10 (01:30 UTC): every keyword ticket, urgent or not, is put to the emergency
    # model, so its child's head stuck in a railing (an urgent repair) and its diabetic in a cold sweat
    # (sanitation) are learnt.
    # 450/450 after held-out v12 (03:40 UTC): its three emergencies with no lexicon word (a courier collapsed
    # in the sun, a child face down in a pond, a boy who took pills) are learnt through the agreement of the
    # two second opinions (engine.IntentEngine.emergency_agreed).
    assert report.emergency_recall == 1.0, report.as_text()
    # 0.979 on 2026-11-28 (20:00 UTC), after held-out v6 and families2 were folded in; 0.991 at 22:30 UTC,
    # after v7 and families3, with the SVM as the intent second opinion (it learns its data better).
    assert report.macro_f1 >= 0.975, report.as_text()
    # Held-out v5 was folded in with only two emergency families tuned on it: 1.4 % on 2026-11-28; 1.0 % after
    # v6 and families2; 0.35 % (6/1704) after v7, families3 and the SVM.
    assert report.false_ticket_rate <= 0.015, report.as_text()
    lexicon_tuned = [ex for ex, src in zip(rows, sources, strict=True) if src not in NOT_LEXICON_TUNED]
    report = evaluate(lexicon_tuned, _predict)
    assert report.emergency_recall == 1.0, report.as_text()
    assert report.macro_f1 >= 0.99, report.as_text()
    # 0.50 % (4/798) on 2026-11-28; 0.13 % (1/800) at 22:30 UTC.
    assert report.false_ticket_rate <= 0.006, report.as_text()
