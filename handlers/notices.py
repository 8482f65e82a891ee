"""Notices (通知公告): staff broadcast a notice to every building group in scope — now, at a time, or
recurring — and see which households acknowledged it.

- `通知 <范围> <内容> [截止 <日期>]`, with `定时 <时间>` or `每周一 9:00` / `每天 9:00` anywhere after
  the scope.
  The scope is 全体, a grid or micro-grid name, or building names (5号楼 6号楼, 5-7号楼).
- Sending is a scheduled job (`send_notice`), at once or later, so a notice survives a restart; one that
  fell due while the bot was down is sent on start marked 补发, unless its deadline has passed.
- "收到" (the `ack` intent) in a building group counts for the latest open notice posted there.
- `通知回执 #N`: households reached per building, and private lists of the households not reached to each
  micro-grid leader. Before the deadline (`remind_notice`) buildings below `REPOST_BELOW` get the notice
  again and the leaders their lists.
- `通知列表`, `撤回通知 #N`."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.clock import LOCAL_TZ, local, moment_text
from handlers.context import Context, TickContext
from handlers.contract import Action, Mention, SendToGroup
from handlers.outgoing import shorten, to_person
from handlers.privacy import mask_pii
from handlers.router import HandlerResult, Router
from handlers.schedule import Weekly
from storage import notices as store
from storage import repos
from storage.models import Group, Person, Unit
from storage.notices import DeliveryKind, Notice, NoticeAck, NoticeStatus
from storage.roles import GRID_WORKERS, Role, UnitKind
from storage.sorting import natural_key

log = logging.getLogger("loudong.notices")

router = Router(name="notices")

STAFF_ROLES = frozenset({Role.STAFF, Role.GRID_LEADER})
# A job that runs this much after its time ran late (the bot was down): the post says 补发.
LATE_AFTER = timedelta(minutes=5)
# Before the deadline, buildings where fewer than this share of households replied get a re-post.
REPOST_BELOW = 0.8
# The re-post and the visit lists go out at this local time on the day before the deadline.
REMIND_AT = time(9, 0)
# Private lists name rooms one by one up to this many; beyond, a count.
MAX_ROOMS_LISTED = 12
# Roles whose "收到" is not a household's: the workers, property and police.
NOT_HOUSEHOLDS = GRID_WORKERS | {Role.PROPERTY, Role.POLICE}
WEEKDAYS = "一二三四五六日"


# ---------------------------------------------------------------------------------------------------
# The community's units


@dataclass
class Community:
    """Every unit below one community (parents loaded), for scope names and building lists."""

    root: Unit
    units: list[Unit]

    @classmethod
    async def load(cls, session: AsyncSession, unit_id: int) -> Community | None:
        chain = await repos.unit_chain(session, unit_id)
        root = repos.unit_of_kind(chain, UnitKind.COMMUNITY)
        if root is None:
            return None
        units = [unit for unit in await repos.list_units(session) if _under(unit, root.id)]
        return cls(root, units)

    def named(self, name: str) -> Unit | None:
        return next((unit for unit in self.units if unit.name == name), None)

    def buildings_under(self, unit_id: int) -> list[Unit]:
        return [u for u in self.units if u.kind == UnitKind.BUILDING and _under(u, unit_id)]

    def by_id(self, unit_id: int) -> Unit | None:
        return next((unit for unit in self.units if unit.id == unit_id), None)


def _under(unit: Unit, ancestor_id: int) -> bool:
    """Whether the unit is `ancestor_id` or below it (the community's units come with their parents)."""
    return any(node.id == ancestor_id for node in repos.loaded_chain(unit) or [])


def sender_home(ctx: Context) -> Unit | None:
    """The unit a worker serves, else the group's unit."""
    return ctx.sender.unit or ctx.unit


# ---------------------------------------------------------------------------------------------------
# Households


def rooms_of(building: Unit) -> list[str]:
    """Room labels (2单元301) from the building's layout; [] without one."""
    layout = (building.details or {}).get("layout") or {}
    units, floors, per_floor = (int(layout.get(key) or 0) for key in ("units", "floors", "per_floor"))
    return [
        f"{u}单元{floor}{door:02d}"
        for u in range(1, units + 1)
        for floor in range(1, floors + 1)
        for door in range(1, per_floor + 1)
    ]


def households_of(building: Unit) -> int | None:
    details = building.details or {}
    if details.get("households") is not None:
        return int(details["households"])
    return len(rooms_of(building)) or None


_ROOM_PATTERNS = (
    re.compile(r"(?:\d+号楼|\d+栋|\d+-)?(\d{1,2})单元-?(\d{3,4})"),
    re.compile(r"(?<!\d)\d{1,2}-(\d{1,2})-(\d{3,4})(?!\d)"),
    re.compile(r"(?<![\d-])(\d{1,2})-(\d{3,4})(?!\d)"),
)


def household_from_name(name: str, building: Unit) -> str | None:
    """A room label from a group nickname such as "2单元301刘", "5-2-301 刘奶奶" or "2-301"; only rooms
    that exist in the building's layout count."""
    rooms = set(rooms_of(building))
    for pattern in _ROOM_PATTERNS:
        match = pattern.search(name)
        if match:
            label = f"{int(match.group(1))}单元{match.group(2)}"
            return label if label in rooms else None
    return None


@dataclass
class BuildingReceipt:
    building: Unit
    total: int | None
    reached: int
    missing_rooms: list[str] | None  # the rooms not reached, when every reply named its room
    missing_names: list[str] = field(default_factory=list)  # known residents who did not reply

    @property
    def unreached(self) -> int:
        return max(self.total - self.reached, 0) if self.total is not None else len(self.missing_names)

    @property
    def rate(self) -> float | None:
        return self.reached / self.total if self.total else None

    def counts(self) -> str:
        return (
            f"{self.building.name} {self.reached}/{self.total} 户"
            if self.total
            else (f"{self.building.name} {self.reached} 户")
        )

    def missing(self) -> str:
        """ "5号楼 2单元301、402" or "6号楼 21 户未回复(已知住户:刘奶奶)"."""
        if self.missing_rooms is not None and 0 < len(self.missing_rooms) <= MAX_ROOMS_LISTED:
            text = f"{self.building.name} " + "、".join(self.missing_rooms)
        else:
            text = f"{self.building.name} {self.unreached} 户未回复"
        if self.missing_names:
            text += f"(已知住户:{'、'.join(self.missing_names)})"
        return text


async def receipts(session: AsyncSession, notice: Notice, buildings: Sequence[Unit]) -> list[BuildingReceipt]:
    acks = await store.acks_by_building(session, notice.id)
    residents = await _residents(session, [b.id for b in buildings])
    found = []
    for building in buildings:
        mine = acks.get(building.id, [])
        found.append(_receipt(building, mine, residents.get(building.id, [])))
    return found


def _receipt(building: Unit, acks: list[NoticeAck], residents: list[Person]) -> BuildingReceipt:
    total = households_of(building)
    labelled = {ack.household for ack in acks if ack.household}
    unlabelled = sum(1 for ack in acks if not ack.household)
    reached = len(labelled) + unlabelled
    if total is not None:
        reached = min(reached, total)
    rooms = rooms_of(building)
    missing_rooms = [room for room in rooms if room not in labelled] if rooms and not unlabelled else None
    acked = {ack.person_id for ack in acks}
    names = [_person_label(p) for p in residents if p.id not in acked]
    return BuildingReceipt(building, total, reached, missing_rooms, names)


def _person_label(person: Person) -> str:
    return f"{person.name}({person.title})" if person.title else person.name


async def _residents(session: AsyncSession, building_ids: list[int]) -> dict[int, list[Person]]:
    found: dict[int, list[Person]] = defaultdict(list)
    for person in await repos.persons_serving(session, building_ids, [Role.RESIDENT]):
        if person.unit_id is not None:
            found[person.unit_id].append(person)
    return found


# ---------------------------------------------------------------------------------------------------
# Parsing a notice command

_DATE = r"(?:(?P<{p}y>\d{{4}})[-/.年])?(?P<{p}mo>\d{{1,2}})[-/.月](?P<{p}d>\d{{1,2}})[日号]?"
_DEADLINE = re.compile(r"截止(?:日期|时间)?[:：]?\s*" + _DATE.format(p="") + r"前?")
_AT = re.compile(
    r"定时[:：]?\s*(?:(?P<rel>今天|明天|后天)|" + _DATE.format(p="") + r")?[\sT]*"
    r"(?P<h>\d{1,2})[:：点](?P<mi>\d{2})?分?"
)
# A recurrence is words of its own ("通知 全体 每周一 9:00 …"), so "泳池每天9:00开放" stays content.
_EVERY = re.compile(
    r"(?:^|(?<=\s))每(?:(?:周|星期)(?P<days>[一二三四五六日天、,，周]+)|(?P<daily>[天日]))"
    r"\s*(?P<h>\d{1,2})[:：点](?P<mi>\d{2})?分?(?=\s|$)"
)
_RANGE = re.compile(r"^(\d+)[-~至到](\d+)号楼$")
_NUMBER = re.compile(r"#?\s*(\d+)")


class NoticeError(Exception):
    """A command the bot cannot follow; the message says how to write it."""


@dataclass
class NoticeOrder:
    scope_words: list[str]
    text: str
    deadline: date | None = None
    at: datetime | None = None
    every: Weekly | None = None


def _date_from(match: re.Match[str], today: date) -> date:
    year = match.group("y")
    month, day = int(match.group("mo")), int(match.group("d"))
    try:
        if year:
            return date(int(year), month, day)
        found = date(today.year, month, day)
        return found if found >= today else date(today.year + 1, month, day)
    except ValueError:
        raise NoticeError(f"日期“{match.group(0)}”不对,请写成 2026-12-20 或 12月20日。") from None


def parse_order(args: str, now: datetime) -> NoticeOrder:
    today = local(now).date()
    rest = args.strip()
    deadline = at = every = None
    if match := _DEADLINE.search(rest):
        deadline = _date_from(match, today)
        rest = rest[: match.start()] + " " + rest[match.end() :]
    if match := _AT.search(rest):
        at = _time_from(match, now)
        rest = rest[: match.start()] + " " + rest[match.end() :]
    elif match := _EVERY.search(rest):
        every = _weekly_from(match)
        rest = rest[: match.start()] + " " + rest[match.end() :]
    words = rest.split()
    if not words:
        raise NoticeError("请写明范围和内容,例如:通知 全体 请60岁以上老人完成养老金资格认证 截止 2026-12-20")
    scope = [words.pop(0)]
    while words and re.fullmatch(r"[\d、,，\-~]+号楼", words[0]):
        scope.append(words.pop(0))
    text = " ".join(words).strip(" :：,，")
    if not text:
        raise NoticeError("通知内容是空的,请在范围后面写上要通知的事。")
    return NoticeOrder(scope, mask_pii(text), deadline, at, every)


def _time_from(match: re.Match[str], now: datetime) -> datetime:
    today = local(now).date()
    hour, minute = int(match.group("h")), int(match.group("mi") or 0)
    if hour > 23 or minute > 59:
        raise NoticeError("时间不对,请写成 9:00 这样。")
    relative = match.group("rel")
    if relative:
        day = today + timedelta(days=("今天", "明天", "后天").index(relative))
    elif match.group("mo"):
        day = _date_from(match, today)
    else:
        day = today
    moment = datetime.combine(day, time(hour, minute), tzinfo=LOCAL_TZ)
    if not relative and not match.group("mo") and moment <= now:
        moment += timedelta(days=1)  # "定时 9:00" after nine: tomorrow
    if moment <= now:
        raise NoticeError(f"定时的时间 {moment_text(moment)} 已经过了。")
    return moment


def _weekly_from(match: re.Match[str]) -> Weekly:
    hour, minute = int(match.group("h")), int(match.group("mi") or 0)
    if hour > 23 or minute > 59:
        raise NoticeError("时间不对,请写成 每周一 9:00 这样。")
    if match.group("daily"):
        return Weekly(hour, minute)
    days = sorted(
        {WEEKDAYS.index("日" if ch == "天" else ch) for ch in match.group("days") if ch not in "、,，周"}
    )
    return Weekly(hour, minute, tuple(days))


def recurrence_label(every: Weekly) -> str:
    clock = f"{every.hour}:{every.minute:02d}"
    if not every.weekdays:
        return f"每天 {clock}"
    return "每周" + "、".join(WEEKDAYS[day] for day in every.weekdays) + f" {clock}"


def resolve_scope(community: Community, home: Unit | None, words: list[str]) -> list[Unit]:
    """The buildings a scope names, within what the sender may address (a grid leader: their grid)."""
    allowed = community.root
    if home is not None and home.kind in (UnitKind.GRID, UnitKind.MICRO_GRID):
        allowed = repos.unit_of_kind(repos.loaded_chain(home) or [], UnitKind.GRID) or home
    found: dict[int, Unit] = {}
    for word in words:
        for name in _scope_names(word):
            unit = allowed if name in ("全体", "全部", "所有") else community.named(name)
            if unit is None:
                raise NoticeError(
                    f"没有找到“{name}”,范围可以是 全体、网格或微网格名称、楼栋(如 5号楼 6号楼)。"
                )
            if not _under(unit, allowed.id):
                raise NoticeError(f"“{name}”不在您负责的{allowed.name}里。")
            for building in community.buildings_under(unit.id):
                found[building.id] = building
    return sorted(found.values(), key=lambda unit: natural_key(unit.name))


def _scope_names(word: str) -> list[str]:
    parts = [part for part in re.split(r"[、,，]", word) if part]
    names: list[str] = []
    for part in parts:
        if match := _RANGE.match(part):
            first, last = int(match.group(1)), int(match.group(2))
            if last - first > 50 or last < first:
                raise NoticeError(f"楼栋范围“{part}”不对。")
            names += [f"{n}号楼" for n in range(first, last + 1)]
        elif part.isdigit():
            names.append(f"{part}号楼")
        else:
            names.append(part)
    # "5、6号楼": a bare number before a building name is a building too.
    return [name if not name.isdigit() else f"{name}号楼" for name in names]


def _day(moment: datetime) -> str:
    moment = local(moment)
    return f"{moment.month}月{moment.day}日"


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=LOCAL_TZ)


def job_key(notice_id: int) -> str:
    return f"notices.send:{notice_id}"


def remind_key(notice_id: int) -> str:
    return f"notices.remind:{notice_id}"


# ---------------------------------------------------------------------------------------------------
# Commands


def parse_number(args: str) -> int | None:
    match = _NUMBER.match(args.strip())
    return int(match.group(1)) if match else None


@router.command(
    "通知",
    "/notice",
    summary="向楼栋群发通知(可定时、可每周重复,带截止日期)",
    usage="通知 范围 内容 [截止 日期] [定时 时间|每周一 9:00]",
    roles=STAFF_ROLES,
)
async def notify(ctx: Context) -> HandlerResult:
    now = ctx.clock.now()
    home = sender_home(ctx)
    community = await Community.load(ctx.session, home.id) if home is not None else None
    if community is None:
        return [ctx.reply("没有找到您所在的社区,请先在名册里给您设置所属单位。")]
    try:
        order = parse_order(ctx.args, now)
        buildings = resolve_scope(community, home, order.scope_words)
    except NoticeError as error:
        return [ctx.reply(str(error))]
    if not buildings:
        return [ctx.reply("这个范围里没有楼栋,通知没有发出。")]
    if order.deadline is not None and end_of_day(order.deadline) < (order.at or now):
        day = f"{order.deadline.month}月{order.deadline.day}日"
        return [ctx.reply(f"截止日期 {day} 在发送之前就过了,请检查一下。")]
    notice = Notice(
        community_id=community.root.id,
        author_id=ctx.sender.id,
        scope=" ".join(order.scope_words)[:100],
        building_ids=[b.id for b in buildings],
        text=order.text,
        status=NoticeStatus.SCHEDULED.value,
        send_at=order.at or (None if order.every else now),
        recurrence=recurrence_label(order.every) if order.every else None,
        deadline_at=end_of_day(order.deadline) if order.deadline else None,
        posts=0,
        platform=ctx.message.platform,
        group_external_id=ctx.message.group_id,
        created_at=now,
    )
    ctx.session.add(notice)
    await ctx.session.flush()
    schedule = ctx.schedule
    if order.every is not None:
        schedule.weekly(job_key(notice.id), send_notice, order.every, notice.id)
    else:
        schedule.once(job_key(notice.id), send_notice, order.at or now, notice.id)
    groups = await groups_of(ctx.session, [b.id for b in buildings], schedule.connected_platforms())
    return [ctx.reply(_ordered_text(notice, buildings, groups, order))]


def _ordered_text(notice: Notice, buildings: list[Unit], groups: list[Group], order: NoticeOrder) -> str:
    where = _scope_summary(buildings)
    households = sum(households_of(b) or 0 for b in buildings)
    reach = f"{where} {len(groups)} 个群" + (f"、{households} 户" if households else "")
    if order.every is not None:
        when = f"将在{recurrence_label(order.every)} 发到"
    elif order.at is not None:
        when = f"将于 {moment_text(order.at)} 发到"
    else:
        when = "正在发到"
    deadline = f",截止 {_day(notice.deadline_at)}" if notice.deadline_at else ""
    return f"通知 #{notice.id} {when} {reach}{deadline}。发“通知回执 #{notice.id}”可看回复情况。"


def _scope_summary(buildings: list[Unit]) -> str:
    if len(buildings) <= 3:
        return "、".join(b.name for b in buildings)
    return f"{buildings[0].name}等 {len(buildings)} 栋楼"


async def groups_of(
    session: AsyncSession, building_ids: Iterable[int], platforms: frozenset[str] | None
) -> list[Group]:
    statement = select(Group).where(Group.unit_id.in_(list(building_ids))).order_by(Group.id)
    groups = list(await session.scalars(statement))
    return [g for g in groups if platforms is None or g.platform in platforms]


@router.command("通知列表", "/notices", summary="最近的通知和回执情况", roles=STAFF_ROLES)
async def list_notices(ctx: Context) -> HandlerResult:
    notices = await store.list_notices(ctx.session, limit=10)
    if not notices:
        return [ctx.reply("还没有发过通知。")]
    lines = ["最近的通知:"]
    for notice in notices:
        lines.append(f"#{notice.id} {notice.scope} {_status_text(ctx, notice)} — {shorten(notice.text, 20)}")
    return [ctx.reply("\n".join(lines))]


def _status_text(ctx: Context, notice: Notice) -> str:
    if notice.status == NoticeStatus.REVOKED:
        return "已撤回"
    parts = []
    if notice.recurrence:
        following = ctx.schedule.next_run(job_key(notice.id))
        parts.append(notice.recurrence + (f",下次 {moment_text(following)}" if following else ""))
    elif notice.status == NoticeStatus.SCHEDULED and notice.send_at is not None:
        parts.append(f"定时 {moment_text(notice.send_at)}")
    if notice.posts:
        parts.append(f"已发 {notice.posts} 次")
    if notice.deadline_at is not None:
        parts.append(f"截止 {_day(notice.deadline_at)}")
    return ",".join(parts) or "待发送"


@router.command("撤回通知", "/revoke", summary="撤回通知,不再发送", usage="撤回通知 #编号", roles=STAFF_ROLES)
async def revoke(ctx: Context) -> HandlerResult:
    notice = await _notice_from_args(ctx)
    if notice is None:
        return [ctx.reply("请写明要撤回的通知编号,例如:撤回通知 #12")]
    if notice.status == NoticeStatus.REVOKED:
        return [ctx.reply(f"通知 #{notice.id} 已经撤回过了。")]
    notice.status = NoticeStatus.REVOKED.value
    notice.revoked_at = ctx.clock.now()
    ctx.schedule.cancel(job_key(notice.id))
    ctx.schedule.cancel(remind_key(notice.id))
    sent = f"已发出的 {notice.posts} 次不受影响," if notice.posts else ""
    return [ctx.reply(f"通知 #{notice.id} 已撤回,{sent}之后不再发送。")]


async def _notice_from_args(ctx: Context) -> Notice | None:
    number = parse_number(ctx.args)
    return await store.get_notice(ctx.session, number) if number is not None else None


@router.command(
    "通知回执",
    "/receipts",
    summary="看通知的回复情况和未回复住户(不写编号则看最近发出的一条)",
    usage="通知回执 [#编号]",
    roles=STAFF_ROLES,
)
async def receipt(ctx: Context) -> HandlerResult:
    if ctx.args.strip():
        notice = await _notice_from_args(ctx)
    else:
        notice = next((n for n in await store.list_notices(ctx.session) if n.posts), None)
    if notice is None:
        return [ctx.reply("没有找到这条通知,请写明编号,例如:通知回执 #12")]
    if not notice.posts:
        return [ctx.reply(f"通知 #{notice.id} 还没有发出,暂无回执。")]
    buildings = await notice_buildings(ctx.session, notice)
    found = await receipts(ctx.session, notice, buildings)
    visits = await visit_lists(ctx.session, notice, found, ctx.clock.now(), ctx.schedule.private_platforms())
    text = receipt_text(notice, found) + ("未回复住户已私信各微网格长上门告知。" if visits.actions else "")
    if visits.unreachable:
        names = "、".join(leader.name for leader in visits.unreachable)
        text += f"{names} 没有本机器人能私信到的账号,请另行转告。"
    return [ctx.reply(text), *visits.actions]


def receipt_text(notice: Notice, found: list[BuildingReceipt]) -> str:
    total = sum(r.total or 0 for r in found)
    reached = sum(r.reached for r in found if r.total)
    overall = f"共 {reached}/{total} 户({_percent(reached, total)})。" if total else ""
    return f"通知 #{notice.id} 回执:" + ",".join(r.counts() for r in found) + "。" + overall


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "—"


async def notice_buildings(session: AsyncSession, notice: Notice) -> list[Unit]:
    ids = [int(i) for i in notice.building_ids]
    units = [u for u in await repos.list_units(session, UnitKind.BUILDING.value) if u.id in ids]
    return sorted(units, key=lambda unit: natural_key(unit.name))


@dataclass
class VisitLists:
    actions: list[Action]
    # Leaders with no account this bot can send a private message to: their list was not sent.
    unreachable: list[Person]


async def visit_lists(
    session: AsyncSession,
    notice: Notice,
    found: list[BuildingReceipt],
    now: datetime,
    served: frozenset[str] | None,
) -> VisitLists:
    """Privately to each micro-grid leader (or the grid's member when the micro-grid has none): the
    households of their buildings that have not replied, to visit door to door; on the notice's platform
    or else any other this bot serves (`served`)."""
    by_leader: dict[int, tuple[Person, list[BuildingReceipt]]] = {}
    for item in found:
        if item.unreached <= 0:
            continue
        leader = await leader_of(session, item.building)
        if leader is not None:
            by_leader.setdefault(leader.id, (leader, []))[1].append(item)
    visits = VisitLists([], [])
    before = "截止前" if notice.deadline_at is not None and now <= notice.deadline_at else ""
    for leader, items in by_leader.values():
        count = sum(item.unreached for item in items)
        listing = ";".join(item.missing() for item in items)
        text = f"通知 #{notice.id} {before}仍有 {count} 户未回复:{listing}。请上门告知,尤其是独居老人。"
        action = to_person(leader, text, notice.platform, any_account=True, served=served)
        if action is not None:
            visits.actions.append(action)
        else:
            visits.unreachable.append(leader)
    return visits


async def leader_of(session: AsyncSession, building: Unit) -> Person | None:
    chain = await repos.unit_chain(session, building.id)
    ids = [unit.id for unit in chain if unit.kind in (UnitKind.MICRO_GRID, UnitKind.GRID)]
    persons = await repos.persons_serving(session, ids, [Role.MICRO_GRID_LEADER, Role.GRID_MEMBER])
    return persons[0] if persons else None


# ---------------------------------------------------------------------------------------------------
# Acknowledgments


def _may_acknowledge(ctx: Context) -> bool:
    """A household's message in a building group."""
    return ctx.building is not None and ctx.message.group_id is not None and ctx.role not in NOT_HOUSEHOLDS


@router.intent("ack", min_confidence=0.5, when=_may_acknowledge)
async def acknowledge(ctx: Context) -> HandlerResult:
    """ "收到" in a building group counts for the latest open notice there; the bot stays silent."""
    building = ctx.building
    if building is None or not _may_acknowledge(ctx):
        return None
    now = ctx.clock.now()
    notice_id = await store.latest_open_notice_in_group(
        ctx.session, ctx.message.platform, ctx.message.group_id, now
    )
    if notice_id is None:
        return None
    if await store.find_ack(ctx.session, notice_id, ctx.sender.id) is None:
        ctx.session.add(
            NoticeAck(
                notice_id=notice_id,
                building_id=building.id,
                person_id=ctx.sender.id,
                household=household_from_name(ctx.sender_name, building),
                acked_at=now,
                message_id=ctx.message.message_id,
            )
        )
    return []


# ---------------------------------------------------------------------------------------------------
# Scheduled jobs


async def send_notice(tick: TickContext, notice_id: int) -> HandlerResult:
    """Post the notice to every group of its buildings (a scheduled job: at once, later or recurring)."""
    notice = await store.get_notice(tick.session, notice_id)
    if notice is None or notice.status == NoticeStatus.REVOKED:
        return []
    now = tick.clock.now()
    due = tick.scheduled_for or now
    if notice.deadline_at is not None and now > notice.deadline_at:
        log.info("notice not sent: its deadline has passed", extra={"notice": notice.id})
        tick.schedule.cancel(job_key(notice.id))
        return []
    late = now - due > LATE_AFTER
    buildings = await notice_buildings(tick.session, notice)
    actions = await _post(tick, notice, buildings, late=late, kind=DeliveryKind.POST)
    notice.status = NoticeStatus.SENT.value
    notice.posts += 1
    _plan_reminder(tick, notice, now)
    return actions


def _plan_reminder(tick: TickContext, notice: Notice, now: datetime) -> None:
    if notice.deadline_at is None or notice.reminded_at is not None or notice.posts != 1:
        return
    day_before = local(notice.deadline_at).date() - timedelta(days=1)
    when = datetime.combine(day_before, REMIND_AT, tzinfo=LOCAL_TZ)
    if when > now + timedelta(hours=1):
        tick.schedule.once(remind_key(notice.id), remind_notice, when, notice.id)


async def _post(
    tick: TickContext, notice: Notice, buildings: list[Unit], *, late: bool, kind: DeliveryKind
) -> list[Action]:
    platforms = tick.schedule.connected_platforms()
    groups = await groups_of(tick.session, [b.id for b in buildings], platforms)
    names = {b.id: b for b in buildings}
    now = tick.clock.now()
    actions: list[Action] = []
    for group in groups:
        building = names.get(group.unit_id)
        leader = await leader_of(tick.session, building) if building is not None else None
        text, mentions = post_text(notice, group.platform, leader, late=late, kind=kind)
        actions.append(
            SendToGroup(
                platform=group.platform,
                group_id=group.external_id,
                text=mask_pii(text),
                mentions=mentions,
                origin=f"notices.post:{notice.id}",
            )
        )
        store.add_delivery(
            tick.session,
            notice,
            building_id=group.unit_id,
            platform=group.platform,
            group_external_id=group.external_id,
            at=now,
            late=late,
            kind=kind,
        )
    return actions


def post_text(
    notice: Notice, platform: str, leader: Person | None, *, late: bool, kind: DeliveryKind
) -> tuple[str, tuple[Mention, ...]]:
    head = f"【通知 #{notice.id}】"
    if kind == DeliveryKind.REPOST:
        head = f"【通知 #{notice.id} 再次提醒】"
    elif late:
        head = f"【通知 #{notice.id}(补发)】"
    text = head + re.sub(r"[。.!!]+$", "", notice.text) + "。"
    mentions: tuple[Mention, ...] = ()
    if leader is not None:
        account = leader.account_on(platform)
        if account is not None:
            mentions = (Mention(user_id=account.external_id, name=leader.name),)
            text += f"有疑问请联系本楼{Role(leader.role).label} @{leader.name}。"
    if notice.deadline_at is not None:
        text += f"截止 {_day(notice.deadline_at)}。"
    return text + "看到请回复“收到”。", mentions


async def remind_notice(tick: TickContext, notice_id: int) -> HandlerResult:
    """The day before the deadline: re-post to buildings below REPOST_BELOW, and the visit lists."""
    notice = await store.get_notice(tick.session, notice_id)
    now = tick.clock.now()
    if notice is None or not notice.is_open(now) or not notice.posts:
        return []
    notice.reminded_at = now
    buildings = await notice_buildings(tick.session, notice)
    found = await receipts(tick.session, notice, buildings)
    behind = [item.building for item in found if item.rate is not None and item.rate < REPOST_BELOW]
    actions = await _post(tick, notice, behind, late=False, kind=DeliveryKind.REPOST)
    visits = await visit_lists(tick.session, notice, found, now, tick.schedule.private_platforms())
    return [*actions, *visits.actions]
