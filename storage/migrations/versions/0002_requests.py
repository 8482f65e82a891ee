"""Requests (工单): requests, their co-reporters and their timeline.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("summary", sa.String(100), nullable=False),
        sa.Column("objects", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("place_unit", sa.String(16), nullable=True),
        sa.Column("place_floor", sa.String(16), nullable=True),
        sa.Column("place_room", sa.String(16), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("reporters_count", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("group_external_id", sa.String(128), nullable=True),
        sa.Column("message_id", sa.String(128), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("owner_level", sa.String(16), nullable=True),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        _when("ack_due_at"),
        _when("resolve_due_at"),
        _when("acknowledged_at"),
        _when("resolved_at"),
        _when("closed_at"),
        _when("reminded_at"),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("escalation_exhausted", sa.Boolean(), nullable=False),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("satisfied", sa.Boolean(), nullable=True),
        sa.Column("unconfirmed", sa.Boolean(), nullable=False),
        sa.Column("found_on_patrol", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
        sa.ForeignKeyConstraint(
            ["building_id"], ["units.id"], name=op.f("fk_requests_building_id_units"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["persons.id"], name=op.f("fk_requests_reporter_id_persons"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["persons.id"], name=op.f("fk_requests_owner_id_persons"), ondelete="SET NULL"
        ),
        sa.CheckConstraint(
            "status IN ('new', 'acknowledged', 'in_progress', 'resolved', 'closed')",
            name=op.f("ck_requests_status"),
        ),
    )
    # Merge lookup and "open requests in this building".
    op.create_index(op.f("ix_requests_building_status"), "requests", ["building_id", "status"])
    # 待办: open requests by owner.
    op.create_index(op.f("ix_requests_owner_status"), "requests", ["owner_id", "status"])
    # The sweep and the figures: by status, by age.
    op.create_index(op.f("ix_requests_status_created"), "requests", ["status", "created_at"])
    op.create_index(op.f("ix_requests_reporter_id"), "requests", ["reporter_id"])

    op.create_table(
        "request_reporters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        _when("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_reporters")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_request_reporters_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_request_reporters_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("request_id", "person_id", name=op.f("uq_request_reporters_person")),
    )
    op.create_index(op.f("ix_request_reporters_request_id"), "request_reporters", ["request_id"])
    op.create_index(op.f("ix_request_reporters_person_id"), "request_reporters", ["person_id"])

    op.create_table(
        "request_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        _when("at", nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("old", sa.String(100), nullable=True),
        sa.Column("new", sa.String(100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_events")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_request_events_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["persons.id"], name=op.f("fk_request_events_actor_id_persons"), ondelete="SET NULL"
        ),
    )
    op.create_index(op.f("ix_request_events_request_at"), "request_events", ["request_id", "at"])


def downgrade() -> None:
    op.drop_table("request_events")
    op.drop_table("request_reporters")
    op.drop_table("requests")
