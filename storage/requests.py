"""Requests (工单): what residents raised, who owns it, and everything that happened to it.

A `Request` is numbered by its id (#N). Its reporter is the resident whose message created it;
residents who raised the same problem later are `RequestReporter` rows (co-reporters). Every change is
a `RequestEvent` on its timeline: who, when, what, old → new. The query functions at the bottom serve
the handlers (open by owner, by building, overdue, merge candidates, 回访) and later work (response and
resolution times, satisfaction, figures per grid and per micro-grid leader)."""

from __future__ import annotations

import functools
import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    distinct,
    exists,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import (
    Mapped,
    joinedload,
    make_transient_to_detached,
    mapped_column,
    relationship,
    selectinload,
)
from sqlalchemy.orm.attributes import set_committed_value

from storage import repos
from storage.entries import PersonEntry
from storage.memo import in_session
from storage.models import Base, Person, StrEnumType, Unit
from storage.prepared import Prepared, autoflush, connection_of, prepared
from storage.repos import insert_unless_present
from storage.roles import Role, UnitKind


class RequestStatus(StrEnum):
    NEW = "new"  # waiting for its owner to acknowledge (接单)
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"  # 办结: waiting for the reporter's answer to the 回访
    CLOSED = "closed"


# Someone has to act on these.
OPEN_STATUSES: tuple[RequestStatus, ...] = (
    RequestStatus.NEW,
    RequestStatus.ACKNOWLEDGED,
    RequestStatus.IN_PROGRESS,
)


class EventKind(StrEnum):
    CREATED = "created"
    PLUS_ONE = "plus_one"  # another resident raised the same problem
    ACKNOWLEDGED = "acknowledged"
    PROGRESS = "progress"
    RESOLVED = "resolved"
    REASSIGNED = "reassigned"
    RETURNED = "returned"
    REMINDED = "reminded"
    ESCALATED = "escalated"
    NOTE = "note"  # 补充 by a reporter
    RESIDENT_UPDATE = "resident_update"  # a reporter said in the group that it is fixed
    FOLLOWUP = "followup"  # the 回访 question was asked
    REOPENED = "reopened"
    CLOSED = "closed"
    EXPIRED = "expired"  # the 回访 went unanswered: closed as unconfirmed
    WITHDRAWN = "withdrawn"  # 撤销: filed by mistake, closed by its reporter or its handler


class Request(Base):
    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_building_status", "building_id", "status"),
        Index("ix_requests_building_category_created", "building_id", "category", "created_at"),
        Index("ix_requests_owner_status", "owner_id", "status"),
        Index("ix_requests_status_created", "status", "created_at"),
        CheckConstraint(
            "status IN ('new', 'acknowledged', 'in_progress', 'resolved', 'closed')",
            name="status",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)  # shown to people as #N
    category: Mapped[str] = mapped_column(String(32))  # the intent: repair, noise, …
    summary: Mapped[str] = mapped_column(String(100))  # what was understood: 楼道灯报修
    # The things the report named (楼道灯, 电梯): two reports about different things are not merged.
    objects: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[RequestStatus] = mapped_column(StrEnumType(RequestStatus, 16), default=RequestStatus.NEW)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)

    building_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    place_unit: Mapped[str | None] = mapped_column(String(16))  # 2单元
    place_floor: Mapped[str | None] = mapped_column(String(16))  # 12楼
    place_room: Mapped[str | None] = mapped_column(String(16))  # 1202
    text: Mapped[str] = mapped_column(Text)  # the report, phone and ID numbers masked

    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    reporters_count: Mapped[int] = mapped_column(Integer, default=1)
    platform: Mapped[str] = mapped_column(String(32))
    group_external_id: Mapped[str | None] = mapped_column(String(128))
    message_id: Mapped[str | None] = mapped_column(String(128))

    owner_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    # Where on the ladder the owner stands: micro_grid, grid, community, street, or property/police.
    owner_level: Mapped[str | None] = mapped_column(String(16))

    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ack_due_at: Mapped[datetime | None]
    resolve_due_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Set, with closed_at, only by 撤销 (`withdraw`): withdrawn is a recorded fact, so a way of closing
    # added later cannot read as withdrawn by forgetting to set `satisfied` or `unconfirmed`.
    withdrawn_at: Mapped[datetime | None]
    # The reminder for the current stage (None: not reminded yet); reset on escalation and reopening.
    reminded_at: Mapped[datetime | None]
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    # Nobody is left above the owner to escalate to; cleared when the owner changes.
    escalation_exhausted: Mapped[bool] = mapped_column(Boolean, default=False)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)  # strikes: 不满意 answers

    rating: Mapped[int | None] = mapped_column(Integer)  # 1–5 when the reporter gave a score
    satisfied: Mapped[bool | None] = mapped_column(Boolean)
    unconfirmed: Mapped[bool] = mapped_column(Boolean, default=False)  # closed without an answer
    found_on_patrol: Mapped[bool] = mapped_column(Boolean, default=False)

    building: Mapped[Unit | None] = relationship(foreign_keys=[building_id])
    reporter: Mapped[Person | None] = relationship(foreign_keys=[reporter_id])
    owner: Mapped[Person | None] = relationship(foreign_keys=[owner_id])
    co_reporters: Mapped[list[RequestReporter]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestReporter.id"
    )

    @property
    def number(self) -> str:
        return f"#{self.id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def reporter_ids(self) -> list[int]:
        ids = [self.reporter_id] if self.reporter_id is not None else []
        return ids + [row.person_id for row in self.co_reporters]

    def reporters(self) -> list[Person]:
        """The reporter and co-reporters, first reporter first (needs them loaded)."""
        people = [self.reporter] if self.reporter is not None else []
        return people + [row.person for row in self.co_reporters]

    @property
    def withdrawn(self) -> bool:
        """Closed by 撤销 (filed by mistake), as `withdrawn_at` records."""
        return self.withdrawn_at is not None

    def due_at(self) -> datetime | None:
        """The deadline of the current stage: to acknowledge, or to resolve."""
        if self.status == RequestStatus.NEW:
            return self.ack_due_at
        if self.status in (RequestStatus.ACKNOWLEDGED, RequestStatus.IN_PROGRESS):
            return self.resolve_due_at
        return None

    def is_overdue(self, now: datetime) -> bool:
        due = self.due_at()
        return due is not None and due <= now


class RequestReporter(Base):
    """A resident who raised the same problem after the first reporter (+1)."""

    __tablename__ = "request_reporters"
    __table_args__ = (UniqueConstraint("request_id", "person_id", name="uq_request_reporters_person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text, default="")  # masked
    created_at: Mapped[datetime]

    request: Mapped[Request] = relationship(back_populates="co_reporters")
    person: Mapped[Person] = relationship()


class RequestEvent(Base):
    """One entry of a request's timeline."""

    __tablename__ = "request_events"
    __table_args__ = (Index("ix_request_events_request_at", "request_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    kind: Mapped[EventKind] = mapped_column(StrEnumType(EventKind, 24))
    old: Mapped[str | None] = mapped_column(String(100))
    new: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)  # masked

    actor: Mapped[Person | None] = relationship()
    # Set by add_event, so that a new request and its first event are written in one flush.
    request: Mapped[Request] = relationship()


# ---------------------------------------------------------------------------------------------------
# Writing


def add_event(
    session: AsyncSession,
    request: Request,
    kind: EventKind,
    at: datetime,
    *,
    actor: Person | PersonEntry | None = None,
    old: str | None = None,
    new: str | None = None,
    note: str | None = None,
) -> RequestEvent:
    event = RequestEvent(request=request, **_event_values(kind, at, actor=actor, old=old, new=new, note=note))
    session.add(event)
    request.updated_at = at
    return event


async def add_event_by_id(
    session: AsyncSession,
    request_id: int,
    kind: EventKind,
    at: datetime,
    *,
    actor: Person | PersonEntry | None = None,
    note: str | None = None,
) -> None:
    """`add_event` for a request known by id: through the session's object when the session holds it,
    else as two prepared statements (the event, and the request's `updated_at`) with no object loaded:
    a reporter's "修好了" notes one, and loading the request and flushing the event through the unit of
    work cost ~1 ms of CPU (docs/benchmarks.md, fourteenth round)."""
    held = held_request(session, request_id)
    if held is not None:
        add_event(session, held, kind, at, actor=actor, note=note)
        return
    connection = await connection_of(session)
    event = _event_values(kind, at, actor=actor, old=None, new=None, note=note)
    await _insert_event().rows(connection, {"request_id": request_id, **event})
    await _touch().rows(connection, {"request_id": request_id, "updated_at": at})


def _event_values(
    kind: EventKind,
    at: datetime,
    *,
    actor: Person | PersonEntry | None,
    old: str | None,
    new: str | None,
    note: str | None,
) -> dict[str, Any]:
    return {
        "at": at,
        "actor_id": actor.id if actor is not None else None,
        "kind": kind,
        "old": old[:100] if old else old,
        "new": new[:100] if new else new,
        "note": note,
    }


def withdraw(
    session: AsyncSession,
    request: Request,
    at: datetime,
    *,
    actor: Person | PersonEntry | None,
    note: str | None,
) -> RequestEvent:
    """撤销: close an open request as filed by mistake, and put who and why (`note`, already masked) on its
    timeline. Closing it and recording that it was withdrawn (`withdrawn_at`) happen together, in the
    caller's transaction: no withdrawn request lacks the time, and no other way of closing sets it."""
    old = RequestStatus(request.status)
    request.status = RequestStatus.CLOSED
    request.closed_at = at
    request.withdrawn_at = at
    request.reminded_at = None  # nothing left to chase
    return add_event(
        session, request, EventKind.WITHDRAWN, at, actor=actor, old=old, new=request.status, note=note
    )


@dataclass(frozen=True, slots=True)
class OpenedRequest:
    """A request `insert_request` has just written, as the reply to its report names it. Not an object of
    the session: a later statement of the transaction reads its row as any other (`candidate_request`,
    `get_request`)."""

    id: int
    summary: str
    place_unit: str | None
    place_floor: str | None
    place_room: str | None

    @property
    def number(self) -> str:
        return f"#{self.id}"


async def insert_request(
    session: AsyncSession,
    values: Mapping[str, Any],
    *,
    actor: Person | PersonEntry | None,
    new: str | None,
    note: str | None,
) -> OpenedRequest:
    """Write a new request and its `created` event as two Core INSERTs. `values`: its columns by name,
    related rows by id (`building_id`, `reporter_id`, `owner_id`); a column left out takes its default,
    as a flush would apply it. Every report opens one: the unit of work's planning of a flush cost more
    than both statements, and building the ORM object alone ~8 % of a report (docs/benchmarks.md,
    fourteenth round), so none is built; whoever needs the request as an object later reads it."""
    columns = _request_columns()
    unknown = values.keys() - columns.keys()
    if unknown:
        raise ValueError(f"not columns of a request: {sorted(unknown)}")
    row = {key: values[key] if key in values else _default_value(column) for key, column in columns.items()}
    connection = await connection_of(session)
    [(request_id,)] = await _insert(Request, tuple(row), returning_id=True).rows(connection, row)
    event = _event_values(EventKind.CREATED, row["created_at"], actor=actor, old=None, new=new, note=note)
    await _insert_event().rows(connection, {"request_id": request_id, **event})
    return OpenedRequest(request_id, row["summary"], row["place_unit"], row["place_floor"], row["place_room"])


@functools.cache
def _request_columns() -> dict[str, Any]:
    """The columns a new request's row is written with (all but the id), by attribute name, which is
    each one's column name too (`_candidate_keys`)."""
    return {key: Request.__table__.c[key] for key in _candidate_keys() if key != "id"}


async def add_plus_one(
    session: AsyncSession,
    request: Request | MergeCandidate,
    person: Person | PersonEntry,
    at: datetime,
    *,
    place: Sequence[str | None] = (None, None, None),
    message_id: str | None,
    text: str,
) -> bool:
    """The person joins the request (+1): the co-reporter row, the request's count, time and place
    (`fill_place`: unit, floor, room), and a `plus_one` event on its timeline. False, and nothing
    written, if the person raised it already (first or as a +1).

    When the request's co-reporters are not loaded (as intake finds it: a `merge_candidates` row, or an
    object of the session), as Core statements, what they changed set on the row, or on the object as
    committed: a third of all reports are a +1, and the unit of work's planning of their flush cost more
    than the statements. The row goes in unless it is there already (ON CONFLICT DO NOTHING), which
    answers `is_reporter` in the same statement."""
    if request.reporter_id == person.id:
        return False
    if isinstance(request, Request) and "co_reporters" not in inspect(request).unloaded:
        # Loaded by an earlier message of this session: through the unit of work, which keeps the list.
        if person.id in request.reporter_ids():
            return False
        add_co_reporter(session, request, person, at, message_id=message_id, text=text)
        fill_place(request, place)
        add_event(session, request, EventKind.PLUS_ONE, at, actor=person, new=str(request.reporters_count))
        return True
    connection = await connection_of(session)
    reporter = {
        "request_id": request.id,
        "person_id": person.id,
        "message_id": message_id,
        "text": text,
        "created_at": at,
    }
    unless_present = insert_unless_present(
        connection.dialect.name, RequestReporter, ("request_id", "person_id"), ("id",)
    )
    if unless_present is None:  # no ON CONFLICT here: ask first
        if await is_reporter(session, request, person.id):
            return False
        await _insert(RequestReporter, tuple(reporter)).rows(connection, reporter)
    elif not await prepared(unless_present, tuple(reporter)).rows(connection, reporter):
        return False
    changes: dict[str, Any] = {**_filled_place(request, place), "updated_at": at}
    # The count is incremented by the database, not written from ours: two +1s committed at once by two
    # processes (PostgreSQL) must both count.
    [(changes["reporters_count"],)] = await _plus_one().rows(
        connection, {"request_id": request.id, **changes}
    )
    event = _event_values(
        EventKind.PLUS_ONE, at, actor=person, old=None, new=str(changes["reporters_count"]), note=None
    )
    await _insert_event().rows(connection, {"request_id": request.id, **event})
    for key, value in changes.items():
        if isinstance(request, Request):
            set_committed_value(request, key, value)
        elif key != "updated_at":  # not among a candidate's columns
            setattr(request, key, value)
    return True


_PLACE_COLUMNS = ("place_unit", "place_floor", "place_room")


def fill_place(request: Request, place: Sequence[str | None]) -> None:
    """A later report may say more precisely where (unit, floor, room): keep what it adds."""
    for key, value in _filled_place(request, place).items():
        setattr(request, key, value)


def _filled_place(request: Request | MergeCandidate, place: Sequence[str | None]) -> dict[str, str | None]:
    return {key: getattr(request, key) or value for key, value in zip(_PLACE_COLUMNS, place, strict=True)}


@functools.cache
def _insert(model: type[Base], keys: tuple[str, ...], *, returning_id: bool = False) -> Prepared:
    """A model's INSERT of the columns `keys` (… RETURNING id), prepared once."""
    table = model.__table__
    return Prepared(table.insert().returning(table.c.id) if returning_id else table.insert(), keys)


def _insert_event() -> Prepared:
    return _insert(RequestEvent, _EVENT_KEYS)


_EVENT_KEYS = ("request_id", "at", "actor_id", "kind", "old", "new", "note")  # `_event_values` and the id


@functools.cache
def _touch() -> Prepared:
    """UPDATE requests SET updated_at WHERE id = :request_id, prepared once."""
    table = Request.__table__
    statement = table.update().where(table.c.id == bindparam("request_id"))
    return Prepared(statement, ("request_id", "updated_at"))


@functools.cache
def _plus_one() -> Prepared:
    """UPDATE requests SET reporters_count = reporters_count + 1 and the place and time WHERE id =
    :request_id RETURNING the new count, prepared once."""
    table = Request.__table__
    statement = (
        table.update()
        .where(table.c.id == bindparam("request_id"))
        .values(reporters_count=table.c.reporters_count + 1)
        .returning(table.c.reporters_count)
    )
    return Prepared(statement, ("request_id", *_PLACE_COLUMNS, "updated_at"))


def _default_value(column: Any) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)  # SQLAlchemy wraps a callable default to take the execution context
    raise ValueError(f"{column} has a default a Core INSERT cannot apply here")


def add_co_reporter(
    session: AsyncSession,
    request: Request,
    person: Person | PersonEntry,
    at: datetime,
    *,
    message_id: str | None,
    text: str,
) -> RequestReporter:
    """The person joins the request (+1). The row goes in directly, without loading the request's
    co-reporters: a problem half the building raised costs no more to join than any other."""
    row = RequestReporter(
        request_id=request.id,
        person_id=person.id,
        message_id=message_id,
        text=text,
        created_at=at,
    )
    # Related by id; the person object too when the session has it (a directory entry is not one).
    key = inspect(Person).identity_key_from_primary_key((person.id,))
    row_person = person if isinstance(person, Person) else session.sync_session.identity_map.get(key)
    if row_person is not None:
        row.person = row_person
    if "co_reporters" in inspect(request).unloaded:
        request.reporters_count += 1
    else:
        request.co_reporters.append(row)
        request.reporters_count = 1 + len(request.co_reporters)
    session.add(row)
    return row


async def is_reporter(session: AsyncSession, request: Request | MergeCandidate, person_id: int) -> bool:
    """Whether the person raised the request, first or as a +1: from memory when the co-reporters are
    loaded, else one indexed EXISTS (pending rows are flushed first, so a +1 of this transaction counts)."""
    if request.reporter_id == person_id:
        return True
    if isinstance(request, Request) and "co_reporters" not in inspect(request).unloaded:
        return person_id in request.reporter_ids()
    query = select(
        exists().where(RequestReporter.request_id == request.id, RequestReporter.person_id == person_id)
    )
    return bool(await session.scalar(query))


# ---------------------------------------------------------------------------------------------------
# Reading: what the handlers need


def _with_people(query: Select[tuple[Request]]) -> Select[tuple[Request]]:
    """Load what a handler shows or tags: owner, reporters (with their accounts) and the building."""
    return query.options(
        selectinload(Request.owner).selectinload(Person.accounts),
        selectinload(Request.reporter).selectinload(Person.accounts),
        selectinload(Request.co_reporters).selectinload(RequestReporter.person).selectinload(Person.accounts),
        selectinload(Request.building),
    )


async def get_request(session: AsyncSession, number: int) -> Request | None:
    result = await session.execute(_with_people(select(Request).where(Request.id == number)))
    return result.scalar_one_or_none()


async def open_by_owner(session: AsyncSession, owner_id: int) -> list[Request]:
    """The owner's open requests, oldest first (a to-do list)."""
    query = (
        select(Request)
        .where(Request.owner_id == owner_id, Request.status.in_(OPEN_STATUSES))
        .order_by(Request.created_at, Request.id)
    )
    return list((await session.execute(_with_people(query))).scalars())


async def open_by_building(
    session: AsyncSession, building_id: int, *, include_resolved: bool = False
) -> list[Request]:
    statuses = (*OPEN_STATUSES, RequestStatus.RESOLVED) if include_resolved else OPEN_STATUSES
    query = (
        select(Request)
        .where(Request.building_id == building_id, Request.status.in_(statuses))
        .order_by(Request.created_at, Request.id)
    )
    return list((await session.execute(_with_people(query))).scalars())


async def overdue(
    session: AsyncSession,
    now: datetime,
    *,
    with_people: bool = True,
    building_ids: Collection[int] | None = None,
) -> list[Request]:
    """Open requests past the deadline of their stage, oldest first, optionally only in these buildings.
    `with_people=False` loads the rows alone (the sweep looks at times first and loads people only for
    the few it acts on)."""
    query = (
        select(Request)
        .where(
            or_(
                and_(Request.status == RequestStatus.NEW, Request.ack_due_at <= now),
                and_(
                    Request.status.in_((RequestStatus.ACKNOWLEDGED, RequestStatus.IN_PROGRESS)),
                    Request.resolve_due_at <= now,
                ),
            )
        )
        .order_by(Request.created_at, Request.id)
    )
    if building_ids is not None:
        query = query.where(Request.building_id.in_(list(building_ids)))
    return list((await session.execute(_with_people(query) if with_people else query)).scalars())


@dataclass(slots=True)
class MergeCandidate:
    """A request as `merge_candidates` reads it: what intake compares a report with, and what a +1 needs
    (`add_plus_one`, which updates the count and the place here as it writes them, and its reply). Plain
    data: a report joins a request without an object of it in the session, as long as the session does
    not hold one already (`held_request`); `candidate_request` makes one of it for whoever needs it."""

    id: int
    objects: list[Any]
    place_unit: str | None
    place_floor: str | None
    place_room: str | None
    category: str
    status: RequestStatus
    text: str
    reporter_id: int | None
    reporters_count: int
    owner_id: int | None
    building_id: int | None

    @property
    def number(self) -> str:
        return f"#{self.id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


async def merge_candidates(
    session: AsyncSession,
    building_id: int,
    category: str,
    since: datetime,
    *,
    include_resolved: bool = False,
    place: Sequence[str | None] | None = None,
) -> list[MergeCandidate]:
    """Open requests of this category in this building created since `since`, newest first; with
    `include_resolved`, also those marked 办结 and waiting for the 回访. With `place` (unit, floor,
    room), not those whose place contradicts it (both name a unit, floor or room and they differ):
    they could never match. Rows of what intake compares and a +1 needs (`MergeCandidate`), not objects
    nor whole rows: every report compares against them and joins one at most, and converting every column
    of every candidate (its times, its JSON) cost more than the query (docs/benchmarks.md, fourteenth
    round); a +1 joins the row itself, `candidate_request` reads the whole request of one that needs to be
    an object, and people are loaded for it alone (`load_owner`, `load_people`). Pending changes are
    flushed first, as for an ORM query."""
    wanted = tuple(bool(value) for value in place) if place is not None else (False, False, False)
    query = _merge_candidates_query(include_resolved, *wanted)
    parameters = {"building_id": building_id, "category": category, "since": since}
    if place is not None:
        parameters.update(
            (name, value) for name, value in zip(("unit", "floor", "room"), place, strict=True) if value
        )
    await autoflush(session)
    rows = await query.rows(await connection_of(session), parameters)
    return [MergeCandidate(*row) for row in rows]


def held_request(session: AsyncSession, request_id: int) -> Request | None:
    """The request as an object of the session, if the session holds it (an earlier message of its
    batch loaded it): what a statement of the transaction writes must then be kept on it too."""
    return session.sync_session.identity_map.get(_request_key(request_id))  # type: ignore[no-any-return]


async def candidate_request(session: AsyncSession, candidate: MergeCandidate) -> Request:
    """The request of a `merge_candidates` row as an object of the session: the session's own if it has
    it already (as an ORM query would return), else its row read by id (one prepared statement) and
    attached as loaded, its relationships unloaded."""
    present = held_request(session, candidate.id)
    if present is not None:
        return present
    # Not in the session, so nothing of it is pending: the row is what the database holds.
    [row] = await _request_by_id().rows(await connection_of(session), {"id": candidate.id})
    request = Request(**dict(zip(_candidate_keys(), row, strict=True)))
    make_transient_to_detached(request)
    session.add(request)
    return request


def _request_key(request_id: int) -> Any:
    """The session identity map's key of a request (the mapper's own, so that no other import is needed)."""
    return inspect(Request).identity_key_from_primary_key((request_id,))


_CANDIDATE_COLUMNS = tuple(column.name for column in fields(MergeCandidate))  # in select order


@functools.cache
def _merge_candidates_query(include_resolved: bool, unit: bool, floor: bool, room: bool) -> Prepared:
    """`merge_candidates`' statement for each combination of what the report names, prepared once: every
    report asks, and building the statement cost as much as running it. A Core select of the columns of
    `MergeCandidate`; the statuses as equalities (a prepared statement takes no expanding IN; SQLite reads
    `x = a OR x = b` as `x IN (a, b)`)."""
    table = Request.__table__
    statuses = (*OPEN_STATUSES, RequestStatus.RESOLVED) if include_resolved else OPEN_STATUSES
    c = table.c
    query = select(*(c[key] for key in _CANDIDATE_COLUMNS)).where(
        c.building_id == bindparam("building_id"),
        c.category == bindparam("category"),
        or_(*(c.status == status for status in statuses)),
        c.created_at >= bindparam("since"),
    )
    places = {"unit": c.place_unit, "floor": c.place_floor, "room": c.place_room}
    for name, named in zip(places, (unit, floor, room), strict=True):
        if named:
            column = places[name]
            query = query.where(or_(column.is_(None), column == "", column == bindparam(name)))
    query = query.order_by(c.created_at.desc(), c.id.desc())
    named = [name for name, wanted in zip(places, (unit, floor, room), strict=True) if wanted]
    return Prepared(query, ("building_id", "category", "since", *named))


@functools.cache
def _request_by_id() -> Prepared:
    """A request's whole row, its columns in `_candidate_keys` order, prepared once."""
    c = Request.__table__.c
    return Prepared(select(*(c[key] for key in _candidate_keys())).where(c.id == bindparam("id")), ("id",))


@functools.cache
def _candidate_keys() -> tuple[str, ...]:
    """The request's column attributes, each named as its column (checked once): a row read by
    `_request_by_id` gives the keywords its Request is made with."""
    keys = tuple(prop.key for prop in inspect(Request).column_attrs)
    table = Request.__table__
    assert all(key in table.c and inspect(Request).attrs[key].columns[0] is table.c[key] for key in keys)
    return keys


async def load_people(session: AsyncSession, request: Request) -> Request:
    """The same request with owner, reporters and building loaded, as `get_request` gives it."""
    query = _with_people(select(Request).where(Request.id == request.id))
    result = await session.execute(query.execution_options(populate_existing=True))
    return result.scalar_one()


async def load_owner(session: AsyncSession, request: Request, *, known: Sequence[Person] = ()) -> Request:
    """The request with what a reply about it names loaded: its owner (with accounts, for the @) and its
    building. Unlike `load_people`, the reporters are not loaded: ask `is_reporter`. Both are many-to-one,
    so an owner or building already in the session costs no query, nor does an owner among `known`
    (detached persons with their accounts, such as a memo's: the session gets its own copy)."""
    state = inspect(request)
    if "owner" in state.unloaded:
        owner = None
        if request.owner_id is not None:
            copy = next((person for person in known if person.id == request.owner_id), None)
            if copy is not None:
                owner = in_session(session, copy)
            else:
                owner = await session.get(Person, request.owner_id, options=[joinedload(Person.accounts)])
        set_committed_value(request, "owner", owner)
    owner = request.owner
    if owner is not None and "accounts" in inspect(owner).unloaded:
        await session.refresh(owner, ["accounts"])
    if "building" in state.unloaded:
        building = await session.get(Unit, request.building_id) if request.building_id is not None else None
        set_committed_value(request, "building", building)
    return request


def _reported_by(person_id: int) -> ColumnElement[bool]:
    co = select(RequestReporter.request_id).where(RequestReporter.person_id == person_id)
    return or_(Request.reporter_id == person_id, Request.id.in_(co))


async def reported_by(session: AsyncSession, person_id: int, *, limit: int = 10) -> list[Request]:
    """Requests the person raised (first or +1), newest first."""
    query = (
        select(Request)
        .where(_reported_by(person_id))
        .order_by(Request.created_at.desc(), Request.id.desc())
        .limit(limit)
    )
    return list((await session.execute(_with_people(query))).scalars())


async def awaiting_followup(
    session: AsyncSession,
    person_id: int,
    *,
    platform: str | None = None,
    group_external_id: str | None = None,
) -> list[Request]:
    """Requests marked 办结 that the person raised and may answer the 回访 of, oldest first."""
    query = select(Request).where(Request.status == RequestStatus.RESOLVED, _reported_by(person_id))
    if group_external_id is not None:
        query = query.where(Request.platform == platform, Request.group_external_id == group_external_id)
    query = query.order_by(Request.resolved_at, Request.id)
    return list((await session.execute(_with_people(query))).scalars())


async def recently_closed(
    session: AsyncSession, person_id: int, *, platform: str, group_external_id: str | None, since: datetime
) -> list[Request]:
    """Requests the person raised that a reporter's answer closed since `since` (not those closed for
    want of an answer, nor those withdrawn), in this group, newest first: a co-reporter may still
    disagree."""
    query = select(Request).where(
        Request.status == RequestStatus.CLOSED,
        Request.unconfirmed.is_(False),
        Request.satisfied.is_(True),
        Request.closed_at >= since,
        Request.platform == platform,
        Request.group_external_id == group_external_id,
        _reported_by(person_id),
    )
    query = query.order_by(Request.closed_at.desc(), Request.id.desc())
    return list((await session.execute(_with_people(query))).scalars())


async def followups_expired(session: AsyncSession, resolved_before: datetime) -> list[Request]:
    """Requests whose 回访 has waited since before `resolved_before`."""
    query = select(Request).where(
        Request.status == RequestStatus.RESOLVED, Request.resolved_at <= resolved_before
    )
    return list((await session.execute(query.order_by(Request.id))).scalars())


async def reported_in_building(
    session: AsyncSession, person_id: int, building_id: int, categories: Collection[str] | None = None
) -> list[tuple[int, RequestStatus]]:
    """(id, status) of the person's not yet closed requests in this building (of these categories), newest
    first. Ids, not objects: every "修好了" in a building group asks (a twelfth of the chatter) and mostly
    nothing of it comes back or is acted on, and the ORM query cost ~0.6 ms of CPU (docs/benchmarks.md,
    fourteenth round); the caller loads the one it acts on (`session.get`). Pending changes are flushed
    first, as for an ORM query."""
    if categories is not None and not categories:
        return []
    chosen = sorted(categories) if categories is not None else []
    parameters: dict[str, Any] = {"person_id": person_id, "building_id": building_id}
    parameters.update((f"category_{index}", category) for index, category in enumerate(chosen))
    await autoflush(session)
    rows = await _reported_in_building_query(len(chosen)).rows(await connection_of(session), parameters)
    return [(int(request_id), RequestStatus(status)) for request_id, status in rows]


@functools.cache
def _reported_in_building_query(categories: int) -> Prepared:
    """`reported_in_building`'s statement for each number of categories (0: any), prepared once; the
    categories as equalities, as in `_merge_candidates_query`."""
    c = Request.__table__.c
    person_id = bindparam("person_id")
    co = select(RequestReporter.__table__.c.request_id).where(
        RequestReporter.__table__.c.person_id == person_id
    )
    query = select(c.id, c.status).where(
        c.building_id == bindparam("building_id"),
        c.status != RequestStatus.CLOSED,
        or_(c.reporter_id == person_id, c.id.in_(co)),
    )
    names = [f"category_{index}" for index in range(categories)]
    if names:
        query = query.where(or_(*(c.category == bindparam(name) for name in names)))
    query = query.order_by(c.created_at.desc(), c.id.desc())
    return Prepared(query, ("person_id", "building_id", *names))


async def timeline(session: AsyncSession, request_id: int) -> list[RequestEvent]:
    query = (
        select(RequestEvent)
        .where(RequestEvent.request_id == request_id)
        .options(selectinload(RequestEvent.actor))
        .order_by(RequestEvent.at, RequestEvent.id)
    )
    return list((await session.execute(query)).scalars())


# ---------------------------------------------------------------------------------------------------
# Reading: figures for digests, the dashboard and the assessment


@dataclass(frozen=True)
class Satisfaction:
    answered: int = 0  # closed with an answer to the 回访
    satisfied: int = 0
    unconfirmed: int = 0  # closed because nobody answered
    strikes: int = 0  # 不满意 answers that reopened a request
    ratings: tuple[int, ...] = ()

    @property
    def rate(self) -> float | None:
        """Share of answered 回访 that were satisfied."""
        return self.satisfied / self.answered if self.answered else None

    @property
    def average_rating(self) -> float | None:
        return statistics.fmean(self.ratings) if self.ratings else None


@dataclass(frozen=True)
class RequestStats:
    total: int = 0
    open: int = 0
    overdue: int = 0
    resolved: int = 0  # 办结, waiting for the 回访
    closed: int = 0
    escalated: int = 0
    response_times: tuple[timedelta, ...] = ()
    resolution_times: tuple[timedelta, ...] = ()
    satisfaction: Satisfaction = field(default_factory=Satisfaction)

    @property
    def median_response(self) -> timedelta | None:
        return _median(self.response_times)

    @property
    def median_resolution(self) -> timedelta | None:
        return _median(self.resolution_times)


def _median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(value.total_seconds() for value in values))


async def requests_between(
    session: AsyncSession,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    building_ids: Iterable[int] | None = None,
) -> list[Request]:
    """Requests created in [since, until), optionally only in these buildings."""
    query = select(Request)
    if since is not None:
        query = query.where(Request.created_at >= since)
    if until is not None:
        query = query.where(Request.created_at < until)
    if building_ids is not None:
        query = query.where(Request.building_id.in_(list(building_ids)))
    return list((await session.execute(query.order_by(Request.id))).scalars())


async def escalated_open(session: AsyncSession, building_ids: Collection[int], since: datetime) -> int:
    """How many not yet closed requests in these buildings were escalated since `since`, counted by the
    database (a digest per leader must not load every request of their buildings)."""
    query = (
        select(func.count(distinct(Request.id)))
        .join(RequestEvent, RequestEvent.request_id == Request.id)
        .where(
            RequestEvent.kind == EventKind.ESCALATED,
            RequestEvent.at >= since,
            Request.building_id.in_(list(building_ids)),
            Request.status != RequestStatus.CLOSED,
        )
    )
    return await session.scalar(query) or 0


def response_times(requests: Iterable[Request]) -> list[timedelta]:
    """Creation to first acknowledgment, for the requests that were acknowledged."""
    return [r.acknowledged_at - r.created_at for r in requests if r.acknowledged_at is not None]


def resolution_times(requests: Iterable[Request]) -> list[timedelta]:
    """Creation to the latest 办结, for the requests that were resolved (closed ones included)."""
    return [r.resolved_at - r.created_at for r in requests if r.resolved_at is not None]


def satisfaction(requests: Iterable[Request]) -> Satisfaction:
    answered = satisfied = unconfirmed = strikes = 0
    ratings: list[int] = []
    for request in requests:
        strikes += request.reopen_count
        if request.status != RequestStatus.CLOSED:
            continue
        if request.unconfirmed:
            unconfirmed += 1
            continue
        if request.withdrawn:  # filed by mistake: nothing to be satisfied with
            continue
        answered += 1
        satisfied += bool(request.satisfied)
        if request.rating is not None:
            ratings.append(request.rating)
    return Satisfaction(answered, satisfied, unconfirmed, strikes, tuple(ratings))


def summarise(requests: Iterable[Request], now: datetime) -> RequestStats:
    rows = list(requests)
    return RequestStats(
        total=len(rows),
        open=sum(r.is_open for r in rows),
        overdue=sum(r.is_overdue(now) for r in rows),
        resolved=sum(r.status == RequestStatus.RESOLVED for r in rows),
        closed=sum(r.status == RequestStatus.CLOSED for r in rows),
        escalated=sum(r.escalations > 0 for r in rows),
        response_times=tuple(response_times(rows)),
        resolution_times=tuple(resolution_times(rows)),
        satisfaction=satisfaction(rows),
    )


async def _ancestors_of_kind(session: AsyncSession, kind: UnitKind) -> tuple[dict[int, int], dict[int, Unit]]:
    """For every building, its ancestor unit of `kind` (building id → unit id), and every unit."""
    units = await repos.list_units(session)  # with their parents: the chains are walked in memory
    owner_of: dict[int, int] = {}
    for unit in units:
        if unit.kind != UnitKind.BUILDING:
            continue
        owner = repos.unit_of_kind(repos.loaded_chain(unit) or [], kind)
        if owner is not None:
            owner_of[unit.id] = owner.id
    return owner_of, {unit.id: unit for unit in units}


async def stats_per_unit(
    session: AsyncSession,
    kind: UnitKind,
    now: datetime,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[Unit, RequestStats]:
    """Figures per grid (kind=grid), per micro-grid, per community…: every unit of the kind, including
    those without a single request."""
    ancestor, units = await _ancestors_of_kind(session, kind)
    grouped: dict[int, list[Request]] = defaultdict(list)
    for request in await requests_between(session, since=since, until=until):
        if request.building_id is not None and request.building_id in ancestor:
            grouped[ancestor[request.building_id]].append(request)
    return {
        unit: summarise(grouped.get(unit.id, []), now)
        for unit in sorted(units.values(), key=lambda u: u.id)
        if unit.kind == kind
    }


async def stats_per_micro_grid_leader(
    session: AsyncSession, now: datetime, *, since: datetime | None = None, until: datetime | None = None
) -> dict[Person, RequestStats]:
    """Figures per micro-grid leader: the requests raised in the buildings of their micro-grid."""
    per_micro_grid = await stats_per_unit(session, UnitKind.MICRO_GRID, now, since=since, until=until)
    by_unit_id = {unit.id: stats for unit, stats in per_micro_grid.items()}
    leaders = (
        await session.execute(select(Person).where(Person.role == Role.MICRO_GRID_LEADER).order_by(Person.id))
    ).scalars()
    return {
        leader: by_unit_id[leader.unit_id]
        for leader in leaders
        if leader.unit_id is not None and leader.unit_id in by_unit_id
    }
