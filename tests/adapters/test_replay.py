from __future__ import annotations

import io
import json
from datetime import datetime

import pytest

from bot.adapters.replay import ReplayAdapter, ScriptError, action_record, parse_line
from handlers.clock import LOCAL_TZ, ManualClock
from handlers.contract import Mention, Message, SendToGroup, SendToUser


def test_a_script_line_with_local_time() -> None:
    line = parse_line(
        1, '{"group":"b5","user":"zhang","name":"张阿姨","text":"灯坏了","time":"2026-12-01T09:00"}'
    )
    assert line is not None
    assert line.time == datetime(2026, 12, 1, 9, 0, tzinfo=LOCAL_TZ)
    assert parse_line(2, "   ") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{not json", "line 7: not valid JSON"),
        ('{"group":"b5","text":"x"}', "line 7: user: Field required"),
        ('{"group":"b5","user":"u","text":"x","time":"yesterday"}', "line 7: time:"),
        ('{"group":"b5","user":"u","text":"x","colour":"red"}', "line 7: colour:"),
    ],
)
def test_a_malformed_line_names_its_number_and_key(raw: str, expected: str) -> None:
    with pytest.raises(ScriptError) as error:
        parse_line(7, raw)
    assert str(error.value).startswith(expected)
    assert error.value.line_number == 7


def test_actions_print_as_the_documented_json_shape() -> None:
    group = SendToGroup(
        platform="webchat",
        group_id="b5",
        text="@张阿姨 收到",
        mentions=(Mention(user_id="zhang", name="张阿姨"),),
        reply_to="line-1",
    )
    assert action_record(group) == {
        "to": "group:b5",
        "text": "@张阿姨 收到",
        "mentions": ["zhang"],
        "reply_to": "line-1",
    }
    private = SendToUser(platform="webchat", user_id="li-fang", text="请上门")
    assert action_record(private) == {
        "to": "user:li-fang",
        "text": "请上门",
        "mentions": [],
        "reply_to": None,
    }


async def test_play_feeds_messages_in_order_with_the_clock_moved_and_skips_bad_lines() -> None:
    clock = ManualClock(datetime(2026, 12, 1, 8, 0, tzinfo=LOCAL_TZ))
    out = io.StringIO()
    adapter = ReplayAdapter(out, clock)
    received: list[Message] = []
    errors: list[ScriptError] = []

    async def deliver(message: Message) -> None:
        received.append(message)
        await adapter.send(SendToGroup(platform="webchat", group_id=message.group_id or "", text="回声"))

    async def advance(moment: datetime) -> None:
        clock.set(moment)

    async def settle() -> None:
        return None

    await adapter.start(deliver)
    script = [
        '{"group":"b5","user":"zhang","text":"第一句","time":"2026-12-01T09:00"}',
        "oops",
        "",
        '{"group":"b5","user":"li","text":"第二句","id":"custom","reply_to":"bot-1"}',
    ]
    delivered = await adapter.play(script, advance=advance, settle=settle, on_error=errors.append)
    assert delivered == 2
    assert [m.message_id for m in received] == ["line-1", "custom"]
    assert received[0].time == datetime(2026, 12, 1, 9, 0, tzinfo=LOCAL_TZ)
    assert received[1].reply_to == "bot-1"
    assert [e.line_number for e in errors] == [2]
    assert [json.loads(line)["to"] for line in out.getvalue().splitlines()] == ["group:b5", "group:b5"]
