"""Capabilities of the bot: one module each, plus the contract they share with the bot (contract,
context, router, clock). `default_routers()` lists every capability's router in dispatch order."""

from __future__ import annotations

from handlers.router import Router


def default_routers() -> list[Router]:
    from handlers import help, notices, patrols, requests

    # Notices before requests: a "收到" after a notice is an acknowledgment, not a reply to a 回访.
    return [help.router, notices.router, patrols.router, requests.router]
