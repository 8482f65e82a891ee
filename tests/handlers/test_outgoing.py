"""The shared helpers for what handlers send: whom a private message reaches, and one-line texts."""

from __future__ import annotations

from handlers.outgoing import shorten, to_person
from storage.models import Account, Person
from storage.roles import Role


def worker_on(*platforms: str) -> Person:
    accounts = [Account(platform=platform, external_id=f"{platform}-li") for platform in platforms]
    return Person(name="李芳", role=Role.MICRO_GRID_LEADER, accounts=accounts)


def test_a_private_message_goes_to_the_account_on_the_platform() -> None:
    action = to_person(worker_on("wecom", "onebot"), "您好", "onebot", any_account=False)
    assert action is not None and (action.platform, action.user_id) == ("onebot", "onebot-li")


def test_without_an_account_there_only_any_account_falls_back_to_the_first() -> None:
    li = worker_on("wecom")
    assert to_person(li, "您好", "onebot", any_account=False) is None
    for platform in ("onebot", None):
        action = to_person(li, "您好", platform, any_account=True)
        assert action is not None and (action.platform, action.user_id) == ("wecom", "wecom-li")
    assert to_person(worker_on(), "您好", None, any_account=True) is None


def test_any_account_means_the_first_on_a_platform_this_bot_serves() -> None:
    li = worker_on("webchat", "wecom", "onebot")
    served = frozenset({"onebot", "wecom"})
    for platform in (None, "webchat"):  # the notice's platform, say, when this bot no longer serves it
        action = to_person(li, "您好", platform, any_account=True, served=served)
        assert action is not None and (action.platform, action.user_id) == ("wecom", "wecom-li")
    action = to_person(li, "您好", "onebot", any_account=True, served=served)
    assert action is not None and action.platform == "onebot"
    assert to_person(li, "您好", None, any_account=True, served=frozenset({"dingtalk"})) is None
    # A message about a request stays on the request's platform.
    action = to_person(li, "您好", "webchat", any_account=False, served=served)
    assert action is not None and action.platform == "webchat"


def test_private_messages_are_masked() -> None:
    action = to_person(worker_on("wecom"), "电话 13812345678", "wecom", any_account=False)
    assert action is not None and "13812345678" not in action.text


def test_shorten_keeps_one_line() -> None:
    assert shorten("楼道  灯\n不亮", 20) == "楼道 灯 不亮"
    assert shorten("一二三四五六", 4) == "一二三…"
