"""What every capability sends the same way: a private message to a person, a text cut to one line."""

from __future__ import annotations

from handlers.contract import SendToUser
from handlers.privacy import mask_pii
from storage.models import Person


def to_person(person: Person, text: str, platform: str | None, *, any_account: bool) -> SendToUser | None:
    """A private message to `person` on `platform` (needs `accounts` loaded); None when there is no
    account to send it to.

    `any_account` is the caller's choice: a reminder or a digest may reach the person wherever they have
    an account (the first one), while a message about a request belongs on the request's platform."""
    account = person.account_on(platform) if platform is not None else None
    if account is None and any_account and person.accounts:
        account = person.accounts[0]
    if account is None:
        return None
    return SendToUser(platform=account.platform, user_id=account.external_id, text=mask_pii(text))


def shorten(text: str, limit: int) -> str:
    """The text on one line (runs of spaces and line breaks made one space), cut to `limit` characters
    with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
