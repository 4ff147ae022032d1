"""Training runs: each registered model version and the promotion gate's decision on it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)
_NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "training_runs",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("timestamp", _TIMESTAMP, nullable=False, server_default=_NOW),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("family", sa.String(32), nullable=True),
        sa.Column("n_train", sa.Integer(), nullable=True),
        sa.Column("metrics", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("reference_rmse", sa.Float(), nullable=True),
        sa.Column("champion_version_before", sa.String(), nullable=True),
        sa.Column("rmse_diff", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("latency_ms_per_row", sa.Float(), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_runs")),
        sa.CheckConstraint("decision IN ('promoted', 'rejected')", name=op.f("ck_training_runs_decision")),
        sa.CheckConstraint(
            "trigger IN ('cli', 'retrain', 'cold_start', 'manual')", name=op.f("ck_training_runs_trigger")
        ),
    )
    op.create_index(op.f("ix_training_runs_timestamp"), "training_runs", ["timestamp"])
    op.create_index(op.f("ix_training_runs_model_version"), "training_runs", ["model_version"])


def downgrade() -> None:
    op.drop_index(op.f("ix_training_runs_model_version"), table_name="training_runs")
    op.drop_index(op.f("ix_training_runs_timestamp"), table_name="training_runs")
    op.drop_table("training_runs")
