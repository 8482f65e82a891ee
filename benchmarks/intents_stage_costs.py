"""What each stage of `IntentEngine.classify` costs inside the pipeline, by ablation: the stage is memoised
(its result for a text computed once, then looked up), and the pipeline over the held-out file is timed with
the memo on and off in alternating passes of one process; the share of the pipeline a stage costs is
1 - (time with it memoised / time without). A null ablation (nothing memoised) gives the noise.

    PYTHONPATH=. .venv/bin/python benchmarks/intents_stage_costs.py [--pairs 15] [--json]

Why not a profile: timed alone (`timeit`, cProfile), the n-gram models' stages cost a third of what they
cost in the pipeline, where the messages' other stages have pushed their code and data (numpy's dispatch,
the automata, the weight rows) out of the caches; cProfile's per-call overhead inflates the many small
functions of the keyword path instead. Memoising keeps the pipeline as it is but for the one stage.
The pure-Python modules are measured, even where a compiled build exists (see below).
Only stages whose result is not mutated downstream can be memoised this way (not `_analyse` or `_decide`,
which set the hits' states); the keyword path as a whole can.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Always the pure-Python modules: the compiled ones (`intents.native`) call each other directly, past the
# memos this script puts on the classes and the module, so their ablations would measure nothing.
os.environ["LOUDONG_INTENTS_PURE"] = "1"

import intents.engine as engine_module  # noqa: E402
from intents import IntentEngine  # noqa: E402
from intents.intent_model import IntentModel  # noqa: E402
from intents.override import OverrideModel  # noqa: E402
from intents.segment import Segmenter  # noqa: E402

HELD_OUT = ROOT / "tests" / "data" / "intents_heldout.jsonl"


def _memo_method(
    cls: type, name: str, key: Callable[..., Any]
) -> tuple[Callable[[], None], Callable[[], None]]:
    original = getattr(cls, name)
    memo: dict[Any, Any] = {}

    def memoised(self: Any, *args: Any) -> Any:
        k = key(self, *args)
        result = memo.get(k)
        if result is None:
            result = memo[k] = original(self, *args)
        return result

    return (lambda: setattr(cls, name, memoised)), (lambda: setattr(cls, name, original))


def _memo_keywords() -> tuple[Callable[[], None], Callable[[], None]]:
    """`_classify_keywords` (of the prepared text), whose automaton matches go to an out-list too."""
    original = IntentEngine._classify_keywords
    memo: dict[str, Any] = {}

    def memoised(self: IntentEngine, text: str, found_out: list[Any] | None) -> Any:
        kept = memo.get(text)
        if kept is None:
            found: list[Any] = []
            kept = memo[text] = (original(self, text, found), found)
        if found_out is not None:
            found_out.extend(kept[1])
        return kept[0]

    return (
        lambda: setattr(IntentEngine, "_classify_keywords", memoised),
        lambda: setattr(IntentEngine, "_classify_keywords", original),
    )


def _memo_may_cross() -> tuple[Callable[[], None], Callable[[], None]]:
    original = engine_module._may_cross
    memo: dict[Any, bool] = {}

    def memoised(freq: dict[str, int], text: str, start: int, end: int, p: Any) -> bool:
        k = (text, start, end, p.word)
        result = memo.get(k)
        if result is None:
            result = memo[k] = original(freq, text, start, end, p)
        return result

    return (
        lambda: setattr(engine_module, "_may_cross", memoised),
        lambda: setattr(engine_module, "_may_cross", original),
    )


def _stages() -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    def same(self: Any, *args: Any) -> Any:
        return (id(self), args)

    def text_only(self: Any, *args: Any) -> Any:
        return (id(self), args[:3])

    return {
        "null (noise)": ((lambda: None), (lambda: None)),
        "keyword path (_classify_keywords)": _memo_keywords(),
        "keywords + emergency opinion (_emergency)": _memo_method(IntentEngine, "_emergency", same),
        "intent model (IntentModel.scored)": _memo_method(IntentModel, "scored", same),
        "intent model n-grams (IntentModel.rows)": _memo_method(IntentModel, "rows", same),
        "intent model evidence (IntentModel.evidence)": _memo_method(IntentModel, "evidence", text_only),
        "override (OverrideModel.opinion)": _memo_method(OverrideModel, "opinion", same),
        "segmentation (Segmenter.tokens)": _memo_method(Segmenter, "tokens", same),
        "word-crossing check (_may_cross)": _memo_may_cross(),
    }


def _pass(engine: IntentEngine, texts: list[str]) -> float:
    clock = time.thread_time_ns
    start = clock()
    for text in texts:
        engine.classify(text)
    return (clock() - start) / len(texts) / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    engine = IntentEngine.load(warm=True)
    time.sleep(1.0)  # the tokenizer's dictionary is added in a background thread (`warm`)
    texts = [json.loads(line)["text"] for line in HELD_OUT.read_text(encoding="utf-8").splitlines() if line]
    load_before = os.getloadavg()
    out: dict[str, dict[str, float]] = {}
    for name, (on, off) in _stages().items():
        on()
        for text in texts:
            engine.classify(text)  # fill the memo
        off()
        with_stage: list[float] = []
        memoised: list[float] = []
        for i in range(args.pairs):
            for memo in (False, True) if i % 2 == 0 else (True, False):
                (on if memo else off)()
                gc.collect()
                (memoised if memo else with_stage).append(_pass(engine, texts))
        off()
        shares = [1 - m / w for w, m in zip(with_stage, memoised, strict=True)]
        out[name] = {
            "us_per_message": round(statistics.median(with_stage) - statistics.median(memoised), 1),
            "share": round(statistics.median(shares), 3),
            "pipeline_us": round(statistics.median(with_stage), 1),
        }
    load_after = os.getloadavg()
    if args.json:
        print(json.dumps({"stages": out, "load_avg_before": load_before, "load_avg_after": load_after}))
        return 0
    loads = f"load {load_before[0]:.2f} -> {load_after[0]:.2f}"
    print(f"{len(texts)} messages, {args.pairs} pairs per stage, {loads}")
    print(f"{'stage memoised':52} {'share':>6} {'µs/msg':>7} {'pipeline µs':>12}")
    for name, row in out.items():
        print(f"{name:52} {row['share']:>6.1%} {row['us_per_message']:>7.1f} {row['pipeline_us']:>12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
