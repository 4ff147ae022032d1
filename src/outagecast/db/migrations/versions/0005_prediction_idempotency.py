"""Idempotent ``POST /predict`` (prediction_requests, index on predictions.request_id) and the
scheduled prediction ledger (predicted_files) and the retraining ledger (training_inputs).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)
_NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_index(op.f("ix_predictions_request_id"), "predictions", ["request_id"])
    op.create_table(
        "prediction_requests",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=_NOW),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_prediction_requests")),
    )
    op.create_table(
        "predicted_files",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("chunks_total", sa.Integer(), nullable=True),
        sa.Column("chunks_done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=_NOW),
        sa.Column("updated_at", _TIMESTAMP, nullable=True),
        sa.Column("finished_at", _TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predicted_files")),
        sa.UniqueConstraint("filename", name=op.f("uq_predicted_files_filename")),
        sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name=op.f("ck_predicted_files_state")),
    )
    op.create_index(op.f("ix_predicted_files_state"), "predicted_files", ["state"])
    op.create_table(
        "training_inputs",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("model_version", sa.String(), nullable=True),
        sa.Column("consumed_at", _TIMESTAMP, nullable=False, server_default=_NOW),
        sa.Column("archived_name", sa.String(), nullable=True),
        sa.Column("archived_at", _TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_inputs")),
        sa.UniqueConstraint("filename", name=op.f("uq_training_inputs_filename")),
        sa.CheckConstraint("state IN ('consumed', 'archived')", name=op.f("ck_training_inputs_state")),
    )
    op.create_index(op.f("ix_training_inputs_state"), "training_inputs", ["state"])


def downgrade() -> None:
    op.drop_index(op.f("ix_training_inputs_state"), table_name="training_inputs")
    op.drop_table("training_inputs")
    op.drop_index(op.f("ix_predicted_files_state"), table_name="predicted_files")
    op.drop_table("predicted_files")
    op.drop_table("prediction_requests")
    op.drop_index(op.f("ix_predictions_request_id"), table_name="predictions")
