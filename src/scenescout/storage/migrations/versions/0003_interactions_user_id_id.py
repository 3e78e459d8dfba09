"""Index interactions by ``(user_id, id)``, so a serving process reads a user's interactions
stored after an id without scanning every interaction stored after it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_user_interactions_user_id_id"), "user_interactions", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_user_interactions_user_id_id"), table_name="user_interactions")
