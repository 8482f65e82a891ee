"""The trainer of the intent second opinion (intents/train_intents.py): the shipped file is what it
builds, training is deterministic, and the figures the threshold search optimises agree with
`intents.evaluate`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from intents import Intent, train_intents
from intents.evaluate import Example, evaluate
from intents.intent_model import load_intent_model
from intents.train_intents import GRID, THRESHOLDS, Design, figures, main, train


def test_shipped_model_is_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    # Retrains on the whole tuning part (about 20 s) with the recorded thresholds.
    assert main(["--check"]) == 0, capsys.readouterr().out
    shipped = load_intent_model()
    assert {name: getattr(shipped, name) for name in GRID} == THRESHOLDS


def test_check_fails_on_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(train_intents, "build", lambda t: "a fresh model\n")  # no 20 s retrain
    stale = tmp_path / "m.txt"
    stale.write_text("format\tloudong-intent-ngram/1\n", encoding="utf-8")
    assert main(["--check", "--output", str(stale)]) == 1
    assert "differs" in capsys.readouterr().out


def test_training_is_deterministic_and_learns() -> None:
    norms = ["电梯坏了", "电梯又坏了 没人修", "谢谢物业", "谢谢师傅", "今晚吃啥", "今晚去哪玩"] * 2
    labels = [
        Intent.REPAIR,
        Intent.REPAIR,
        Intent.THANKS,
        Intent.THANKS,
        Intent.CHITCHAT,
        Intent.CHITCHAT,
    ] * 2
    one, two = train(norms, labels), train(norms, labels)
    assert one.dumps() == two.dumps()
    for norm, label in zip(norms, labels, strict=True):
        p = one.probabilities(norm)
        assert one.classes[int(np.argmax(p))] is label


def test_design_matrix_products() -> None:
    vocab = {"电": 0, "梯": 1, "谢": 2}
    design = Design.build(["电梯", "哈", "谢谢"], vocab)
    w = np.arange(6, dtype=float).reshape(3, 2)
    dense = np.zeros((3, 3))
    for r, c, v in zip(design.rows, design.cols, design.vals, strict=True):
        dense[r, c] += v
    assert np.allclose(design.times(w), dense @ w)
    g = np.arange(6, dtype=float).reshape(3, 2)
    assert np.allclose(design.transpose_times(g), dense.T @ g)


def test_figures_agree_with_evaluate() -> None:
    labels = [Intent.REPAIR, Intent.CHITCHAT, Intent.EMERGENCY, Intent.THANKS, Intent.ACK, Intent.NOISE]
    predicted = [Intent.REPAIR, Intent.REPAIR, Intent.CHITCHAT, Intent.THANKS, Intent.CHITCHAT, Intent.NOISE]
    fig = figures(labels, predicted)
    report = evaluate(
        [Example(str(i), y) for i, y in enumerate(labels)], lambda text: (predicted[int(text)], 1.0)
    )
    assert fig.macro_f1 == pytest.approx(report.macro_f1)
    assert fig.false_ticket_rate == pytest.approx(report.false_ticket_rate)
    assert fig.caught / fig.emergencies == pytest.approx(report.emergency_recall)
