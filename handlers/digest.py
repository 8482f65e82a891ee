"""The daily digest: privately, at the configured time, to every grid leader and micro-grid leader —
new, overdue and escalated requests in their buildings, today's patrol coverage and the acknowledgment
rates of open notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.clock import local
from handlers.context import TickContext
from handlers.contract import Action
from handlers.notices import Community, notice_buildings, receipts
from handlers.outgoing import to_person
from handlers.patrols import coverage_for, today
from handlers.router import HandlerResult
from storage import notices as notice_store
from storage import repos
from storage import requests as request_store
from storage.models import Person, Unit
from storage.roles import Role, UnitKind

# A digest that fell due while the bot was down is sent on start only if this late at most.
STALE_AFTER = timedelta(hours=3)
RECIPIENTS = (Role.GRID_LEADER, Role.MICRO_GRID_LEADER)


async def send_digests(tick: TickContext) -> HandlerResult:
    now = tick.clock.now()
    if tick.scheduled_for is not None and now - tick.scheduled_for > STALE_AFTER:
        return []
    served = tick.schedule.private_platforms()
    actions: list[Action] = []
    for unit in await repos.list_units(tick.session):
        if unit.kind not in (UnitKind.GRID, UnitKind.MICRO_GRID):
            continue
        for person in await repos.persons_serving(tick.session, [unit.id], RECIPIENTS):
            if (unit.kind == UnitKind.GRID) != (person.role == Role.GRID_LEADER):
                continue
            text = await digest_text(tick.session, person, unit, now)
            action = to_person(person, text, None, any_account=True, served=served)
            if action is not None:
                actions.append(action)
    return actions


@dataclass
class RequestFigures:
    new: int
    new_acknowledged: int
    overdue: list[int]
    escalated: int


async def request_figures(session: AsyncSession, building_ids: set[int], now: datetime) -> RequestFigures:
    since = now - timedelta(days=1)
    new = await request_store.requests_between(session, since=since, building_ids=building_ids)
    acknowledged = sum(1 for r in new if r.acknowledged_at is not None)
    overdue = [
        r.id for r in await request_store.overdue(session, now, with_people=False, building_ids=building_ids)
    ]
    escalated = await request_store.escalated_open(session, building_ids, since)
    return RequestFigures(len(new), acknowledged, overdue, escalated)


async def notice_rates(session: AsyncSession, building_ids: set[int], now: datetime) -> list[str]:
    rates = []
    for notice in await notice_store.open_notices(session, now):
        mine = [b for b in await notice_buildings(session, notice) if b.id in building_ids]
        if not mine:
            continue
        found = await receipts(session, notice, mine)
        total = sum(r.total or 0 for r in found)
        if total:
            reached = sum(r.reached for r in found if r.total)
            rates.append(f"通知 #{notice.id} 回执 {round(100 * reached / total)}%")
    return rates


async def digest_text(session: AsyncSession, person: Person, unit: Unit, now: datetime) -> str:
    community = await Community.load(session, unit.id)
    buildings = community.buildings_under(unit.id) if community is not None else []
    ids = {b.id for b in buildings}
    figures = await request_figures(session, ids, now)
    coverage = await coverage_for(session, ids, today(now))
    overdue = "、".join(f"#{n}" for n in figures.overdue[:5])
    parts = [
        f"新诉求 {figures.new} 件(已接单 {figures.new_acknowledged})",
        f"超时 {len(figures.overdue)} 件{(' ' + overdue) if overdue else ''}",
        f"已升级 {figures.escalated} 件",
    ]
    text = f"{person.name},今天你负责的 {len(buildings)} 栋楼:" + ",".join(parts)
    text += f";巡查 {coverage.text()}"
    rates = await notice_rates(session, ids, now)
    if rates:
        text += ";" + ",".join(rates)
    text += "。"
    if figures.overdue:
        text += f"明天请先看 #{figures.overdue[0]}。"
    day = local(now)
    return text.replace("今天", f"今天({day.month}月{day.day}日)", 1)
