"""`python -m intents classify | eval | bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from intents.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _corpus(tmp_path: Path) -> Path:
    rows = [
        {"text": "电梯坏了,停在8楼", "intent": "repair"},
        {"text": "着火了!快打119", "intent": "emergency"},
        {"text": "收到", "intent": "ack"},
        {"text": "谢谢王师傅", "intent": "thanks"},
        {"text": "今天天气真好", "intent": "chitchat"},
        {"text": "楼道灯不亮", "intent": "chitchat"},  # deliberately mislabelled: a false ticket
    ]
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_eval_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(_corpus(tmp_path)), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"accuracy", "macro_f1", "false_ticket_rate", "emergency_recall", "per_intent"} <= set(report)
    assert report["accuracy"] == pytest.approx(5 / 6, abs=1e-3)
    assert report["false_ticket_rate"] == pytest.approx(1 / 4, abs=1e-3)
    assert report["emergency_recall"] == 1.0
    assert report["per_intent"]["repair"]["precision"] == 0.5
    assert report["misclassified"][0]["text"] == "楼道灯不亮"


def test_eval_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(_corpus(tmp_path))]) == 0
    out = capsys.readouterr().out
    for needle in (
        "accuracy",
        "macro-F1",
        "false-ticket rate",
        "emergency recall",
        "misclassified (1)",
        "楼道灯不亮",
    ):
        assert needle in out


def test_eval_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "intent": "nope"}\n', encoding="utf-8")
    assert main(["eval", str(bad)]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err


def test_bench(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(_corpus(tmp_path)), "--messages", "300", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    for row in (figures["all"], figures["no_keyword_hit"]):
        assert row["messages"] >= 200
        assert row["per_s_cpu"] > 0 and row["p99_us"] >= row["p50_us"]
    assert figures["load_s"] < 30


def test_classify_with_a_community_lexicon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lexicon = tmp_path / "c.toml"
    lexicon.write_text(
        '[[intents.repair.keywords]]\nrole = "problem"\nwords = ["水表冻了"]\n', encoding="utf-8"
    )
    assert main(["--lexicon", str(lexicon), "classify", "--compact", "水表冻了"]) == 0
    assert json.loads(capsys.readouterr().out)["intent"] == "repair"


def test_python_dash_m_classify() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "intents", "classify", "5号楼2单元楼道灯坏了"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["intent"] == "repair"
    assert result["places"]["building"] == "5号楼"
