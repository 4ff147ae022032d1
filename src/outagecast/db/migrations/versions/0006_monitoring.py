"""Monitoring: monitor runs, per-feature drift results, incident outcomes and realised error.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)
_NOW = sa.text("CURRENT_TIMESTAMP")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "monitor_runs",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("timestamp", _TIMESTAMP, nullable=False, server_default=_NOW),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("model_version", sa.String(), nullable=True),
        sa.Column("source", sa.String(16), nullable=True),
        sa.Column("window_rows", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("window_start", _TIMESTAMP, nullable=True),
        sa.Column("window_end", _TIMESTAMP, nullable=True),
        sa.Column("drift_detected", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("prediction_drift", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("drifted_features", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_runs")),
        sa.CheckConstraint("status IN ('ok', 'skipped', 'failed')", name=op.f("ck_monitor_runs_status")),
    )
    op.create_index(op.f("ix_monitor_runs_timestamp"), "monitor_runs", ["timestamp"])
    op.create_table(
        "drift_results",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("feature", sa.String(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("test", sa.String(8), nullable=False),
        sa.Column("statistic", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("psi", sa.Float(), nullable=True),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_results")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["monitor_runs.id"],
            name=op.f("fk_drift_results_run_id_monitor_runs"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("run_id", "feature", name=op.f("uq_drift_results_run_id_feature")),
        sa.CheckConstraint("kind IN ('numeric', 'categorical')", name=op.f("ck_drift_results_kind")),
        sa.CheckConstraint("test IN ('ks', 'chi2')", name=op.f("ck_drift_results_test")),
    )
    op.create_index(op.f("ix_drift_results_feature_run_id"), "drift_results", ["feature", "run_id"])
    op.create_table(
        "incident_outcomes",
        sa.Column("incident_id", sa.String(), nullable=False),
        sa.Column("actual_hours", sa.Float(), nullable=False),
        sa.Column("observed_at", _TIMESTAMP, nullable=False, server_default=_NOW),
        sa.Column("filename", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_incident_outcomes")),
    )
    # The realised-error join looks predictions up by incident.
    op.create_index(op.f("ix_predictions_incident_id"), "predictions", ["incident_id"])
    op.create_table(
        "realised_errors",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("matched_rows", sa.Integer(), nullable=False),
        sa.Column("mae", sa.Float(), nullable=True),
        sa.Column("bias", sa.Float(), nullable=True),
        sa.Column("rmse", sa.Float(), nullable=True),
        sa.Column("interval_coverage", sa.Float(), nullable=True),
        sa.Column("nominal_coverage", sa.Float(), nullable=True),
        sa.Column("training_mae", sa.Float(), nullable=True),
        sa.Column("error_ratio", sa.Float(), nullable=True),
        sa.Column("degraded", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_realised_errors")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["monitor_runs.id"],
            name=op.f("fk_realised_errors_run_id_monitor_runs"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("run_id", "model_version", name=op.f("uq_realised_errors_run_id_model_version")),
    )
    op.create_index(
        op.f("ix_realised_errors_model_version_run_id"), "realised_errors", ["model_version", "run_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_realised_errors_model_version_run_id"), table_name="realised_errors")
    op.drop_table("realised_errors")
    op.drop_index(op.f("ix_predictions_incident_id"), table_name="predictions")
    op.drop_table("incident_outcomes")
    op.drop_index(op.f("ix_drift_results_feature_run_id"), table_name="drift_results")
    op.drop_table("drift_results")
    op.drop_index(op.f("ix_monitor_runs_timestamp"), table_name="monitor_runs")
    op.drop_table("monitor_runs")
