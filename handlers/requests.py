"""Requests (工单): a resident's report becomes a request that a named person owns until the resident
confirms the fix — 受理 → 派单 → 办理 → 办结 → 回访 → 评价, with 催办 and 督办 — inside the group chat.

- Intake: a request intent in a building group creates a request (or a +1 on the same open problem)
  and replies with its number, what was understood and an @ of the person responsible.
- Emergencies: the right emergency numbers at once, and every person on duty @-tagged.
- Commands for owners (接单 进度 办结 转派 退回 待办) and residents (查询 我的诉求 补充 满意 不满意);
  撤销 for both: a request filed by mistake is closed, and its owner told to stop.
- A sweep reminds owners of overdue requests, then escalates one level up the grid hierarchy, and
  closes 回访 nobody answered.
Routing and time limits come from the community's `RequestPolicy` (handlers/request_policy.py)."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import request_text as words
from handlers.clock import moment_text
from handlers.context import Context, TickContext, mention_of
from handlers.contract import Action, Mention, SendToGroup
from handlers.outgoing import shorten, to_person
from handlers.privacy import mask_pii
from handlers.request_policy import EMERGENCY, PROPERTY_COMPLAINT, REQUEST_INTENTS, RequestPolicy
from handlers.router import HandlerResult, Router
from storage import repos
from storage import requests as store
from storage.entries import UnitEntry, unit_entry
from storage.memo import detached_copy, in_session, remembered
from storage.models import Person, Unit
from storage.requests import OPEN_STATUSES, EventKind, Request, RequestStatus
from storage.roles import GRID_WORKERS, Role, UnitKind

router = Router(name="requests")

FOLLOWUP_ORIGIN = "requests.followup:"
SWEEP_INTERVAL = timedelta(minutes=5)
# A question ("灯修好了吗?") creates a request only when the classifier is this sure it reports a problem;
# below it, the question is answered only if it matches a request on record (as a +1).
QUESTION_MIN_CONFIDENCE = 0.8
# At the top of the ladder there is nobody left to escalate to: the owner is reminded at most this often.
TOP_REMINDER_GAP = timedelta(days=1)

# Everyone who may own a request: the grid's workers, the property company and the police.
WORKER_ROLES: frozenset[Role] = GRID_WORKERS | {Role.PROPERTY, Role.POLICE}
SERVICE_ROLES: frozenset[Role] = frozenset({Role.PROPERTY, Role.POLICE})

# The escalation ladder, bottom up, with the roles that take a request over at each level.
LADDER: tuple[tuple[UnitKind, tuple[Role, ...]], ...] = (
    (UnitKind.MICRO_GRID, (Role.MICRO_GRID_LEADER, Role.GRID_MEMBER)),
    (UnitKind.GRID, (Role.GRID_LEADER, Role.GRID_MEMBER)),
    (UnitKind.COMMUNITY, (Role.STAFF,)),
    (UnitKind.STREET, (Role.STAFF,)),
)
_LADDER_KINDS = [kind for kind, _ in LADDER]


# ---------------------------------------------------------------------------------------------------
# Who is responsible


def is_duty_desk(person: Person) -> bool:
    """A duty desk account (社区值班, 物业值班): tagged in emergencies, not given ordinary work."""
    return "值班" in person.name or "值班" in (person.title or "")


def owner_level(person: Person) -> str:
    """Where a person stands on the escalation ladder: the kind of the unit they serve, or their
    service (property, police). Needs `person.unit` loaded (the repos' person queries do)."""
    role = Role(person.role)
    if role in SERVICE_ROLES or role not in GRID_WORKERS:
        return role.value
    unit = None if "unit" in inspect(person).unloaded else person.unit
    kind = UnitKind(unit.kind) if unit is not None else UnitKind.COMMUNITY
    return UnitKind.MICRO_GRID.value if kind == UnitKind.BUILDING else kind.value


_RESPONSIBLE = "requests.responsible"  # memo key, with a building id


@dataclass
class Responsible:
    """The units above a building and the workers serving them, nearest first."""

    chain: list[Unit]
    workers: list[Person]

    @classmethod
    async def load(cls, session: AsyncSession, building_id: int | None) -> Responsible:
        """Read once per building and kept (`storage.memo`) until a directory import or a minute has
        passed: every new report needs it, and only an import changes who serves where. The kept copy
        is detached and shared between sessions: read it, never add it to a session (`_assign`)."""
        if building_id is None:
            return cls([], [])

        async def load() -> Responsible:
            chain = await repos.unit_chain(session, building_id)
            workers = await repos.persons_serving(session, [unit.id for unit in chain], WORKER_ROLES)
            return cls(chain, workers)

        return await remembered(session, (_RESPONSIBLE, building_id), load, keep=detached_copy)

    @property
    def unit_ids(self) -> set[int]:
        return {unit.id for unit in self.chain}

    def unit_of_kind(self, kind: UnitKind) -> Unit | None:
        return repos.unit_of_kind(self.chain, kind)

    def nearest(self, role: Role, *, duty: bool = False, exclude: Sequence[Person] = ()) -> Person | None:
        """The nearest person of the role; ordinary staff before duty desks unless `duty`."""
        skip = {person.id for person in exclude}
        found = [p for p in self.workers if Role(p.role) == role and p.id not in skip]
        if not found:
            return None
        preferred = [p for p in found if is_duty_desk(p) == duty]
        return (preferred or found)[0]

    def first_of(self, roles: Sequence[Role], *, exclude: Sequence[Person] = ()) -> Person | None:
        for role in roles:
            person = self.nearest(role, exclude=exclude)
            if person is not None:
                return person
        return None

    def at_level(
        self, kind: UnitKind, roles: Sequence[Role], *, exclude: Sequence[Person] = ()
    ) -> Person | None:
        """Someone with one of the roles placed exactly at the chain's unit of this kind."""
        unit = self.unit_of_kind(kind)
        if unit is None:
            return None
        skip = {person.id for person in exclude}
        for role in roles:
            found = [
                p for p in self.workers if p.unit_id == unit.id and Role(p.role) == role and p.id not in skip
            ]
            if found:
                return next((p for p in found if not is_duty_desk(p)), found[0])
        return None

    def serves(self, person: Person) -> bool:
        return Role(person.role) in WORKER_ROLES and person.unit_id in self.unit_ids

    def supervises(self, person: Person) -> bool:
        return Role(person.role) in GRID_WORKERS and person.unit_id in self.unit_ids

    def on_duty(self, *, police: bool) -> list[Person]:
        """Who an emergency tags: micro-grid leader, grid leader, the duty desks of the community and
        of the property company (or their first person), and the police when it is a police matter."""
        picks = [
            self.nearest(Role.MICRO_GRID_LEADER),
            self.nearest(Role.GRID_LEADER),
            self.nearest(Role.STAFF, duty=True),
            self.nearest(Role.PROPERTY, duty=True),
        ]
        if police:
            picks.append(self.nearest(Role.POLICE))
        return list({p.id: p for p in picks if p is not None}.values())

    def escalation_target(
        self, current: Person | None, level: str | None, policy: RequestPolicy
    ) -> tuple[Person, str] | None:
        """The next person up the ladder from `level` (skipping empty levels and the current owner)."""
        if current is None or level is None:
            start = 0
        elif level in _LADDER_KINDS:
            start = _LADDER_KINDS.index(UnitKind(level)) + 1
        else:  # property, police: their supervisor in the grid
            start = _LADDER_KINDS.index(policy.service_escalates_to)
        exclude = [current] if current is not None else []
        for kind, roles in LADDER[start:]:
            person = self.at_level(kind, roles, exclude=exclude)
            if person is not None:
                return person, kind.value
        return None


def _assign(session: AsyncSession, request: Request, person: Person | None) -> None:
    if person is not None:
        # A person from `Responsible` is a copy shared between sessions: this session gets its own.
        person = in_session(session, person)
    request.owner = person
    for key, value in _owner_columns(person).items():
        setattr(request, key, value)


def _owner_columns(person: Person | None) -> dict[str, Any]:
    """A request's columns that say who owns it. A new request (`_open_request`) is related to its owner
    by these alone, so the person (a copy `Responsible` shares between sessions) is not merged into the
    session; `store.load_owner` loads it for whoever needs it as an object."""
    return {
        "owner_id": person.id if person is not None else None,
        "owner_level": owner_level(person) if person is not None else None,
        "escalation_exhausted": False,
    }


# ---------------------------------------------------------------------------------------------------
# Mentions and actions


@dataclass
class Tags:
    """Text naming persons ("@王师傅", or "王师傅" when they have no account here) and their mentions."""

    platform: str
    mentions: list[Mention]

    def name(self, person: Person, *, with_role: bool = False) -> str:
        mention = mention_of(person, self.platform)
        role = (
            f"({Role(person.role).label})" if with_role and Role(person.role).label not in person.name else ""
        )
        if mention is None:
            return f"{person.name}{role}"
        if mention not in self.mentions:
            self.mentions.append(mention)
        return f"@{person.name}{role}"

    def names(self, persons: Sequence[Person], *, with_role: bool = False) -> str:
        return " ".join(self.name(person, with_role=with_role) for person in persons)


def to_request_group(
    request: Request,
    text: str,
    mentions: Sequence[Mention] = (),
    *,
    quote: bool = False,
    origin: str | None = None,
) -> SendToGroup | None:
    """A message to the group the request was reported in (None if it came from nowhere)."""
    if request.group_external_id is None:
        return None
    return SendToGroup(
        platform=request.platform,
        group_id=request.group_external_id,
        text=mask_pii(text),
        mentions=tuple(dict.fromkeys(mentions)),
        reply_to=request.message_id if quote else None,
        origin=origin,
    )


def _in_request_group(ctx: Context, request: Request) -> bool:
    return (
        ctx.message.group_id is not None
        and ctx.message.group_id == request.group_external_id
        and ctx.message.platform == request.platform
    )


def _announce(
    ctx: Context, request: Request, text: str, mentions: Sequence[Mention], done: str
) -> list[Action]:
    """Say `text` in the request's group: as the reply when the command came from there, otherwise
    posted there (quoting the report) with a short confirmation (`done`) to the sender."""
    if _in_request_group(ctx, request) or request.group_external_id is None:
        return [ctx.reply(text, mentions=mentions, at_sender=False)]
    posted = to_request_group(request, text, mentions, quote=True)
    return [ctx.reply(done)] + ([posted] if posted is not None else [])


# ---------------------------------------------------------------------------------------------------
# Policies


async def community_of(session: AsyncSession, unit_id: int | None) -> Unit | None:
    if unit_id is None:
        return None
    return repos.unit_of_kind(await repos.unit_chain(session, unit_id), UnitKind.COMMUNITY)


_POLICIES = "loudong.requests.policies"  # in a session's info: building id -> RequestPolicy
_POLICY = "requests.policy"  # memo key, with a building id


class Policies:
    """The policy of each community, read once per session (a message, a dispatcher batch or a sweep)
    and kept like `Responsible` (`storage.memo`): every report asks, and only an import changes it."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._by_building: dict[int | None, RequestPolicy] = session.info.setdefault(_POLICIES, {})

    async def for_building(self, building_id: int | None) -> RequestPolicy:
        if building_id not in self._by_building:
            self._by_building[building_id] = await remembered(
                self._session, (_POLICY, building_id), functools.partial(self._read, building_id)
            )
        return self._by_building[building_id]

    async def _read(self, building_id: int | None) -> RequestPolicy:
        community = await community_of(self._session, building_id)
        return RequestPolicy.for_details(community.details if community is not None else None)


# ---------------------------------------------------------------------------------------------------
# Intake


@router.intent(*REQUEST_INTENTS)
async def intake(ctx: Context) -> HandlerResult:
    classification = ctx.classification
    if classification is None or classification.negated:
        return None
    category = str(classification.intent)
    if category not in REQUEST_INTENTS:
        return None
    building = await _building_for(ctx, classification.places.building)
    if building is None:
        return None
    if classification.resolved:
        return await _note_resolved(ctx, building, {category})
    policy = await Policies(ctx.session).for_building(building.id)
    places = classification.places
    place = (places.unit, places.floor, places.room)
    since = ctx.clock.now() - policy.merge_window_for(category)
    candidates = await store.merge_candidates(
        ctx.session, building.id, category, since, include_resolved=True, place=place
    )
    found = _best_match(candidates, place, _object_words(classification))
    if found is not None and found.status == RequestStatus.RESOLVED:
        match = await store.candidate_request(ctx.session, found)  # reopened: an object of the session
        return await _not_fixed(ctx, await _with_owner(ctx, match), policy)
    if found is not None:
        # Joined as the row it was read as, unless the session holds the request already.
        return await _plus_one(ctx, store.held_request(ctx.session, found.id) or found, policy, place)
    if classification.question and classification.confidence < QUESTION_MIN_CONFIDENCE:
        # "明天几点停水?" asks about something; it reports nothing unless it is about a request on record.
        return None
    return await _create(ctx, building, category, place, policy)


async def _with_owner(ctx: Context, request: Request) -> Request:
    """The request with its owner (and building) loaded, for a reply that names them; not the reporters
    (hundreds, on a building-wide problem). The owner is mostly one of the building's workers, whom the
    memo holds: most +1 replies name nobody, and pay nothing for it."""
    responsible = await Responsible.load(ctx.session, request.building_id)
    return await store.load_owner(ctx.session, request, known=responsible.workers)


async def _owner_to_name(ctx: Context, request: Request | store.MergeCandidate) -> Person | None:
    """The request's owner for a reply that only names them (+1 replies): the memo's copy when the owner
    is one of the building's workers, as it is (read, never related to the session), else as
    `_with_owner` loads it (the person alone, for a request joined as a row). Unlike `_with_owner`, the
    request is left as it was: no copy of the owner merged into the session, no building loaded."""
    if request.owner_id is None:
        return None
    if isinstance(request, Request) and "owner" not in inspect(request).unloaded:
        return request.owner
    responsible = await Responsible.load(ctx.session, request.building_id)
    known = next((person for person in responsible.workers if person.id == request.owner_id), None)
    if known is not None:
        return known
    if isinstance(request, Request):
        return (await _with_owner(ctx, request)).owner
    return await repos.get_person(ctx.session, request.owner_id)


async def _not_fixed(ctx: Context, request: Request, policy: RequestPolicy) -> HandlerResult:
    """The problem raised again while its 回访 is waiting: it is not fixed after all."""
    reporter = await store.is_reporter(ctx.session, request, ctx.sender.id)
    if Role(ctx.sender.role) in WORKER_ROLES and not reporter:
        return None
    now = ctx.clock.now()
    if not reporter:
        await store.add_plus_one(
            ctx.session,
            request,
            ctx.sender,
            now,
            message_id=ctx.message.message_id,
            text=mask_pii(ctx.message.text),
        )
    return _reopen(ctx, request, words.Verdict(satisfied=False), now, policy, ctx.message.text)


async def _building_for(ctx: Context, named: str | None) -> UnitEntry | None:
    """Where the problem is: the building the message names if it is one of this community's, else the
    group's building. In a work group (grid, community) only a grid worker's report naming a building
    counts (a patrol finding)."""
    if ctx.group is None:
        return None
    if ctx.building is None and Role(ctx.sender.role) not in GRID_WORKERS:
        return None
    if named:
        found = await remembered(
            ctx.session,
            (_BUILDING_NAMED, ctx.group.unit_id, named),
            functools.partial(_named_building, ctx.session, named, ctx.group.unit_id),
        )
        if found is not None:
            return found
    return ctx.building


_BUILDING_NAMED = "requests.building_named"  # memo key, with the group's unit id and the name


async def _named_building(session: AsyncSession, name: str, group_unit_id: int) -> UnitEntry | None:
    """The building of that name in the community of the group's unit (or under the unit itself, when it
    is in no community), as plain data: kept in the memo (`storage.memo`) with the community's other
    values, as every report naming a building asks, and the lookup walks unit chains in SQL. A name found
    nowhere is kept as None the same way."""
    scope = await community_of(session, group_unit_id)
    within_unit_id = scope.id if scope is not None else group_unit_id
    units = await session.scalars(select(Unit).where(Unit.kind == UnitKind.BUILDING, Unit.name == name))
    for unit in units:
        if within_unit_id in {u.id for u in await repos.unit_chain(session, unit.id)}:
            return unit_entry(unit)
    return None


def _same_things(request: store.MergeCandidate, objects: Sequence[str]) -> bool:
    """Reports naming different things (楼道灯 vs 电梯) are different problems; 灯 and 楼道灯 are one.
    A report that names nothing in particular may be about anything on record."""
    if not request.objects or not objects:
        return True
    return any(a in b or b in a for a in objects for b in request.objects)


def _place_score(request: store.MergeCandidate, place: tuple[str | None, ...]) -> int | None:
    """How well a report's place agrees with an open request's: None if they contradict."""
    score = 0
    for mine, theirs in zip(
        (request.place_unit, request.place_floor, request.place_room), place, strict=True
    ):
        if mine and theirs:
            if mine != theirs:
                return None
            score += 1
    return score


def _best_match(
    candidates: Sequence[store.MergeCandidate], place: tuple[str | None, ...], objects: Sequence[str]
) -> store.MergeCandidate | None:
    scored = [
        (score, r)
        for r in candidates
        if _same_things(r, objects) and (score := _place_score(r, place)) is not None
    ]
    if not scored:
        return None
    best = max(score for score, _ in scored)
    return next(r for score, r in scored if score == best)  # candidates come newest first


async def _note_resolved(
    ctx: Context, building: Unit | UnitEntry, categories: set[str] | None
) -> HandlerResult:
    """ "已经修好了" from someone who reported it: the answer to a waiting 回访, or else a note on the
    open request's timeline (and silence in the group)."""
    # Ids alone: mostly there are none or the note is all, and a 回访 answered loads its request
    # (without its people: neither answer below names anyone).
    mine = await store.reported_in_building(ctx.session, ctx.sender.id, building.id, categories)
    waiting = [request_id for request_id, status in mine if status == RequestStatus.RESOLVED]
    if len(waiting) == 1:
        return await answer_followup(
            ctx, await _request_by_id(ctx, waiting[0]), words.Verdict(satisfied=True)
        )
    still_open = [request_id for request_id, status in mine if status in OPEN_STATUSES]
    if not still_open:
        return None
    await store.add_event_by_id(
        ctx.session,
        still_open[0],
        EventKind.RESIDENT_UPDATE,
        ctx.clock.now(),
        actor=ctx.sender,
        note=shorten(mask_pii(ctx.message.text), 80),
    )
    return []


async def _request_by_id(ctx: Context, request_id: int) -> Request:
    """A request read by id just now, as an object of the session (its people not loaded)."""
    request = await ctx.session.get(Request, request_id)
    if request is None:
        raise LookupError(f"request {request_id} is gone")
    return request


def _object_words(classification: Any) -> list[str]:
    """The objects the message names for its intent (电梯, 楼道灯), not those of other intents."""
    intent = str(classification.intent)
    return [
        hit.word
        for hit in classification.keywords
        if str(hit.role) == "object" and hit.intent is not None and str(hit.intent) == intent
    ]


@dataclass
class NewRequest:
    """What intake decided: the request (written, so numbered), who owns it and who follows up."""

    request: store.OpenedRequest
    responsible: Responsible
    owner: Person | None
    notify: list[Person]


async def _open_request(
    ctx: Context,
    building: Unit | UnitEntry,
    classification: Any,
    place: tuple[str | None, ...],
    policy: RequestPolicy,
    *,
    text: str,
    patrol: bool = False,
) -> NewRequest:
    now = ctx.clock.now()
    category = str(classification.intent)
    rule = policy.rule(category)
    responsible = await Responsible.load(ctx.session, building.id)
    roles = [r for r in rule.owner if _allowed_role(category, r)]
    if patrol and Role.PROPERTY in roles:
        # A patrol finding is handed to property to fix; the patroller found it and follows up.
        roles = [Role.PROPERTY, *roles]
    owner = responsible.first_of(roles, exclude=[ctx.sender] if patrol else [])
    urgent = category == EMERGENCY or bool(classification.urgent)
    ack, resolve = policy.limits(category, urgent=urgent)
    masked = mask_pii(text)
    objects = _object_words(classification)
    # Written at once with its first event (the reply needs its number), as Core statements from plain
    # values: no Request object is built for it.
    request = await store.insert_request(
        ctx.session,
        {
            "category": category,
            "summary": words.summary_for(category, objects),
            "objects": objects,
            "status": RequestStatus.NEW,
            "urgent": urgent,
            "building_id": building.id,
            "place_unit": place[0],
            "place_floor": place[1],
            "place_room": place[2],
            "text": masked,
            "reporter_id": ctx.sender.id,
            "reporters_count": 1,
            "platform": ctx.message.platform,
            "group_external_id": ctx.message.group_id,
            "message_id": ctx.message.message_id,
            "created_at": now,
            "updated_at": now,
            "ack_due_at": now + ack,
            "resolve_due_at": now + resolve,
            "escalations": 0,
            "reopen_count": 0,
            "unconfirmed": False,
            "found_on_patrol": patrol,
            **_owner_columns(owner),
        },
        actor=ctx.sender,
        new=owner.name if owner is not None else None,
        note=("巡查发现:" if patrol else "") + shorten(masked, 80),
    )
    exclude = [p for p in (owner, ctx.sender if patrol else None) if p is not None]
    notify = _followers(responsible, rule.notify, category, exclude)
    return NewRequest(request, responsible, owner, notify)


async def _create(
    ctx: Context,
    building: Unit | UnitEntry,
    category: str,
    place: tuple[str | None, ...],
    policy: RequestPolicy,
) -> HandlerResult:
    new = await _open_request(ctx, building, ctx.classification, place, policy, text=ctx.message.text)
    if category == EMERGENCY:
        return [_emergency_reply(ctx, new.request, new.owner, new.responsible)]
    return [_intake_reply(ctx, new.request, building.name, new.owner, new.notify)]


def _allowed_role(category: str, role: Role) -> bool:
    # A complaint about the property company never goes to the property company.
    return not (category == PROPERTY_COMPLAINT and role == Role.PROPERTY)


def _followers(
    responsible: Responsible, roles: Sequence[Role], category: str, exclude: Sequence[Person]
) -> list[Person]:
    found = [responsible.nearest(role, exclude=exclude) for role in roles if _allowed_role(category, role)]
    return list({p.id: p for p in found if p is not None}.values())


def _intake_reply(
    ctx: Context, request: store.OpenedRequest, building: str, owner: Person | None, notify: list[Person]
) -> Action:
    tags = Tags(ctx.message.platform, [])
    text = f"收到,已登记 {words.headline(request, building)}"
    if owner is None:
        text += ",社区工作人员会尽快安排处理"
    else:
        text += f",已通知 {tags.name(owner, with_role=True)} 处理"
        if notify:
            text += f",{tags.names(notify, with_role=True)} 跟进"
    text += f"。发“查询 {request.number}”可看进度。"
    return ctx.reply(text, mentions=tags.mentions)


async def _plus_one(
    ctx: Context,
    request: Request | store.MergeCandidate,
    policy: RequestPolicy,
    place: tuple[str | None, ...],
) -> HandlerResult:
    """The same problem raised again: the sender joins the request (+1) instead of a new one."""
    now = ctx.clock.now()
    worker = Role(ctx.sender.role) in WORKER_ROLES
    if worker and not await store.is_reporter(ctx.session, request, ctx.sender.id):
        # A worker talking about a problem already on record is not another resident affected.
        return None
    joined = await store.add_plus_one(
        ctx.session,
        request,
        ctx.sender,
        now,
        message_id=ctx.message.message_id,
        text=mask_pii(ctx.message.text),
        place=place,
    )
    if not joined:  # raised it before
        again = _emergency_again(ctx, request)
        return again or [ctx.reply(_already_text(request, await _owner_to_name(ctx, request)))]
    count = request.reporters_count
    if request.category == EMERGENCY:
        return _emergency_again(ctx, request)
    text = f"这个问题已登记为 {request.number},已有 {count} 位邻居反映"
    tags = Tags(ctx.message.platform, [])
    retag = count == policy.retag_threshold and request.is_open
    owner = await _owner_to_name(ctx, request) if retag else None
    if owner is not None:
        text += f",{tags.name(owner)} 请优先处理。"
    else:
        text += ",会一并处理。"
    return [ctx.reply(text, mentions=tags.mentions)]


def _already_text(request: Request | store.MergeCandidate, owner: Person | None) -> str:
    status = words.STATUS_LABELS[RequestStatus(request.status)]
    owner_text = f",负责的是 {owner.name}" if owner is not None else ""
    return f"您反映的问题已登记为 {request.number},目前{status}{owner_text}。有进展会在群里告诉您。"


# ---------------------------------------------------------------------------------------------------
# Patrol findings (handlers/patrols.py)

_CLEAN_UP = frozenset({"corridor_clutter", "sanitation", "ebike"})


async def create_patrol_finding(ctx: Context, building: Unit, note: str) -> tuple[int, Action] | None:
    """A problem a worker found on patrol (“巡查 6号楼 3楼楼道堆满纸箱”) becomes a request, flagged
    found_on_patrol and handed to property where the category allows it; a finding already on record is
    noted on that request. Returns the request's id and the reply (without @ of the patroller), or None when
    the note reports no problem the requests capability handles."""
    from intents import classify

    classification = classify(note)
    category = str(classification.intent)
    if category not in REQUEST_INTENTS or classification.negated or classification.resolved:
        return None
    policy = await Policies(ctx.session).for_building(building.id)
    places = classification.places
    place = (places.unit, places.floor, places.room)
    since = ctx.clock.now() - policy.merge_window_for(category)
    candidates = await store.merge_candidates(ctx.session, building.id, category, since, place=place)
    found = _best_match(candidates, place, _object_words(classification))
    if found is not None:
        match = await store.load_owner(ctx.session, await store.candidate_request(ctx.session, found))
        store.fill_place(match, place)
        store.add_event(
            ctx.session,
            match,
            EventKind.NOTE,
            ctx.clock.now(),
            actor=ctx.sender,
            note=f"巡查发现:{mask_pii(note)}",
        )
        owner = f",由 {match.owner.name} 负责" if match.owner is not None else ""
        return match.id, ctx.reply(f"已记入 {words.headline(match)}{owner}。", at_sender=False)
    new = await _open_request(ctx, building, classification, place, policy, text=note, patrol=True)
    request = new.request
    tags = Tags(ctx.message.platform, [])
    place_text = words.request_place(request, building.name)
    text = f"已登记 {request.number} {request.summary}({place_text},巡查发现)"
    if new.owner is not None:
        verb = "清理" if category in _CLEAN_UP else "处理"
        text += f",已通知 {tags.name(new.owner, with_role=True)} {verb}"
    return request.id, ctx.reply(text + "。", mentions=tags.mentions, at_sender=False)


# ---------------------------------------------------------------------------------------------------
# Emergencies


def _emergency_reply(
    ctx: Context, request: store.OpenedRequest, owner: Person | None, responsible: Responsible
) -> Action:
    advice, police = words.emergency_advice(ctx.message.text)
    duty = responsible.on_duty(police=police)
    if owner is not None and owner.id not in {p.id for p in duty}:
        duty.insert(0, owner)
    tags = Tags(ctx.message.platform, [])
    text = f"紧急情况!{advice}"
    if duty:
        text += f"已通知 {tags.names(duty)} 马上到场。"
    else:
        text += "已通知社区马上处理。"
    text += request.number
    return ctx.reply(text, mentions=tags.mentions, at_sender=False)


def _emergency_again(ctx: Context, request: Request | store.MergeCandidate) -> list[Action]:
    if request.category != EMERGENCY:
        return []
    advice, _ = words.emergency_advice(ctx.message.text + request.text)
    return [ctx.reply(f"{advice}值班人员已在赶来的路上({request.number})。", at_sender=False)]


# ---------------------------------------------------------------------------------------------------
# Commands: plumbing


class Refusal(Exception):
    """A polite no: the reply says why."""


Command = Callable[[Context], Awaitable[HandlerResult]]


def politely(handler: Command) -> Command:
    """Turn a Refusal raised by the handler into a reply to the sender."""

    @functools.wraps(handler)
    async def wrapper(ctx: Context) -> HandlerResult:
        try:
            return await handler(ctx)
        except Refusal as refusal:
            return [ctx.reply(str(refusal))]

    return wrapper


_NUMBER = re.compile(r"^[#＃]?\s*(\d{1,9})(?!\d)\s*(.*)$", re.DOTALL)


def parse_number(args: str) -> tuple[int, str] | None:
    """ "#12 已更换灯泡" → (12, "已更换灯泡")."""
    match = _NUMBER.match(args.strip())
    if match is None:
        return None
    return int(match.group(1)), match.group(2).strip()


async def _request_from_args(ctx: Context, example: str) -> tuple[Request, str]:
    parsed = parse_number(ctx.args)
    if parsed is None:
        raise Refusal(f"请带上诉求编号,例如“{example}”。")
    number, rest = parsed
    request = await store.get_request(ctx.session, number)
    if request is None:
        raise Refusal(f"没有找到 #{number},请核对一下编号。发“待办”或“我的诉求”可以看编号。")
    return request, rest


def _ensure_open(request: Request) -> None:
    if request.status == RequestStatus.CLOSED:
        raise Refusal(f"{request.number} 已经结案了。如果问题又出现了,请直接在群里说,我会重新登记。")
    if request.status == RequestStatus.RESOLVED:
        raise Refusal(f"{request.number} 已经办结,正在等居民确认。")


async def _ensure_may_handle(ctx: Context, request: Request, what: str) -> Responsible:
    """The owner, or a grid worker serving the building, may act on a request."""
    responsible = await Responsible.load(ctx.session, request.building_id)
    if request.owner_id == ctx.sender.id or responsible.supervises(ctx.sender):
        return responsible
    owner = request.owner.name if request.owner is not None else "社区"
    if responsible.serves(ctx.sender):
        raise Refusal(
            f"{request.number} 目前由 {owner} 负责,只有负责的同志可以{what}。"
            f"如需接手,请先发“接单 {request.number}”。"
        )
    raise Refusal(f"{request.number} 不在您负责的范围内,由 {owner} 负责处理。")


def _stage_reset(request: Request, now: datetime, policy: RequestPolicy, *, status: RequestStatus) -> None:
    """A new owner or a reopening: fresh time limits for the stage the request is now in."""
    ack, resolve = policy.limits(request.category, urgent=request.urgent)
    request.status = status
    request.reminded_at = None
    if status == RequestStatus.NEW:
        request.ack_due_at = now + ack
    else:
        request.resolve_due_at = now + resolve


# ---------------------------------------------------------------------------------------------------
# Commands for those who handle requests


@router.command("接单", "/accept", summary="接手一件诉求", usage="接单 #编号", roles=WORKER_ROLES)
@politely
async def accept(ctx: Context) -> HandlerResult:
    request, _ = await _request_from_args(ctx, "接单 #12")
    _ensure_open(request)
    now = ctx.clock.now()
    if request.owner_id == ctx.sender.id and request.status != RequestStatus.NEW:
        raise Refusal(f"{request.number} 您已经接单了,处理好后请发“办结 {request.number} 处理结果”。")
    if request.owner_id != ctx.sender.id:
        if request.category == PROPERTY_COMPLAINT and Role(ctx.sender.role) == Role.PROPERTY:
            raise Refusal(f"{request.number} 是对物业的投诉,由社区处理,物业不能接单。")
        responsible = await Responsible.load(ctx.session, request.building_id)
        if not responsible.serves(ctx.sender):
            owner = request.owner.name if request.owner is not None else "社区"
            raise Refusal(f"{request.number} 不在您负责的范围内,由 {owner} 负责处理。")
        old = request.owner.name if request.owner is not None else None
        _assign(ctx.session, request, await ctx.sender_row())
        store.add_event(
            ctx.session,
            request,
            EventKind.REASSIGNED,
            now,
            actor=ctx.sender,
            old=old,
            new=ctx.sender.name,
            note="接手",
        )
    old_status = RequestStatus(request.status)
    if old_status == RequestStatus.NEW:
        request.status = RequestStatus.ACKNOWLEDGED
    request.acknowledged_at = request.acknowledged_at or now
    request.reminded_at = None
    store.add_event(
        ctx.session,
        request,
        EventKind.ACKNOWLEDGED,
        now,
        actor=ctx.sender,
        old=old_status,
        new=request.status,
    )
    tags = Tags(ctx.message.platform, [])
    text = f"{request.number} 已由 {tags.name(ctx.sender)} 接单。"
    return _announce(ctx, request, text, tags.mentions, f"好的,{request.number} 已接单,已告知居民。")


@router.command("进度", "/progress", summary="更新诉求进展", usage="进度 #编号 说明", roles=WORKER_ROLES)
@politely
async def progress(ctx: Context) -> HandlerResult:
    request, note = await _request_from_args(ctx, "进度 #12 已联系厂家,明天上午来修")
    _ensure_open(request)
    await _ensure_may_handle(ctx, request, "更新进展")
    if not note:
        raise Refusal(f"请写上进展,例如“进度 {request.number} 已联系厂家,明天上午来修”。")
    now = ctx.clock.now()
    old_status = RequestStatus(request.status)
    if request.owner_id == ctx.sender.id:
        # The owner's first word of progress acknowledges the request too.
        if old_status == RequestStatus.NEW:
            request.acknowledged_at = request.acknowledged_at or now
            request.reminded_at = None
        request.status = RequestStatus.IN_PROGRESS
    elif old_status != RequestStatus.NEW:
        # A supervisor's update moves the work on, but does not acknowledge for the owner.
        request.status = RequestStatus.IN_PROGRESS
    note = mask_pii(note)
    store.add_event(
        ctx.session,
        request,
        EventKind.PROGRESS,
        now,
        actor=ctx.sender,
        old=old_status,
        new=request.status,
        note=note,
    )
    tags = Tags(request.platform, [])
    text = f"{tags.names(request.reporters())} {request.number} 有新进展:{note}({ctx.sender.name})".lstrip()
    return _announce(ctx, request, text, tags.mentions, f"好的,{request.number} 的进展已记录,已告知居民。")


@router.command(
    "办结",
    "/resolve",
    summary="诉求处理完毕,请居民确认",
    usage="办结 #编号 说明",
    roles=WORKER_ROLES,
    refusal="只有负责处理的同志可以办结诉求。如果问题已经解决,可以在回访里回复\u201c满意\u201d。",
)
@politely
async def resolve(ctx: Context) -> HandlerResult:
    request, note = await _request_from_args(ctx, "办结 #12 已更换灯泡")
    _ensure_open(request)
    await _ensure_may_handle(ctx, request, "办结")
    now = ctx.clock.now()
    note = mask_pii(note) if note else ""
    old_status = RequestStatus(request.status)
    request.status = RequestStatus.RESOLVED
    request.resolved_at = now
    request.acknowledged_at = request.acknowledged_at or now
    request.reminded_at = None
    store.add_event(
        ctx.session,
        request,
        EventKind.RESOLVED,
        now,
        actor=ctx.sender,
        old=old_status,
        new=request.status,
        note=note or None,
    )
    question = followup_question(request, note)
    if question is None:  # no group to ask in (a request recorded outside the chats)
        return [ctx.reply(f"{request.number} 已办结。")]
    store.add_event(ctx.session, request, EventKind.FOLLOWUP, now)
    if _in_request_group(ctx, request):
        return [question]
    return [ctx.reply(f"好的,{request.number} 已办结,已请居民确认。"), question]


def followup_question(request: Request, note: str) -> SendToGroup | None:
    """回访: ask the reporters, in their group, replying to the report, whether it is really fixed."""
    tags = Tags(request.platform, [])
    who = tags.names(request.reporters())
    done = f"已处理:{note}" if note else "已处理完毕"
    text = (f"{who} {request.number} {done}。问题解决了吗?回复“满意”或“不满意”,也可以打 1-5 分。").lstrip()
    return to_request_group(request, text, tags.mentions, quote=True, origin=f"{FOLLOWUP_ORIGIN}{request.id}")


_ROLE_WORDS: dict[str, tuple[Role, UnitKind | None]] = {
    "物业": (Role.PROPERTY, None),
    "物业公司": (Role.PROPERTY, None),
    "网格长": (Role.GRID_LEADER, None),
    "微网格长": (Role.MICRO_GRID_LEADER, None),
    "网格员": (Role.GRID_MEMBER, None),
    "社区": (Role.STAFF, UnitKind.COMMUNITY),
    "社区工作人员": (Role.STAFF, UnitKind.COMMUNITY),
    "居委会": (Role.STAFF, UnitKind.COMMUNITY),
    "街道": (Role.STAFF, UnitKind.STREET),
    "民警": (Role.POLICE, None),
    "警察": (Role.POLICE, None),
    "派出所": (Role.POLICE, None),
}


async def _transfer_target(ctx: Context, responsible: Responsible, word: str) -> Person:
    word = word.lstrip("@＠").strip()
    if word in _ROLE_WORDS:
        role, kind = _ROLE_WORDS[word]
        person = responsible.at_level(kind, [role]) if kind else responsible.nearest(role)
        if person is None:
            raise Refusal(f"这栋楼没有登记{word}的负责人,请换一位,或写对方的名字。")
        return person
    named = [p for p in responsible.workers if p.name == word]
    if not named:
        rows = await ctx.session.scalars(
            select(Person).where(Person.name == word, Person.source == "directory")
        )
        named = [p for p in rows if Role(p.role) in WORKER_ROLES]
    if len(named) != 1:
        found = "找到好几位" if named else "没有找到"
        raise Refusal(f"{found}“{word}”,请写 物业、网格长、社区,或负责同志的全名。")
    return await repos.get_person(ctx.session, named[0].id) or named[0]


@router.command(
    "转派", "/reassign", summary="把诉求转给别人处理", usage="转派 #编号 物业|网格长|姓名", roles=WORKER_ROLES
)
@politely
async def reassign(ctx: Context) -> HandlerResult:
    request, rest = await _request_from_args(ctx, "转派 #12 物业")
    _ensure_open(request)
    responsible = await _ensure_may_handle(ctx, request, "转派")
    target_word, _, note = rest.partition(" ")
    if not target_word:
        raise Refusal(f"请写上转给谁,例如“转派 {request.number} 物业”或“转派 {request.number} 网格长”。")
    target = await _transfer_target(ctx, responsible, target_word)
    if request.category == PROPERTY_COMPLAINT and Role(target.role) == Role.PROPERTY:
        raise Refusal(f"{request.number} 是对物业的投诉,不能转给物业自己处理,请转社区或网格长。")
    if target.id == request.owner_id:
        raise Refusal(f"{request.number} 本来就由 {target.name} 负责。")
    now = ctx.clock.now()
    old = request.owner.name if request.owner is not None else None
    _assign(ctx.session, request, target)
    policy = await Policies(ctx.session).for_building(request.building_id)
    _stage_reset(request, now, policy, status=RequestStatus.NEW)
    store.add_event(
        ctx.session,
        request,
        EventKind.REASSIGNED,
        now,
        actor=ctx.sender,
        old=old,
        new=target.name,
        note=mask_pii(note.strip()) or None,
    )
    tags = Tags(request.platform, [])
    text = (
        f"{request.number} 已转交 {tags.name(target, with_role=True)} 处理,请发“接单 {request.number}”确认。"
    )
    return _announce(ctx, request, text, tags.mentions, f"好的,{request.number} 已转交 {target.name}。")


@router.command(
    "退回", "/return", summary="不归我管:退回上一级重新安排", usage="退回 #编号 原因", roles=WORKER_ROLES
)
@politely
async def send_back(ctx: Context) -> HandlerResult:
    request, reason = await _request_from_args(ctx, "退回 #12 不属于物业维修范围")
    _ensure_open(request)
    if request.owner_id != ctx.sender.id:
        owner = request.owner.name if request.owner is not None else "社区"
        raise Refusal(f"{request.number} 由 {owner} 负责,只有负责的同志可以退回。")
    if not reason:
        raise Refusal(f"请写上退回的原因,例如“退回 {request.number} 不属于物业维修范围”。")
    responsible = await Responsible.load(ctx.session, request.building_id)
    policy = await Policies(ctx.session).for_building(request.building_id)
    target = responsible.escalation_target(ctx.sender, request.owner_level, policy)
    if target is None:
        raise Refusal(f"{request.number} 已经没有上一级可以退回了,请直接联系街道。")
    person, level = target
    now = ctx.clock.now()
    _assign(ctx.session, request, person)
    request.owner_level = level
    _stage_reset(request, now, policy, status=RequestStatus.NEW)
    reason = mask_pii(reason)
    store.add_event(
        ctx.session,
        request,
        EventKind.RETURNED,
        now,
        actor=ctx.sender,
        old=ctx.sender.name,
        new=person.name,
        note=reason,
    )
    tags = Tags(request.platform, [])
    who = tags.name(person, with_role=True)
    text = f"{request.number} 已由 {ctx.sender.name} 退回(原因:{reason}),请 {who} 重新安排。"
    return _announce(ctx, request, text, tags.mentions, f"好的,{request.number} 已退回给 {person.name}。")


@router.command("待办", "/todo", summary="我负责的诉求(最早的在前,超时的标出)", roles=WORKER_ROLES)
async def todo(ctx: Context) -> HandlerResult:
    mine = await store.open_by_owner(ctx.session, ctx.sender.id)
    if not mine:
        return [ctx.reply("目前没有待办的诉求,辛苦了。")]
    now = ctx.clock.now()
    overdue = sum(request.is_overdue(now) for request in mine)
    lines = [f"您负责的诉求 {len(mine)} 件" + (f",其中 {overdue} 件已超时:" if overdue else ":")]
    for request in mine:
        status = words.STATUS_LABELS[RequestStatus(request.status)]
        mark = "【超时】" if request.is_overdue(now) else ""
        lines.append(f"{mark}{words.headline(request)} · {status} · {moment_text(request.created_at)} 登记")
    return [ctx.reply("\n".join(lines))]


# ---------------------------------------------------------------------------------------------------
# Commands for residents


@router.command("查询", "/status", summary="查看一件诉求的进度", usage="查询 #编号")
@politely
async def show(ctx: Context) -> HandlerResult:
    if parse_number(ctx.args) is None and not ctx.args:
        raise Refusal("请带上诉求编号,例如“查询 #12”;发“我的诉求”可以看您反映过的问题。")
    if parse_number(ctx.args) is None:
        return None  # 查询 something else: not a request number
    request, _ = await _request_from_args(ctx, "查询 #12")
    responsible = await Responsible.load(ctx.session, request.building_id)
    may_see = (
        _in_request_group(ctx, request)
        or ctx.sender.id in request.reporter_ids()
        or ctx.sender.id == request.owner_id
        or responsible.serves(ctx.sender)
    )
    if not may_see:
        raise Refusal(f"{request.number} 不是您所在楼栋的诉求,为保护邻居隐私,不能在这里查看。")
    events = await store.timeline(ctx.session, request.id)
    return [ctx.reply(_details(request, events, ctx.clock.now()))]


def _details(request: Request, events: Sequence[store.RequestEvent], now: datetime) -> str:
    status = words.status_label(request)
    if request.withdrawn:
        withdrawn = next((e for e in reversed(events) if e.kind == EventKind.WITHDRAWN), None)
        if withdrawn is not None:
            by = withdrawn.actor.name if withdrawn.actor is not None else "楼栋助手"
            status = f"{status}({by} {moment_text(withdrawn.at)})"
    facts = [status]
    if request.owner is not None:
        facts.append(f"负责:{request.owner.name}({words.role_label(request.owner.role)})")
    if request.reporters_count > 1:
        facts.append(f"{request.reporters_count} 位邻居反映")
    due = request.due_at()
    if due is not None:
        stage = "接单" if request.status == RequestStatus.NEW else "办结"
        facts.append(f"{stage}已超时" if due <= now else f"{stage}时限 {moment_text(due)}")
    lines = [words.headline(request), " · ".join(facts), f"原话:{shorten(request.text, 60)}", "记录:"]
    for event in events:
        actor = event.actor.name if event.actor is not None else "楼栋助手"
        lines.append(f"{moment_text(event.at)} {actor} {words.event_text(event)}")
    return "\n".join(lines)


@router.command("我的诉求", "/mine", summary="看我反映过的问题")
async def mine(ctx: Context) -> HandlerResult:
    raised = await store.reported_by(ctx.session, ctx.sender.id)
    if not raised:
        return [ctx.reply("您还没有反映过问题。有问题直接在群里说就行,我会登记并通知负责的同志。")]
    lines = ["您反映过的问题:"]
    for request in raised:
        owner = f" · {request.owner.name}负责" if request.owner is not None and request.is_open else ""
        lines.append(f"{words.headline(request)} · {words.status_label(request)}{owner}")
    lines.append("发“查询 #编号”可看详细进度。")
    return [ctx.reply("\n".join(lines))]


@router.command("补充", "/add", summary="给我反映的问题补充情况", usage="补充 #编号 说明")
@politely
async def add_note(ctx: Context) -> HandlerResult:
    parsed = parse_number(ctx.args)
    if parsed is None:
        raise Refusal("请带上编号,例如“补充 #12 晚上十点以后最吵”。")
    request, note = await _request_from_args(ctx, "补充 #12 说明")
    if ctx.sender.id not in request.reporter_ids():
        raise Refusal(
            f"只有反映 {request.number} 的居民可以补充。"
            "如果您也遇到了这个问题,直接在群里说一声,我会记在一起。"
        )
    if request.status == RequestStatus.CLOSED:
        raise Refusal(f"{request.number} 已经结案了。如果问题又出现了,请直接在群里说,我会重新登记。")
    if not note:
        raise Refusal(f"请写上要补充的情况,例如“补充 {request.number} 晚上十点以后最吵”。")
    note = mask_pii(note)
    store.add_event(ctx.session, request, EventKind.NOTE, ctx.clock.now(), actor=ctx.sender, note=note)
    tags = Tags(ctx.message.platform, [])
    owner = f",已转告 {tags.name(request.owner)}" if request.owner is not None else ""
    return [ctx.reply(f"已补充到 {request.number}{owner}。", mentions=tags.mentions)]


# ---------------------------------------------------------------------------------------------------
# 撤销: a request filed by mistake (a joke, hearsay, one's own water heater)


@router.command("撤销", "/withdraw", summary="撤销登记错了的诉求", usage="撤销 #编号 原因")
@politely
async def withdraw(ctx: Context) -> HandlerResult:
    """The reporter, while no neighbour has +1'd it, or whoever may handle it (`_ensure_may_handle`)
    closes an open request as withdrawn: no 回访, out of the sweep, and its owner told to stop."""
    request, reason = await _request_from_args(ctx, "撤销 #12 搞错了")
    _ensure_open(request)
    reporters = request.reporter_ids()
    by_reporter = reporters == [ctx.sender.id]
    if not by_reporter:
        if Role(ctx.sender.role) in WORKER_ROLES:
            await _ensure_may_handle(ctx, request, "撤销")
        elif ctx.sender.id in reporters:
            owner = request.owner.name if request.owner is not None else "社区工作人员"
            raise Refusal(
                f"{request.number} 还有其他邻居也反映了这个问题,会继续处理,不能撤销。"
                f"如果已经解决了,请告诉 {owner},或在回访时回复“满意”。"
            )
        else:
            raise Refusal(f"只有反映 {request.number} 的居民或负责处理的同志可以撤销。")
    reason = mask_pii(reason) if reason else ""
    store.withdraw(ctx.session, request, ctx.clock.now(), actor=ctx.sender, note=reason or None)
    return _announce(
        ctx,
        request,
        *_withdrawn_text(ctx, request, reason, by_reporter),
        f"好的,{request.number} 已撤销,已在群里说明。",
    )


def _withdrawn_text(
    ctx: Context, request: Request, reason: str, by_reporter: bool
) -> tuple[str, list[Mention]]:
    """ "#12 已撤销(张阿姨:搞错了),@王师傅 不用处理了。" — the owner told to stop (unless they withdrew it);
    when someone handling it withdrew it, the reporters told how to raise it again."""
    tags = Tags(request.platform, [])
    said = f"{ctx.sender.name}:{reason}" if reason else ctx.sender.name
    text = f"{request.number} 已撤销({said})"
    owner = request.owner
    if owner is not None and owner.id != ctx.sender.id:
        text += f",{tags.name(owner)} 不用处理了"
    elif owner is None or by_reporter:
        text += ",不用处理了"
    if request.category == EMERGENCY:
        text += ",其他值班同志也不用到场了"
    text += "。"
    if not by_reporter:
        reporters = [person for person in request.reporters() if person.id != ctx.sender.id]
        if reporters:
            text += f"{tags.names(reporters)} 如果问题确实存在,请再在群里说一声,我会重新登记。"
    return text, tags.mentions


# ---------------------------------------------------------------------------------------------------
# 回访: the reporters' answer


@router.reply(FOLLOWUP_ORIGIN)
async def followup_reply(ctx: Context) -> HandlerResult:
    """An answer given as a reply to the bot's 回访 message."""
    assert ctx.origin is not None
    try:
        number = int(ctx.origin.removeprefix(FOLLOWUP_ORIGIN))
    except ValueError:
        return None
    verdict = words.parse_verdict(ctx.message.text, lenient=True)
    request = await store.get_request(ctx.session, number)
    if verdict is None or request is None or ctx.sender.id not in request.reporter_ids():
        return None
    return await answer_followup(ctx, request, verdict)


@router.command("满意", "/satisfied", summary="回访时确认问题已解决(也可以打 1-5 分)")
async def satisfied(ctx: Context) -> HandlerResult:
    return await _verdict_command(ctx, words.Verdict(satisfied=True))


@router.command("不满意", "/unsatisfied", summary="回访时说问题还没解决,重新处理")
async def unsatisfied(ctx: Context) -> HandlerResult:
    return await _verdict_command(ctx, words.Verdict(satisfied=False))


def _may_answer_quietly(ctx: Context) -> bool:
    """A group message that is a bare score, or says a problem is fixed in a building group."""
    if ctx.group is None:
        return False
    if words.parse_verdict(ctx.message.text, lenient=False) is not None:
        return True
    return ctx.building is not None and ctx.classification is not None and ctx.classification.resolved


@router.intent("chitchat", "ack", "thanks", when=_may_answer_quietly)
async def quiet_answer(ctx: Context) -> HandlerResult:
    """Messages that are no report themselves but may concern one: a bare score ("5", "4分", "非常满意")
    from a reporter with one 回访 waiting in this group, or "灯已经修好了" from a reporter."""
    if ctx.group is None:
        return None
    verdict = words.parse_verdict(ctx.message.text, lenient=False)
    if verdict is None:
        if ctx.building is None or ctx.classification is None or not ctx.classification.resolved:
            return None
        return await _note_resolved(ctx, ctx.building, _mentioned_categories(ctx) or None)
    waiting = await store.awaiting_followup(
        ctx.session, ctx.sender.id, platform=ctx.message.platform, group_external_id=ctx.message.group_id
    )
    if len(waiting) != 1:
        return None
    return await answer_followup(ctx, waiting[0], verdict)


def _mentioned_categories(ctx: Context) -> set[str]:
    """The request categories the message's keywords belong to (灯 → repair)."""
    hits = ctx.classification.keywords if ctx.classification is not None else ()
    return {str(hit.intent) for hit in hits if hit.intent is not None and str(hit.intent) in REQUEST_INTENTS}


async def _verdict_command(ctx: Context, verdict: words.Verdict) -> HandlerResult:
    parsed = parse_number(ctx.args)
    note = ctx.args
    if parsed is not None:
        request = await store.get_request(ctx.session, parsed[0])
        note = parsed[1]
        if request is not None and ctx.sender.id in request.reporter_ids():
            return await answer_followup(ctx, request, verdict, note=note)
        return None
    waiting = await store.awaiting_followup(
        ctx.session, ctx.sender.id, platform=ctx.message.platform, group_external_id=ctx.message.group_id
    )
    if len(waiting) == 1:
        return await answer_followup(ctx, waiting[0], verdict, note=note)
    if len(waiting) > 1:
        numbers = "、".join(request.number for request in waiting)
        word = "满意" if verdict.satisfied else "不满意"
        return [
            ctx.reply(
                f"您有 {len(waiting)} 件诉求在等回访({numbers}),"
                f"请带上编号回复,例如“{word} {waiting[0].number}”。"
            )
        ]
    if not verdict.satisfied:
        disputed = await _recently_closed(ctx)
        if len(disputed) == 1:
            return await answer_followup(ctx, disputed[0], verdict, note=note)
    return None  # nothing waiting for an answer: stay silent


async def _recently_closed(ctx: Context) -> list[Request]:
    """What the sender raised in this group and a neighbour's 满意 closed within the 回访 days."""
    policy = await Policies(ctx.session).for_building(ctx.building.id if ctx.building else None)
    days = policy.followup_days
    return await store.recently_closed(
        ctx.session,
        ctx.sender.id,
        platform=ctx.message.platform,
        group_external_id=ctx.message.group_id,
        since=ctx.clock.now() - timedelta(days=days),
    )


async def answer_followup(
    ctx: Context, request: Request, verdict: words.Verdict, *, note: str = ""
) -> HandlerResult:
    now = ctx.clock.now()
    policy = await Policies(ctx.session).for_building(request.building_id)
    if request.status == RequestStatus.CLOSED:
        if request.withdrawn:  # filed by mistake: there is nothing to confirm or dispute
            return []
        recent = request.closed_at is not None and now - request.closed_at <= timedelta(
            days=policy.followup_days
        )
        if verdict.satisfied or request.unconfirmed or not recent:
            return []
        # A co-reporter disagrees with the neighbour who closed it: it is not fixed for everyone.
    elif request.status != RequestStatus.RESOLVED:
        return (
            [ctx.reply(f"{request.number} 正在处理中,处理好后会请您确认。")] if not verdict.satisfied else []
        )
    if verdict.satisfied:
        return _close(ctx, request, verdict, now)
    request = await store.load_owner(ctx.session, request)  # the reply tags the owner
    return _reopen(ctx, request, verdict, now, policy, note or ctx.message.text)


def _close(ctx: Context, request: Request, verdict: words.Verdict, now: datetime) -> HandlerResult:
    request.status = RequestStatus.CLOSED
    request.closed_at = now
    request.satisfied = True
    request.rating = verdict.rating
    request.unconfirmed = False
    store.add_event(
        ctx.session,
        request,
        EventKind.CLOSED,
        now,
        actor=ctx.sender,
        old=RequestStatus.RESOLVED,
        new=RequestStatus.CLOSED,
        note=verdict.label,
    )
    return [ctx.reply(f"谢谢{ctx.sender_name},{request.number} 已办结。", at_sender=False)]


def _reopen(
    ctx: Context, request: Request, verdict: words.Verdict, now: datetime, policy: RequestPolicy, said: str
) -> HandlerResult:
    old = RequestStatus(request.status)
    request.reopen_count += 1
    request.resolved_at = None
    request.closed_at = None
    request.satisfied = None
    request.rating = None
    _stage_reset(request, now, policy, status=RequestStatus.IN_PROGRESS)
    note = (
        f"{verdict.label}:{shorten(mask_pii(said), 60)}"
        if words.squeeze(said) not in words.UNSATISFIED_WORDS
        else verdict.label
    )
    store.add_event(
        ctx.session,
        request,
        EventKind.REOPENED,
        now,
        actor=ctx.sender,
        old=old,
        new=request.status,
        note=note,
    )
    tags = Tags(ctx.message.platform, [])
    owner = tags.name(request.owner) if request.owner is not None else "社区"
    text = f"抱歉还没处理好。{request.number} 已重新交给 {owner} 继续处理,处理好后会再请您确认。"
    return [ctx.reply(text, mentions=tags.mentions)]


# ---------------------------------------------------------------------------------------------------
# The sweep: 催办 (remind), 督办 (escalate), and 回访 nobody answered


@router.every(SWEEP_INTERVAL)
async def sweep(tick: TickContext) -> HandlerResult:
    now = tick.clock.now()
    policies = Policies(tick.session)
    actions: list[Action] = []
    for row in await store.overdue(tick.session, now, with_people=False):
        policy = await policies.for_building(row.building_id)
        step = next_step(row, policy, now)
        if step is None:
            continue
        # Owner and building: what the reminder and the escalation name (not the reporters).
        request = await store.load_owner(tick.session, row)
        if step == "remind":
            actions += remind(tick.session, request, policy, now)
        else:
            actions += await escalate(tick.session, request, policy, now)
    await expire_followups(tick.session, policies, now)
    return actions


def _stage_limit(request: Request, policy: RequestPolicy) -> tuple[str, timedelta]:
    ack, resolve = policy.limits(request.category, urgent=request.urgent)
    if request.status == RequestStatus.NEW:
        return "接单", ack
    return "办结", resolve


def next_step(request: Request, policy: RequestPolicy, now: datetime) -> str | None:
    """What an overdue request needs now: "remind" its owner, "escalate" it one level up, or nothing
    (non-urgent ones wait for working hours; an escalation waits one time limit after the reminder)."""
    # Only an urgent request's acknowledgment is chased round the clock; the rest waits for the morning.
    round_the_clock = request.urgent and request.status == RequestStatus.NEW
    if not round_the_clock and not policy.working_hours.contains(now):
        return None
    due = request.due_at()
    if due is None:
        return None
    _, limit = _stage_limit(request, policy)
    if request.owner_id is None:
        return None if request.escalation_exhausted else "escalate"
    if request.reminded_at is None:
        return "remind"
    if request.escalation_exhausted:
        # Nobody above: keep reminding whoever has it, but no more than once a day.
        return "remind" if now - request.reminded_at >= max(limit, TOP_REMINDER_GAP) else None
    if now >= max(due, request.reminded_at) + limit:
        return "escalate"
    return None


def remind(session: AsyncSession, request: Request, policy: RequestPolicy, now: datetime) -> list[Action]:
    assert request.owner is not None
    stage, limit = _stage_limit(request, policy)
    request.reminded_at = now
    store.add_event(session, request, EventKind.REMINDED, now, new=request.owner.name, note=f"超时未{stage}")
    text = f"{words.headline(request)}已超过 {words.duration_text(limit)}未{stage},请尽快处理。"
    if stage == "办结":
        text += f"处理好后请发“办结 {request.number} 处理结果”。"
    private = to_person(request.owner, text, request.platform, any_account=False)
    if private is not None:
        return [private]
    tags = Tags(request.platform, [])
    posted = to_request_group(request, f"{text}({tags.name(request.owner)})", tags.mentions)
    return [posted] if posted is not None else []


async def escalate(
    session: AsyncSession, request: Request, policy: RequestPolicy, now: datetime
) -> list[Action]:
    responsible = await Responsible.load(session, request.building_id)
    target = responsible.escalation_target(request.owner, request.owner_level, policy)
    if target is None:
        request.escalation_exhausted = True
        return []
    person, level = target
    stage, _ = _stage_limit(request, policy)
    old = request.owner.name if request.owner is not None else None
    _assign(session, request, person)
    request.owner_level = level
    request.escalations += 1
    _stage_reset(request, now, policy, status=RequestStatus(request.status))
    store.add_event(
        session, request, EventKind.ESCALATED, now, old=old, new=person.name, note=f"超时未{stage}"
    )
    tags = Tags(request.platform, [])
    text = f"{request.number} 超时未处理,已升级至 {tags.name(person, with_role=True)} 督办。"
    posted = to_request_group(request, text, tags.mentions)
    if posted is not None:
        return [posted]
    private = to_person(
        person, f"{words.headline(request)} 超时未处理,已升级由您督办。", request.platform, any_account=False
    )
    return [private] if private is not None else []


async def expire_followups(session: AsyncSession, policies: Policies, now: datetime) -> None:
    """回访 with no answer within the policy's days: closed as unconfirmed, quietly."""
    for request in await store.followups_expired(session, now - timedelta(days=1)):
        policy = await policies.for_building(request.building_id)
        days = policy.followup_days
        if request.resolved_at is None or now - request.resolved_at < timedelta(days=days):
            continue
        request.status = RequestStatus.CLOSED
        request.closed_at = now
        request.unconfirmed = True
        store.add_event(
            session,
            request,
            EventKind.EXPIRED,
            now,
            old=RequestStatus.RESOLVED,
            new=RequestStatus.CLOSED,
            note=f"{days} 天",
        )
