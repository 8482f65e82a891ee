"""Notices (通知公告): what staff broadcast, where it went, and who acknowledged it.

A `Notice` is numbered by its id (#N). Each post of it to a group is a `NoticeDelivery` (late when it
went out after its scheduled time, e.g. because the bot was down; `repost` for the reminder before the
deadline). A resident's "收到" in a building group is a `NoticeAck`: one per person and notice, with the
household (room label) when it is known. Also here: the scheduler's job table, so that Alembic owns it."""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
    bindparam,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.prepared import Prepared, autoflush, connection_of

# APScheduler 3's SQLAlchemyJobStore table, exactly as it defines it (it creates it only if missing).
scheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class NoticeStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its first (or only) send
    SENT = "sent"  # posted (a recurring notice stays "sent" between its posts)
    REVOKED = "revoked"  # 撤回: no further posts


class DeliveryKind(StrEnum):
    POST = "post"
    REPOST = "repost"  # the reminder to buildings below the threshold before the deadline


class Notice(Base):
    __tablename__ = "notices"
    __table_args__ = (CheckConstraint("status IN ('scheduled', 'sent', 'revoked')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    scope: Mapped[str] = mapped_column(String(100))  # as the staff wrote it: 全体, 第二网格, 5号楼 6号楼
    building_ids: Mapped[list[Any]] = mapped_column(default=list)  # the buildings it resolved to
    text: Mapped[str] = mapped_column(Text)  # masked
    status: Mapped[str] = mapped_column(String(16), default=NoticeStatus.SCHEDULED.value)
    send_at: Mapped[datetime | None]  # the first scheduled send (None: at once)
    recurrence: Mapped[str | None] = mapped_column(String(50))  # "每周一 9:00", shown in lists
    deadline_at: Mapped[datetime | None]  # the end of the deadline day
    posts: Mapped[int] = mapped_column(default=0)  # how many times it went out
    reminded_at: Mapped[datetime | None]  # when the pre-deadline re-post and visit lists went out
    platform: Mapped[str | None] = mapped_column(String(32))  # where it was ordered, for replies
    group_external_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    def is_open(self, now: datetime) -> bool:
        """Acknowledgments still count: not revoked and the deadline (if any) not passed."""
        if self.status == NoticeStatus.REVOKED:
            return False
        return self.deadline_at is None or now <= self.deadline_at


class NoticeDelivery(Base):
    __tablename__ = "notice_deliveries"
    __table_args__ = (
        Index("ix_notice_deliveries_group_sent", "platform", "group_external_id", "sent_at"),
        CheckConstraint("kind IN ('post', 'repost')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(32))
    group_external_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8), default=DeliveryKind.POST.value)
    sent_at: Mapped[datetime]
    late: Mapped[bool] = mapped_column(Boolean, default=False)


class NoticeAck(Base):
    __tablename__ = "notice_acks"
    __table_args__ = (UniqueConstraint("notice_id", "person_id", name="uq_notice_acks_person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    household: Mapped[str | None] = mapped_column(String(32))  # "2单元301" when known
    acked_at: Mapped[datetime]
    message_id: Mapped[str | None] = mapped_column(String(128))


# Queries --------------------------------------------------------------------------------------------


async def get_notice(session: AsyncSession, notice_id: int) -> Notice | None:
    return await session.get(Notice, notice_id)


async def list_notices(session: AsyncSession, *, limit: int = 20) -> list[Notice]:
    """The newest notices first."""
    statement = select(Notice).order_by(Notice.id.desc()).limit(limit)
    return list(await session.scalars(statement))


async def open_notices(session: AsyncSession, now: datetime) -> list[Notice]:
    """Notices that went out and still collect acknowledgments, newest first."""
    statement = select(Notice).where(Notice.status == NoticeStatus.SENT.value).order_by(Notice.id.desc())
    return [notice for notice in await session.scalars(statement) if notice.is_open(now)]


async def latest_open_notice_in_group(
    session: AsyncSession, platform: str, group_external_id: str, now: datetime
) -> int | None:
    """The id of the notice posted most recently to the group that still collects acknowledgments. Every
    "收到" in a group asks (a tenth of a group's messages), and mostly finds none: so the test of
    `Notice.is_open` is made in SQL, one id at most comes back, and the statement is prepared
    (`storage.prepared`; through the ORM it cost ~1 ms of CPU, docs/benchmarks.md, fourteenth round).
    Pending changes are flushed first, as for an ORM query."""
    await autoflush(session)
    parameters = {"platform": platform, "group": group_external_id, "now": now}
    rows = await _latest_open_notice_statement().rows(await connection_of(session), parameters)
    return int(rows[0][0]) if rows else None


@functools.cache
def _latest_open_notice_statement() -> Prepared:
    """`latest_open_notice_in_group`'s statement, prepared once."""
    statement = (
        select(Notice.__table__.c.id)
        .join(NoticeDelivery, NoticeDelivery.notice_id == Notice.id)
        .where(
            NoticeDelivery.platform == bindparam("platform"),
            NoticeDelivery.group_external_id == bindparam("group"),
            Notice.status != NoticeStatus.REVOKED.value,
            or_(Notice.deadline_at.is_(None), Notice.deadline_at >= bindparam("now")),
        )
        .order_by(NoticeDelivery.sent_at.desc(), NoticeDelivery.id.desc())
        .limit(1)
    )
    return Prepared(statement, ("platform", "group", "now"))


def add_delivery(
    session: AsyncSession,
    notice: Notice,
    *,
    building_id: int | None,
    platform: str,
    group_external_id: str,
    at: datetime,
    late: bool,
    kind: DeliveryKind = DeliveryKind.POST,
) -> NoticeDelivery:
    delivery = NoticeDelivery(
        notice_id=notice.id,
        building_id=building_id,
        platform=platform,
        group_external_id=group_external_id,
        kind=kind.value,
        sent_at=at,
        late=late,
    )
    session.add(delivery)
    return delivery


async def find_ack(session: AsyncSession, notice_id: int, person_id: int) -> NoticeAck | None:
    statement = select(NoticeAck).where(NoticeAck.notice_id == notice_id, NoticeAck.person_id == person_id)
    return await session.scalar(statement)


async def acks_by_building(session: AsyncSession, notice_id: int) -> dict[int, list[NoticeAck]]:
    statement = select(NoticeAck).where(NoticeAck.notice_id == notice_id).order_by(NoticeAck.id)
    found: dict[int, list[NoticeAck]] = defaultdict(list)
    for ack in await session.scalars(statement):
        found[ack.building_id].append(ack)
    return dict(found)
