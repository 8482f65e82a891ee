"""Dispatcher benchmark: bot CPU per message without the network, to see where the time goes.

The OneBot load benchmark (onebot_load.py) measures the whole bot end to end, with a second process
playing the implementation; its figures move with the machine's load and the window. This one runs in
one process: a `Runtime` on a fresh SQLite file with the demo directory imported and every capability
registered, and messages of the same realistic mix (`onebot_load.chat_line`: about a third real
problems, the rest chatter, thanks, acks and `帮助`) handed straight to `Dispatcher.dispatch`, either one
at a time (`--window 1`: each waits for the one before, as a lone message does) or with up to
`--window` in flight (those waiting are handled together in one transaction). After a warm-up (jieba,
the caches, most senders registered) it reports messages per CPU-second and per wall-second, and the
runs alternate between the windows given, so a burst of load from a
neighbour falls on all of them alike.

    .venv/bin/python benchmarks/dispatch_bench.py                       # windows 1 and 50, 3 rounds
    .venv/bin/python benchmarks/dispatch_bench.py --chatter-only        # the fixed cost of a message
    .venv/bin/python benchmarks/dispatch_bench.py --problems-only       # what a report costs
    .venv/bin/python benchmarks/dispatch_bench.py --profile cumulative  # cProfile of one window-1 round
    .venv/bin/python benchmarks/dispatch_bench.py --windows 1 --gap-ms 5   # also one at a time, 5 ms apart
    .venv/bin/python benchmarks/dispatch_bench.py --steady --warmup 6000 --problems-only --pstats /tmp/reports
                                                        # steady state; cProfile of one round per window

With `--steady` the bot is warmed up as a running bot is: the objects made at start-up frozen out of the
garbage collector (`Runtime._freeze_startup_objects`, as `Runtime.start` does; the bot here is never
started) and the warm-up dispatched at the largest window, so that with a few thousand messages nearly
every one of the load's 1,200 senders is registered, in batches, before the measured rounds (the twelfth
round's scratch driver, `steady.py`, did this). `--pstats PATH` then runs one more round per window under
cProfile, not counted, writes it to `PATH-w<window>.pstats` and prints the shares of its CPU by module
(`profile_shares`).

With `--gap-ms` each round also runs window 1 with the process asleep that long between messages, as
at 200 events/s offered: the same messages through the same code, so any difference in CPU per message
is what waking up costs on this machine (cold caches), not work the bot does.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import onebot_load  # noqa: E402  (the same load mix)

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from handlers.contract import Message


def make_messages(
    count: int, *, seed: int, chatter_only: bool, first_id: int, problems_only: bool = False
) -> list[Message]:
    from handlers.contract import Message

    rng = random.Random(seed)
    corpus = onebot_load.load_corpus()
    messages: list[Message] = []
    while len(messages) < count:
        line = onebot_load.chat_line(rng, corpus)
        if chatter_only and (line.problem or line.text == "帮助"):
            continue
        if problems_only and not line.problem:
            continue
        messages.append(
            Message(
                platform="onebot",
                group_id=str(line.group_id),
                sender_id=str(line.user_id),
                sender_name=line.card,
                message_id=str(first_id + len(messages)),
                text=line.text,
                time=datetime.now(UTC),
            )
        )
    return messages


async def dispatch_all(runtime: Runtime, messages: Sequence[Message], window: int, gap: float = 0.0) -> None:
    """Dispatch with up to `window` in flight; with `gap`, sleep that many seconds before each message
    (meant with window 1: messages one at a time, the process idle in between)."""
    slots = asyncio.Semaphore(window)

    async def one(message: Message) -> None:
        try:
            await runtime.dispatcher.dispatch(message)
        finally:
            slots.release()

    tasks = []
    for message in messages:
        await slots.acquire()
        if gap:
            await asyncio.sleep(gap)
        tasks.append(asyncio.create_task(one(message)))
    await asyncio.gather(*tasks)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    runtime = await onebot_load.open_bot(Path(tempfile.mkdtemp(prefix="dispatch-bench-")))
    try:
        next_id = 1
        warm = make_messages(args.warmup, seed=args.seed, chatter_only=args.chatter_only, first_id=next_id)
        next_id += len(warm)
        if args.steady:
            runtime._freeze_startup_objects()
        await dispatch_all(runtime, warm, max(args.windows) if args.steady else 1)
        runs = [(window, 0.0) for window in args.windows]
        if args.gap_ms:
            runs.append((1, args.gap_ms / 1000))
        rounds: dict[tuple[int, float], list[dict[str, float]]] = {run: [] for run in runs}
        for round_number in range(args.rounds):
            for window, gap in runs:
                batch = make_messages(
                    args.messages,
                    seed=args.seed + 1000 * round_number + window + int(gap * 1000),
                    chatter_only=args.chatter_only,
                    first_id=next_id,
                    problems_only=args.problems_only,
                )
                next_id += len(batch)
                cpu, wall = time.process_time(), time.perf_counter()
                await dispatch_all(runtime, batch, window, gap)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                figures = {"per_cpu_second": len(batch) / cpu, "per_second": len(batch) / wall}
                rounds[(window, gap)].append(figures)
        if args.profile:
            await profile_round(runtime, args, next_id)
            next_id += args.messages
        if args.pstats:
            shares = await profile_windows(runtime, args, next_id)
    finally:
        await runtime.close()
    figures = {
        "event_loop": onebot_load.event_loop_name(),
        "messages_per_round": args.messages,
        "rounds": args.rounds,
        "chatter_only": args.chatter_only,
        "problems_only": args.problems_only,
        "windows": {
            _run_name(window, gap): {
                "median_per_cpu_second": round(statistics.median(r["per_cpu_second"] for r in results), 1),
                "median_cpu_ms_per_message": round(
                    1000 / statistics.median(r["per_cpu_second"] for r in results), 3
                ),
                "median_per_second": round(statistics.median(r["per_second"] for r in results), 1),
                "runs_per_cpu_second": [round(r["per_cpu_second"], 1) for r in results],
            }
            for (window, gap), results in rounds.items()
        },
        "steady": args.steady,
    }
    if args.pstats:
        figures["profile_shares"] = shares
    return figures


def _run_name(window: int, gap: float) -> str:
    return f"{window} spaced {gap * 1000:g} ms" if gap else str(window)


async def profile_round(runtime: Runtime, args: argparse.Namespace, first_id: int) -> None:
    """cProfile of one more window-1 round, our functions only, to stderr. Work SQLAlchemy runs in its
    greenlets shows up under the coroutine that awaited it, and some of it twice."""
    messages = make_messages(
        args.messages,
        seed=args.seed - 1,
        chatter_only=args.chatter_only,
        first_id=first_id,
        problems_only=args.problems_only,
    )
    profiler = cProfile.Profile()
    profiler.enable()
    await dispatch_all(runtime, messages, 1)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats(args.profile).print_stats(r"(bot|handlers|storage|intents)/", 40)


async def profile_windows(
    runtime: Runtime, args: argparse.Namespace, first_id: int
) -> dict[str, dict[str, float]]:
    """One more round per window under cProfile (not counted): each written to `PATH-w<window>.pstats`
    and summarised by `profile_shares`, printed to stderr and returned."""
    shares: dict[str, dict[str, float]] = {}
    for window in args.windows:
        messages = make_messages(
            args.messages,
            seed=args.seed - 2 - window,
            chatter_only=args.chatter_only,
            first_id=first_id,
            problems_only=args.problems_only,
        )
        first_id += len(messages)
        profiler = cProfile.Profile()
        profiler.enable()
        await dispatch_all(runtime, messages, window)
        profiler.disable()
        path = f"{args.pstats}-w{window}.pstats"
        profiler.dump_stats(path)
        shares[str(window)] = profile_shares(pstats.Stats(path))
        print(f"window {window}: {path}", file=sys.stderr)
        for name, share in shares[str(window)].items():
            print(f"  {share:5.1f} %  {name}", file=sys.stderr)
    return shares


# Where a function's own time is counted, by the first fragment of its file's path that matches; C
# functions (file "~") by a fragment of their name. Idle waits (epoll) are left out of the total.
_SHARES = (
    *(("sqlalchemy/" + part, "sqlalchemy." + part) for part in ("orm", "engine", "sql", "pool", "event")),
    ("sqlalchemy/ext/asyncio", "sqlalchemy.asyncio"),
    ("sqlalchemy/util/_concurrency", "sqlalchemy greenlet bridge"),
    ("sqlalchemy", "sqlalchemy other"),
    *((f"{package}/", package) for package in ("bot", "handlers", "intents", "jieba", "logging", "json")),
    ("storage/prepared", "storage.prepared"),
    ("storage/sqlite_inline", "storage.sqlite_inline"),
    ("storage/", "storage other"),
    ("asyncio/", "asyncio"),
    ("benchmarks/", "benchmarks"),
)
_C_SHARES = (("sqlite3", "sqlite3 (C)"), ("greenlet", "greenlet (C)"), ("switch", "greenlet (C)"))


def profile_shares(stats: pstats.Stats, top: int = 16) -> dict[str, float]:
    """Percent of a profile's own time (cProfile's tottime) per module group, the largest `top` and the
    rest as "other"; idle `epoll`/`select` waits left out."""
    totals: dict[str, float] = {}
    for (filename, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if filename == "~":
            if "poll" in name or "select" in name:
                continue
            group = next((label for part, label in _C_SHARES if part in name), "builtins (C)")
        else:
            group = next((label for part, label in _SHARES if part in filename), "other Python")
        totals[group] = totals.get(group, 0.0) + row[2]
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    shares = {name: round(100 * value / whole, 1) for name, value in ranked[:top]}
    if len(ranked) > top:
        shares["other"] = round(100 * sum(value for _, value in ranked[top:]) / whole, 1)
    return shares


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000, help="messages per round (2000)")
    parser.add_argument("--warmup", type=int, default=3000, help="warm-up messages, not counted (3000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per window (3)")
    parser.add_argument(
        "--windows", type=int, nargs="+", default=[1, 50], help="messages in flight, one run each per round"
    )
    parser.add_argument("--chatter-only", action="store_true", help="no problem reports and no 帮助")
    parser.add_argument(
        "--problems-only", action="store_true", help="measured rounds of problem reports only (warm-up mixed)"
    )
    parser.add_argument(
        "--gap-ms", type=float, default=0.0, help="also window 1 with this many ms idle before each message"
    )
    parser.add_argument("--seed", type=int, default=6)
    onebot_load.add_event_loop_option(parser)
    parser.add_argument("--profile", choices=["cumulative", "tottime"], help="also profile one round")
    parser.add_argument(
        "--steady",
        action="store_true",
        help="start-up objects frozen and the warm-up at the largest window, as a running bot",
    )
    parser.add_argument(
        "--pstats", metavar="PATH", help="also one cProfile round per window, to PATH-w<window>.pstats"
    )
    parser.add_argument("--json", dest="json_path", help="also write the figures to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    onebot_load.print_json(onebot_load.run_on_loop(measure(args), args.event_loop), args.json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
