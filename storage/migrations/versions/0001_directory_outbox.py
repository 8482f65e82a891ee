"""The community directory (units, groups, persons, accounts), message dedupe and the outbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["units.id"], name=op.f("fk_units_parent_id_units"), ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("parent_id", "name", name=op.f("uq_units_parent_name")),
        sa.CheckConstraint("parent_id IS NOT NULL OR kind = 'street'", name=op.f("ck_units_root_is_street")),
    )
    op.create_index(op.f("ix_units_parent_id"), "units", ["parent_id"])

    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_groups_unit_id_units"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("platform", "external_id", name=op.f("uq_groups_platform_external")),
    )
    op.create_index(op.f("ix_groups_unit_id"), "groups", ["unit_id"])

    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("title", sa.String(50), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_persons_unit_id_units"), ondelete="SET NULL"
        ),
        sa.UniqueConstraint("key", name=op.f("uq_persons_key")),
        sa.CheckConstraint("source IN ('directory', 'chat')", name=op.f("ck_persons_source")),
        sa.CheckConstraint("source = 'chat' OR key IS NOT NULL", name=op.f("ck_persons_directory_has_key")),
    )
    op.create_index(op.f("ix_persons_role"), "persons", ["role"])
    op.create_index(op.f("ix_persons_unit_id"), "persons", ["unit_id"])

    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_accounts_person_id_persons"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("platform", "external_id", name=op.f("uq_accounts_platform_external")),
    )
    op.create_index(op.f("ix_accounts_person_id"), "accounts", ["person_id"])

    op.create_table(
        "processed_messages",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "message_id", name=op.f("pk_processed_messages")),
    )
    op.create_index(op.f("ix_processed_messages_received_at"), "processed_messages", ["received_at"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("target_kind", sa.String(8), nullable=False),
        sa.Column("target_id", sa.String(128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("reply_to", sa.String(128), nullable=True),
        sa.Column("origin", sa.String(128), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_message_id", sa.String(128), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.CheckConstraint("status IN ('pending', 'sent', 'dead')", name=op.f("ck_outbox_status")),
        sa.CheckConstraint("target_kind IN ('group', 'user')", name=op.f("ck_outbox_target_kind")),
    )
    # The outbox worker's query: pending entries whose time has come.
    op.create_index(op.f("ix_outbox_status_due"), "outbox", ["status", "next_attempt_at"])
    # A reply to one of the bot's messages is traced back to the entry that sent it.
    op.create_index(op.f("ix_outbox_sent_message"), "outbox", ["platform", "sent_message_id"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("processed_messages")
    op.drop_table("accounts")
    op.drop_table("persons")
    op.drop_table("groups")
    op.drop_table("units")
