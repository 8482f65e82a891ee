"""Classification speed of this checkout against another, in alternating fresh processes.

    .venv/bin/python benchmarks/intents_speed_ab.py --base ../main [--pairs 5] [--messages 30000] [--json]

Runs `python -m intents bench --json` (the held-out file: all messages and those with no keyword hit) in a
fresh process of each checkout in turn, the order swapped every pair, and prints the median of each figure
and the median of the per-pair ratios (this / base; for latencies base / this, so above 1 is faster either
way). On a shared machine the per-pair ratio is the figure to quote: a burst of load falls on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (section, figure, higher is better)
FIGURES = (
    ("all", "per_s_cpu", True),
    ("all", "per_s_cpu_median", True),
    ("all", "p50_us", False),
    ("all", "p99_us", False),
    ("no_keyword_hit", "per_s_cpu", True),
    ("no_keyword_hit", "per_s_cpu_median", True),
    ("no_keyword_hit", "p99_us", False),
)


def _bench(root: Path, messages: int) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-m", "intents", "bench", "--json", "--messages", str(messages)],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the other checkout (a worktree of main)")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    roots = {"base": args.base.resolve(), "this": ROOT}
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, dict[str, float]]]] = {"base": [], "this": []}
    for i in range(args.pairs):
        for name in ("base", "this") if i % 2 == 0 else ("this", "base"):
            runs[name].append(_bench(roots[name], args.messages))
    load_after = os.getloadavg()
    table = {}
    for section, figure, higher in FIGURES:
        base = [r[section][figure] for r in runs["base"]]
        this = [r[section][figure] for r in runs["this"]]
        ratios = [(t / b if higher else b / t) for b, t in zip(base, this, strict=True)]
        table[f"{section}.{figure}"] = {
            "base": statistics.median(base),
            "this": statistics.median(this),
            "ratio": round(statistics.median(ratios), 3),
        }
    result = {
        "base": str(roots["base"]),
        "pairs": args.pairs,
        "figures": table,
        "load_avg_before": load_before,
        "load_avg_after": load_after,
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{args.pairs} pairs, load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"{'figure':32} {'base':>10} {'this':>10} {'ratio':>7}")
    for name, row in table.items():
        print(f"{name:32} {row['base']:>10,.1f} {row['this']:>10,.1f} {row['ratio']:>7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
