"""The trainer of the intent second opinion (intents/train_intents.py): the shipped file is what it
builds, training is deterministic, and the figures the threshold search optimises agree with
`intents.evaluate`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from intents import Intent, train_intents
from intents.evaluate import Example, evaluate
from intents.intent_model import load_intent_model
from intents.train_intents import GRID, THRESHOLDS, design, figures, main, train

# Training needs scikit-learn (the bench extra); the engine does not.
needs_sklearn = pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None, reason="training needs scikit-learn (the bench extra)"
)


@needs_sklearn
def test_shipped_model_is_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    # Retrains on the whole tuning part (about 10 s) with the recorded thresholds.
    assert main(["--check"]) == 0, capsys.readouterr().out
    shipped = load_intent_model()
    assert {name: getattr(shipped, name) for name in GRID} == THRESHOLDS


def test_check_fails_on_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(train_intents, "build", lambda t: b"a fresh model\n")  # no retrain
    stale = tmp_path / "m.bin"
    stale.write_bytes(b"a stale model\n")
    assert main(["--check", "--output", str(stale)]) == 1
    assert "differs" in capsys.readouterr().out


@needs_sklearn
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
    assert one.to_bytes() == two.to_bytes()
    for norm, label in zip(norms, labels, strict=True):
        p = one.probabilities(norm)
        assert one.classes[int(np.argmax(p))] is label


@needs_sklearn
def test_design_matrix() -> None:
    vocab = {"电": 0, "梯": 1, "谢": 2}
    x = design(["电梯", "哈", "谢谢"], vocab).toarray()
    assert np.allclose(x, [[1 / np.sqrt(2), 1 / np.sqrt(2), 0], [0, 0, 0], [0, 0, 1 / np.sqrt(2)]])


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
