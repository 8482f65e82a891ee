"""When a request was withdrawn (撤销), recorded rather than derived.

A withdrawn request was recognised as one closed with neither `satisfied` nor `unconfirmed` set: any
later way of closing a request that forgot both would have read as withdrawn. `withdrawn_at` is set by
撤销 alone. Requests withdrawn before this revision get the time of their `withdrawn` event.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables as this revision knows them, with the stored values of EventKind.WITHDRAWN and
# RequestStatus.CLOSED written out: the models may change after this revision, its data may not.
_requests = sa.table(
    "requests",
    sa.column("id", sa.Integer()),
    sa.column("status", sa.String(16)),
    sa.column("withdrawn_at", sa.DateTime(timezone=True)),
)
_events = sa.table(
    "request_events",
    sa.column("request_id", sa.Integer()),
    sa.column("kind", sa.String(24)),
    sa.column("at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    # A nullable column without a default: a plain ALTER TABLE ADD COLUMN on SQLite too, no batch copy.
    op.add_column("requests", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(_backfill())


def _backfill() -> sa.Update:
    """Each closed request with a `withdrawn` event gets that event's time. 撤销 needs an open request
    and a withdrawn one never reopens, so there is one such event; the latest is taken all the same.
    The value is copied in the database, column to column, so it keeps the stored form of `at` on
    either backend (naive UTC text on SQLite, timestamptz on PostgreSQL)."""
    withdrawn = (
        sa.select(sa.func.max(_events.c.at))
        .where(_events.c.request_id == _requests.c.id, _events.c.kind == "withdrawn")
        .scalar_subquery()
    )
    return (
        _requests.update()
        .where(_requests.c.status == "closed", withdrawn.is_not(None))
        .values(withdrawn_at=withdrawn)
    )


def downgrade() -> None:
    # Not in batch mode: on SQLite a batch copy drops and recreates `requests`, and with foreign keys on
    # (they are, and cannot be switched off inside the migration's transaction) dropping it would
    # cascade to request_events and request_reporters. SQLite 3.35+ drops an unindexed column in place.
    op.drop_column("requests", "withdrawn_at")
