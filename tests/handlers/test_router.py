from datetime import timedelta

import pytest

from handlers.router import Registry, Router
from storage.roles import Role


async def _noop(ctx):
    return None


def _registry() -> Registry:
    router = Router("notices")
    router.command("通知", "/notice", summary="发通知", roles=[Role.STAFF])(_noop)
    router.command("通知回执", summary="看回执", roles=[Role.STAFF])(_noop)
    router.command("帮助", "/help", summary="帮助")(_noop)
    return Registry([router])


@pytest.mark.parametrize(
    ("text", "word", "args"),
    [
        ("通知 全体 明天停水", "通知", "全体 明天停水"),
        ("通知回执 #12", "通知回执", "#12"),
        ("  帮助  ", "帮助", ""),
        ("/help", "帮助", ""),
        ("/HELP", "帮助", ""),
        ("#通知 全体 开会", "通知", "全体 开会"),
        ("通知#3", "通知", "#3"),
        ("通知\n全体 今晚检修", "通知", "全体 今晚检修"),
    ],
)
def test_command_word_at_start_followed_by_space_hash_or_end(text: str, word: str, args: str) -> None:
    match = _registry().match_command(text)
    assert match is not None
    assert match.command.name == word
    assert match.args == args


@pytest.mark.parametrize("text", ["通知一下大家明天停水", "帮助一下老人", "我想看帮助", "收到通知了", ""])
def test_chatter_that_merely_contains_a_command_word_is_not_a_command(text: str) -> None:
    assert _registry().match_command(text) is None


def test_roles_restrict_commands() -> None:
    match = _registry().match_command("通知 全体 x")
    assert match is not None
    assert match.command.allows(Role.STAFF)
    assert not match.command.allows(Role.RESIDENT)
    help_match = _registry().match_command("帮助")
    assert help_match is not None and help_match.command.allows(Role.RESIDENT)


def test_a_word_registered_twice_is_refused() -> None:
    first, second = Router("a"), Router("b")
    first.command("接单", summary="x")(_noop)
    second.command("接单", summary="y")(_noop)
    with pytest.raises(ValueError, match="接单"):
        Registry([first, second])


def test_each_command_listed_once_despite_aliases() -> None:
    names = [command.name for command in _registry().commands]
    assert sorted(names) == sorted(["通知", "通知回执", "帮助"])


def test_reply_routes_pick_the_longest_matching_prefix() -> None:
    async def general(ctx):
        return None

    async def followup(ctx):
        return None

    router = Router("requests")
    router.reply("requests.")(general)
    router.reply("requests.followup:")(followup)
    registry = Registry([router])
    assert registry.reply_handler("requests.followup:12") is followup
    assert registry.reply_handler("requests.other") is general
    assert registry.reply_handler("notices.ack:1") is None


def test_intent_routes_respect_min_confidence() -> None:
    router = Router("requests")
    router.intent("repair", "sanitation", min_confidence=0.5)(_noop)
    registry = Registry([router])
    assert registry.intent_handlers("repair", 0.9) == [_noop]
    assert registry.intent_handlers("repair", 0.4) == []
    assert registry.intent_handlers("noise", 0.9) == []


def test_periodic_jobs_are_collected_with_their_router_name() -> None:
    router = Router("requests")

    @router.every(timedelta(minutes=5))
    async def sweep(ctx):
        return None

    registry = Registry([router])
    assert [(job.name, job.interval) for job in registry.periodic_jobs] == [
        ("requests.sweep", timedelta(minutes=5))
    ]
