"""Classification speed of this checkout against another, in alternating fresh processes.

    .venv/bin/python benchmarks/intents_speed_ab.py --base ../main [--pairs 5] [--messages 30000] [--json]
        [--this-pure] [--base-pure]

Runs `python -m intents bench --json` (the held-out file: all messages and those with no keyword hit) in a
fresh process of each checkout in turn, the order rotated every pair, and prints the median of each figure
and the median of the per-pair ratios (this / base; for latencies base / this, so above 1 is faster either
way). On a shared machine the per-pair ratio is the figure to quote: a burst of load falls on both alike.
`--this-pure` adds a third arm, this checkout with `LOUDONG_INTENTS_PURE=1` (its pure-Python modules
rather than its compiled build); `--base-pure` runs the base so too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def _bench(root: Path, messages: int, pure: bool = False) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("LOUDONG_INTENTS_PURE", None)
    if pure:
        env["LOUDONG_INTENTS_PURE"] = "1"
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
    parser.add_argument("--this-pure", action="store_true", help="also this checkout's pure-Python modules")
    parser.add_argument("--base-pure", action="store_true", help="the base's pure-Python modules")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    # name: (checkout, pure)
    arms = {"base": (args.base.resolve(), args.base_pure), "this": (ROOT, False)}
    if args.this_pure:
        arms["this_pure"] = (ROOT, True)
    names = list(arms)
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    forms: dict[str, set[str]] = {name: set() for name in names}
    for i in range(args.pairs):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            figures = _bench(arms[name][0], args.messages, arms[name][1])
            forms[name].add(str(figures.get("implementation", "pure")))
            runs[name].append(figures)
    load_after = os.getloadavg()
    table: dict[str, dict[str, float]] = {}
    for section, figure, higher in FIGURES:
        base = [r[section][figure] for r in runs["base"]]
        row: dict[str, float] = {"base": statistics.median(base)}
        for name in names[1:]:
            this = [r[section][figure] for r in runs[name]]
            ratios = [(t / b if higher else b / t) for b, t in zip(base, this, strict=True)]
            row[name] = statistics.median(this)
            row[f"{name}_ratio"] = round(statistics.median(ratios), 3)
        table[f"{section}.{figure}"] = row
    result = {
        "base": str(arms["base"][0]),
        "pairs": args.pairs,
        "implementations": {name: sorted(found) for name, found in forms.items()},
        "figures": table,
        "load_avg_before": load_before,
        "load_avg_after": load_after,
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{args.pairs} rounds, load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print("hot path: " + ", ".join(f"{name} {'/'.join(found)}" for name, found in forms.items()))
    header = f"{'figure':32} {'base':>10}" + "".join(f" {name:>10} {'ratio':>7}" for name in names[1:])
    print(header)
    for figure_name, row in table.items():
        line = f"{figure_name:32} {row['base']:>10,.1f}"
        for name in names[1:]:
            line += f" {row[name]:>10,.1f} {row[f'{name}_ratio']:>7.3f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
