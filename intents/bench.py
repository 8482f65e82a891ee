"""Throughput and latency of a classify function, measured the same way by the CLI and the benchmark
script. Wall-clock figures suffer when other processes share the machine; CPU-time figures (per-call
thread CPU time, and messages per CPU-second) measure the speed of one core and are the ones to quote."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def measure(
    fn: Callable[[str], Any], messages: Sequence[str], total: int = 50_000, repeats: int = 5
) -> dict[str, float]:
    """Call `fn` on `messages` round-robin about `total` times in `repeats` runs (after one warm-up
    pass; each run also times every call once more for the latencies) and report the fastest run, as
    `timeit` does: on a shared machine the slower runs measure the neighbours. `per_s_cpu_median` is the
    median over the runs."""
    if not messages:
        raise ValueError("no messages to measure")
    for text in messages:
        fn(text)
    runs = [_run(fn, messages, max(1, total // repeats // len(messages))) for _ in range(max(1, repeats))]
    best = max(runs, key=lambda r: r["per_s_cpu"])
    best["per_s_cpu_median"] = statistics.median(r["per_s_cpu"] for r in runs)
    best["messages"] = sum(r["messages"] for r in runs)
    return best


def _run(fn: Callable[[str], Any], messages: Sequence[str], rounds: int) -> dict[str, float]:
    """Throughput from a plain loop (no clock reads inside it), then per-call latencies from a second
    pass of the same messages with the clocks read around each call (reading the thread CPU clock is a
    system call, which would otherwise count against the throughput)."""
    wall_lat: list[float] = []
    cpu_lat: list[float] = []
    wall = time.perf_counter_ns
    cpu = time.thread_time_ns
    gc.collect()
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        for text in messages:
            fn(text)
    elapsed_wall = time.perf_counter() - start_wall
    elapsed_cpu = time.process_time() - start_cpu
    count = rounds * len(messages)
    gc.collect()
    for _ in range(rounds):
        for text in messages:
            c0 = cpu()
            w0 = wall()
            fn(text)
            w1 = wall()
            c1 = cpu()
            wall_lat.append((w1 - w0) / 1000)
            cpu_lat.append((c1 - c0) / 1000)
    wall_lat.sort()
    cpu_lat.sort()

    def pct(values: list[float], q: float) -> float:
        return round(values[min(len(values) - 1, int(len(values) * q))], 1)

    # The per-call figures include the two clock reads around each call (about 0.5-1 µs).
    return {
        "messages": count,
        "per_s_wall": round(count / elapsed_wall),
        "per_s_cpu": round(count / elapsed_cpu) if elapsed_cpu else 0,
        "p50_us": round(statistics.median(cpu_lat), 1),
        "p99_us": pct(cpu_lat, 0.99),
        "p50_us_wall": round(statistics.median(wall_lat), 1),
        "p99_us_wall": pct(wall_lat, 0.99),
        "max_us_wall": round(wall_lat[-1], 1),
    }


def compare(
    fns: dict[str, Callable[[str], Any]],
    messages: dict[str, Sequence[str]],
    total: int = 20_000,
    repeats: int = 7,
) -> dict[str, dict[str, float]]:
    """Measure several functions in one run, interleaved: round r of every function runs before round
    r + 1 of any, so a neighbour's burst of load falls on all of them alike and the ratios between their
    medians are fair. `messages[name]` is what `fns[name]` is called on. Figures as `measure`, with
    `per_s_cpu_median` (the one to quote) and `per_s_cpu` the best run."""
    for name, fn in fns.items():
        for text in messages[name]:
            fn(text)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in fns}
    for _ in range(max(1, repeats)):
        for name, fn in fns.items():
            texts = messages[name]
            runs[name].append(_run(fn, texts, max(1, total // repeats // len(texts))))
    out: dict[str, dict[str, float]] = {}
    for name, rs in runs.items():
        best = dict(max(rs, key=lambda r: r["per_s_cpu"]))
        median_run = sorted(rs, key=lambda r: r["per_s_cpu"])[len(rs) // 2]
        best["per_s_cpu_median"] = statistics.median(r["per_s_cpu"] for r in rs)
        best["p50_us_median_run"] = median_run["p50_us"]
        best["p99_us_median_run"] = median_run["p99_us"]
        best["p99_us_wall_median_run"] = median_run["p99_us_wall"]
        best["runs"] = len(rs)
        best["messages"] = sum(r["messages"] for r in rs)
        out[name] = best
    return out
