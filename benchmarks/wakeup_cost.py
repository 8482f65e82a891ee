"""What waking up costs on this machine: the same pure-Python work, back to back and with the process
asleep between units, as a bot is between events at 200/s.

A unit is the intent engine classifying a few messages (no I/O, no database, no other thread). Run back to
back, it measures the work; run with a sleep of G ms before each unit, it measures the work plus what the
processor loses while the process sleeps (caches and branch predictors taken by others, a virtual CPU
descheduled). The CPU time of the units alone is counted (`time.process_time` around each unit), so the
sleeps themselves cost nothing. The rounds alternate between the gaps, so a burst of load from a
neighbour falls on all of them alike; medians are reported, with the ratio to back to back.

    .venv/bin/python benchmarks/wakeup_cost.py                    # gaps 0, 1, 5 and 20 ms
    .venv/bin/python benchmarks/wakeup_cost.py --gaps 0 5 --units 2000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# About 0.8 ms of work on this machine, like a message's dispatch: a report, chatter, a hazard, an ack.
UNIT_TEXTS = ("5号楼电梯又坏了 困了人没有", "谢谢王姐", "楼道里谁家电动车在充电 太危险了", "收到") * 3


def cpu_per_unit(unit: Callable[[], object], units: int, gap: float) -> float:
    """Seconds of CPU per unit, `units` units each after sleeping `gap` seconds."""
    spent = 0.0
    for _ in range(units):
        if gap:
            time.sleep(gap)
        started = time.process_time()
        unit()
        spent += time.process_time() - started
    return spent / units


def measure(gaps: Sequence[float], units: int, rounds: int) -> dict[str, object]:
    from intents import classify

    def unit() -> None:
        for text in UNIT_TEXTS:
            classify(text)

    cpu_per_unit(unit, 200, 0.0)  # load the engine and warm up
    runs: dict[float, list[float]] = {gap: [] for gap in gaps}
    for _ in range(rounds):
        for gap in gaps:
            runs[gap].append(cpu_per_unit(unit, units, gap / 1000))
    baseline = statistics.median(runs[min(gaps)])
    return {
        "units_per_run": units,
        "rounds": rounds,
        "messages_per_unit": len(UNIT_TEXTS),
        "gaps_ms": {
            f"{gap:g}": {
                "median_cpu_ms_per_unit": round(statistics.median(values) * 1000, 3),
                "ratio_to_smallest_gap": round(statistics.median(values) / baseline, 2),
                "runs_cpu_ms": [round(value * 1000, 3) for value in values],
            }
            for gap, values in runs.items()
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--gaps", type=float, nargs="+", default=[0, 1, 5, 20], help="ms asleep before each unit"
    )
    parser.add_argument("--units", type=int, default=500, help="units per run (500)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per gap (3)")
    parser.add_argument("--json", dest="json_path", help="also write the figures to this file")
    args = parser.parse_args(argv)
    figures = measure(args.gaps, args.units, args.rounds)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json_path:
        Path(args.json_path).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
