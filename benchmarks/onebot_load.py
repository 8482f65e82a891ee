"""OneBot load benchmark: the real bot under a realistic group-chat load over a real loopback WebSocket.

This process runs the bot: a `Runtime` on a fresh SQLite file with the demo directory imported, the
requests capability registered and the OneBot adapter mounted on the real aiohttp server on 127.0.0.1.
A second process (multiprocessing, spawn) plays the OneBot implementation (NapCat, Lagrange): it
connects as a Universal reverse WebSocket with X-Self-ID and the access token, sends group `message`
events and answers every action the bot calls with an echo-matched OK response.

When is an event done? When the bot's reply to it arrives (a `send_group_msg` quoting the event's
message_id), or — for an event the bot stays silent on — when the dispatcher has finished it. The
bot reports the second through counters in shared memory that the generator polls (every ~1 ms, only
while it waits): how many events the dispatcher finished, and how many of those produced a quoting reply.
So `in flight = sent - (finished silently) - (replies received)`, and the window caps that at 50.

Phases (after a warm-up that loads jieba and the caches, not counted):
  throughput  --events events as fast as the window (--window in flight) allows -> events/s end to end
  latency     a fixed --rate events/s offered for --latency-seconds -> p50/p99 from the event sent to the
              quoting reply received (events that get one); a send held back by a full window is
              timed from when it was due, so a stalled bot cannot hide its stall
  overload    --overload-events offered at --overload-rate (no window, far above capacity): the adapter's
              bounded queue pushes back through TCP; afterwards every event must have been processed
              exactly once (dispatcher count, processed_messages rows + chatter not stored, no
              duplicates or failures)
At the end the bot waits for actions still being retried (an action whose response was stuck behind
the backlog times out and is retried with backoff), then counts what the database holds; a reply that
reaches the implementation twice (the retry of an attempt that had in fact arrived) is counted.
Bot CPU (user+sys) and RSS are sampled from the generator with psutil, so the bot does no extra work.
RSS is judged per event: besides RSS at 25/50/75/100 % of the throughput phase, the growth over its
second half and the least-squares slope over it in MB per 10,000 events; memory is flat when the slope is
~0 (no growth per event once warm), whatever the phase's length. --tracemalloc FILE says what grew.

    .venv/bin/python benchmarks/onebot_load.py                 # the full run (10-15 minutes at ~80/s)
    .venv/bin/python benchmarks/onebot_load.py --events 2000 --latency-seconds 5   # quick (about a minute)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import multiprocessing
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import SynchronizedArray

    from bot.runtime import Runtime
    from handlers.contract import Message

T = TypeVar("T")

SELF_ID = "3000000001"  # the bot's own QQ number, as the implementation announces it
TOKEN = "bench-token"
FIRST_GROUP = 731000001  # the demo's building groups are 731000001 … 731000020
BUILDINGS = 20
RESIDENTS_PER_BUILDING = 60  # distinct senders per group; unknown to the directory, registered on sight
WARMUP_EVENTS = 300
# A phase ends when the bot has finished its events and replies; it is given up on only when the bot
# makes no progress for this many seconds (an overload backlog takes minutes to drain).
STALL_TIMEOUT = 60.0
OUTBOX_DRAIN_TIMEOUT = 300.0  # seconds the bot waits at the end for retried actions to go out
WARM_TIMEOUT = 120.0  # seconds the bot waits at the start for the classifier's warming (--warm-classifier)

# Shared counters the bot writes and the generator reads (an array of int64, one writer each).
PROCESSED, QUOTED, ACTIONS, FAILED, DUPLICATE, UNMARKED = range(6)
COUNTERS = 6

# ---------------------------------------------------------------------------------------------------
# The mix: about a third real problems (from templates with varied places, so many open distinct
# requests and some merge), the rest chatter, thanks and acknowledgements from the intent corpus.

PROBLEM_TEMPLATES = (
    "{u}单元{f}楼楼道灯坏了,晚上黑乎乎的",
    "{u}单元电梯又坏了,停在{f}楼不动",
    "{u}单元{f}楼{r}厨房漏水,楼下都湿了",
    "{u}单元门口的路灯不亮了",
    "{u}单元{f}楼{r}家里下水道返臭水",
    "{u}单元门口垃圾堆了好几天没人清,臭死了",
    "{u}单元楼下绿化带里全是狗屎,没人管",
    "{u}单元{f}楼楼道里有人给电动车充电,太危险了",
    "有人把电瓶车推进{u}单元电梯里了",
    "{u}单元{f}楼{r}天天晚上装修到十一点,吵得睡不着",
    "楼上{r}半夜狗一直叫,{u}单元的人都没法睡",
    "{u}单元{f}楼楼道里堆了好多旧家具,走都走不过去",
    "{u}单元{f}楼有人往楼下扔垃圾,差点砸到人",
    "{u}单元{f}楼{r}的独居老人好几天没见出门了",
    "{u}单元{f}楼楼道的灭火器过期了,消防通道也被锁住了",
    "物业的保安天天睡觉,{u}单元的陌生人随便进",
    "{u}单元{f}楼{r}有燃气味,好像漏气了",
)
CHATTER_FALLBACK = ("大家早上好", "有人知道快递放哪了吗", "今天天气真好", "哈哈哈", "明天社区有义诊吗")
THANKS_FALLBACK = ("谢谢王师傅", "辛苦了", "谢谢网格员")
ACK_FALLBACK = ("好的,收到", "收到收到", "知道了")
REQUEST_CORPUS_INTENTS = frozenset(
    {"repair", "sanitation", "ebike", "noise", "corridor_clutter", "safety_hazard", "thrown_objects"}
)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
TITLES = ("阿姨", "叔", "姐", "哥", "奶奶", "大爷", "女士", "先生")


@dataclass(frozen=True)
class Corpus:
    chatter: tuple[str, ...]
    thanks: tuple[str, ...]
    acks: tuple[str, ...]
    problems: tuple[str, ...]  # corpus reports: mostly no place, so they tend to merge (+1)


def load_corpus() -> Corpus:
    """Realistic chat lines from tests/data/intents_*.jsonl, by intent (fallbacks if absent)."""
    by_intent: dict[str, list[str]] = {}
    for path in sorted((REPO / "tests" / "data").glob("intents_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                by_intent.setdefault(row["intent"], []).append(row["text"])
    problems = [text for intent in REQUEST_CORPUS_INTENTS for text in by_intent.get(intent, [])]
    return Corpus(
        chatter=tuple(by_intent.get("chitchat", []) + by_intent.get("policy_query", [])) or CHATTER_FALLBACK,
        thanks=tuple(by_intent.get("thanks", [])) or THANKS_FALLBACK,
        acks=tuple(by_intent.get("ack", [])) or ACK_FALLBACK,
        problems=tuple(sorted(problems)),
    )


@dataclass(frozen=True)
class ChatLine:
    group_id: int
    user_id: int
    card: str
    text: str
    problem: bool


def problem_text(rng: random.Random) -> str:
    floor = rng.randint(1, 18)
    room = f"{floor}0{rng.randint(1, 4)}"
    return rng.choice(PROBLEM_TEMPLATES).format(u=rng.randint(1, 4), f=floor, r=room)


def chat_line(rng: random.Random, corpus: Corpus) -> ChatLine:
    building = rng.randrange(BUILDINGS)
    resident = rng.randrange(RESIDENTS_PER_BUILDING)
    user_id = 200_000 + building * 1000 + resident
    home = f"{resident % 4 + 1}-{resident % 18 + 1}0{resident % 4 + 1}"  # 单元-门牌, as group cards go
    card = f"{home} {SURNAMES[resident % 20]}{TITLES[resident % 8]}"
    roll = rng.random()
    if roll < 0.28:
        text, problem = problem_text(rng), True
    elif roll < 1 / 3:
        text, problem = rng.choice(corpus.problems or PROBLEM_TEMPLATES[:1]), True
    elif roll < 0.80:
        text, problem = rng.choice(corpus.chatter), False
    elif roll < 0.89:
        text, problem = rng.choice(corpus.thanks), False
    elif roll < 0.995:
        text, problem = rng.choice(corpus.acks), False
    else:
        text, problem = "帮助", False
    return ChatLine(FIRST_GROUP + building, user_id, card, text, problem)


def event_frame(line: ChatLine, message_id: int) -> str:
    """A OneBot v11 group message event (event/message.md), array format, as NapCat sends it."""
    event = {
        "time": int(time.time()),
        "self_id": int(SELF_ID),
        "post_type": "message",
        "message_type": "group",
        "sub_type": "normal",
        "message_id": message_id,
        "group_id": line.group_id,
        "user_id": line.user_id,
        "anonymous": None,
        "message": [{"type": "text", "data": {"text": line.text}}],
        "raw_message": line.text,
        "font": 0,
        "sender": {"user_id": line.user_id, "nickname": line.card.split(" ")[-1], "card": line.card},
    }
    return json.dumps(event, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------------
# Figures


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


@dataclass
class PhaseResult:
    name: str
    events: int
    seconds: float
    events_per_s: float
    offered_per_s: float | None = None
    replied_events: int = 0
    actions_answered: int = 0
    latency_p50_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_p99_ms: float | None = None
    latency_max_ms: float | None = None
    window_stalls: int = 0
    max_backlog: int = 0
    bot_cpu_s: float = 0.0
    bot_cpu_pct: float = 0.0  # of one core
    generator_cpu_s: float = 0.0
    settled: bool = True
    started_at: float = 0.0  # time.perf_counter() (CLOCK_MONOTONIC: the same in both processes)


@dataclass
class LoadResult:
    phases: list[PhaseResult] = field(default_factory=list)
    events_sent: int = 0
    rss_mb: dict[str, float] = field(default_factory=dict)
    # The throughput phase's RSS samples (events sent into the phase, MB), every ~0.25 s: for the slope.
    rss_series: list[tuple[int, float]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    error: str | None = None


# ---------------------------------------------------------------------------------------------------
# The load generator: the OneBot implementation side, in its own process.


@dataclass(frozen=True)
class GeneratorConfig:
    url: str
    bot_pid: int
    events: int
    window: int
    rate: float
    latency_seconds: float
    overload_events: int
    overload_rate: float
    seed: int
    latency_log: str | None = None
    event_loop: str = "asyncio"


class LoadGenerator:
    def __init__(self, config: GeneratorConfig, counters: SynchronizedArray[int]) -> None:
        import psutil

        self.config = config
        self.counters = counters
        self.rng = random.Random(config.seed)
        self.corpus = load_corpus()
        self.bot = psutil.Process(config.bot_pid)
        self.me = psutil.Process()
        self.next_message_id = 1_000_000
        self.sent = 0
        self.sent_at: dict[str, float] = {}  # message_id -> loop time it was sent (or was due)
        self.latencies: list[float] = []
        # (loop time sent or due, latency, message_id), for --latency-log
        self.timeline: list[tuple[float, float, str]] = []
        self.replied = 0
        self.replied_ids: set[str] = set()
        self.repeated_replies = 0
        self.actions_answered = 0
        self.reply_arrived = asyncio.Event()
        self.rss_samples: list[tuple[float, int]] = []  # (events sent, bot RSS bytes)
        self.result = LoadResult()
        self._reply_ids = 10_000_000

    # --- accounting ----------------------------------------------------------------------------------

    def done(self) -> int:
        # PROCESSED first: the bot bumps QUOTED before PROCESSED, so this never over-counts.
        processed = self.counters[PROCESSED]
        quoted = self.counters[QUOTED]
        return processed - quoted + self.replied

    def in_flight(self) -> int:
        return self.sent - self.done()

    async def wait_for_window(self, limit: int) -> bool:
        """Wait until fewer than `limit` events are in flight; True if it had to wait."""
        stalled = False
        while self.in_flight() >= limit:
            stalled = True
            self.reply_arrived.clear()
            # Replies wake us at once; silent events are seen by polling the bot's counter.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.001):
                    await self.reply_arrived.wait()
        return stalled

    async def settle(self) -> bool:
        """Wait until every event sent is done and every action the bot enqueued was answered; False
        if the bot stopped making progress first."""
        progress, last_change = -1, time.monotonic()
        while time.monotonic() - last_change < STALL_TIMEOUT:
            if self.in_flight() <= 0 and self.actions_answered >= self.counters[ACTIONS]:
                return True
            if (now_done := self.done() + self.actions_answered) != progress:
                progress, last_change = now_done, time.monotonic()
            await asyncio.sleep(0.002)
        return False

    def write_latency_log(self, path: str) -> None:
        """Each reply of the latency phase as `seconds-into-phase latency-ms message-id monotonic-sent`, in
        send order: a stall of the bot shows as a run of latencies falling by the send interval. The last
        column is the clock the bot's --trace uses too (CLOCK_MONOTONIC), to join the two."""
        if not self.timeline:
            return
        start = min(sent for sent, _, _ in self.timeline)
        lines = (
            f"{sent - start:.4f} {latency * 1000:.2f} {message_id} {sent:.6f}"
            for sent, latency, message_id in sorted(self.timeline)
        )
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def sample_rss(self) -> None:
        self.rss_samples.append((self.sent, self.bot.memory_info().rss))

    async def sample_forever(self) -> None:
        while True:
            self.sample_rss()
            await asyncio.sleep(0.25)

    # --- the socket --------------------------------------------------------------------------------

    async def read_actions(self, ws: Any) -> None:
        import aiohttp

        async for frame in ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            request = json.loads(frame.data)
            if "action" not in request:
                continue
            self.note_reply(request)
            await ws.send_str(json.dumps(self.answer(request), ensure_ascii=False))
            self.actions_answered += 1

    def note_reply(self, request: dict[str, Any]) -> None:
        message = request.get("params", {}).get("message")
        if not isinstance(message, list):
            return
        for item in message:
            if item.get("type") == "reply":
                message_id = str(item["data"].get("id"))
                sent = self.sent_at.pop(message_id, None)
                if sent is not None:
                    latency = asyncio.get_running_loop().time() - sent
                    self.latencies.append(latency)
                    self.timeline.append((sent, latency, message_id))
                    self.replied += 1
                    self.replied_ids.add(message_id)
                    self.reply_arrived.set()
                elif message_id in self.replied_ids:
                    self.repeated_replies += 1  # the same reply again: a retry after a timeout
                return

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """OK to everything, echo included; sends get a fresh message_id as a real implementation's."""
        data: Any = None
        if request["action"] in {"send_group_msg", "send_private_msg", "send_msg"}:
            self._reply_ids += 1
            data = {"message_id": self._reply_ids}
        elif request["action"] == "get_group_member_list":
            data = []
        return {"status": "ok", "retcode": 0, "data": data, "echo": request.get("echo")}

    def frames(self, count: int) -> list[tuple[str, str]]:
        """(message_id, frame) pairs, built before a phase starts so building costs the phase nothing."""
        built: list[tuple[str, str]] = []
        for _ in range(count):
            self.next_message_id += 1
            line = chat_line(self.rng, self.corpus)
            built.append((str(self.next_message_id), event_frame(line, self.next_message_id)))
        return built

    async def send(self, ws: Any, message_id: str, frame: str, at: float) -> None:
        self.sent_at[message_id] = at
        self.sent += 1
        await ws.send_str(frame)

    # --- phases ------------------------------------------------------------------------------------

    async def run(self) -> LoadResult:
        import aiohttp

        headers = {"X-Self-ID": SELF_ID, "X-Client-Role": "Universal", "Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession() as session:
            ws = await self.connect(session, headers)
            reader = asyncio.create_task(self.read_actions(ws))
            sampler = asyncio.create_task(self.sample_forever())
            try:
                await self.run_phases(ws)
            finally:
                sampler.cancel()
                reader.cancel()
                await asyncio.gather(sampler, reader, return_exceptions=True)
                await ws.close()
        self.result.events_sent = self.sent
        self.result.counters = {
            "processed": self.counters[PROCESSED],
            "quoted": self.counters[QUOTED],
            "actions": self.counters[ACTIONS],
            "failed": self.counters[FAILED],
            "duplicate": self.counters[DUPLICATE],
            "unmarked": self.counters[UNMARKED],
            "actions_answered": self.actions_answered,
            "repeated_replies": self.repeated_replies,
        }
        return self.result

    async def connect(self, session: Any, headers: dict[str, str]) -> Any:
        import aiohttp

        deadline = time.monotonic() + 30
        while True:
            try:
                return await session.ws_connect(self.config.url, headers=headers, heartbeat=None)
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def run_phases(self, ws: Any) -> None:
        config = self.config
        await self.windowed(ws, "warmup", WARMUP_EVENTS, config.window)
        first = len(self.rss_samples)
        offset = self.sent
        self.result.phases.append(
            await self.windowed(ws, "throughput", config.events, config.window, track_rss=True)
        )
        self.result.rss_series = [
            (sent - offset, round(rss / 2**20, 2))
            for sent, rss in self.rss_samples[first:]
            if 0 < sent - offset < config.events  # while sending: the settling tail is no event's
        ]
        latency_events = max(1, round(config.rate * config.latency_seconds))
        self.result.phases.append(await self.paced(ws, "latency", latency_events, config.rate, config.window))
        self.result.phases.append(
            await self.paced(ws, "overload", config.overload_events, config.overload_rate, None)
        )
        self.sample_rss()
        self.result.rss_mb["end"] = round(self.rss_samples[-1][1] / 2**20, 1)

    async def windowed(
        self, ws: Any, name: str, count: int, window: int, *, track_rss: bool = False
    ) -> PhaseResult:
        frames = self.frames(count)
        shares = ((0.25, "25%"), (0.5, "50%"), (0.75, "75%"), (1.0, "100%"))
        marks = {round(count * share): label for share, label in shares}
        loop = asyncio.get_running_loop()
        return await self.measure(
            name,
            count,
            None,
            self._send_windowed(ws, frames, window, marks if track_rss else {}, loop),
        )

    async def _send_windowed(
        self,
        ws: Any,
        frames: list[tuple[str, str]],
        window: int,
        marks: dict[int, str],
        loop: asyncio.AbstractEventLoop,
    ) -> int:
        stalls = 0
        for index, (message_id, frame) in enumerate(frames, start=1):
            stalls += await self.wait_for_window(window)
            await self.send(ws, message_id, frame, loop.time())
            if index in marks:
                self.result.rss_mb[f"throughput {marks[index]}"] = round(
                    self.bot.memory_info().rss / 2**20, 1
                )
        return stalls

    async def paced(self, ws: Any, name: str, count: int, rate: float, window: int | None) -> PhaseResult:
        frames = self.frames(count)
        result = await self.measure(name, count, rate, self._send_paced(ws, frames, rate, window))
        return result

    async def _send_paced(
        self, ws: Any, frames: list[tuple[str, str]], rate: float, window: int | None
    ) -> int:
        loop = asyncio.get_running_loop()
        start = loop.time()
        stalls = 0
        for index, (message_id, frame) in enumerate(frames):
            due = start + index / rate
            if (delay := due - loop.time()) > 0:
                await asyncio.sleep(delay)
            stalled = window is not None and await self.wait_for_window(window)
            stalls += stalled
            # A send the window held back is timed from when it was due (no coordinated omission).
            await self.send(ws, message_id, frame, due if stalled else loop.time())
            self.backlog = max(self.backlog, self.in_flight())
        self.offered_seconds = loop.time() - start
        return stalls

    backlog = 0
    offered_seconds = 0.0

    async def measure(
        self, name: str, count: int, rate: float | None, sending: Awaitable[int]
    ) -> PhaseResult:
        """Run one phase's sending, wait until the bot is done with it, and take the figures."""
        self.latencies = []
        self.timeline = []
        self.backlog = 0
        replied_before, answered_before = self.replied, self.actions_answered
        bot_cpu, my_cpu = self.bot.cpu_times(), self.me.cpu_times()
        started = time.perf_counter()
        stalls = await sending
        settled = await self.settle()
        seconds = time.perf_counter() - started
        if name == "latency" and self.config.latency_log:
            self.write_latency_log(self.config.latency_log)
        bot_after, my_after = self.bot.cpu_times(), self.me.cpu_times()
        bot_cpu_s = (bot_after.user + bot_after.system) - (bot_cpu.user + bot_cpu.system)
        offered = None if rate is None else round(count / self.offered_seconds, 1)
        return PhaseResult(
            name=name,
            started_at=started,
            events=count,
            seconds=round(seconds, 3),
            events_per_s=round(count / seconds, 1),
            offered_per_s=offered,
            replied_events=self.replied - replied_before,
            actions_answered=self.actions_answered - answered_before,
            latency_p50_ms=ms(percentile(self.latencies, 50)),
            latency_p90_ms=ms(percentile(self.latencies, 90)),
            latency_p99_ms=ms(percentile(self.latencies, 99)),
            latency_max_ms=ms(max(self.latencies, default=None)),
            window_stalls=stalls,
            max_backlog=self.backlog,
            bot_cpu_s=round(bot_cpu_s, 2),
            bot_cpu_pct=round(100 * bot_cpu_s / seconds, 1),
            generator_cpu_s=round((my_after.user + my_after.system) - (my_cpu.user + my_cpu.system), 2),
            settled=settled,
        )


EVENT_LOOPS = ("asyncio", "uvloop")


def run_on_loop(main: Coroutine[Any, Any, T], name: str = "asyncio") -> T:
    """`asyncio.run(main)` on the stock loop or on uvloop (`pip install uvloop`, in the bench extra): the
    tenth round measured whether uvloop cuts what an event costs (it did not, measurably)."""
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if name == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def add_event_loop_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--event-loop",
        choices=EVENT_LOOPS,
        default="asyncio",
        help="the bot process's event loop (asyncio, as the bot runs; uvloop to compare)",
    )


def generator_main(config: GeneratorConfig, counters: SynchronizedArray[int], results: Connection) -> None:
    try:
        result = run_on_loop(LoadGenerator(config, counters).run(), config.event_loop)
    except Exception as error:  # report it to the bot process rather than hang it
        result = LoadResult(error=f"{type(error).__name__}: {error}")
    results.send(result)
    results.close()


# ---------------------------------------------------------------------------------------------------
# The bot side


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def counting(
    dispatch: Callable[[Message], Awaitable[Any]], counters: SynchronizedArray[int]
) -> Callable[[Message], Awaitable[Any]]:
    """The dispatcher, reporting each finished message to the generator through shared counters."""

    async def deliver(message: Message) -> Any:
        outcome = await dispatch(message)
        if outcome is None:
            counters[FAILED] += 1
        else:
            counters[ACTIONS] += len(outcome.actions)
            counters[DUPLICATE] += outcome.route == "duplicate"
            counters[UNMARKED] += not getattr(outcome, "marked", True)
            quoting = (getattr(action, "reply_to", None) == message.message_id for action in outcome.actions)
            counters[QUOTED] += any(quoting)
        counters[PROCESSED] += 1  # last: see LoadGenerator.done
        return outcome

    return deliver


class Trace:
    """--trace FILE: where the bot's time went, for attributing the latency phase's tail. Stamps per
    message id (received by the adapter, handed to the dispatcher, its batch, done, its reply sent), the
    event loop's callbacks that ran longer than `SLOW_CALLBACK` (with the task they stepped), and every
    garbage collection, all on CLOCK_MONOTONIC like the generator's --latency-log; written as JSON when
    the run ends. Timing every callback costs the bot a few per cent: for attribution, not for figures."""

    SLOW_CALLBACK = 0.0005

    def __init__(self) -> None:
        self.stamps: dict[str, dict[str, float]] = {}
        self.batches: list[tuple[float, float, list[str], list[str]]] = []
        self.slow: list[tuple[float, float, str]] = []
        self.gcs: list[tuple[float, float, int, int]] = []
        self.busy = 0.0
        self._gc_started = 0.0

    def stamp(self, message_id: str | None, what: str) -> None:
        if message_id is not None:
            self.stamps.setdefault(message_id, {})[what] = time.perf_counter()

    def install(self, runtime: Runtime, adapter: Any) -> None:
        import gc

        self._time_callbacks()
        gc.callbacks.append(self._on_gc)
        self._wrap_adapter(adapter)
        self._wrap_batches(runtime)

    def _time_callbacks(self) -> None:
        import asyncio.events

        original = asyncio.events.Handle._run
        trace = self

        def run(handle: asyncio.events.Handle) -> None:
            started = time.perf_counter()
            original(handle)
            took = time.perf_counter() - started
            trace.busy += took
            if took >= trace.SLOW_CALLBACK:
                trace.slow.append((started, took, _callback_name(handle)))

        asyncio.events.Handle._run = run  # type: ignore[method-assign]

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            took = time.perf_counter() - self._gc_started
            self.gcs.append((self._gc_started, took, info["generation"], info["collected"]))

    def _wrap_adapter(self, adapter: Any) -> None:
        enqueue, send = adapter._enqueue, adapter.send

        async def traced_enqueue(message: Message) -> None:
            self.stamp(message.message_id, "received")
            await enqueue(message)

        async def traced_send(action: Any) -> Any:
            reply_to = getattr(action, "reply_to", None)
            self.stamp(reply_to, "send")
            receipt = await send(action)
            self.stamp(reply_to, "sent")
            return receipt

        adapter._enqueue, adapter.send = traced_enqueue, traced_send

    def _wrap_batches(self, runtime: Runtime) -> None:
        dispatcher = runtime.dispatcher
        handle_batch = dispatcher._handle_batch

        async def traced(messages: Sequence[Message]) -> Any:
            started = time.perf_counter()
            outcomes = await handle_batch(messages)
            ids = [message.message_id for message in messages]
            routes = [getattr(outcome, "route", "?") for outcome in outcomes]
            self.batches.append((started, time.perf_counter(), ids, routes))
            return outcomes

        dispatcher._handle_batch = traced  # type: ignore[method-assign]

    def dispatching(
        self, dispatch: Callable[[Message], Awaitable[Any]]
    ) -> Callable[[Message], Awaitable[Any]]:
        async def traced(message: Message) -> Any:
            self.stamp(message.message_id, "dispatch")
            outcome = await dispatch(message)
            self.stamp(message.message_id, "done")
            return outcome

        return traced

    def write(self, path: str) -> None:
        figures = {
            "stamps": self.stamps,
            "batches": self.batches,
            "slow_callbacks": self.slow,
            "gcs": self.gcs,
            "busy_s": self.busy,
            "gc_counts": __import__("gc").get_stats(),
        }
        Path(path).write_text(json.dumps(figures), encoding="utf-8")


def _callback_name(handle: Any) -> str:
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coroutine = owner.get_coro()
        return f"task {owner.get_name()} {getattr(coroutine, '__qualname__', '?')}"
    return repr(callback)[:100]


class MemoryProbe:
    """--tracemalloc FILE: what the bot's memory grew by over the throughput phase, for attributing RSS
    growth. tracemalloc runs in the bot process from the start of the load; when the dispatcher has
    finished 25 % and then 100 % of the phase's events (the shared counter, polled every 50 ms) it takes
    a snapshot and counts the live objects by type (`gc.get_objects()`, the cyclic garbage not yet
    collected included, as RSS includes it); then it writes the largest differences by traceback and by
    line, the type counts that grew, and how much cyclic garbage one collection then frees. Tracing
    every allocation slows the bot several times over: for attribution, not for figures. Without the
    option nothing of it exists."""

    FRAMES = 8
    TOP = 30

    def __init__(self, path: str, counters: SynchronizedArray[int], marks: tuple[int, int]) -> None:
        self.path = path
        self.counters = counters
        self.marks = marks  # dispatcher's finished events at 25 % and at 100 % of the phase
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        import tracemalloc

        tracemalloc.start(self.FRAMES)
        self.task = asyncio.create_task(self._watch(), name="memory-probe")

    async def _watch(self) -> None:
        import gc
        import tracemalloc

        taken = []
        for mark in self.marks:
            await self._reached(mark)
            taken.append((self.counters[PROCESSED], tracemalloc.take_snapshot(), _type_counts()))
        freed = gc.collect()
        tracemalloc.stop()
        self._write(taken, freed)

    async def _reached(self, mark: int) -> None:
        # The counter is shared memory the dispatcher's wrapper bumps: polled, as the generator does.
        while True:
            if self.counters[PROCESSED] >= mark:
                return
            await asyncio.sleep(0.05)

    def _write(self, taken: list[tuple[int, Any, dict[str, int]]], freed: int) -> None:
        import tracemalloc

        (at_first, first, types_first), (at_last, last, types_last) = taken
        mine = tracemalloc.Filter(False, tracemalloc.__file__)
        first, last = first.filter_traces([mine]), last.filter_traces([mine])
        lines = [
            f"events finished by the dispatcher: {at_first} -> {at_last}",
            f"traced: {_mb(first)} -> {_mb(last)} MB; one full collection afterwards freed {freed} objects",
            "",
            "== largest growth by traceback (most recent call last) ==",
        ]
        for stat in last.compare_to(first, "traceback")[: self.TOP]:
            lines.append(
                f"{stat.size_diff / 2**10:+.1f} KiB in {stat.count_diff:+d} blocks "
                f"(now {stat.size / 2**10:.1f} KiB)"
            )
            lines.extend(f"    {frame.filename}:{frame.lineno}" for frame in stat.traceback)
        lines += ["", "== largest growth by line =="]
        lines += [str(stat) for stat in last.compare_to(first, "lineno")[: self.TOP]]
        lines += ["", "== live objects by type (gc.get_objects), largest growth =="]
        grown = sorted(types_last, key=lambda name: types_first.get(name, 0) - types_last[name])
        lines += [f"{name}: {types_first.get(name, 0)} -> {types_last[name]}" for name in grown[: self.TOP]]
        Path(self.path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _type_counts() -> dict[str, int]:
    import gc
    from collections import Counter

    return dict(Counter(type(thing).__qualname__ for thing in gc.get_objects()))


def _mb(snapshot: Any) -> float:
    return round(sum(stat.size for stat in snapshot.statistics("filename")) / 2**20, 1)


def stub_dispatch(runtime: Runtime) -> Callable[[Message], Awaitable[Any]]:
    """A stand-in for the dispatcher that does only what every message costs around it: the dedupe mark
    and, for every third event, a quoting reply stored in the outbox, in one transaction per message,
    and the log line. With it the run measures the adapter, the outbox and the log line (--stub-dispatcher).
    """
    from bot.dispatcher import Outcome
    from handlers.contract import SendToGroup
    from storage import repos

    async def dispatch(message: Message) -> Any:
        started = time.perf_counter()
        actions: list[Any] = []
        if message.group_id is not None and int(message.message_id) % 3 == 0:
            text = "收到,已登记,网格员会尽快处理。"
            actions.append(
                SendToGroup(
                    platform=message.platform,
                    group_id=message.group_id,
                    text=text,
                    reply_to=message.message_id,
                )
            )
        now = runtime.clock.now()
        async with runtime.sessions() as session, session.begin():
            if not await repos.mark_processed(session, message.platform, message.message_id, now):
                return Outcome(route="duplicate")
            if actions:
                await runtime.outbox.enqueue(session, actions, now)
        outcome = Outcome(route="stub", actions=actions)
        log_handled(message, outcome, started)
        return outcome

    return dispatch


def classify_only_dispatch(runtime: Runtime) -> Callable[[Message], Awaitable[Any]]:
    """A stand-in for the dispatcher that classifies each message with the bot's engine and writes its log
    line, and nothing else: no database, no handler, no reply (--classify-only-dispatcher). What an event
    costs with the database and the handlers' work taken away, so the events/s it reaches bounds what any
    storage or handler design could reach on this path (the adapter, the classification, the log line)."""
    from bot.dispatcher import Outcome
    from bot.runtime import default_classifier

    classify = default_classifier()  # the engine the bot's runtime uses (`Runtime.open` warmed it)

    async def dispatch(message: Message) -> Any:
        started = time.perf_counter()
        result = classify(message.text)
        outcome = Outcome(
            route="chatter", intent=str(result.intent), confidence=float(result.confidence), marked=False
        )
        log_handled(message, outcome, started)
        return outcome

    return dispatch


def log_handled(message: Message, outcome: Any, started: float) -> None:
    """The dispatcher's log line for a handled message, as `Dispatcher._log` writes it."""
    logging.getLogger("loudong.dispatch").info(
        "message handled",
        extra={
            "platform": message.platform,
            "group": message.group_id,
            "building": None,
            "role": None,
            "route": outcome.route,
            "intent": outcome.intent,
            "confidence": None if outcome.confidence is None else round(outcome.confidence, 3),
            "handler": None,
            "actions": len(outcome.actions),
            "ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


STAND_INS: dict[str, Callable[[Runtime], Callable[[Message], Awaitable[Any]]]] = {
    "stub": stub_dispatch,
    "classify-only": classify_only_dispatch,
}


def log_to_scratch_file(data_dir: Path, level: str | int = logging.INFO) -> None:
    """The bot's logs as in production (one JSON line per message at INFO), into `data_dir/bot.log`
    rather than the terminal."""
    from bot.logs import JsonFormatter

    handler = logging.FileHandler(data_dir / "bot.log", encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def print_json(figures: dict[str, Any], path: str | None, file_only: Sequence[str] = ()) -> None:
    """The figures as JSON on stdout, and into `path` too when given; the keys in `file_only` (long
    series) go only to the file."""
    shown = {key: value for key, value in figures.items() if key not in file_only}
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    if path:
        Path(path).write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


async def open_bot(data_dir: Path, log_level: str | int = logging.INFO, **settings: Any) -> Runtime:
    """The real bot on a fresh SQLite file in `data_dir` with the demo directory imported and every
    capability registered, logging to a scratch file; `settings` add to or override the defaults."""
    from bot.config import DEMO_DIRECTORY, Settings
    from bot.runtime import Runtime

    log_to_scratch_file(data_dir, log_level)
    options: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{data_dir / 'loudong.db'}",
        "data_dir": data_dir,
        "directory": DEMO_DIRECTORY,
        "web_chat": False,
    }
    runtime = Runtime(Settings(**(options | settings)))
    await runtime.open()
    without_standing_jobs(runtime)
    await runtime.import_directory(str(DEMO_DIRECTORY))
    return runtime


def without_standing_jobs(runtime: Runtime) -> None:
    """Cancel the jobs every bot installs at open (the daily digest, the patrol reminders and the week's
    patrol schedule), before the bot goes live. They run at wall-clock times, so a run spanning one would
    measure it and one beside it would not; and the digest (18:00 Beijing, 10:00 UTC) goes to each staff
    member's first account, in the demo directory the web chat, which this bot has no adapter for: its
    retries kept the final drain waiting `OUTBOX_DRAIN_TIMEOUT`. The load is messages; the bot handles
    them as in production, the periodic request sweep included."""
    from bot.scheduler import standing_jobs
    from handlers.schedule import Plan

    runtime.scheduler.apply([Plan(plan.key) for plan in standing_jobs(runtime.settings)])


async def start_bot(
    data_dir: Path,
    port: int,
    counters: SynchronizedArray[int],
    log_level: str,
    *,
    stand_in: str | None = None,
    trace: Trace | None = None,
    warm_classifier: bool = False,
) -> Runtime:
    from bot.platforms import onebot_adapter

    runtime = await open_bot(
        data_dir,
        log_level,
        web_host="127.0.0.1",
        web_port=port,
        onebot_enabled=True,
        onebot_access_token=TOKEN,
    )
    adapter = onebot_adapter(runtime.settings, runtime.clock)
    assert adapter is not None
    runtime.add_adapter(adapter)
    dispatch = STAND_INS[stand_in](runtime) if stand_in else runtime.dispatcher.dispatch
    if trace is not None:
        trace.install(runtime, adapter)
        dispatch = trace.dispatching(dispatch)
    runtime.dispatcher.dispatch = counting(dispatch, counters)  # type: ignore[method-assign]
    await runtime.start()
    if warm_classifier:
        await classifier_warmed()
    return runtime


async def classifier_warmed() -> None:
    """--warm-classifier: the whole of the tokenizer's prefix dictionary and the intent model's rankings
    in before the load (`IntentEngine.warm`, waited for). The bot's engine is never warmed so: it adds a
    group of the dictionary when a message first holds its character, so RSS rises with the distinct
    characters the chat has used (~15 MB when the dictionary's table grows, within the first ~5,000 of
    this mix's events), bounded by the dictionary. A bot that has run for a while has them all; this
    separates that filling from growth per event."""
    from intents import default_engine

    default_engine().warm()
    for thread in threading.enumerate():
        if thread.name == "intents-warm":  # the thread warm() starts
            await asyncio.to_thread(thread.join, WARM_TIMEOUT)


async def drain_outbox(runtime: Runtime) -> None:
    """Actions that timed out under overload are retried with backoff: give them time to go out."""
    from sqlalchemy import func, select

    from storage.models import OutboxEntry

    pending = select(func.count()).select_from(OutboxEntry).where(OutboxEntry.status == "pending")
    deadline = time.monotonic() + OUTBOX_DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        async with runtime.sessions() as session:
            if not await session.scalar(pending):
                return
        await asyncio.sleep(0.5)


async def database_figures(runtime: Runtime) -> dict[str, int]:
    """What the database holds after the run, for the exactly-once check."""
    from sqlalchemy import func, select

    from storage.models import OutboxEntry, ProcessedMessage
    from storage.requests import Request, RequestReporter

    async with runtime.sessions() as session:
        figures = {
            "processed_messages": await session.scalar(select(func.count()).select_from(ProcessedMessage)),
            "requests": await session.scalar(select(func.count()).select_from(Request)),
            "request_reporters": await session.scalar(select(func.count()).select_from(RequestReporter)),
        }
        rows = await session.execute(select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status))
        for status, count in rows:
            figures[f"outbox_{status}"] = count
        retried = select(func.count()).select_from(OutboxEntry).where(OutboxEntry.attempts > 1)
        figures["outbox_retried"] = await session.scalar(retried)
    return {key: int(value or 0) for key, value in figures.items()}


def stand_in(args: argparse.Namespace) -> str | None:
    """The dispatcher's stand-in the options ask for, if any."""
    if args.stub_dispatcher:
        return "stub"
    return "classify-only" if args.classify_only_dispatcher else None


async def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    counters = context.Array("q", COUNTERS, lock=False)
    receive, send = context.Pipe(duplex=False)
    port = free_port()
    full_collections = FullCollectionLog()
    with tempfile.TemporaryDirectory(prefix="loudong-bench-") as scratch:
        trace = Trace() if args.trace else None
        runtime = await start_bot(
            Path(scratch),
            port,
            counters,
            args.log_level,
            stand_in=stand_in(args),
            trace=trace,
            warm_classifier=args.warm_classifier,
        )
        config = GeneratorConfig(
            url=f"ws://127.0.0.1:{port}/onebot/v11/ws",
            bot_pid=os.getpid(),
            events=args.events,
            window=args.window,
            rate=args.rate,
            latency_seconds=args.latency_seconds or min(30.0, args.events / args.rate),
            # More than the adapter's queue holds (10,000) in the full run, so TCP pushes back too.
            overload_events=args.overload_events or max(1000, args.events * 3 // 5),
            overload_rate=args.overload_rate,
            seed=args.seed,
            latency_log=args.latency_log,
            event_loop=args.generator_loop or args.event_loop,
        )
        generator = context.Process(target=generator_main, args=(config, counters, send), name="onebot-load")
        probe = None
        if args.tracemalloc:
            marks = (WARMUP_EVENTS + args.events // 4, WARMUP_EVENTS + args.events)
            probe = MemoryProbe(args.tracemalloc, counters, marks)
            probe.start()
        profiler = start_profiler(args.profile)
        try:
            generator.start()
            send.close()
            result: LoadResult = await asyncio.to_thread(receive_result, receive, generator)
        finally:
            stop_profiler(profiler, args.profile)
            if trace is not None:
                trace.write(args.trace)
            generator.join(timeout=10)
            await drain_outbox(runtime)
            database = await database_figures(runtime)
            await runtime.close()
            full_collections.stop()
    summary = summarise(result, database, args)
    summary["bot_full_collections"] = full_collections.named(result.phases)
    return summary


class FullCollectionLog:
    """Every full (generation 2) garbage collection of the bot's process while the benchmark runs: seconds
    after the bot started, how long it took (ms) and how many objects it freed. A gc callback, called
    only when a collection runs: free otherwise."""

    def __init__(self) -> None:
        import gc

        self.collections: list[tuple[float, float, float, int]] = []
        self._origin = time.perf_counter()
        self._started = 0.0
        gc.callbacks.append(self._seen)

    def _seen(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        now = time.perf_counter()
        if phase == "start":
            self._started = now
        else:
            self.collections.append(
                (self._started, self._started - self._origin, now - self._started, info["collected"])
            )

    def named(self, phases: Sequence[PhaseResult]) -> list[tuple[str, float, float, int]]:
        """(the phase it fell in, seconds after the bot started, ms, objects freed) each."""

        def phase(at: float) -> str:
            for candidate in phases:
                if candidate.started_at <= at <= candidate.started_at + candidate.seconds:
                    return candidate.name
            return "-"

        return [
            (phase(at), round(after, 1), round(took * 1000, 1), freed)
            for at, after, took, freed in self.collections
        ]

    def stop(self) -> None:
        import gc

        if self._seen in gc.callbacks:
            gc.callbacks.remove(self._seen)


def receive_result(receive: Connection, generator: multiprocessing.process.BaseProcess) -> LoadResult:
    while not receive.poll(0.5):
        if not generator.is_alive():
            return LoadResult(error=f"load generator died (exit code {generator.exitcode})")
    result: LoadResult = receive.recv()
    return result


def start_profiler(path: str | None) -> Any:
    if not path:
        return None
    if path.endswith(".pstats"):
        # cProfile instead: exact call counts and own times per function (pstats file), where
        # pyinstrument's sampled tree splits SQLAlchemy's greenlets from their callers.
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
        return profile
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    return profiler


def stop_profiler(profiler: Any, path: str | None) -> None:
    if profiler is None or not path:
        return
    if path.endswith(".pstats"):
        profiler.disable()
        profiler.dump_stats(path)
        return
    profiler.stop()
    Path(path).write_text(profiler.output_text(unicode=True, show_all=False), encoding="utf-8")


def summarise(result: LoadResult, database: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    counters = result.counters
    sent = result.events_sent
    # Inbound: every event dispatched exactly once (no loss, no double handling, no failure).
    exactly_once = (
        result.error is None
        and counters.get("processed") == sent
        # Chatter that concerns no handler is not stored as processed (nothing to do twice).
        and database["processed_messages"] + counters.get("unmarked", 0) == sent
        and counters.get("failed") == 0
        and counters.get("duplicate") == 0
    )
    # Outbound: every stored action went out; an action retried after a timeout whose first attempt
    # had in fact reached the implementation was sent twice (at-least-once, as the outbox promises).
    all_sent = database.get("outbox_pending", 0) == 0 and database.get("outbox_dead", 0) == 0
    sent_twice = counters.get("repeated_replies", 0)
    rss = result.rss_mb
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "event_loop": event_loop_name(),
        "generator_loop": args.generator_loop or args.event_loop,
        "phases": [asdict(phase) for phase in result.phases],
        "events_sent": sent,
        "bot_rss_mb": rss,
        "rss_growth_25_to_100_mb": rss_growth(rss, "25%"),
        "rss_growth_50_to_100_mb": rss_growth(rss, "50%"),
        "rss_slope_mb_per_10k_events": rss_slope(result.rss_series),
        "rss_series": result.rss_series,
        "bot_counters": counters,
        "database": database,
        "exactly_once": exactly_once,
        "all_actions_sent": all_sent,
        "actions_sent_twice": sent_twice,
        "error": result.error,
    }


def rss_growth(rss: dict[str, float], since: str) -> float | None:
    """RSS at the end of the throughput phase less RSS at the mark `since` ("25%", "50%"), in MB."""
    start, end = rss.get(f"throughput {since}"), rss.get("throughput 100%")
    return None if start is None or end is None else round(end - start, 1)


def rss_slope(series: Sequence[tuple[int, float]]) -> float | None:
    """MB of RSS per 10,000 events over the second half of the throughput phase (least squares over its
    samples). The first half holds the warm-up (caches filling, the allocator's arenas, the tokenizer's
    dictionary loading in its thread), which a fixed growth from 25 % to 100 % mixes with growth per
    event: memory is flat when this is ~0, whatever the phase's length."""
    if not series:
        return None
    half = max(events for events, _ in series) / 2
    points = [(float(events), mb) for events, mb in series if events >= half]
    if len(points) < 3:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return round(slope * 10_000, 2)


# A slope under this (MB per 10,000 events) is flat: the long runs measured 0.04-0.05 once warm, while the
# tokenizer's dictionary filling in the first few thousand events of a short run shows as tens of MB.
FLAT_SLOPE_MB = 1.0


def memory_verdict(slope: float | None) -> str:
    """What the second half's RSS slope says, in words."""
    if slope is None:
        return "too few samples to tell"
    if abs(slope) < FLAT_SLOPE_MB:
        return "flat: no growth per event once warm"
    return (
        "NOT flat over this run: still warming up (the tokenizer's dictionary fills over the first few "
        "thousand events; run longer or with --warm-classifier) or growing per event (--tracemalloc)"
    )


def event_loop_name() -> str:
    """The bot process's event loop (the generator's is chosen the same way): `uvloop` or `asyncio`."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"


def machine() -> str:
    import platform

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def print_table(summary: dict[str, Any]) -> None:
    columns = (
        ("phase", "name", 10),
        ("events", "events", 7),
        ("offered/s", "offered_per_s", 9),
        ("handled/s", "events_per_s", 9),
        ("replied", "replied_events", 7),
        ("p50 ms", "latency_p50_ms", 7),
        ("p99 ms", "latency_p99_ms", 7),
        ("max ms", "latency_max_ms", 8),
        ("bot CPU%", "bot_cpu_pct", 8),
        ("stalls", "window_stalls", 6),
        ("backlog", "max_backlog", 7),
    )
    print("  ".join(f"{title:>{width}}" for title, _, width in columns))
    for phase in summary["phases"]:
        cells = ("-" if phase[key] is None else str(phase[key]) for _, key, _ in columns)
        print("  ".join(f"{cell:>{width}}" for cell, (_, _, width) in zip(cells, columns, strict=True)))
    print(f"bot RSS MB: {summary['bot_rss_mb']}")
    print(
        f"bot RSS over the throughput phase: {summary['rss_growth_25_to_100_mb']} MB from 25% to 100%, "
        f"{summary['rss_growth_50_to_100_mb']} MB over the second half, "
        f"slope over the second half {summary['rss_slope_mb_per_10k_events']} MB per 10,000 events "
        f"({memory_verdict(summary['rss_slope_mb_per_10k_events'])})"
    )
    if "bot_full_collections" in summary:
        print(f"bot full collections (phase, s after start, ms, freed): {summary['bot_full_collections']}")
    print(f"database: {summary['database']}")
    print(f"bot counters: {summary['bot_counters']}")
    verdict = "yes" if summary["exactly_once"] else "NO"
    print(f"every event processed exactly once ({summary['events_sent']} sent): {verdict}")
    print(
        f"every action sent: {'yes' if summary['all_actions_sent'] else 'NO'}; "
        f"replies sent twice (retried after a timed-out first attempt): {summary['actions_sent_twice']}"
    )
    if summary["error"]:
        print(f"error: {summary['error']}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000, help="throughput phase events (20000)")
    parser.add_argument("--window", type=int, default=50, help="events in flight at most (50)")
    parser.add_argument("--rate", type=float, default=200.0, help="latency phase offered events/s (200)")
    parser.add_argument(
        "--latency-seconds", type=float, default=None, help="latency phase length (min(30, events/rate))"
    )
    parser.add_argument("--overload-events", type=int, default=None, help="overload events (0.6 x events)")
    parser.add_argument("--overload-rate", type=float, default=10_000.0, help="overload offered/s (10000)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--log-level", default="INFO", help="bot log level; logs go to a scratch file")
    parser.add_argument("--json", dest="json_path", help="also write the JSON summary to this file")
    parser.add_argument(
        "--latency-log",
        metavar="FILE",
        help="write the latency phase's replies (seconds into the phase, latency ms) to FILE",
    )
    parser.add_argument(
        "--stub-dispatcher",
        action="store_true",
        help="replace the dispatcher by a stand-in (dedupe mark, a reply to every third event, the log "
        "line), to measure what an event costs outside it",
    )
    parser.add_argument(
        "--classify-only-dispatcher",
        action="store_true",
        help="replace the dispatcher by a stand-in that only classifies each message and writes its log "
        "line (no database, no handler, no reply): the ceiling of events/s without storage and handlers",
    )
    parser.add_argument(
        "--trace",
        metavar="FILE",
        help="write where the bot's time went (per-event stamps, slow loop callbacks, garbage collections) "
        "to FILE as JSON, to join with --latency-log; timing every callback costs a few per cent",
    )
    parser.add_argument(
        "--warm-classifier",
        action="store_true",
        help="add the tokenizer's whole dictionary before the load (the bot adds it as characters first "
        "appear), to tell that filling from growth per event",
    )
    parser.add_argument(
        "--tracemalloc",
        metavar="FILE",
        help="trace the bot's allocations and write what grew between 25%% and 100%% of the throughput "
        "phase (by traceback, by line, live objects by type) to FILE; slows the bot several times over",
    )
    add_event_loop_option(parser)
    parser.add_argument(
        "--generator-loop",
        choices=EVENT_LOOPS,
        help="the load generator's event loop (default: the bot's, --event-loop)",
    )
    parser.add_argument(
        "--profile",
        help="write a pyinstrument profile of the bot process to this file (cProfile if it ends in .pstats)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    summary = run_on_loop(run_benchmark(args), args.event_loop)
    print_json(summary, args.json_path, file_only=("rss_series",))
    print()
    print_table(summary)
    return 0 if summary["exactly_once"] and summary["all_actions_sent"] and not summary["error"] else 1


if __name__ == "__main__":
    sys.exit(main())
