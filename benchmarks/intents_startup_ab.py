"""Warm start of the intent engine, this checkout against another, in alternating fresh processes.

    .venv/bin/python benchmarks/intents_startup_ab.py --base ../main [--pairs 11] [--json]

Runs the start-up script of `benchmarks/intents_bench.py` (import, `IntentEngine.load`, `warm()` and a first
message) in a fresh process of each checkout in turn, the order swapped every pair, each checkout with its own
warm tokenizer cache (filled once before the timed runs), and prints the medians of each and the ratio of the
totals. On a shared, noisy machine the ratio is the figure: a burst of load falls on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from intents_bench import startup  # noqa: E402  (the same start-up script, run in each checkout)

FIELDS = ("import_s", "lexicon_s", "tokenizer_s", "total_s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the other checkout (a worktree of main)")
    parser.add_argument("--pairs", type=int, default=11)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    roots = {"base": args.base.resolve(), "this": ROOT}
    with tempfile.TemporaryDirectory() as base_cache, tempfile.TemporaryDirectory() as this_cache:
        caches = {"base": base_cache, "this": this_cache}
        for name, root in roots.items():
            startup(caches[name], root)  # fill the tokenizer cache: every timed run is a warm start
        load_before = os.getloadavg()
        runs: dict[str, list[dict[str, Any]]] = {"base": [], "this": []}
        for i in range(args.pairs):
            for name in ("base", "this") if i % 2 == 0 else ("this", "base"):
                runs[name].append(startup(caches[name], roots[name]))
        load_after = os.getloadavg()
    medians = {
        name: {field: round(statistics.median(r[field] for r in rs), 3) for field in FIELDS}
        for name, rs in runs.items()
    }
    result = {
        "base": str(roots["base"]),
        "pairs": args.pairs,
        "medians": medians,
        "ratio_total_this_to_base": round(medians["this"]["total_s"] / medians["base"]["total_s"], 2),
        "warm_cache": all(r["from_cache"] for rs in runs.values() for r in rs),
        "load_avg_before": load_before,
        "load_avg_after": load_after,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name in ("base", "this"):
            m = medians[name]
            print(
                f"{name:4}  import {m['import_s']:.3f} s  load {m['lexicon_s']:.3f} s"
                f"  tokenizer {m['tokenizer_s']:.3f} s  total {m['total_s']:.3f} s"
            )
        print(
            f"ratio of totals (this / base) {result['ratio_total_this_to_base']}, {args.pairs} pairs,"
            f" load {load_before[0]:.2f} -> {load_after[0]:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
