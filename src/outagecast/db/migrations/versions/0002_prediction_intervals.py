"""Prediction intervals: low and high bounds and their nominal coverage.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: rows stored before intervals existed have none.
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("predicted_hours_low", sa.Float(), nullable=True))
        batch.add_column(sa.Column("predicted_hours_high", sa.Float(), nullable=True))
        batch.add_column(sa.Column("interval_coverage", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("interval_coverage")
        batch.drop_column("predicted_hours_high")
        batch.drop_column("predicted_hours_low")
