"""The whole bot in one process: a real aiohttp server, the web chat, the dispatcher, the outbox, a
real database; two real WebSocket clients in one building group."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import DEMO_DIRECTORY, Settings
from bot.runtime import Runtime
from bot.web_directory import load_webchat_directory, webchat_adapter
from handlers.clock import ManualClock
from intents import Classification
from intents import classify as intents_classify
from storage.roles import Role


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def served(runtime: Runtime) -> AsyncIterator[str]:
    runtime.settings = runtime.settings.model_copy(update={"web_port": _free_port()})
    runtime.add_adapter(await webchat_adapter(runtime))
    await runtime.start()
    yield runtime.settings.web_url


async def _receive(ws: aiohttp.ClientWebSocketResponse, wanted: str, **match: Any) -> dict[str, Any]:
    while True:
        frame = await asyncio.wait_for(ws.receive_json(), timeout=10)
        if frame.get("type") == wanted and all(frame.get(k) == v for k, v in match.items()):
            return frame


async def test_two_residents_in_one_group_see_each_other_and_the_bots_reply(served: str) -> None:
    async with aiohttp.ClientSession() as http:
        zhang = await http.ws_connect(f"{served}/ws")
        li = await http.ws_connect(f"{served}/ws")
        await zhang.send_json({"type": "join", "group": "b5", "user": "guest-zhang", "name": "张阿姨"})
        await li.send_json({"type": "join", "group": "b5", "user": "guest-li", "name": "李叔"})
        await _receive(zhang, "history")
        await _receive(li, "history")

        await zhang.send_json({"type": "say", "text": "帮助"})
        echoed = await _receive(li, "message", from_bot=False)
        assert echoed["text"] == "帮助" and echoed["name"] == "张阿姨"

        reply = await _receive(li, "message", from_bot=True)
        assert reply["text"].startswith("@张阿姨")
        assert reply["reply_to"] == echoed["id"]
        assert [m["user_id"] for m in reply["mentions"]] == ["guest-zhang"]
        mine = await _receive(zhang, "message", from_bot=True)
        assert mine["id"] == reply["id"]
        await zhang.close()
        await li.close()


async def test_the_page_lists_every_building_group_and_directory_person(
    runtime: Runtime, served: str
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{served}/api/directory") as response:
            assert response.status == 200
            directory = await response.json()
        async with http.get(f"{served}/") as response:
            assert response.status == 200
            assert "<html" in (await response.text()).lower()
    loaded = await load_webchat_directory(runtime)
    assert len(directory["groups"]) == len(loaded.groups)
    buildings = [g for g in directory["groups"] if g["kind"] == "building"]
    assert len(buildings) == 20
    assert {p["role"] for p in directory["people"]} >= {Role.MICRO_GRID_LEADER, Role.STAFF, Role.PROPERTY}


def _with_policy(policy_yaml: str) -> str:
    from bot.config import DEMO_DIRECTORY

    text = DEMO_DIRECTORY.read_text(encoding="utf-8")
    community_line = next(
        line for line in text.splitlines() if line.strip().startswith("- name:") and "社区" in line
    )
    indent = " " * (len(community_line) - len(community_line.lstrip()) + 2)
    block = "\n".join(indent + line for line in policy_yaml.strip().splitlines())
    return text.replace(community_line, f"{community_line}\n{block}", 1)


async def test_a_community_policy_is_stored_and_kept_across_reimport(runtime: Runtime, tmp_path) -> None:
    from sqlalchemy import select

    from storage.models import Unit
    from storage.roles import UnitKind

    path = tmp_path / "community.yaml"
    path.write_text(
        _with_policy("policy:\n  followup_days: 5\n  intents:\n    noise: {resolve: 1d}"), "utf-8"
    )
    await runtime.import_directory(str(path))
    assert "no changes" in (await runtime.import_directory(str(path))).lower()
    async with runtime.sessions() as session:
        community = (await session.execute(select(Unit).where(Unit.kind == UnitKind.COMMUNITY))).scalar_one()
    assert community.details["policy"]["followup_days"] == 5


async def test_a_bad_community_policy_is_refused_with_key_and_line(runtime: Runtime, tmp_path) -> None:
    from storage.directory import DirectoryError

    path = tmp_path / "community.yaml"
    path.write_text(_with_policy("policy:\n  followup_days: many"), "utf-8")
    with pytest.raises(DirectoryError) as error:
        await runtime.import_directory(str(path))
    message = str(error.value)
    assert "street.communities[0].policy" in message
    assert "followup_days" in message
    assert "line" in message


async def test_the_classifier_is_loaded_when_the_bot_starts_not_on_the_first_message(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    asked: list[str] = []

    def classify(text: str) -> Classification:
        asked.append(text)
        return intents_classify(text)

    bot = Runtime(Settings(database_url=database_url, data_dir=tmp_path), clock=clock, classify=classify)
    await bot.open()
    try:
        assert asked == []
        await bot.start(serve_web=False, tick=False)
        assert asked == [""]  # warmed up before any message
        assert gc.get_freeze_count() > 0  # and what it loaded is left out of garbage collections
    finally:
        await bot.close()


async def test_on_sqlite_the_bot_checkpoints_outside_its_commits_and_leaves_no_log(
    tmp_path: Path, clock: ManualClock
) -> None:
    database = tmp_path / "loudong.db"
    bot = Runtime(Settings(database_url=f"sqlite:///{database}", data_dir=tmp_path), clock=clock)
    await bot.open()
    try:
        await bot.import_directory(str(DEMO_DIRECTORY))
        assert bot.engine is not None
        async with bot.engine.connect() as connection:
            # A commit never stops the event loop to copy the log back; the checkpointer thread does.
            assert (await connection.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
    finally:
        await bot.close()
    wal = database.with_name("loudong.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    again = Runtime(Settings(database_url=f"sqlite:///{database}", data_dir=tmp_path), clock=clock)
    await again.open()
    try:
        assert not await again.directory_is_empty()  # everything reached the database file
    finally:
        await again.close()
