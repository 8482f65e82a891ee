"""Could a cascade decide messages on the keywords alone? For every text of tests/data/*.jsonl, the keyword
path's result (`classify_keywords`) against the engine's (`classify`), by the keywords' confidence: the share
of messages at or above each confidence and how many of those the second opinions change. A cascade that
skipped the models above a confidence would change exactly those messages. Also the two paths' speed on the
same texts (per CPU-second, one pass each after a warm-up; a rough figure, not an A/B).

    PYTHONPATH=. .venv/bin/python benchmarks/intents_cascade_share.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import intents  # noqa: E402
from intents import IntentEngine  # noqa: E402

CUTS = (0.0, 0.7, 0.8, 0.9, 0.95, 0.99)


def _texts() -> list[str]:
    texts: list[str] = []
    for path in sorted((ROOT / "tests" / "data").glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            texts += [json.loads(line)["text"] for line in lines]
    return texts


def _per_second(classify: Callable[[str], object], texts: Sequence[str]) -> float:
    for text in texts[:500]:
        classify(text)
    start = time.process_time()
    for text in texts:
        classify(text)
    return len(texts) / (time.process_time() - start)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    engine = IntentEngine.load()
    engine.warm()
    texts = _texts()
    pairs = [(engine.classify_keywords(t), engine.classify(t)) for t in texts]
    cuts = []
    for cut in CUTS:
        above = [(k, c) for k, c in pairs if k.confidence >= cut]
        changed = sum(k.intent is not c.intent for k, c in above)
        cuts.append({"confidence_at_least": cut, "share": len(above) / len(pairs), "changed": changed})
    summary = {
        "implementation": intents.IMPLEMENTATION,
        "messages": len(pairs),
        "cuts": cuts,
        "keywords_per_s": round(_per_second(engine.classify_keywords, texts)),
        "classify_per_s": round(_per_second(engine.classify, texts)),
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['messages']:,} messages, {summary['implementation']} modules")
    for row in cuts:
        print(
            f"keyword confidence >= {row['confidence_at_least']:.2f}: {row['share']:.1%} of messages, "
            f"{row['changed']:,} of them changed by the second opinions"
        )
    print(f"keywords alone {summary['keywords_per_s']:,} msg/s, classify {summary['classify_per_s']:,} msg/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
