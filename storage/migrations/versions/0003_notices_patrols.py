"""Notices, patrols and the scheduler's job store.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(column: str, table: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    # APScheduler 3's SQLAlchemyJobStore table, as it defines it.
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), nullable=False),
        sa.Column("next_run_time", sa.Float(25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apscheduler_jobs")),
    )
    op.create_index(op.f("ix_apscheduler_jobs_next_run_time"), "apscheduler_jobs", ["next_run_time"])

    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("building_ids", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _when("send_at"),
        sa.Column("recurrence", sa.String(50), nullable=True),
        _when("deadline_at"),
        sa.Column("posts", sa.Integer(), nullable=False),
        _when("reminded_at"),
        sa.Column("platform", sa.String(32), nullable=True),
        sa.Column("group_external_id", sa.String(128), nullable=True),
        _when("created_at", nullable=False),
        _when("revoked_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        _fk("community_id", "notices", "units", "SET NULL"),
        _fk("author_id", "notices", "persons", "SET NULL"),
        sa.CheckConstraint("status IN ('scheduled', 'sent', 'revoked')", name=op.f("ck_notices_status")),
    )

    op.create_table(
        "notice_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("group_external_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        _when("sent_at", nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_deliveries")),
        _fk("notice_id", "notice_deliveries", "notices", "CASCADE"),
        _fk("building_id", "notice_deliveries", "units", "SET NULL"),
        sa.CheckConstraint("kind IN ('post', 'repost')", name=op.f("ck_notice_deliveries_kind")),
    )
    op.create_index(op.f("ix_notice_deliveries_notice_id"), "notice_deliveries", ["notice_id"])
    # "The latest notice posted to this group", for acknowledgments.
    op.create_index(
        op.f("ix_notice_deliveries_group_sent"),
        "notice_deliveries",
        ["platform", "group_external_id", "sent_at"],
    )

    op.create_table(
        "notice_acks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("household", sa.String(32), nullable=True),
        _when("acked_at", nullable=False),
        sa.Column("message_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_acks")),
        _fk("notice_id", "notice_acks", "notices", "CASCADE"),
        _fk("building_id", "notice_acks", "units", "CASCADE"),
        _fk("person_id", "notice_acks", "persons", "CASCADE"),
        sa.UniqueConstraint("notice_id", "person_id", name=op.f("uq_notice_acks_person")),
    )
    op.create_index(op.f("ix_notice_acks_notice_id"), "notice_acks", ["notice_id"])

    op.create_table(
        "patrol_rotas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("patroller_id", sa.Integer(), nullable=False),
        sa.Column("building_ids", sa.JSON(), nullable=False),
        sa.Column("weekdays", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _when("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_rotas")),
        _fk("grid_id", "patrol_rotas", "units", "CASCADE"),
        _fk("patroller_id", "patrol_rotas", "persons", "CASCADE"),
        sa.CheckConstraint("kind IN ('daily', 'safety', 'fire', 'food')", name=op.f("ck_patrol_rotas_kind")),
    )
    op.create_index(op.f("ix_patrol_rotas_grid_id"), "patrol_rotas", ["grid_id"])
    op.create_index(op.f("ix_patrol_rotas_patroller_id"), "patrol_rotas", ["patroller_id"])

    op.create_table(
        "patrol_checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patroller_id", sa.Integer(), nullable=True),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _when("at", nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_checkins")),
        _fk("patroller_id", "patrol_checkins", "persons", "SET NULL"),
        _fk("building_id", "patrol_checkins", "units", "CASCADE"),
        _fk("request_id", "patrol_checkins", "requests", "SET NULL"),
    )
    op.create_index(op.f("ix_patrol_checkins_day_building"), "patrol_checkins", ["day", "building_id"])


def downgrade() -> None:
    op.drop_table("patrol_checkins")
    op.drop_table("patrol_rotas")
    op.drop_table("notice_acks")
    op.drop_table("notice_deliveries")
    op.drop_table("notices")
    op.drop_table("apscheduler_jobs")
