"""What every capability sends the same way: a private message to a person, a text cut to one line."""

from __future__ import annotations

import logging
from collections.abc import Set

from handlers.contract import SendToUser
from handlers.privacy import mask_pii
from storage.models import Account, Person

log = logging.getLogger("loudong.outgoing")


def to_person(
    person: Person,
    text: str,
    platform: str | None,
    *,
    any_account: bool,
    served: Set[str] | None = None,
) -> SendToUser | None:
    """A private message to `person` on `platform` (needs `accounts` loaded); None when there is no
    account to send it to.

    `any_account` is the caller's choice: a message about a request belongs on the request's platform,
    while a reminder or a digest may reach the person wherever this bot can reach them: on `platform` if
    given and served, else on their first account (in their account order) on a platform in `served`, the
    platforms on which this process can send a private message (`schedule.private_platforms()`; None: not
    known, any platform). A person with no account there gets nothing, and one log line says so."""
    account = person.account_on(platform) if platform is not None else None
    if not any_account:
        return _send(account, text)
    if account is None or (served is not None and account.platform not in served):
        account = next((a for a in person.accounts if served is None or a.platform in served), None)
    if account is None:
        log.info(
            "private message not sent: the person has no account this bot can message privately",
            extra={
                "person": person.id,
                "person_key": person.key,
                "accounts": sorted({a.platform for a in person.accounts}),
                "served": sorted(served) if served is not None else None,
            },
        )
    return _send(account, text)


def _send(account: Account | None, text: str) -> SendToUser | None:
    if account is None:
        return None
    return SendToUser(platform=account.platform, user_id=account.external_id, text=mask_pii(text))


def shorten(text: str, limit: int) -> str:
    """The text on one line (runs of spaces and line breaks made one space), cut to `limit` characters
    with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
