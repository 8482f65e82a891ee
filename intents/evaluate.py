"""Quality figures for a labelled corpus: accuracy, macro-F1, per-intent precision/recall/F1, the
false-ticket rate and emergency recall. Pure functions, shared by the CLI and the benchmark script."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from intents.model import QUIET_INTENTS, TICKET_INTENTS, Intent


@dataclass(frozen=True)
class Example:
    text: str
    intent: Intent
    line: int = 0


@dataclass(frozen=True)
class Miss:
    line: int
    text: str
    expected: Intent
    predicted: Intent
    confidence: float | None = None


@dataclass
class Report:
    total: int
    accuracy: float
    macro_f1: float
    false_ticket_rate: float
    emergency_recall: float
    per_intent: dict[str, dict[str, float]] = field(default_factory=dict)
    misses: list[Miss] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "false_ticket_rate": round(self.false_ticket_rate, 4),
            "emergency_recall": round(self.emergency_recall, 4),
            "per_intent": self.per_intent,
            "misclassified": [
                {"line": m.line, "text": m.text, "expected": str(m.expected), "predicted": str(m.predicted)}
                for m in self.misses
            ],
        }

    def as_text(self) -> str:
        lines = [
            f"messages:          {self.total}",
            f"accuracy:          {self.accuracy:.3f}",
            f"macro-F1:          {self.macro_f1:.3f}",
            f"false-ticket rate: {self.false_ticket_rate:.3%}  (chitchat/thanks/ack classified as a ticket)",
            f"emergency recall:  {self.emergency_recall:.3%}",
            "",
            f"{'intent':<20}{'precision':>10}{'recall':>10}{'f1':>8}{'support':>9}",
        ]
        for name, row in self.per_intent.items():
            lines.append(
                f"{name:<20}{row['precision']:>10.3f}{row['recall']:>10.3f}{row['f1']:>8.3f}{int(row['support']):>9}"
            )
        if self.misses:
            lines += ["", f"misclassified ({len(self.misses)}):"]
            for m in self.misses:
                conf = f" {m.confidence:.2f}" if m.confidence is not None else ""
                lines.append(f"  line {m.line}: {m.expected} -> {m.predicted}{conf}  {m.text}")
        return "\n".join(lines)


class CorpusError(ValueError):
    pass


def read_corpus(path: str | Path) -> list[Example]:
    """JSON lines with `text` and `intent`; blank lines and lines starting with # are skipped."""
    examples: list[Example] = []
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            raw = raw.strip()
            if not raw or raw.startswith("#"):
                continue
            try:
                row = json.loads(raw)
                examples.append(Example(text=str(row["text"]), intent=Intent(row["intent"]), line=number))
            except (ValueError, KeyError, TypeError) as exc:
                raise CorpusError(f"{path}:{number}: bad line: {exc}") from exc
    return examples


def score(
    gold: Sequence[Intent],
    predicted: Sequence[Intent],
    examples: Sequence[Example] | None = None,
    confidences: Sequence[float] | None = None,
) -> Report:
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    total = len(gold)
    labels = [i for i in Intent if i in set(gold) | set(predicted)]
    per_intent: dict[str, dict[str, float]] = {}
    f1s: list[float] = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_intent[str(label)] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": float(tp + fn),
        }
        f1s.append(f1)
    quiet = [(g, p) for g, p in zip(gold, predicted, strict=True) if g in QUIET_INTENTS]
    false_tickets = sum(1 for _, p in quiet if p in TICKET_INTENTS)
    emergencies = [(g, p) for g, p in zip(gold, predicted, strict=True) if g is Intent.EMERGENCY]
    misses: list[Miss] = []
    if examples is not None:
        for k, (g, p) in enumerate(zip(gold, predicted, strict=True)):
            if g != p:
                ex = examples[k]
                conf = confidences[k] if confidences is not None else None
                misses.append(Miss(ex.line, ex.text, g, p, conf))
    return Report(
        total=total,
        accuracy=sum(1 for g, p in zip(gold, predicted, strict=True) if g == p) / total if total else 0.0,
        macro_f1=sum(f1s) / len(f1s) if f1s else 0.0,
        false_ticket_rate=false_tickets / len(quiet) if quiet else 0.0,
        emergency_recall=(
            sum(1 for _, p in emergencies if p is Intent.EMERGENCY) / len(emergencies) if emergencies else 1.0
        ),
        per_intent=per_intent,
        misses=misses,
    )


def evaluate(examples: Sequence[Example], predict: Callable[[str], tuple[Intent, float]]) -> Report:
    results = [predict(ex.text) for ex in examples]
    return score(
        [ex.intent for ex in examples],
        [r[0] for r in results],
        examples,
        [r[1] for r in results],
    )
