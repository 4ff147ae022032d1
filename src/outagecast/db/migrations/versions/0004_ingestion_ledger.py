"""Ingestion ledger (one row per claim of a raw file) and the alert log (throttle state).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)
_NOW = sa.text("CURRENT_TIMESTAMP")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ingested_files",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("claim_id", sa.String(40), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("content_key", sa.String(64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("output_name", sa.String(), nullable=True),
        sa.Column("claimed_at", _TIMESTAMP, nullable=False, server_default=_NOW),
        sa.Column("finished_at", _TIMESTAMP, nullable=True),
        sa.Column("lease_expires_at", _TIMESTAMP, nullable=True),
        sa.Column("total_rows", sa.Integer(), nullable=True),
        sa.Column("valid_rows", sa.Integer(), nullable=True),
        sa.Column("invalid_rows", sa.Integer(), nullable=True),
        sa.Column("criticality", sa.String(8), nullable=True),
        sa.Column("ingestion_stat_id", _ID, nullable=True),
        sa.Column("outputs_written_at", _TIMESTAMP, nullable=True),
        sa.Column("alerted_at", _TIMESTAMP, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingested_files")),
        sa.ForeignKeyConstraint(
            ["ingestion_stat_id"],
            ["ingestion_stats.id"],
            name=op.f("fk_ingested_files_ingestion_stat_id_ingestion_stats"),
        ),
        sa.UniqueConstraint("claim_id", name=op.f("uq_ingested_files_claim_id")),
        sa.UniqueConstraint("content_key", name=op.f("uq_ingested_files_content_key")),
        sa.UniqueConstraint("ingestion_stat_id", name=op.f("uq_ingested_files_ingestion_stat_id")),
        sa.CheckConstraint(
            "state IN ('claimed', 'done', 'quarantined', 'duplicate', 'released')",
            name=op.f("ck_ingested_files_state"),
        ),
    )
    op.create_index(op.f("ix_ingested_files_content_sha256"), "ingested_files", ["content_sha256"])
    op.create_index(op.f("ix_ingested_files_state_claimed_at"), "ingested_files", ["state", "claimed_at"])

    op.create_table(
        "alert_log",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("timestamp", _TIMESTAMP, nullable=False, server_default=_NOW),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("facts", _JSON, nullable=False),
        sa.Column("link", sa.String(), nullable=True),
        sa.Column("suppressed_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("suppressed_since", _TIMESTAMP, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_log")),
        sa.CheckConstraint(
            "status IN ('suppressed', 'sending', 'sent', 'failed', 'logged')",
            name=op.f("ck_alert_log_status"),
        ),
    )
    op.create_index(op.f("ix_alert_log_kind_timestamp"), "alert_log", ["kind", "timestamp"])


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_log_kind_timestamp"), table_name="alert_log")
    op.drop_table("alert_log")
    op.drop_index(op.f("ix_ingested_files_state_claimed_at"), table_name="ingested_files")
    op.drop_index(op.f("ix_ingested_files_content_sha256"), table_name="ingested_files")
    op.drop_table("ingested_files")
