"""Index events by ``updated_at``, so serving processes read recent changes cheaply.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_events_updated_at"), "events", ["updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_events_updated_at"), table_name="events")
