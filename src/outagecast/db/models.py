"""The ORM: the tables OutageCast stores (SQLAlchemy 2 typed declarative).

Schema changes go through Alembic (``db/migrations``); a test checks that the migrated
schema matches this metadata on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Allowed values of the constrained string columns (the database enforces them too).
SOURCES: Final = ("webapp", "scheduled")
CRITICALITIES: Final = ("none", "low", "medium", "high")

# Deterministic constraint and index names: SQLite batch migrations and later
# drop/alter operations need to name constraints the same way on every backend.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an ``INTEGER PRIMARY KEY``; PostgreSQL gets a 64-bit id.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")
JsonDoc = JSON().with_variant(JSONB(), "postgresql")
# Portable "now" for rows written by raw SQL; the ORM fills timestamps itself (utcnow).
SERVER_NOW = text("CURRENT_TIMESTAMP")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    """CHECK constraint text for a column limited to fixed literals (our constants, never input)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back as an aware UTC ``datetime``.

    SQLite keeps no offset (an aware value would be written as local wall time and read
    back naive), so values are converted to UTC on the way in on every backend. A naive
    value is taken to be UTC already, as the dataset's timestamps are.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite stores text: drop the (now always UTC) offset so every row sorts and
        # compares as the same "YYYY-MM-DD HH:MM:SS.ffffff" string form.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every OutageCast table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Prediction(Base):
    """One served prediction: the eight inputs, the output and where it came from."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    timestamp: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=SERVER_NOW
    )
    model_version: Mapped[str] = mapped_column(String(), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="webapp", server_default="webapp")
    # The eight model inputs (schema.FEATURES), as used for the prediction.
    cloud_provider: Mapped[str | None] = mapped_column(String())
    service: Mapped[str | None] = mapped_column(String())
    severity: Mapped[str | None] = mapped_column(String())
    start_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    system_load_before_outage: Mapped[float | None] = mapped_column(Float())
    # True when system_load_before_outage was filled in, so monitoring can leave it out.
    system_load_imputed: Mapped[bool] = mapped_column(
        Boolean(), nullable=False, default=False, server_default=text("false")
    )
    number_of_customers_affected: Mapped[int | None] = mapped_column(Integer())
    ticket_count: Mapped[int | None] = mapped_column(Integer())
    backup_system_triggered: Mapped[str | None] = mapped_column(String(3))
    # Outputs.
    predicted_hours: Mapped[float] = mapped_column(Float(), nullable=False)
    is_anomaly: Mapped[bool] = mapped_column(Boolean(), nullable=False)
    predicted_end_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Prediction interval (revision 0002): bounds in hours and their nominal coverage.
    predicted_hours_low: Mapped[float | None] = mapped_column(Float())
    predicted_hours_high: Mapped[float | None] = mapped_column(Float())
    interval_coverage: Mapped[float | None] = mapped_column(Float())
    # sha256 hex of the request's Idempotency-Key (revision 0005; the key's row: prediction_requests).
    request_id: Mapped[str | None] = mapped_column(String(64))
    incident_id: Mapped[str | None] = mapped_column(String())

    __table_args__ = (
        CheckConstraint(_one_of("source", SOURCES), name="source"),
        # One index per past-predictions filter, each ending in timestamp for the
        # newest-first ordering.
        Index("ix_predictions_timestamp", "timestamp"),
        Index("ix_predictions_source_timestamp", "source", "timestamp"),
        Index("ix_predictions_model_version_timestamp", "model_version", "timestamp"),
        Index("ix_predictions_is_anomaly_timestamp", "is_anomaly", "timestamp"),
        Index("ix_predictions_request_id", "request_id"),
        Index("ix_predictions_incident_id", "incident_id"),
    )

    def __repr__(self) -> str:
        return f"Prediction(id={self.id!r}, timestamp={self.timestamp!r}, source={self.source!r})"


class IngestionStat(Base):
    """What one ingested CSV file held: row counts, error types and the resulting criticality."""

    __tablename__ = "ingestion_stats"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    timestamp: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=SERVER_NOW
    )
    filename: Mapped[str] = mapped_column(String(), nullable=False)
    total_rows: Mapped[int] = mapped_column(Integer(), nullable=False)
    valid_rows: Mapped[int] = mapped_column(Integer(), nullable=False)
    invalid_rows: Mapped[int] = mapped_column(Integer(), nullable=False)
    criticality: Mapped[str] = mapped_column(String(8), nullable=False)
    # Error type -> number of rows (or occurrences) with that error.
    error_types: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    data_docs_url: Mapped[str | None] = mapped_column(String())

    __table_args__ = (
        CheckConstraint(_one_of("criticality", CRITICALITIES), name="criticality"),
        Index("ix_ingestion_stats_timestamp", "timestamp"),
    )

    def __repr__(self) -> str:
        return f"IngestionStat(id={self.id!r}, filename={self.filename!r}, criticality={self.criticality!r})"


# Outcomes and causes of a training run (revision 0003).
TRAINING_DECISIONS: Final = ("promoted", "rejected")
TRAINING_TRIGGERS: Final = ("cli", "retrain", "cold_start", "manual")


class TrainingRun(Base):
    """One registered model version and the promotion gate's verdict on it (or a manual promotion)."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    timestamp: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=SERVER_NOW
    )
    # Registry version, e.g. "outage_duration/3", and the MLflow run that produced it.
    model_version: Mapped[str] = mapped_column(String(), nullable=False)
    run_id: Mapped[str | None] = mapped_column(String(64))
    family: Mapped[str | None] = mapped_column(String(32))
    n_train: Mapped[int | None] = mapped_column(Integer())
    # Held-out metrics of the training run (rmse, mae, r2, oracle_rmse, ...).
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    # The gate: RMSE on the fixed reference set, the champion it was compared with, and the
    # bootstrap confidence interval of rmse(candidate) - rmse(champion), in hours.
    reference_rmse: Mapped[float | None] = mapped_column(Float())
    champion_version_before: Mapped[str | None] = mapped_column(String())
    rmse_diff: Mapped[float | None] = mapped_column(Float())
    ci_low: Mapped[float | None] = mapped_column(Float())
    ci_high: Mapped[float | None] = mapped_column(Float())
    latency_ms_per_row: Mapped[float | None] = mapped_column(Float())
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text(), nullable=False)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)

    __table_args__ = (
        CheckConstraint(_one_of("decision", TRAINING_DECISIONS), name="decision"),
        CheckConstraint(_one_of("trigger", TRAINING_TRIGGERS), name="trigger"),
        Index("ix_training_runs_timestamp", "timestamp"),
        Index("ix_training_runs_model_version", "model_version"),
    )

    def __repr__(self) -> str:
        return (
            f"TrainingRun(id={self.id!r}, model_version={self.model_version!r}, decision={self.decision!r})"
        )


# The life of a file in the ingestion ledger (revision 0004; docs: pipelines/ingest.py).
INGEST_STATES: Final = ("claimed", "done", "quarantined", "duplicate", "released")


class IngestedFile(Base):
    """One claim of a raw file by the ingestion job: what it held and how far its processing got.

    ``content_key`` equals ``content_sha256`` on the one row that owns a content (claimed, done or
    quarantined) and is NULL on duplicate and released rows; being unique, it makes a content
    counted, and its ``ingestion_stats`` row inserted, once.
    """

    __tablename__ = "ingested_files"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(String(40), nullable=False)
    filename: Mapped[str] = mapped_column(String(), nullable=False)  # name in raw_data/
    content_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    content_key: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    # Name of the outputs in good_data/ and bad_data/ (the source name, suffixed on a collision).
    output_name: Mapped[str | None] = mapped_column(String())
    claimed_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=SERVER_NOW
    )
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set while an Airflow task works on the claim between tasks; NULL: held by the run lock only.
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    total_rows: Mapped[int | None] = mapped_column(Integer())
    valid_rows: Mapped[int | None] = mapped_column(Integer())
    invalid_rows: Mapped[int | None] = mapped_column(Integer())
    criticality: Mapped[str | None] = mapped_column(String(8))
    ingestion_stat_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("ingestion_stats.id"))
    outputs_written_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why a file was quarantined, marked duplicate or released (sentence for people).
    reason: Mapped[str | None] = mapped_column(Text())

    __table_args__ = (
        CheckConstraint(_one_of("state", INGEST_STATES), name="state"),
        UniqueConstraint("claim_id"),
        UniqueConstraint("content_key"),
        UniqueConstraint("ingestion_stat_id"),
        Index("ix_ingested_files_content_sha256", "content_sha256"),
        Index("ix_ingested_files_state_claimed_at", "state", "claimed_at"),
    )

    def __repr__(self) -> str:
        return f"IngestedFile(id={self.id!r}, filename={self.filename!r}, state={self.state!r})"


# What became of one alert (revision 0004; docs: outagecast/alerts.py).
ALERT_STATUSES: Final = ("suppressed", "sending", "sent", "failed", "logged")


class AlertLog(Base):
    """Every alert raised, sent or suppressed by the throttle; the throttle's state across processes."""

    __tablename__ = "alert_log"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    timestamp: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=SERVER_NOW
    )
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    title: Mapped[str] = mapped_column(Text(), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    facts: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    link: Mapped[str | None] = mapped_column(String())
    # Suppressed alerts of the same kind this one summarised ("+N more since ...").
    suppressed_count: Mapped[int] = mapped_column(Integer(), nullable=False, default=0, server_default="0")
    suppressed_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer(), nullable=False, default=0, server_default="0")
    detail: Mapped[str | None] = mapped_column(Text())  # last HTTP status or error

    __table_args__ = (
        CheckConstraint(_one_of("status", ALERT_STATUSES), name="status"),
        Index("ix_alert_log_kind_timestamp", "kind", "timestamp"),
    )

    def __repr__(self) -> str:
        return f"AlertLog(id={self.id!r}, kind={self.kind!r}, status={self.status!r})"


class PredictionRequest(Base):
    """One ``POST /predict`` batch sent with an ``Idempotency-Key`` (revision 0005).

    Inserted first in the batch's transaction: a concurrent duplicate fails on the primary key
    and answers with the stored predictions instead of inserting them again.
    """

    __tablename__ = "prediction_requests"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the header
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=SERVER_NOW
    )
    row_count: Mapped[int] = mapped_column(Integer(), nullable=False)

    def __repr__(self) -> str:
        return f"PredictionRequest(key={self.key!r}, row_count={self.row_count!r})"


# The life of a good-data file in the scheduled prediction ledger (revision 0005).
PREDICTED_FILE_STATES: Final = ("pending", "done", "failed")


class PredictedFile(Base):
    """A good-data file the scheduled prediction job sends to the API, chunk by chunk."""

    __tablename__ = "predicted_files"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(), nullable=False)  # name in good_data/
    content_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    rows: Mapped[int | None] = mapped_column(Integer())
    chunks_total: Mapped[int | None] = mapped_column(Integer())
    chunks_done: Mapped[int] = mapped_column(Integer(), nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=SERVER_NOW
    )
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text())

    __table_args__ = (
        CheckConstraint(_one_of("state", PREDICTED_FILE_STATES), name="state"),
        UniqueConstraint("filename"),
        Index("ix_predicted_files_state", "state"),
    )

    def __repr__(self) -> str:
        return f"PredictedFile(id={self.id!r}, filename={self.filename!r}, state={self.state!r})"


# The life of a good-data file consumed by a retraining (revision 0005; docs: pipelines/retrain.py).
TRAINING_INPUT_STATES: Final = ("consumed", "archived")


class TrainingInput(Base):
    """A good-data file a retraining used: ``consumed`` once trained on, ``archived`` once moved away."""

    __tablename__ = "training_inputs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(), nullable=False)  # name in good_data/
    content_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    rows: Mapped[int] = mapped_column(Integer(), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    model_version: Mapped[str | None] = mapped_column(String())  # the version trained on it
    consumed_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=SERVER_NOW
    )
    archived_name: Mapped[str | None] = mapped_column(String())  # name in archived_data/
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint(_one_of("state", TRAINING_INPUT_STATES), name="state"),
        UniqueConstraint("filename"),
        Index("ix_training_inputs_state", "state"),
    )

    def __repr__(self) -> str:
        return f"TrainingInput(id={self.id!r}, filename={self.filename!r}, state={self.state!r})"


# Monitoring (revision 0006; docs: outagecast/monitoring). A run's outcome: ``ok`` when the
# statistics were computed, ``skipped`` when there was nothing to judge (no champion, too few
# rows), ``failed`` when the job broke (``message`` says why).
MONITOR_RUN_STATUSES: Final = ("ok", "skipped", "failed")
DRIFT_KINDS: Final = ("numeric", "categorical")
DRIFT_TESTS: Final = ("ks", "chi2")


class MonitorRun(Base):
    """One run of the monitor job: the window of served predictions it judged and its verdict."""

    __tablename__ = "monitor_runs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    timestamp: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=SERVER_NOW
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    message: Mapped[str | None] = mapped_column(Text())
    # The champion whose training baseline the window was compared with.
    model_version: Mapped[str | None] = mapped_column(String())
    source: Mapped[str | None] = mapped_column(String(16))  # None: every source
    window_rows: Mapped[int] = mapped_column(Integer(), nullable=False, default=0, server_default="0")
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime())  # oldest prediction judged
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime())  # newest prediction judged
    drift_detected: Mapped[bool] = mapped_column(
        Boolean(), nullable=False, default=False, server_default=text("false")
    )
    prediction_drift: Mapped[bool] = mapped_column(
        Boolean(), nullable=False, default=False, server_default=text("false")
    )
    drifted_features: Mapped[list[str]] = mapped_column(JsonDoc, nullable=False, default=list)

    __table_args__ = (
        CheckConstraint(_one_of("status", MONITOR_RUN_STATUSES), name="status"),
        Index("ix_monitor_runs_timestamp", "timestamp"),
    )

    def __repr__(self) -> str:
        return f"MonitorRun(id={self.id!r}, status={self.status!r}, drift_detected={self.drift_detected!r})"


class DriftResult(Base):
    """One feature's (or the predictions') drift statistics in one monitor run."""

    __tablename__ = "drift_results"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("monitor_runs.id", ondelete="CASCADE"), nullable=False
    )
    feature: Mapped[str] = mapped_column(String(), nullable=False)  # input column, or "predicted_hours"
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    test: Mapped[str] = mapped_column(String(8), nullable=False)
    statistic: Mapped[float | None] = mapped_column(Float())
    p_value: Mapped[float | None] = mapped_column(Float())
    psi: Mapped[float | None] = mapped_column(Float())
    drifted: Mapped[bool] = mapped_column(Boolean(), nullable=False)
    rows: Mapped[int] = mapped_column(Integer(), nullable=False)  # non-missing window values tested

    __table_args__ = (
        CheckConstraint(_one_of("kind", DRIFT_KINDS), name="kind"),
        CheckConstraint(_one_of("test", DRIFT_TESTS), name="test"),
        UniqueConstraint("run_id", "feature"),
        Index("ix_drift_results_feature_run_id", "feature", "run_id"),
    )

    def __repr__(self) -> str:
        return f"DriftResult(run_id={self.run_id!r}, feature={self.feature!r}, drifted={self.drifted!r})"


class IncidentOutcome(Base):
    """The actual duration of an incident, learnt when ingested good data brought its end time."""

    __tablename__ = "incident_outcomes"

    incident_id: Mapped[str] = mapped_column(String(), primary_key=True)
    actual_hours: Mapped[float] = mapped_column(Float(), nullable=False)
    observed_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=SERVER_NOW
    )
    filename: Mapped[str | None] = mapped_column(String())  # the ingested file that brought it

    def __repr__(self) -> str:
        return f"IncidentOutcome(incident_id={self.incident_id!r}, actual_hours={self.actual_hours!r})"


class RealisedError(Base):
    """Realised error of one model version over the predictions whose outcome is known, per run."""

    __tablename__ = "realised_errors"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("monitor_runs.id", ondelete="CASCADE"), nullable=False
    )
    model_version: Mapped[str] = mapped_column(String(), nullable=False)
    matched_rows: Mapped[int] = mapped_column(Integer(), nullable=False)
    mae: Mapped[float | None] = mapped_column(Float())
    bias: Mapped[float | None] = mapped_column(Float())  # mean of predicted - actual, hours
    rmse: Mapped[float | None] = mapped_column(Float())
    interval_coverage: Mapped[float | None] = mapped_column(Float())  # share of actuals inside
    nominal_coverage: Mapped[float | None] = mapped_column(Float())
    training_mae: Mapped[float | None] = mapped_column(Float())  # the version's held-out MAE
    error_ratio: Mapped[float | None] = mapped_column(Float())  # mae / training_mae
    degraded: Mapped[bool] = mapped_column(
        Boolean(), nullable=False, default=False, server_default=text("false")
    )

    __table_args__ = (
        UniqueConstraint("run_id", "model_version"),
        Index("ix_realised_errors_model_version_run_id", "model_version", "run_id"),
    )

    def __repr__(self) -> str:
        return f"RealisedError(run_id={self.run_id!r}, model_version={self.model_version!r})"
