"""The command line as a user runs it: real subprocesses, a real SQLite file, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.config import DEMO_DIRECTORY

ROOT = Path(__file__).resolve().parents[2]


def run_bot(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOUDONG_")}
    return clean | {
        "LOUDONG_DATA_DIR": str(tmp_path / "data"),
        "LOUDONG_LOG_LEVEL": "WARNING",
    }


def test_directory_import_then_reimport_reports_no_changes(env: dict[str, str]) -> None:
    first = run_bot("directory", "import", str(DEMO_DIRECTORY), env=env)
    assert first.returncode == 0, first.stderr
    assert "5号楼" in first.stdout or "楼" in first.stdout
    again = run_bot("directory", "import", str(DEMO_DIRECTORY), env=env)
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stdout.lower() or "没有变化" in again.stdout


def test_directory_show_json_lists_buildings_and_persons_with_masked_phones(env: dict[str, str]) -> None:
    assert run_bot("directory", "import", str(DEMO_DIRECTORY), env=env).returncode == 0
    shown = run_bot("directory", "show", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    directory = json.loads(shown.stdout)
    building = next(b for b in directory["buildings"] if b["name"] == "5号楼")
    assert building["micro_grid"]
    assert {"platform": "webchat", "id": "b5"} in [
        {k: g[k] for k in ("platform", "id")} for g in building["groups"]
    ]
    roles = {person["role"] for person in directory["persons"]}
    assert {"micro_grid_leader", "grid_leader", "staff", "property"} <= roles
    for person in directory["persons"]:
        assert {"name", "role", "unit", "accounts"} <= person.keys()
        if person.get("phone"):
            assert "****" in person["phone"]


def test_a_bad_directory_file_names_the_line_and_loads_nothing(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = DEMO_DIRECTORY.read_text(encoding="utf-8").replace("role: property", "role: landlord", 1)
    bad.write_text(text, encoding="utf-8")
    result = run_bot("directory", "import", str(bad), env=env)
    assert result.returncode == 1
    assert "line" in result.stderr and "role" in result.stderr
    shown = json.loads(run_bot("directory", "show", "--json", env=env).stdout)
    assert shown["buildings"] == []


def test_a_bad_setting_stops_the_bot_with_its_name(env: dict[str, str]) -> None:
    result = run_bot("directory", "show", env=env | {"LOUDONG_WEB_PORT": "eighty"})
    assert result.returncode == 2
    assert "LOUDONG_WEB_PORT" in result.stderr


def test_replay_prints_one_json_line_per_action_and_skips_a_malformed_line(env: dict[str, str]) -> None:
    script = "\n".join(
        [
            json.dumps(
                {
                    "group": "b5",
                    "user": "guest-zhang",
                    "name": "张阿姨",
                    "text": "帮助",
                    "time": "2026-12-01T09:00",
                }
            ),
            "{broken",
            json.dumps({"group": "b5", "user": "guest-li", "name": "李叔", "text": "/help"}),
        ]
    )
    result = run_bot("replay", "-", env=env, stdin=script)
    assert result.returncode == 1  # the malformed line is reported
    assert "line 2" in result.stderr
    actions = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["to"] for a in actions] == ["group:b5", "group:b5"]
    assert actions[0]["mentions"] == ["guest-zhang"]
    assert actions[0]["reply_to"] == "line-1"
    assert actions[1]["text"].startswith("@李叔")


def test_replay_reads_a_file(env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "chat.jsonl"
    script.write_text(json.dumps({"group": "b5", "user": "u", "text": "帮助"}) + "\n", encoding="utf-8")
    result = run_bot("replay", str(script), env=env)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_demo_loads_the_community_and_serves_the_web_chat(env: dict[str, str]) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo"],
        env=env | {"LOUDONG_WEB_PORT": str(port)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = ""
        deadline = time.monotonic() + 60
        while f"http://127.0.0.1:{port}" not in banner and time.monotonic() < deadline:
            line = process.stdout.readline() if process.stdout else ""
            if not line and process.poll() is not None:
                break
            banner += line
        assert f"http://127.0.0.1:{port}" in banner, banner + (
            process.stderr.read() if process.stderr else ""
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/directory", timeout=10) as response:
            directory = json.loads(response.read())
        assert any(group["id"] == "b5" for group in directory["groups"])
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert process.returncode == 0
