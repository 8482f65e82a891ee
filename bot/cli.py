"""Command line: `python -m bot` (or `loudong`) with the subcommands below."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bot.adapters.replay import ReplayAdapter, ScriptError, parse_line
from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure_logging
from bot.platforms import platform_adapters
from bot.runtime import Runtime
from bot.web_directory import webchat_adapter
from handlers.clock import LOCAL_TZ, ManualClock
from storage.directory import DirectoryError, directory_snapshot


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loudong", description="楼栋群助手 — the building group-chat bot")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the bot (web chat and configured platforms)")
    commands.add_parser("demo", help="load the directory (default: the demo community) and run the bot")
    commands.add_parser("migrate", help="bring the database schema up to date")

    directory = commands.add_parser("directory", help="community directory").add_subparsers(
        dest="directory_command", metavar="ACTION", required=True
    )
    importer = directory.add_parser("import", help="validate and load a directory file")
    importer.add_argument("file", type=Path)
    shower = directory.add_parser("show", help="print the loaded directory")
    shower.add_argument("--json", action="store_true", help="one JSON object")

    replay = commands.add_parser("replay", help="feed a chat script through the bot and print its actions")
    replay.add_argument("script", nargs="?", default="-", help="a .jsonl file, or - for standard input")
    replay.add_argument("--directory", type=Path, help="directory file (default: LOUDONG_DIRECTORY)")
    replay.add_argument("--db", help="database URL (default: a fresh temporary SQLite database)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"loudong: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, as_json=settings.log_json)
    try:
        if command in ("run", "demo"):
            return asyncio.run(_serve(settings, load_directory_first=command == "demo"))
        if command == "migrate":
            return asyncio.run(_migrate(settings))
        if command == "directory":
            return asyncio.run(_directory(settings, args))
        if command == "replay":
            return asyncio.run(_replay(settings, args))
    except DirectoryError as error:
        print(f"loudong: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    raise AssertionError(command)


async def _migrate(settings: Settings) -> int:
    runtime = Runtime(settings)
    await runtime.open()
    await runtime.close()
    print("数据库已是最新结构。")
    return 0


async def _directory(settings: Settings, args: argparse.Namespace) -> int:
    runtime = Runtime(settings)
    await runtime.open()
    try:
        if args.directory_command == "import":
            print(await runtime.import_directory(str(args.file)))
            return 0
        async with runtime.sessions() as session:
            snapshot = await directory_snapshot(session)
        print(json.dumps(snapshot, ensure_ascii=False, indent=None if args.json else 2))
        return 0
    finally:
        await runtime.close()


async def _serve(settings: Settings, *, load_directory_first: bool) -> int:
    runtime = Runtime(settings)
    await runtime.open()
    try:
        if load_directory_first or await runtime.directory_is_empty():
            print(await runtime.import_directory(str(settings.directory)))
        if settings.web_chat:
            runtime.add_adapter(await webchat_adapter(runtime))
        for adapter in platform_adapters(settings, runtime.clock):
            runtime.add_adapter(adapter)
        await runtime.start()
        print(f"楼栋群助手已启动,在浏览器打开 {settings.web_url} 试用网页聊天。按 Ctrl+C 停止。", flush=True)
        await _wait_for_stop_signal()
    finally:
        await runtime.close()
    return 0


async def _wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def _replay(settings: Settings, args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="loudong-replay-") as scratch:
        database_url = args.db or f"sqlite+aiosqlite:///{scratch}/replay.db"
        directory = args.directory or settings.directory
        settings = settings.model_copy(update={"database_url": database_url, "directory": directory})
        with _open_script(args.script) as script:
            return await replay(
                settings, script, sys.stdout, import_directory=args.db is None or args.directory
            )


@contextlib.contextmanager
def _open_script(name: str):  # type: ignore[no-untyped-def]
    if name == "-":
        yield sys.stdin
        return
    with open(name, encoding="utf-8") as handle:
        yield handle


def _script_start(lines: list[str]) -> datetime:
    """The simulated clock starts at the script's first time, or now if no line has one."""
    for number, raw in enumerate(lines, start=1):
        with contextlib.suppress(ScriptError):
            line = parse_line(number, raw)
            if line is not None and line.time is not None:
                return line.time
    return datetime.now(LOCAL_TZ)


async def replay(settings: Settings, script: TextIO, out: TextIO, *, import_directory: bool = True) -> int:
    """Run a chat script through a full runtime with a simulated clock; returns an exit status."""
    lines = list(script)
    clock = ManualClock(_script_start(lines))
    runtime = Runtime(settings, clock=clock)
    await runtime.open()
    errors: list[ScriptError] = []
    try:
        if import_directory or await runtime.directory_is_empty():
            await runtime.import_directory(str(settings.directory))
        adapter = ReplayAdapter(out, clock)
        runtime.add_adapter(adapter)
        await adapter.start(runtime.dispatcher.dispatch)

        async def advance(moment: datetime) -> None:
            # Step through every due time on the way, so a sweep sees each day as it passes.
            while (due := runtime.next_due()) is not None and due <= moment:
                clock.set(due)
                await runtime.run_due()
            clock.set(moment)
            await runtime.run_due()

        def report(error: ScriptError) -> None:
            errors.append(error)
            print(f"replay: {error}; skipped", file=sys.stderr)

        await adapter.play(lines, advance=advance, settle=runtime.settle, on_error=report)
    finally:
        await runtime.close()
    return 1 if errors else 0
