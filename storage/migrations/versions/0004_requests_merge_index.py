"""An index for merge candidates: a building's requests of one category, newest first.

Every report looks for an open request of its category in its building to merge into. With only
(building_id, status) indexed, that read every open request of the building, whatever its category: a
few hundred rows per report in a busy building.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_requests_building_category_created"), "requests", ["building_id", "category", "created_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_requests_building_category_created"), table_name="requests")
