"""`python -m intents classify TEXT | eval FILE.jsonl [--json] | bench [FILE]`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from intents import SELECTION
from intents.bench import measure
from intents.engine import IntentEngine, implementation
from intents.evaluate import CorpusError, evaluate, read_corpus
from intents.lexicon import LexiconError
from intents.model import Intent

_DEFAULT_BENCH = Path(__file__).resolve().parent.parent / "tests" / "data" / "intents_heldout.jsonl"
_SAMPLE = [
    "2单元楼道灯坏了好几天了,晚上黑乎乎的",
    "收到",
    "谢谢王师傅",
    "今天天气真好,出来晒被子",
    "着火了!6楼有人家里冒黑烟",
    "电梯没坏,是有人按住了门",
    "请问退休认证在哪里办",
    "哈哈哈",
]


def _engine(args: argparse.Namespace) -> IntentEngine:
    return IntentEngine.load(args.lexicon or ())


def _classify(args: argparse.Namespace) -> int:
    engine = _engine(args)
    text = " ".join(args.text) if args.text else sys.stdin.read()
    result = engine.classify(text)
    print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=None if args.compact else 2))
    return 0


def _eval(args: argparse.Namespace) -> int:
    engine = _engine(args)
    examples = read_corpus(args.file)

    def predict(text: str) -> tuple[Intent, float]:
        result = engine.classify(text)
        return result.intent, result.confidence

    report = evaluate(examples, predict)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        print(report.as_text())
    return 0


def _bench(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    engine = _engine(args)
    engine.warm()
    load_s = time.perf_counter() - start
    messages = [ex.text for ex in read_corpus(args.file)] if args.file else _load_default()
    figures: dict[str, object] = {
        "implementation": implementation(),
        "load_s": round(load_s, 3),
        "all": measure(engine.classify, messages, args.messages),
    }
    silent = [text for text in messages if not engine.prefilter(text)]
    if silent:
        figures["no_keyword_hit"] = measure(engine.classify, silent, args.messages)
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"engine: {implementation()} hot path ({SELECTION.reason})")
    print(f"engine load incl. tokenizer: {load_s:.3f} s")
    for name, row in figures.items():
        if not isinstance(row, dict):
            continue
        label = "all messages" if name == "all" else f"no keyword hit ({len(silent)} of {len(messages)})"
        print(
            f"{label}: {row['per_s_cpu']:,} messages/s per core (CPU time, best of 5; median "
            f"{row['per_s_cpu_median']:,.0f}; wall {row['per_s_wall']:,}/s), "
            f"p50 {row['p50_us']} µs, p99 {row['p99_us']} µs "
            f"(wall p50 {row['p50_us_wall']} µs, p99 {row['p99_us_wall']} µs) over {row['messages']:,} calls"
        )
    return 0


def _load_default() -> list[str]:
    if _DEFAULT_BENCH.exists():
        return [ex.text for ex in read_corpus(_DEFAULT_BENCH)]
    return list(_SAMPLE)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m intents", description="楼栋群助手 intent engine")
    parser.add_argument(
        "--lexicon", action="append", metavar="FILE", help="community lexicon layered on the shipped one"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("classify", help="classify one message and print JSON")
    p.add_argument("text", nargs="*", help="the message (read from stdin if omitted)")
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    p.set_defaults(func=_classify)
    p = sub.add_parser("eval", help="evaluate on a JSON-lines file with text and intent")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    p.set_defaults(func=_eval)
    p = sub.add_parser("bench", help="messages/s and latency percentiles")
    p.add_argument("file", nargs="?", help="JSON-lines corpus (default: the held-out corpus)")
    p.add_argument("--messages", type=int, default=50_000, help="approximate number of classifications")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (LexiconError, CorpusError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
