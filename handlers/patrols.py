"""Patrols (巡查): rotas per grid, the week's schedule posted to the building groups, a morning reminder
to each patroller, check-ins (`巡查 5号楼 正常` / `巡查 6号楼 3楼楼道堆满纸箱`) and coverage per day.
A problem found on patrol becomes a request (handlers/requests.py), routed by its intent like any report
and marked as found on patrol.

- `巡查安排 <人> <楼栋> <周几|每天> [上午|下午] [安全|消防|食品]` adds a rota; `巡查安排` alone lists them;
  `取消巡查 #N` ends one.
- `巡查 <楼栋> 正常|<问题>`: a check-in; `巡查情况`: today's coverage (buildings visited against planned)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import requests as requests_capability
from handlers.clock import local
from handlers.context import Context, TickContext
from handlers.contract import Action, SendToGroup
from handlers.notices import Community, groups_of, resolve_scope, sender_home
from handlers.notices import NoticeError as ScopeError
from handlers.outgoing import to_person
from handlers.privacy import mask_pii
from handlers.router import HandlerResult, Router
from storage import patrols as store
from storage import repos
from storage.models import Person, Unit
from storage.patrols import PatrolCheckin, PatrolKind, PatrolRota
from storage.roles import GRID_WORKERS, Role, UnitKind
from storage.sorting import natural_key

router = Router(name="patrols")

PLANNERS = frozenset({Role.STAFF, Role.GRID_LEADER})
PATROLLERS = GRID_WORKERS
WEEKDAYS = "一二三四五六日"
KIND_WORDS = {"安全": PatrolKind.SAFETY, "消防": PatrolKind.FIRE, "食品": PatrolKind.FOOD}
PERIODS = ("上午", "下午", "全天")
OK_WORDS = ("正常", "无异常", "没问题", "良好", "ok", "OK")
# A reminder or weekly post that runs this much after its time (the bot was down) is skipped.
STALE_AFTER = timedelta(hours=3)


def today(moment: datetime) -> date:
    return local(moment).date()


def weekday_names(days: list[int] | tuple[int, ...]) -> str:
    if sorted(days) == list(range(7)):
        return "每天"
    return "、".join(f"周{WEEKDAYS[d]}" for d in sorted(days))


def buildings_text(units: list[Unit]) -> str:
    """ "5-7号楼" for a run of numbered buildings, else "5号楼、8号楼"."""
    numbers = [int(m.group(1)) for u in units if (m := re.fullmatch(r"(\d+)号楼", u.name))]
    if len(numbers) == len(units) and len(units) > 2 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}-{numbers[-1]}号楼"
    return "、".join(u.name for u in units)


# ---------------------------------------------------------------------------------------------------
# Rotas


@dataclass
class RotaOrder:
    patroller: str
    scope: list[str]
    weekdays: list[int]
    period: str
    kind: PatrolKind


def parse_rota(args: str) -> RotaOrder:
    words = args.split()
    if len(words) < 3:
        raise ScopeError("请这样写:巡查安排 刘秀英 5-7号楼 周一三五 上午(专项可加 安全/消防/食品)")
    patroller, rest = words[0], words[1:]
    kind, period, days, scope = PatrolKind.DAILY, "上午", set[int](), []
    for word in rest:
        special = word.removesuffix("检查").removesuffix("专项")
        if special in KIND_WORDS:
            kind = KIND_WORDS[special]
        elif word in PERIODS:
            period = word
        elif word in ("每天", "每日", "天天"):
            days |= set(range(7))
        elif re.fullmatch(r"((周|星期)?[一二三四五六日天][、,，]?)+", word):
            days |= {WEEKDAYS.index("日" if c == "天" else c) for c in word if c in WEEKDAYS + "天"}
        else:
            scope.append(word)
    if not days:
        raise ScopeError("请写明哪几天巡查,例如 周一三五 或 每天。")
    if not scope:
        raise ScopeError("请写明巡查哪些楼栋,例如 5-7号楼。")
    return RotaOrder(patroller, scope, sorted(days), period, kind)


DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def all_rotas(session: AsyncSession, grid_ids: list[int] | None = None) -> list[PatrolRota]:
    """The active rotas made by command, then those of the directory (a grid's `patrols:`; unsaved
    PatrolRota objects without an id)."""
    found = await store.active_rotas(session, grid_ids)
    grids = [
        u for u in await repos.list_units(session, UnitKind.GRID.value) if (u.details or {}).get("patrols")
    ]
    if grid_ids is not None:
        grids = [grid for grid in grids if grid.id in grid_ids]
    if not grids:
        return found
    buildings = await repos.list_units(session, UnitKind.BUILDING.value)
    for grid in grids:
        named = {b.name: b.id for b in buildings if _grid_id(b) == grid.id}
        for spec in grid.details["patrols"]:
            person = await repos.find_person_by_key(session, str(spec.get("person")))
            ids = [named[name] for name in spec.get("buildings", []) if name in named]
            if person is None or not ids:
                continue
            found.append(
                PatrolRota(
                    grid_id=grid.id,
                    patroller_id=person.id,
                    building_ids=ids,
                    weekdays=sorted(DAY_KEYS.index(day) for day in spec.get("days", []) if day in DAY_KEYS),
                    kind=spec.get("kind", PatrolKind.DAILY.value),
                    period=spec.get("time", "上午"),
                    active=True,
                )
            )
    return found


def _grid_id(building: Unit) -> int | None:
    grid = _grid_of(building)
    return grid.id if grid is not None else None


def _grid_of(building: Unit) -> Unit | None:
    """A building's grid, from its parents loaded with it (the community's units come so)."""
    return repos.unit_of_kind(repos.loaded_chain(building) or [], UnitKind.GRID)


async def _find_worker(session: AsyncSession, name: str, community: Community) -> Person | None:
    ids = [unit.id for unit in community.units] + [community.root.id]
    for person in await repos.persons_serving(session, ids, PATROLLERS):
        if person.name == name:
            return person
    return None


@router.command(
    "巡查安排",
    "/rota",
    summary="安排巡查(谁、哪些楼、周几、专项);不带参数则列出安排",
    usage="巡查安排 [人 楼栋 周几 上午|下午 安全|消防|食品]",
    roles=PLANNERS,
)
async def plan_rota(ctx: Context) -> HandlerResult:
    home = sender_home(ctx)
    community = await Community.load(ctx.session, home.id) if home is not None else None
    if community is None:
        return [ctx.reply("没有找到您所在的社区。")]
    if not ctx.args.strip():
        return [ctx.reply(await _rota_list(ctx.session, community))]
    try:
        order = parse_rota(ctx.args)
        buildings = resolve_scope(community, home, order.scope)
    except ScopeError as error:
        return [ctx.reply(str(error))]
    patroller = await _find_worker(ctx.session, order.patroller, community)
    if patroller is None:
        return [ctx.reply(f"没有找到网格工作人员“{order.patroller}”,请用名册里的姓名。")]
    grid = _grid_of(buildings[0]) if buildings else None
    if grid is None or any(_grid_of(b) is not grid for b in buildings):
        return [ctx.reply("一个巡查安排只能包含同一个网格的楼栋,请分开安排。")]
    rota = PatrolRota(
        grid_id=grid.id,
        patroller_id=patroller.id,
        building_ids=[b.id for b in buildings],
        weekdays=order.weekdays,
        kind=order.kind.value,
        period=order.period,
        active=True,
        created_at=ctx.clock.now(),
    )
    ctx.session.add(rota)
    await ctx.session.flush()
    summary = rota_text(rota, patroller, buildings)
    return [ctx.reply(f"已安排巡查 #{rota.id}:{summary}。每周一早上会把本周安排发到各楼群。")]


def rota_text(rota: PatrolRota, patroller: Person, buildings: list[Unit]) -> str:
    kind = PatrolKind(rota.kind)
    what = "巡查" if kind == PatrolKind.DAILY else kind.label
    period = "" if rota.period == "全天" else rota.period
    return f"{weekday_names(rota.weekdays)}{period} {patroller.name} {what} {buildings_text(buildings)}"


async def _rota_list(session: AsyncSession, community: Community) -> str:
    grids = [u.id for u in community.units if u.kind == UnitKind.GRID]
    rotas = await all_rotas(session, grids)
    if not rotas:
        return "还没有巡查安排。发“巡查安排 刘秀英 5-7号楼 周一三五 上午”添加。"
    lines = ["巡查安排:"]
    for rota in rotas:
        patroller = await repos.get_person(session, rota.patroller_id)
        buildings = _units(community, rota.building_ids)
        number = f"#{rota.id}" if rota.id is not None else "(名册)"
        lines.append(f"{number} " + (rota_text(rota, patroller, buildings) if patroller else "?"))
    return "\n".join(lines)


def _units(community: Community, ids: list[int]) -> list[Unit]:
    found = [u for i in ids if (u := community.by_id(int(i))) is not None]
    return sorted(found, key=lambda u: natural_key(u.name))


@router.command("取消巡查", "/unrota", summary="取消一项巡查安排", usage="取消巡查 #编号", roles=PLANNERS)
async def cancel_rota(ctx: Context) -> HandlerResult:
    match = re.match(r"#?\s*(\d+)", ctx.args.strip())
    rota = await ctx.session.get(PatrolRota, int(match.group(1))) if match else None
    if rota is None or not rota.active:
        return [ctx.reply("没有找到这项巡查安排,发“巡查安排”看看现有的编号。")]
    rota.active = False
    return [ctx.reply(f"巡查安排 #{rota.id} 已取消。")]


# ---------------------------------------------------------------------------------------------------
# Check-ins


@router.command(
    "巡查",
    "/patrol",
    summary="巡查打卡:正常,或说明发现的问题(自动登记为诉求)",
    usage="巡查 5号楼 正常|问题",
    roles=PATROLLERS,
)
async def check_in(ctx: Context) -> HandlerResult:
    words = ctx.args.split(maxsplit=1)
    if not words:
        return [ctx.reply("请这样写:巡查 5号楼 正常,或 巡查 6号楼 3楼楼道堆满纸箱")]
    building = await _building_named(ctx, words[0])
    if building is None:
        return [ctx.reply(f"没有找到“{words[0]}”,请写楼栋名,例如 巡查 5号楼 正常。")]
    note = words[1].strip() if len(words) > 1 else "正常"
    now = ctx.clock.now()
    ok = note in OK_WORDS or re.sub(r"[。.!!]+$", "", note) in OK_WORDS
    checkin = PatrolCheckin(
        patroller_id=ctx.sender.id,
        building_id=building.id,
        day=today(now),
        at=now,
        ok=ok,
        note=mask_pii(note),
    )
    ctx.session.add(checkin)
    await ctx.session.flush()
    coverage = await coverage_line(ctx.session, ctx.sender, now)
    if ok:
        return [ctx.reply(f"已记录:{building.name} 巡查正常。{coverage}", at_sender=False)]
    return await _finding(ctx, building, checkin, note, coverage)


async def _building_named(ctx: Context, word: str) -> Unit | None:
    name = word if word.endswith("号楼") or not word.isdigit() else f"{word}号楼"
    home = sender_home(ctx)
    community = await Community.load(ctx.session, home.id) if home is not None else None
    if community is None:
        return None
    unit = community.named(name)
    return unit if unit is not None and unit.kind == UnitKind.BUILDING else None


async def _finding(
    ctx: Context, building: Unit, checkin: PatrolCheckin, note: str, coverage: str
) -> HandlerResult:
    """A problem found on patrol becomes a request, routed by its classified intent (or a note on the
    open request for the same problem); a note that is no such problem is only recorded."""
    result = await requests_capability.create_patrol_finding(ctx, building, note)
    if result is None:
        return [ctx.reply(f"已记录:{building.name} 巡查发现:{mask_pii(note)}。{coverage}", at_sender=False)]
    checkin.request_id, action = result
    return [_with_coverage(action, coverage)]


def _with_coverage(action: Action, coverage: str) -> Action:
    return action.model_copy(update={"text": f"{action.text}{coverage}"})


async def coverage_line(session: AsyncSession, patroller: Person, now: datetime) -> str:
    day = today(now)
    rotas = [r for r in await all_rotas(session) if r.patroller_id == patroller.id]
    planned = store.planned_on(rotas, day)
    visited = {c.building_id for c in await store.checkins_on(session, day) if c.patroller_id == patroller.id}
    if planned:
        return f"今日巡查 {len(visited & planned)}/{len(planned)} 栋。"
    return f"今日已巡查 {len(visited)} 栋。"


@dataclass
class Coverage:
    planned: set[int]
    visited: set[int]

    @property
    def done(self) -> int:
        return len(self.planned & self.visited)

    def text(self) -> str:
        if self.planned:
            return f"{self.done}/{len(self.planned)} 栋"
        return f"已巡查 {len(self.visited)} 栋(今日无计划)" if self.visited else "今日无计划"


async def coverage_for(session: AsyncSession, building_ids: set[int], day: date) -> Coverage:
    rotas = await all_rotas(session)
    planned = store.planned_on(rotas, day) & building_ids
    visited = {c.building_id for c in await store.checkins_on(session, day, list(building_ids))}
    return Coverage(planned, visited)


@router.command("巡查情况", "/coverage", summary="今天各网格的巡查覆盖(已巡/计划)", roles=PLANNERS)
async def show_coverage(ctx: Context) -> HandlerResult:
    home = sender_home(ctx)
    community = await Community.load(ctx.session, home.id) if home is not None else None
    if community is None:
        return [ctx.reply("没有找到您所在的社区。")]
    day = today(ctx.clock.now())
    lines = [f"{day.month}月{day.day}日 巡查情况:"]
    for grid in sorted(
        (u for u in community.units if u.kind == UnitKind.GRID), key=lambda u: natural_key(u.name)
    ):
        ids = {b.id for b in community.buildings_under(grid.id)}
        coverage = await coverage_for(ctx.session, ids, day)
        missing = sorted(
            (u.name for u in community.units if u.id in coverage.planned - coverage.visited), key=natural_key
        )
        tail = f",未巡:{'、'.join(missing)}" if missing else ""
        lines.append(f"{grid.name} {coverage.text()}{tail}")
    return [ctx.reply("\n".join(lines))]


# ---------------------------------------------------------------------------------------------------
# Scheduled jobs


def _stale(tick: TickContext) -> bool:
    return tick.scheduled_for is not None and tick.clock.now() - tick.scheduled_for > STALE_AFTER


async def morning_reminders(tick: TickContext) -> HandlerResult:
    """Each patroller with buildings planned today gets a private reminder."""
    if _stale(tick):
        return []
    day = today(tick.clock.now())
    by_person: dict[int, list[PatrolRota]] = defaultdict(list)
    for rota in await all_rotas(tick.session):
        if rota.on(day):
            by_person[rota.patroller_id].append(rota)
    served = tick.schedule.private_platforms()
    actions: list[Action] = []
    for person_id, rotas in by_person.items():
        person = await repos.get_person(tick.session, person_id)
        if person is None:
            continue
        text = await _reminder_text(tick.session, rotas)
        action = to_person(person, text, None, any_account=True, served=served)
        if action is not None:
            actions.append(action)
    return actions


async def _reminder_text(session: AsyncSession, rotas: list[PatrolRota]) -> str:
    parts = []
    for rota in rotas:
        buildings = await _buildings(session, rota.building_ids)
        names = "、".join(b.name for b in buildings)
        kind = PatrolKind(rota.kind)
        what = "" if kind == PatrolKind.DAILY else f"({kind.label})"
        period = "" if rota.period == "全天" else rota.period
        parts.append(f"今天{period}请巡查 {names}{what}")
    return ";".join(parts) + "。巡查后发“巡查 5号楼 正常”或说明发现的问题。"


async def _buildings(session: AsyncSession, ids: list[int]) -> list[Unit]:
    wanted = [int(i) for i in ids]
    units = list(await session.scalars(select(Unit).where(Unit.id.in_(wanted))))
    return sorted(units, key=lambda u: natural_key(u.name))


async def post_week_schedule(tick: TickContext) -> HandlerResult:
    """Monday morning: every building group with patrols this week sees when its grid worker comes."""
    if _stale(tick):
        return []
    by_building: dict[int, list[PatrolRota]] = defaultdict(list)
    for rota in await all_rotas(tick.session):
        for building_id in rota.building_ids:
            by_building[int(building_id)].append(rota)
    if not by_building:
        return []
    platforms = tick.schedule.connected_platforms()
    actions: list[Action] = []
    for group in await groups_of(tick.session, by_building.keys(), platforms):
        text = await week_text(tick.session, by_building[group.unit_id])
        actions.append(SendToGroup(platform=group.platform, group_id=group.external_id, text=text))
    return actions


async def week_text(session: AsyncSession, rotas: list[PatrolRota]) -> str:
    parts = []
    for rota in rotas:
        patroller = await repos.get_person(session, rota.patroller_id)
        buildings = await _buildings(session, rota.building_ids)
        kind = PatrolKind(rota.kind)
        period = "" if rota.period == "全天" else rota.period
        if kind == PatrolKind.DAILY:
            who = patroller.name if patroller else "网格员"
            parts.append(f"{weekday_names(rota.weekdays)}{period} {who} 巡查 {buildings_text(buildings)}")
        else:
            parts.append(f"{weekday_names(rota.weekdays)}{period} {kind.label}")
    return "本周巡查安排:" + ";".join(parts) + "。有问题可当面反映。"
