"""Create predictions and ingestion_stats.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand and frozen: later schema changes go in new revisions, never here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)
_NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("timestamp", _TIMESTAMP, nullable=False, server_default=_NOW),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False, server_default="webapp"),
        sa.Column("cloud_provider", sa.String(), nullable=True),
        sa.Column("service", sa.String(), nullable=True),
        sa.Column("severity", sa.String(), nullable=True),
        sa.Column("start_time", _TIMESTAMP, nullable=True),
        sa.Column("system_load_before_outage", sa.Float(), nullable=True),
        sa.Column("system_load_imputed", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("number_of_customers_affected", sa.Integer(), nullable=True),
        sa.Column("ticket_count", sa.Integer(), nullable=True),
        sa.Column("backup_system_triggered", sa.String(3), nullable=True),
        sa.Column("predicted_hours", sa.Float(), nullable=False),
        sa.Column("is_anomaly", sa.Boolean(), nullable=False),
        sa.Column("predicted_end_time", _TIMESTAMP, nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("incident_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
        sa.CheckConstraint("source IN ('webapp', 'scheduled')", name=op.f("ck_predictions_source")),
    )
    op.create_index(op.f("ix_predictions_timestamp"), "predictions", ["timestamp"])
    op.create_index(op.f("ix_predictions_source_timestamp"), "predictions", ["source", "timestamp"])
    op.create_index(
        op.f("ix_predictions_model_version_timestamp"), "predictions", ["model_version", "timestamp"]
    )
    op.create_index(op.f("ix_predictions_is_anomaly_timestamp"), "predictions", ["is_anomaly", "timestamp"])

    op.create_table(
        "ingestion_stats",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("timestamp", _TIMESTAMP, nullable=False, server_default=_NOW),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("valid_rows", sa.Integer(), nullable=False),
        sa.Column("invalid_rows", sa.Integer(), nullable=False),
        sa.Column("criticality", sa.String(8), nullable=False),
        sa.Column("error_types", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("data_docs_url", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingestion_stats")),
        sa.CheckConstraint(
            "criticality IN ('none', 'low', 'medium', 'high')", name=op.f("ck_ingestion_stats_criticality")
        ),
    )
    op.create_index(op.f("ix_ingestion_stats_timestamp"), "ingestion_stats", ["timestamp"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ingestion_stats_timestamp"), table_name="ingestion_stats")
    op.drop_table("ingestion_stats")
    op.drop_index(op.f("ix_predictions_is_anomaly_timestamp"), table_name="predictions")
    op.drop_index(op.f("ix_predictions_model_version_timestamp"), table_name="predictions")
    op.drop_index(op.f("ix_predictions_source_timestamp"), table_name="predictions")
    op.drop_index(op.f("ix_predictions_timestamp"), table_name="predictions")
    op.drop_table("predictions")
