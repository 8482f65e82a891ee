"""Patrols (巡查): rotas per grid and the check-ins of the patrollers.

A `PatrolRota` says who patrols which buildings of a grid on which weekdays, and what kind of patrol it
is (daily, or a special one: safety, fire, food). A `PatrolCheckin` is one building visited on one day,
fine or with a finding (which became a request)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class PatrolKind(StrEnum):
    DAILY = "daily"
    SAFETY = "safety"
    FIRE = "fire"
    FOOD = "food"

    @property
    def label(self) -> str:
        return PATROL_KIND_LABELS[self]


PATROL_KIND_LABELS: dict[PatrolKind, str] = {
    PatrolKind.DAILY: "日常巡查",
    PatrolKind.SAFETY: "安全专项检查",
    PatrolKind.FIRE: "消防专项检查",
    PatrolKind.FOOD: "食品安全专项检查",
}


class PatrolRota(Base):
    __tablename__ = "patrol_rotas"
    __table_args__ = (CheckConstraint("kind IN ('daily', 'safety', 'fire', 'food')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    patroller_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    building_ids: Mapped[list[Any]] = mapped_column(default=list)
    weekdays: Mapped[list[Any]] = mapped_column(default=list)  # 0 = Monday … 6 = Sunday
    kind: Mapped[str] = mapped_column(String(16), default=PatrolKind.DAILY.value)
    period: Mapped[str] = mapped_column(String(8), default="上午")  # 上午 / 下午 / 全天
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]

    def on(self, day: date) -> bool:
        return self.active and day.weekday() in self.weekdays


class PatrolCheckin(Base):
    __tablename__ = "patrol_checkins"
    __table_args__ = (Index("ix_patrol_checkins_day_building", "day", "building_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patroller_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    building_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)  # the local (Beijing) day
    at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))


async def active_rotas(session: AsyncSession, grid_ids: list[int] | None = None) -> list[PatrolRota]:
    statement = select(PatrolRota).where(PatrolRota.active.is_(True)).order_by(PatrolRota.id)
    if grid_ids is not None:
        statement = statement.where(PatrolRota.grid_id.in_(grid_ids))
    return list(await session.scalars(statement))


async def checkins_on(
    session: AsyncSession, day: date, building_ids: list[int] | None = None
) -> list[PatrolCheckin]:
    statement = select(PatrolCheckin).where(PatrolCheckin.day == day).order_by(PatrolCheckin.id)
    if building_ids is not None:
        statement = statement.where(PatrolCheckin.building_id.in_(building_ids))
    return list(await session.scalars(statement))


def planned_on(rotas: list[PatrolRota], day: date) -> set[int]:
    """The buildings some rota plans for the day."""
    return {int(building_id) for rota in rotas if rota.on(day) for building_id in rota.building_ids}
