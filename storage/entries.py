"""Directory entries as plain data: what the dispatcher keeps of a group and a person between messages.

Frozen, slotted dataclasses made from the ORM objects once, when a message first needs them, and then
shared by every later message without being copied into its session: a handler relates rows to them by
id (`reporter_id=ctx.sender.id`), and reads their names, roles, accounts and unit chain. They hold no
reference back (a unit knows its parent, not its children), so reference counting frees an entry as soon
as the cache lets go of it, where the SQLAlchemy instances they replace were each in a reference cycle
that only a full garbage collection took apart (docs/benchmarks.md, tenth round).

They answer the same questions as the ORM objects they stand for, under the same names (`account_on`,
`unit.parent`, `kind`), so code that only reads works on either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import inspect

from storage.models import Account, Group, Person, Unit
from storage.roles import HIERARCHY, Role, UnitKind

# A chain is at most as long as the hierarchy (building → street); a bound, in case of a cycle.
_CHAIN_DEPTH = len(HIERARCHY)


@dataclass(frozen=True, slots=True)
class UnitEntry:
    id: int
    kind: UnitKind
    name: str
    parent_id: int | None
    details: Mapping[str, Any]
    # The parent as loaded with the unit; None for the street, or when the parent was not loaded.
    parent: UnitEntry | None = None


@dataclass(frozen=True, slots=True)
class AccountEntry:
    id: int
    person_id: int
    platform: str
    external_id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class PersonEntry:
    id: int
    key: str | None
    name: str
    role: Role
    title: str | None
    unit_id: int | None
    phone: str | None
    source: str
    unit: UnitEntry | None
    accounts: tuple[AccountEntry, ...]

    def account_on(self, platform: str) -> AccountEntry | None:
        """The person's first account on a platform."""
        return next((account for account in self.accounts if account.platform == platform), None)


@dataclass(frozen=True, slots=True)
class GroupEntry:
    id: int
    platform: str
    external_id: str
    name: str
    unit_id: int
    unit: UnitEntry


def unit_entry(unit: Unit) -> UnitEntry:
    """The unit and as much of its parent chain as is loaded (no SQL)."""
    chain: list[Unit] = []
    node: Unit | None = unit
    while node is not None and len(chain) < _CHAIN_DEPTH:
        chain.append(node)
        if "parent" in inspect(node).unloaded:
            break
        node = node.parent
    entry: UnitEntry | None = None
    for item in reversed(chain):
        entry = UnitEntry(
            id=item.id,
            kind=UnitKind(item.kind),
            name=item.name,
            parent_id=item.parent_id,
            details=MappingProxyType(dict(item.details or {})),
            parent=entry,
        )
    assert entry is not None
    return entry


def account_entry(account: Account) -> AccountEntry:
    return AccountEntry(
        id=account.id,
        person_id=account.person_id,
        platform=account.platform,
        external_id=account.external_id,
        display_name=account.display_name,
    )


def person_entry(person: Person, *, unit: UnitEntry | None = None) -> PersonEntry:
    """The person with accounts and unit chain as loaded (`unit`: the person's unit, when the caller
    has it as an entry already, e.g. a resident registered in their building's group)."""
    if unit is None and person.unit_id is not None and "unit" not in inspect(person).unloaded:
        loaded = person.unit
        unit = unit_entry(loaded) if loaded is not None else None
    return PersonEntry(
        id=person.id,
        key=person.key,
        name=person.name,
        role=Role(person.role),
        title=person.title,
        unit_id=person.unit_id,
        phone=person.phone,
        source=person.source,
        unit=unit,
        accounts=tuple(account_entry(account) for account in person.accounts),
    )


def group_entry(group: Group) -> GroupEntry:
    return GroupEntry(
        id=group.id,
        platform=group.platform,
        external_id=group.external_id,
        name=group.name,
        unit_id=group.unit_id,
        unit=unit_entry(group.unit),
    )


def entry_chain(unit: UnitEntry) -> list[UnitEntry] | None:
    """The unit, its parent, … up to the street; None when a parent was not loaded with it."""
    chain: list[UnitEntry] = []
    node: UnitEntry | None = unit
    while node is not None:
        if len(chain) == _CHAIN_DEPTH:
            return None
        chain.append(node)
        if node.parent is None and node.parent_id is not None:
            return None
        node = node.parent
    return chain
