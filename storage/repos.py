"""The queries the dispatcher, the outbox and the web chat make. Each takes the caller's session and
never commits: the caller owns the transaction. Relationships a caller will read are loaded eagerly,
because a lazy load under asyncio raises instead of doing IO."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from sqlalchemy import Select, bindparam, delete, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.strategy_options import _AbstractLoad
from sqlalchemy.orm.util import identity_key

from storage.directory import person_sort_key
from storage.entries import UnitEntry, entry_chain
from storage.models import Account, Base, Group, OutboxEntry, Person, ProcessedMessage, Unit
from storage.prepared import Prepared, autoflush, connection_of, prepared
from storage.roles import HIERARCHY, Role, UnitKind
from storage.sorting import natural_key

# Parent hops loaded with a unit: a building reaches the street in four, and one more loads the
# street's own (empty) parent, so walking `.parent` until None never attempts a lazy load.
_CHAIN_DEPTH = len(HIERARCHY)


def _unit_with_parents(load: _AbstractLoad) -> _AbstractLoad:
    """Extend a loader option on a unit relationship with the unit's whole parent chain."""
    for _ in range(_CHAIN_DEPTH):
        load = load.joinedload(Unit.parent)
    return load


@functools.cache
def _person_options() -> tuple[_AbstractLoad, ...]:
    # Built once: a five-level joinedload chain takes longer to build than the query takes to run.
    return (selectinload(Person.accounts), _unit_with_parents(joinedload(Person.unit)))


@functools.cache
def _group_options() -> _AbstractLoad:
    return _unit_with_parents(joinedload(Group.unit))


# Directory ------------------------------------------------------------------------------------------


async def find_group(session: AsyncSession, platform: str, external_id: str) -> Group | None:
    """The group with its unit and the unit's parents up to the street loaded."""
    statement = (
        select(Group)
        .where(Group.platform == platform, Group.external_id == external_id)
        .options(_group_options())
    )
    return await session.scalar(statement)


async def list_groups(session: AsyncSession, platform: str) -> list[Group]:
    """Every group on a platform with its unit (and parent chain), in the hierarchy's natural order:
    by community, grid, micro-grid and building (2号楼 before 10号楼), then by group name."""
    statement = select(Group).where(Group.platform == platform).options(_group_options())
    groups = list(await session.scalars(statement))
    return sorted(groups, key=lambda group: (_unit_sort_key(group.unit), natural_key(group.name), group.id))


def _unit_sort_key(unit: Unit | None) -> tuple[Any, ...]:
    chain: list[Unit] = []
    while unit is not None:
        chain.append(unit)
        unit = unit.parent
    return tuple(natural_key(node.name) for node in reversed(chain))


async def has_units(session: AsyncSession) -> bool:
    """Whether any directory was ever imported."""
    return await session.scalar(select(Unit.id).limit(1)) is not None


@overload
def loaded_chain(unit: Unit) -> list[Unit] | None: ...
@overload
def loaded_chain(unit: UnitEntry) -> list[UnitEntry] | None: ...
def loaded_chain(unit: Unit | UnitEntry) -> list[Unit] | list[UnitEntry] | None:
    """The unit, its parent, … up to the street, from memory alone; None when a link of it is not loaded
    (an async session cannot load it lazily) or the chain is longer than the hierarchy (a cycle). A
    directory entry (`storage.entries`) gives its own chain."""
    if isinstance(unit, UnitEntry):
        return entry_chain(unit)
    chain: list[Unit] = []
    node: Unit | None = unit
    while node is not None:
        state = inspect(node)
        if len(chain) == _CHAIN_DEPTH or state.expired or {"kind", "parent"} & state.unloaded:
            return None
        chain.append(node)
        node = node.parent
    return chain


# A unit of the session or a directory entry (`storage.entries`): a chain is made of one or the other.
_AnyUnit = TypeVar("_AnyUnit", Unit, UnitEntry)


def unit_of_kind(chain: Iterable[_AnyUnit], kind: UnitKind) -> _AnyUnit | None:
    """The first unit of `kind` in a chain: in a `unit_chain`, the unit itself or its nearest ancestor
    of that kind (a building's community, a worker's grid)."""
    return next((unit for unit in chain if unit.kind == kind), None)


@functools.cache
def _chain_option() -> _AbstractLoad:
    # Building → street is four hops; the fifth loads the street's own (empty) parent.
    load = joinedload(Unit.parent)
    for _ in range(_CHAIN_DEPTH - 1):
        load = load.joinedload(Unit.parent)
    return load


async def unit_chain(session: AsyncSession, unit_id: int) -> list[Unit]:
    """The unit, its parent, … up to the street; [] when there is no such unit. From memory when the
    session holds the whole chain (a group's building comes with it), else in one query.

    The one way up the unit tree: `unit_of_kind` picks a kind out of it, and code holding units
    loaded with their parents (`list_units`, a person's unit) uses `loaded_chain`."""
    known = session.sync_session.identity_map.get(identity_key(Unit, unit_id))
    if known is not None and (chain := loaded_chain(known)) is not None:
        return chain
    statement = select(Unit).where(Unit.id == unit_id).options(_chain_option())
    unit = (await session.execute(statement)).unique().scalar()
    chain = []
    while unit is not None and len(chain) < _CHAIN_DEPTH:  # a bound, in case of a cycle
        chain.append(unit)
        if unit.parent_id is None:
            break
        # The query loaded the parents, unless the session already held a unit without its parent
        # (a query does not overwrite a unit it holds): then one get, mostly from the identity map.
        unit = (
            unit.parent if "parent" not in inspect(unit).unloaded else await session.get(Unit, unit.parent_id)
        )
    return chain


async def find_unit(session: AsyncSession, path: Sequence[str]) -> Unit | None:
    """A unit by its names from the street down, e.g. ("航海西路街道", "茜城花园社区", "第一网格")."""
    unit: Unit | None = None
    for name in path:
        parent_test = Unit.parent_id.is_(None) if unit is None else Unit.parent_id == unit.id
        unit = await session.scalar(select(Unit).where(parent_test, Unit.name == name))
        if unit is None:
            return None
    return unit


async def list_units(session: AsyncSession, kind: str | None = None) -> list[Unit]:
    """Units (of one kind, if given) with their parent chain, in natural order."""
    statement = select(Unit).options(_unit_with_parents(joinedload(Unit.parent)))
    if kind is not None:
        statement = statement.where(Unit.kind == kind)
    units = list((await session.scalars(statement)).unique())
    return sorted(units, key=lambda unit: (_unit_sort_key(unit), unit.id))


# Persons --------------------------------------------------------------------------------------------


async def find_person_by_account(session: AsyncSession, platform: str, external_id: str) -> Person | None:
    """The person behind a platform account, with accounts and unit (and its parents) loaded.

    Whether the account exists is asked first, as one prepared statement: every first-time sender is
    looked up before being registered, and the ORM query with its loader options cost ~1 ms of CPU to
    find nothing (docs/benchmarks.md, thirteenth round). Pending changes are flushed first, as for an
    ORM query."""
    await autoflush(session)
    account = {"platform": platform, "external_id": external_id}
    if not await _account_holder().rows(await connection_of(session), account):
        return None
    statement = (
        select(Person)
        .join(Person.accounts)
        .where(Account.platform == platform, Account.external_id == external_id)
        .options(*_person_options())
    )
    return (await session.scalars(statement)).unique().first()


@functools.cache
def _account_holder() -> Prepared:
    table = Account.__table__
    statement = select(table.c.person_id).where(
        table.c.platform == bindparam("platform"), table.c.external_id == bindparam("external_id")
    )
    return Prepared(statement, ("platform", "external_id"))


async def get_person(session: AsyncSession, person_id: int) -> Person | None:
    """A person by database id, with accounts and unit loaded."""
    statement = select(Person).where(Person.id == person_id).options(*_person_options())
    return (await session.scalars(statement)).unique().first()


async def find_person_by_key(session: AsyncSession, key: str) -> Person | None:
    """A directory person by their stable key, with accounts and unit loaded."""
    statement = select(Person).where(Person.key == key).options(*_person_options())
    return (await session.scalars(statement)).unique().first()


async def register_chat_person(
    session: AsyncSession,
    *,
    platform: str,
    external_id: str,
    name: str,
    unit: Unit | UnitEntry | None,
    role: Role = Role.RESIDENT,
) -> Person:
    """Record someone met in a chat (source "chat"). If the account is already known — another task
    may have registered the same sender a moment ago — that person is returned instead. (No lookup
    first: the caller has just looked and missed, and the account's unique constraint tells the rest.)

    Two prepared statements (`storage.prepared`), the person and the account `ON CONFLICT DO NOTHING`;
    when the account turns out taken, the person row just written is deleted again and the account's
    person returned. Every first-time sender is registered, and the unit of work's flush of a person
    with an account in a savepoint cost ~2 ms (docs/benchmarks.md, twelfth round)."""
    connection = await connection_of(session)
    claim = insert_unless_present(connection.dialect.name, Account, ("platform", "external_id"), ("id",))
    if claim is None:
        return await _register_in_savepoint(session, platform, external_id, name, unit, role)
    person = _chat_person(name, unit, role)
    row = {key: getattr(person, key) for key in _PERSON_KEYS}
    [(person.id,)] = await _insert_person().rows(connection, row)
    account = Account(person_id=person.id, platform=platform, external_id=external_id, display_name=name)
    claimed = await prepared(claim, _ACCOUNT_KEYS).rows(
        connection, {k: getattr(account, k) for k in _ACCOUNT_KEYS}
    )
    if not claimed:
        await _delete_person().rows(connection, {"person_id": person.id})
        found = await find_person_by_account(session, platform, external_id)
        if found is None:
            raise LookupError(f"account {platform}:{external_id} neither free nor found")
        return found
    [(account.id,)] = claimed
    # Loaded as the person queries load it, without reading back what was just written: every column
    # was given, the account is the one above, and the unit (with its parents) is the caller's, read only
    # (set as loaded, so that it is not added to this session if it belongs to none).
    make_transient_to_detached(person)
    make_transient_to_detached(account)
    set_committed_value(person, "accounts", [account])
    set_committed_value(account, "person", person)
    session.add(person)
    set_committed_value(person, "unit", unit)
    return person


def _chat_person(name: str, unit: Unit | UnitEntry | None, role: Role) -> Person:
    """A person first met in a chat: a name and, when known, a unit; no key, title or phone."""
    return Person(
        key=None,
        name=name,
        role=role,
        title=None,
        unit_id=unit.id if unit is not None else None,
        phone=None,
        source="chat",
        created_at=datetime.now(UTC),
    )


_PERSON_KEYS = ("key", "name", "role", "title", "unit_id", "phone", "source", "created_at")
_ACCOUNT_KEYS = ("person_id", "platform", "external_id", "display_name")


@functools.cache
def _insert_person() -> Prepared:
    table = Person.__table__
    return Prepared(table.insert().returning(table.c.id), _PERSON_KEYS)


@functools.cache
def _delete_person() -> Prepared:
    table = Person.__table__
    return Prepared(table.delete().where(table.c.id == bindparam("person_id")), ("person_id",))


async def _register_in_savepoint(
    session: AsyncSession,
    platform: str,
    external_id: str,
    name: str,
    unit: Unit | UnitEntry | None,
    role: Role,
) -> Person:
    """`register_chat_person` on a backend without ON CONFLICT: through the unit of work, in a SAVEPOINT,
    so that losing the race leaves the caller's transaction usable."""
    person = _chat_person(name, unit, role)
    person.accounts = [Account(platform=platform, external_id=external_id, display_name=name)]
    try:
        async with session.begin_nested():
            session.add(person)
    except IntegrityError:
        found = await find_person_by_account(session, platform, external_id)
        if found is None:
            raise
        return found
    set_committed_value(person, "unit", unit)
    return person


async def list_persons_on_platform(session: AsyncSession, platform: str) -> list[tuple[Person, Account]]:
    """Everyone with an account on the platform, each with that account: directory persons first,
    then by role (Role's order) and name. Persons come with accounts and unit loaded."""
    statement = (
        select(Person, Account)
        .join(Account, Account.person_id == Person.id)
        .where(Account.platform == platform)
        .options(*_person_options())
    )
    rows = [(person, account) for person, account in (await session.execute(statement)).unique()]
    return sorted(rows, key=lambda row: (person_sort_key(row[0]), natural_key(row[1].external_id)))


async def persons_serving(
    session: AsyncSession, unit_ids: Sequence[int], roles: Iterable[Role] | None = None
) -> list[Person]:
    """Persons placed at any of the units (with one of the roles, if given), accounts loaded. They
    come in the order of `unit_ids` — pass a unit_chain's ids to get the nearest first — then by role
    and name."""
    if not unit_ids:
        return []
    # One query, with one level of unit joined: the parent chains are a handful of units shared by
    # everyone found, mostly in the session already (the caller's unit_chain), so they are filled in
    # afterwards instead of joining five levels of parents for every person.
    parameters: dict[str, Any] = {"unit_ids": list(unit_ids)}
    if roles is not None:
        parameters["roles"] = [Role(role).value for role in roles]
        if not parameters["roles"]:
            return []
    statement = _persons_serving_statement(with_roles=roles is not None)
    persons = list((await session.scalars(statement, parameters)).unique())
    await _load_parent_chains(session, {id(p.unit): p.unit for p in persons if p.unit is not None}.values())
    position = {unit_id: index for index, unit_id in enumerate(unit_ids)}
    return sorted(persons, key=lambda person: (position[person.unit_id], person_sort_key(person)))


@functools.cache
def _persons_serving_statement(*, with_roles: bool) -> Select[tuple[Person]]:
    """Built once: every new request asks, and building the statement cost half of running it."""
    statement = (
        select(Person)
        .where(Person.unit_id.in_(bindparam("unit_ids", expanding=True)))
        .options(joinedload(Person.accounts), joinedload(Person.unit))
    )
    if with_roles:
        statement = statement.where(Person.role.in_(bindparam("roles", expanding=True)))
    return statement


async def _load_parent_chains(session: AsyncSession, units: Iterable[Unit]) -> None:
    """Make each unit's `.parent` chain walkable up to the street without a lazy load, as
    `_unit_with_parents` would: parents already in the session cost no query."""
    for unit in units:
        current: Unit | None = unit
        for _ in range(_CHAIN_DEPTH):  # a bound, in case of a cycle
            if current is None:
                break
            if "parent" in inspect(current).unloaded:
                parent_id = current.parent_id
                parent = await session.get(Unit, parent_id) if parent_id is not None else None
                set_committed_value(current, "parent", parent)
            current = current.parent


# Inbound dedupe -------------------------------------------------------------------------------------


async def mark_processed(session: AsyncSession, platform: str, message_id: str, now: datetime) -> bool:
    """Remember an inbound message id. True the first time, False for a redelivery."""
    return bool(await mark_processed_many(session, [(platform, message_id)], now))


async def mark_processed_many(
    session: AsyncSession, keys: Sequence[tuple[str, str]], now: datetime
) -> set[tuple[str, str]]:
    """Remember inbound message ids, (platform, message id) each; returns those seen for the first time
    (a key given twice counts once). A redelivery is absorbed by the database (ON CONFLICT DO NOTHING),
    so the transaction stays usable."""
    if not keys:
        return set()
    dialect = session.get_bind().dialect.name
    unique = ("platform", "message_id")
    if insert_unless_present(dialect, ProcessedMessage, unique, unique) is None:
        rows = [{"platform": p, "message_id": m, "received_at": now} for p, m in keys]
        return await _mark_processed_one_by_one(session, rows)
    # One prepared statement per batch (the dispatcher's batches are at most 32 messages; longer lists in
    # slices of `_MARK_SLICE`), on the session's connection: through SQLAlchemy's execute the statement
    # cost ~0.15 ms of CPU, a tenth of a lone message's (docs/benchmarks.md, thirteenth round).
    connection = await connection_of(session)
    fresh: set[tuple[str, str]] = set()
    for start in range(0, len(keys), _MARK_SLICE):
        part = keys[start : start + _MARK_SLICE]
        parameters: dict[str, Any] = {}
        for index, (platform, message_id) in enumerate(part):
            parameters[f"platform_{index}"] = platform
            parameters[f"message_id_{index}"] = message_id
            parameters[f"received_at_{index}"] = now
        inserted = await _mark_processed(dialect, len(part)).rows(connection, parameters)
        fresh.update((platform, message_id) for platform, message_id in inserted)
    return fresh


_MARK_SLICE = 32  # rows per dedupe statement at most: a prepared statement per length up to this


@functools.cache
def _mark_processed(dialect: str, count: int) -> Prepared:
    """INSERT of `count` message ids in one VALUES list, ON CONFLICT (platform, message_id) DO NOTHING
    RETURNING the ids inserted, prepared once per dialect and length. An id given twice in the list is
    inserted once and returned once (the second row conflicts with the first)."""
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    table = ProcessedMessage.__table__
    names = ("platform", "message_id", "received_at")
    values = [
        {name: bindparam(f"{name}_{index}", type_=table.c[name].type) for name in names}
        for index in range(count)
    ]
    statement = (
        insert(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=["platform", "message_id"])
        .returning(table.c.platform, table.c.message_id)
    )
    return Prepared(statement, tuple(f"{name}_{index}" for index in range(count) for name in names))


async def _mark_processed_one_by_one(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> set[tuple[str, str]]:
    """Backends without ON CONFLICT: a SAVEPOINT per id keeps a duplicate's error from poisoning the
    transaction."""
    fresh: set[tuple[str, str]] = set()
    for row in rows:
        key = (row["platform"], row["message_id"])
        if key in fresh:
            continue
        try:
            async with session.begin_nested():
                session.add(ProcessedMessage(**row))
        except IntegrityError:
            continue
        fresh.add(key)
    return fresh


@functools.cache
def insert_unless_present(
    dialect: str, model: type[Base], unique: tuple[str, ...], returning: tuple[str, ...]
) -> Any:
    """INSERT … ON CONFLICT (the `unique` columns) DO NOTHING RETURNING (the `returning` columns): a
    row already there is no error, and no row comes back for it. Built once per dialect, model and
    columns (it runs for every message, and building it cost more than running it); None for dialects
    without ON CONFLICT."""
    if dialect not in ("sqlite", "postgresql"):
        return None
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    table = model.__table__
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=list(unique))
        .returning(*(table.c[name] for name in returning))
    )


async def prune_processed(session: AsyncSession, before: datetime) -> int:
    """Forget message ids received before `before`; returns how many."""
    result = await session.execute(delete(ProcessedMessage).where(ProcessedMessage.received_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


# Outbox ---------------------------------------------------------------------------------------------


_OUTBOX_KEYS = (
    *("platform", "target_kind", "target_id", "text", "mentions", "reply_to", "origin"),
    *("status", "attempts", "created_at", "next_attempt_at"),
)


@functools.cache
def _insert_outbox() -> Prepared:
    table = OutboxEntry.__table__
    return Prepared(table.insert().returning(table.c.id), _OUTBOX_KEYS)


async def insert_outbox(
    session: AsyncSession, actions: Sequence[dict[str, Any]], *, now: datetime
) -> list[int]:
    """Store actions to send, due at once: the rows (platform, target_kind, target_id, text, mentions,
    reply_to, origin) inserted on the session's connection, one prepared statement each (nearly always
    one: a reply), in order; their ids in that order. The caller keeps what it stored, so no ORM object
    is built and nothing is flushed."""
    if not actions:
        return []
    connection = await connection_of(session)
    insert = _insert_outbox()
    ids = []
    for action in actions:
        row = {**action, "status": "pending", "attempts": 0, "created_at": now, "next_attempt_at": now}
        [(entry_id,)] = await insert.rows(connection, row)
        ids.append(int(entry_id))
    return ids


async def pending_outbox_targets(session: AsyncSession) -> list[tuple[int, str, str, str]]:
    """(id, platform, target_kind, target_id) of every pending entry, due or not: the outbox holds its
    own new messages to a target back while any of these is older."""
    table = OutboxEntry.__table__
    statement = select(table.c.id, table.c.platform, table.c.target_kind, table.c.target_id).where(
        table.c.status == "pending"
    )
    return [(int(row[0]), row[1], row[2], row[3]) for row in await session.execute(statement)]


async def due_outbox(
    session: AsyncSession, now: datetime, limit: int = 100, *, skip_platforms: Collection[str] = ()
) -> list[OutboxEntry]:
    """Pending entries whose time has come, oldest first, but none for `skip_platforms` (platforms out of
    reach just now, whose entries wait). An entry is held back while an older entry to the same target
    waits for its retry, so a group never sees a later message before an earlier one (the earlier one,
    once due, comes first in the list)."""
    earlier = aliased(OutboxEntry)
    blocked_by_earlier = (
        select(earlier.id)
        .where(
            earlier.status == "pending",
            earlier.next_attempt_at > now,
            earlier.id < OutboxEntry.id,
            earlier.platform == OutboxEntry.platform,
            earlier.target_kind == OutboxEntry.target_kind,
            earlier.target_id == OutboxEntry.target_id,
        )
        .exists()
    )
    statement = (
        select(OutboxEntry)
        .where(OutboxEntry.status == "pending", OutboxEntry.next_attempt_at <= now, ~blocked_by_earlier)
        .order_by(OutboxEntry.id)
        .limit(limit)
    )
    if skip_platforms:
        statement = statement.where(OutboxEntry.platform.not_in(list(skip_platforms)))
    return list(await session.scalars(statement))


async def give_up_waiting_outbox(
    session: AsyncSession, platforms: Collection[str], *, stored_before: datetime, error: str
) -> list[tuple[int, str, datetime]]:
    """Give up ("dead", attempts untouched) the pending entries for `platforms` stored before
    `stored_before`: they waited too long for their platform. (id, platform, created_at) of each."""
    table = OutboxEntry.__table__
    statement = (
        select(table.c.id, table.c.platform, table.c.created_at)
        .where(
            table.c.status == "pending",
            table.c.platform.in_(list(platforms)),
            table.c.created_at < stored_before,
        )
        .order_by(table.c.id)
    )
    expired = [(int(row[0]), row[1], row[2]) for row in await session.execute(statement)]
    if expired:
        await session.execute(
            update(table)
            .where(table.c.id.in_([entry_id for entry_id, _, _ in expired]), table.c.status == "pending")
            .values(status="dead", last_error=error)
        )
    return expired


async def _outbox_entry(session: AsyncSession, entry_id: int) -> OutboxEntry:
    entry = await session.get(OutboxEntry, entry_id)
    if entry is None:
        raise LookupError(f"no outbox entry {entry_id}")
    return entry


@dataclass(frozen=True)
class Sent:
    """One outbox entry the platform took, for `mark_outbox_sent_many`."""

    entry_id: int
    sent_message_id: str | None


async def mark_outbox_sent_many(session: AsyncSession, sent: Sequence[Sent], *, now: datetime) -> None:
    """The platform took these messages (each counts as an attempt; its id lets replies find the entry):
    one executemany for the outbox worker's batches; ids that do not exist are ignored."""
    if not sent:
        return
    mark = _mark_outbox_sent()
    rows = [{"entry_id": s.entry_id, "sent_at": now, "message_id": s.sent_message_id} for s in sent]
    if session.get_bind().dialect.name != "sqlite":
        await session.execute(mark.statement, rows)  # one round trip to a server for the whole batch
        return
    # On SQLite one prepared UPDATE per entry on the driver: through the session's executemany a batch of
    # a few replies cost ~1-3 ms of CPU (at 200 events/s, a mark every 50 ms: ~3 % of the bot; fifteenth
    # round), a prepared statement ~15 µs an entry.
    connection = await connection_of(session)
    for row in rows:
        await mark.rows(connection, row)


@functools.cache
def _mark_outbox_sent() -> Prepared:
    table = OutboxEntry.__table__
    statement = (
        table.update()
        .where(table.c.id == bindparam("entry_id"))
        .values(
            status="sent",
            attempts=table.c.attempts + 1,
            sent_at=bindparam("sent_at", type_=table.c.sent_at.type),
            sent_message_id=bindparam("message_id"),
        )
    )
    return Prepared(statement, ("entry_id", "sent_at", "message_id"))


async def mark_outbox_failed(
    session: AsyncSession, entry_id: int, *, error: str, retry_at: datetime | None
) -> None:
    """A failed attempt: try again at `retry_at`, or give up ("dead") when it is None."""
    entry = await _outbox_entry(session, entry_id)
    entry.attempts += 1
    entry.last_error = error
    if retry_at is None:
        entry.status = "dead"
    else:
        entry.status = "pending"
        entry.next_attempt_at = retry_at
    await session.flush()


async def find_outbox_by_sent_message(
    session: AsyncSession, platform: str, sent_message_id: str
) -> OutboxEntry | None:
    """The entry that produced a platform message (the newest, should a platform reuse ids)."""
    statement = (
        select(OutboxEntry)
        .where(OutboxEntry.platform == platform, OutboxEntry.sent_message_id == sent_message_id)
        .order_by(OutboxEntry.id.desc())
        .limit(1)
    )
    return await session.scalar(statement)
