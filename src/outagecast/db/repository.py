"""Reads and writes of the OutageCast tables: keyword-only functions taking a session.

None of them commits: the caller owns the transaction (one per API request or job run).
Every value travels as a bound parameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Column, Select, func, insert, select, text, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from outagecast.db.models import (
    ALERT_STATUSES,
    CRITICALITIES,
    INGEST_STATES,
    PREDICTED_FILE_STATES,
    SOURCES,
    TRAINING_DECISIONS,
    TRAINING_TRIGGERS,
    AlertLog,
    DriftResult,
    IncidentOutcome,
    IngestedFile,
    IngestionStat,
    MonitorRun,
    PredictedFile,
    Prediction,
    PredictionRequest,
    RealisedError,
    TrainingInput,
    TrainingRun,
    UTCDateTime,
    utcnow,
)

SourceFilter = Literal["all", "webapp", "scheduled"]

_PREDICTION_KEYS = frozenset(Prediction.__table__.columns.keys()) - {"id"}


def _day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day`` (dates are UTC calendar days)."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def _within_days(
    stmt: Select[Any], column: InstrumentedAttribute[datetime], start: date | None, end: date | None
) -> Select[Any]:
    # Half-open range [start, end + 1 day): the end date is inclusive whatever the time of day.
    if start is not None:
        stmt = stmt.where(column >= _day_start(start))
    if end is not None:
        stmt = stmt.where(column < _day_start(end + timedelta(days=1)))
    return stmt


def _check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValueError(f"limit and offset must be >= 0, got limit={limit}, offset={offset}")


def insert_predictions(session: Session, *, rows: list[dict[str, Any]]) -> list[int]:
    """Insert predictions with one bulk INSERT and return their ids, in the order of ``rows``.

    Args:
        session: open session; the caller commits.
        rows: one mapping per prediction, keyed by ``Prediction`` column names. Omitted
            columns take their defaults (``timestamp`` now in UTC, ``source`` "webapp",
            ``system_load_imputed`` False). Naive datetimes are taken as UTC.

    Returns:
        The new ids, ``ids[i]`` belonging to ``rows[i]``.

    Raises:
        ValueError: a row has a key that is not a column (it would otherwise be dropped silently).
    """
    if not rows:
        return []
    keys = set().union(*rows)
    unknown = keys - _PREDICTION_KEYS
    if unknown:
        raise ValueError(f"unknown prediction fields: {sorted(unknown)}")
    if sum(map(len, rows)) != len(keys) * len(rows):
        rows = _same_keys(rows, keys)
    # One executemany call. On PostgreSQL SQLAlchemy sends it as multi-row INSERT ... RETURNING
    # pages ("insertmanyvalues") and sort_by_parameter_order keeps ids aligned with rows; SQLite
    # does not order RETURNING rows, so there the same call runs row by row in-process (about as
    # fast: ~0.4 s for 10,000 rows).
    # render_nulls: by default the ORM leaves None-valued columns out of a row, so rows with and
    # without e.g. an incident_id would split the batch into many statements (and the merge of
    # their results is quadratic).
    stmt = (
        insert(Prediction)
        .returning(Prediction.id, sort_by_parameter_order=True)
        .execution_options(render_nulls=True)
    )
    return list(session.scalars(stmt, rows))


def _same_keys(rows: list[dict[str, Any]], keys: set[str]) -> list[dict[str, Any]]:
    """``rows`` with every key of ``keys``, missing ones filled with the column default.

    SQLAlchemy sends each run of rows sharing a key set as its own statement, so
    alternating key sets would turn one bulk insert into thousands of small ones.
    Only used when the key sets differ: the usual uniform batch is passed through as is.
    """
    columns = Prediction.__table__.columns
    fill = {key: _default_of(columns[key]) for key in keys}
    return [{**fill, **row} for row in rows]


def _default_of(column: Column[Any]) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_callable:
        return default.arg(None)  # type: ignore[attr-defined]  # wrapped to take an (unused) context
    return default.arg  # type: ignore[attr-defined]


def copy_predictions(session: Session, *, columns: Mapping[str, Sequence[Any]]) -> int:
    """Store a whole batch of predictions given column by column; return how many were stored.

    The fast path of ``POST /predict``, which needs no ids back: on PostgreSQL one ``COPY``
    (about 10x faster than multi-row INSERT for 10,000 rows, as psycopg converts the values in
    C), elsewhere one executemany INSERT. Runs in the session's transaction; the caller commits.
    Column names come from the ORM, never from input; naive datetimes are taken as UTC.
    """
    names = list(columns)
    unknown = set(names) - _PREDICTION_KEYS
    if unknown:
        raise ValueError(f"unknown prediction fields: {sorted(unknown)}")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    if not names or lengths == {0}:
        return 0
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        table = Prediction.__table__
        for name in names:
            if isinstance(table.c[name].type, UTCDateTime):
                columns = {**columns, name: [_as_utc(v) for v in columns[name]]}
        quoted = ", ".join(connection.dialect.identifier_preparer.quote(n) for n in names)
        cursor = connection.connection.driver_connection.cursor()
        with cursor, cursor.copy(f"COPY predictions ({quoted}) FROM STDIN") as copy:
            for row in zip(*(columns[n] for n in names), strict=True):
                copy.write_row(row)
        return lengths.pop()
    rows = [dict(zip(names, row, strict=True)) for row in zip(*(columns[n] for n in names), strict=True)]
    session.execute(insert(Prediction).execution_options(render_nulls=True), rows)
    return len(rows)


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def list_predictions(
    session: Session,
    *,
    start_date: date | None = None,
    end_date: date | None = None,
    source: SourceFilter = "all",
    limit: int = 100,
    offset: int = 0,
    model_version: str | None = None,
    anomaly: bool | None = None,
) -> list[Prediction]:
    """Stored predictions, newest first.

    Args:
        session: open session.
        start_date: first UTC day included (None: no lower bound).
        end_date: last UTC day included (None: no upper bound).
        source: "all", "webapp" or "scheduled".
        limit: at most this many rows (the API caps it).
        offset: rows skipped first, for paging.
        model_version: only predictions of this model version.
        anomaly: only anomalies (True) or only normal predictions (False).

    Raises:
        ValueError: unknown ``source`` or a negative ``limit``/``offset``.
    """
    _check_page(limit, offset)
    stmt = _within_days(select(Prediction), Prediction.timestamp, start_date, end_date)
    if source != "all":
        if source not in SOURCES:
            raise ValueError(f"source must be 'all' or one of {SOURCES}, got {source!r}")
        stmt = stmt.where(Prediction.source == source)
    if model_version is not None:
        stmt = stmt.where(Prediction.model_version == model_version)
    if anomaly is not None:
        # "= :anomaly" rather than "IS": PostgreSQL only uses the (is_anomaly, timestamp) index for "=".
        stmt = stmt.where(Prediction.is_anomaly == anomaly)
    # id breaks ties between rows of one batch, which share their timestamp.
    stmt = stmt.order_by(Prediction.timestamp.desc(), Prediction.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def insert_ingestion_stat(
    session: Session,
    *,
    filename: str,
    total_rows: int,
    valid_rows: int,
    invalid_rows: int,
    criticality: str,
    error_types: Mapping[str, int] | None = None,
    data_docs_url: str | None = None,
    timestamp: datetime | None = None,
) -> int:
    """Record the outcome of ingesting one file and return the new row's id.

    Args:
        session: open session; the caller commits.
        filename: name of the ingested file.
        total_rows, valid_rows, invalid_rows: row counts.
        criticality: "none", "low", "medium" or "high".
        error_types: error type -> count (numpy integers are accepted).
        data_docs_url: link to the validation report, if one was built.
        timestamp: when it was ingested (default: now, UTC).

    Raises:
        ValueError: unknown ``criticality``.
    """
    if criticality not in CRITICALITIES:
        raise ValueError(f"criticality must be one of {CRITICALITIES}, got {criticality!r}")
    values: dict[str, Any] = {
        "filename": filename,
        "total_rows": int(total_rows),
        "valid_rows": int(valid_rows),
        "invalid_rows": int(invalid_rows),
        "criticality": criticality,
        # Plain ints: counts from pandas are numpy integers, which JSON cannot encode.
        "error_types": {str(k): int(v) for k, v in (error_types or {}).items()},
        "data_docs_url": data_docs_url,
    }
    if timestamp is not None:
        values["timestamp"] = timestamp
    return session.execute(insert(IngestionStat).values(values).returning(IngestionStat.id)).scalar_one()


def list_ingestion_stats(
    session: Session,
    *,
    limit: int = 100,
    offset: int = 0,
    start_date: date | None = None,
    end_date: date | None = None,
) -> list[IngestionStat]:
    """Ingestion records, newest first; ``end_date`` is inclusive (UTC days)."""
    _check_page(limit, offset)
    stmt = _within_days(select(IngestionStat), IngestionStat.timestamp, start_date, end_date)
    stmt = stmt.order_by(IngestionStat.timestamp.desc(), IngestionStat.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def _json_safe(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN/inf as None (JSON has neither)."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def insert_training_run(
    session: Session,
    *,
    model_version: str,
    decision: str,
    reason: str,
    trigger: str,
    run_id: str | None = None,
    family: str | None = None,
    n_train: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    reference_rmse: float | None = None,
    champion_version_before: str | None = None,
    rmse_diff: float | None = None,
    ci_low: float | None = None,
    ci_high: float | None = None,
    latency_ms_per_row: float | None = None,
    timestamp: datetime | None = None,
) -> int:
    """Record a registered model version and the promotion decision on it; returns the new row's id.

    Args:
        session: open session; the caller commits.
        model_version: registry version, e.g. "outage_duration/3".
        decision: "promoted" or "rejected".
        reason: why, in words.
        trigger: "cli", "retrain", "cold_start" or "manual".
        run_id, family, n_train: the MLflow run, model family and training rows.
        metrics: the run's held-out metrics (numpy numbers and NaN are made JSON-safe).
        reference_rmse, champion_version_before, rmse_diff, ci_low, ci_high, latency_ms_per_row:
            the gate's figures (None when not computed, e.g. the first model or a manual promotion).
        timestamp: when (default: now, UTC).

    Raises:
        ValueError: unknown ``decision`` or ``trigger``.
    """
    if decision not in TRAINING_DECISIONS:
        raise ValueError(f"decision must be one of {TRAINING_DECISIONS}, got {decision!r}")
    if trigger not in TRAINING_TRIGGERS:
        raise ValueError(f"trigger must be one of {TRAINING_TRIGGERS}, got {trigger!r}")
    values: dict[str, Any] = {
        "model_version": model_version,
        "run_id": run_id,
        "family": family,
        "n_train": None if n_train is None else int(n_train),
        "metrics": _json_safe(dict(metrics or {})),
        "reference_rmse": _finite(reference_rmse),
        "champion_version_before": champion_version_before,
        "rmse_diff": _finite(rmse_diff),
        "ci_low": _finite(ci_low),
        "ci_high": _finite(ci_high),
        "latency_ms_per_row": _finite(latency_ms_per_row),
        "decision": decision,
        "reason": reason,
        "trigger": trigger,
    }
    if timestamp is not None:
        values["timestamp"] = timestamp
    return session.execute(insert(TrainingRun).values(values).returning(TrainingRun.id)).scalar_one()


def list_training_runs(
    session: Session, *, limit: int = 100, offset: int = 0, model_version: str | None = None
) -> list[TrainingRun]:
    """Training runs (promotion decisions), newest first; optionally of one model version only."""
    _check_page(limit, offset)
    stmt = select(TrainingRun)
    if model_version is not None:
        stmt = stmt.where(TrainingRun.model_version == model_version)
    stmt = stmt.order_by(TrainingRun.timestamp.desc(), TrainingRun.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- ingestion ledger (revision 0004)


def serialize_writers(session: Session, *, name: str) -> None:
    """Make the current transaction the only writer of ``name`` until it ends.

    Call first in a transaction that reads and then writes (claim registration, the alert
    throttle). PostgreSQL: a transaction-scoped advisory lock on ``name``. SQLite: a write that
    changes nothing, which takes the database's write lock now (waiting on the busy timeout)
    rather than at the first real write, where a WAL reader that saw an older snapshot would get
    "database is locked" at once instead of waiting.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name})
    elif bind.dialect.name == "sqlite":
        session.execute(update(IngestedFile).where(text("0 = 1")).values(state="claimed"))


def insert_ingested_file(session: Session, **values: Any) -> IngestedFile:
    """Add a ledger row (keyword arguments: ``IngestedFile`` columns) and return it, flushed."""
    state = values.get("state")
    if state not in INGEST_STATES:
        raise ValueError(f"state must be one of {INGEST_STATES}, got {state!r}")
    row = IngestedFile(**values)
    session.add(row)
    session.flush()
    return row


def get_ingested_file(
    session: Session, *, claim_id: str | None = None, ledger_id: int | None = None
) -> IngestedFile | None:
    """The ledger row of a claim (by claim id or row id), or None."""
    if (claim_id is None) == (ledger_id is None):
        raise ValueError("give exactly one of claim_id and ledger_id")
    if ledger_id is not None:
        return session.get(IngestedFile, ledger_id, populate_existing=True)
    stmt = (
        select(IngestedFile)
        .where(IngestedFile.claim_id == claim_id)
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).one_or_none()


def content_owner(session: Session, *, sha256: str) -> IngestedFile | None:
    """The ledger row that owns a content (claimed, done or quarantined), or None."""
    stmt = select(IngestedFile).where(IngestedFile.content_key == sha256)
    return session.scalars(stmt.execution_options(populate_existing=True)).one_or_none()


def output_name_in_use(session: Session, *, name: str) -> bool:
    """Whether a ledger row (other than duplicates and released claims) already writes to ``name``."""
    stmt = select(IngestedFile.id).where(
        IngestedFile.output_name == name, IngestedFile.state.in_(("claimed", "done", "quarantined"))
    )
    return session.execute(stmt.limit(1)).first() is not None


def attach_ingestion_stat(session: Session, *, ledger_id: int, values: Mapping[str, Any]) -> int | None:
    """Insert the ``ingestion_stats`` row of a claim unless it has one; returns the new id, or None.

    The insert and the ledger update are one statement pair in the caller's transaction: the
    ledger row is updated only where ``ingestion_stat_id`` is still NULL, so when two processes
    race the second updates nothing and gets None; it must then roll back, dropping its insert.
    """
    stat_id = insert_ingestion_stat(session, **values)
    result = session.execute(
        update(IngestedFile)
        .where(IngestedFile.id == ledger_id, IngestedFile.ingestion_stat_id.is_(None))
        .values(ingestion_stat_id=stat_id)
        .execution_options(synchronize_session=False)
    )
    return stat_id if result.rowcount == 1 else None


def update_ingested_file(
    session: Session, *, ledger_id: int, where: Mapping[str, Any] | None = None, **values: Any
) -> bool:
    """Set ``values`` on a ledger row, only where its columns equal ``where`` (None: IS NULL).

    Returns whether the row was updated.
    """
    if "state" in values and values["state"] not in INGEST_STATES:
        raise ValueError(f"state must be one of {INGEST_STATES}, got {values['state']!r}")
    stmt = update(IngestedFile).where(IngestedFile.id == ledger_id)
    for key, expected in (where or {}).items():
        column = getattr(IngestedFile, key)
        stmt = stmt.where(column.is_(None) if expected is None else column == expected)
    result = session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def complete_ingested_file(session: Session, *, ledger_id: int, state: str, finished_at: datetime) -> bool:
    """Mark a claim ``state`` (done or quarantined) once its statistics and outputs both exist."""
    if state not in ("done", "quarantined"):
        raise ValueError(f"a claim completes as done or quarantined, not {state!r}")
    result = session.execute(
        update(IngestedFile)
        .where(
            IngestedFile.id == ledger_id,
            IngestedFile.state == "claimed",
            IngestedFile.ingestion_stat_id.is_not(None),
            IngestedFile.outputs_written_at.is_not(None),
        )
        .values(state=state, finished_at=finished_at, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def list_ingested_files(
    session: Session, *, states: tuple[str, ...] | None = None, limit: int = 100, offset: int = 0
) -> list[IngestedFile]:
    """Ledger rows, newest claim first; optionally only those in ``states``."""
    _check_page(limit, offset)
    stmt = select(IngestedFile)
    if states is not None:
        stmt = stmt.where(IngestedFile.state.in_(states))
    stmt = stmt.order_by(IngestedFile.claimed_at.desc(), IngestedFile.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def list_ingestion_records(
    session: Session,
    *,
    start_date: date | None = None,
    end_date: date | None = None,
    criticality: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[tuple[IngestionStat, IngestedFile | None]]:
    """Ingestion statistics, newest first, each with its ledger row (None for rows older than 0004).

    ``end_date`` is inclusive (UTC days); ``criticality`` keeps only one level.
    """
    _check_page(limit, offset)
    if criticality is not None and criticality not in CRITICALITIES:
        raise ValueError(f"criticality must be one of {CRITICALITIES}, got {criticality!r}")
    stmt = select(IngestionStat, IngestedFile).outerjoin(
        IngestedFile, IngestedFile.ingestion_stat_id == IngestionStat.id
    )
    stmt = _within_days(stmt, IngestionStat.timestamp, start_date, end_date)
    if criticality is not None:
        stmt = stmt.where(IngestionStat.criticality == criticality)
    stmt = stmt.order_by(IngestionStat.timestamp.desc(), IngestionStat.id.desc()).limit(limit).offset(offset)
    return [(stat, ledger) for stat, ledger in session.execute(stmt)]


def get_ingestion_record(
    session: Session, *, stat_id: int
) -> tuple[IngestionStat, IngestedFile | None] | None:
    """One ingestion statistics row and its ledger row, or None when there is no such id."""
    stmt = (
        select(IngestionStat, IngestedFile)
        .outerjoin(IngestedFile, IngestedFile.ingestion_stat_id == IngestionStat.id)
        .where(IngestionStat.id == stat_id)
    )
    row = session.execute(stmt).first()
    return None if row is None else (row[0], row[1])


# ---------------------------------------------------------------- alert log (revision 0004)

# Statuses that open a throttle window: an alert went out (or was attempted, or only logged).
EMITTED_ALERT_STATUSES: tuple[str, ...] = ("sending", "sent", "failed", "logged")


def insert_alert(session: Session, **values: Any) -> AlertLog:
    """Add an ``alert_log`` row (keyword arguments: ``AlertLog`` columns) and return it, flushed."""
    if values.get("status") not in ALERT_STATUSES:
        raise ValueError(f"status must be one of {ALERT_STATUSES}, got {values.get('status')!r}")
    row = AlertLog(**values)
    session.add(row)
    session.flush()
    return row


def last_emitted_alert(session: Session, *, kind: str, before_id: int | None = None) -> AlertLog | None:
    """The newest alert of ``kind`` that was sent, attempted or logged (not suppressed)."""
    stmt = select(AlertLog).where(AlertLog.kind == kind, AlertLog.status.in_(EMITTED_ALERT_STATUSES))
    if before_id is not None:
        stmt = stmt.where(AlertLog.id < before_id)
    return session.scalars(stmt.order_by(AlertLog.id.desc()).limit(1)).first()


def suppressed_alerts_since(
    session: Session, *, kind: str, after_id: int | None
) -> tuple[int, datetime | None]:
    """How many alerts of ``kind`` were suppressed after row ``after_id``, and when the first was."""
    stmt = select(func.count(AlertLog.id), func.min(AlertLog.timestamp)).where(
        AlertLog.kind == kind, AlertLog.status == "suppressed"
    )
    if after_id is not None:
        stmt = stmt.where(AlertLog.id > after_id)
    count, first = session.execute(stmt).one()
    if isinstance(first, str):  # SQLite returns min() over a timestamp as text
        first = datetime.fromisoformat(first)
    if first is not None and first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    return int(count), first


def update_alert(session: Session, *, alert_id: int, **values: Any) -> None:
    """Set columns of an ``alert_log`` row (e.g. its final status, attempts and detail)."""
    if "status" in values and values["status"] not in ALERT_STATUSES:
        raise ValueError(f"status must be one of {ALERT_STATUSES}, got {values['status']!r}")
    session.execute(
        update(AlertLog)
        .where(AlertLog.id == alert_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def list_alerts(
    session: Session, *, kind: str | None = None, limit: int = 100, offset: int = 0
) -> list[AlertLog]:
    """Alert log rows, newest first; optionally of one kind."""
    _check_page(limit, offset)
    stmt = select(AlertLog)
    if kind is not None:
        stmt = stmt.where(AlertLog.kind == kind)
    return list(session.scalars(stmt.order_by(AlertLog.id.desc()).limit(limit).offset(offset)))


# ---------------------------------------------------------------- idempotent predictions (revision 0005)


def get_prediction_request(session: Session, *, key: str) -> PredictionRequest | None:
    """The stored batch of an idempotency key (its sha256 hex), or None."""
    return session.get(PredictionRequest, key, populate_existing=True)


def insert_prediction_request(session: Session, *, key: str, row_count: int) -> None:
    """Claim an idempotency key in the caller's transaction (flushed now).

    Raises:
        sqlalchemy.exc.IntegrityError: the key is already stored (or being stored concurrently,
            on PostgreSQL after that transaction commits).
    """
    session.execute(insert(PredictionRequest).values(key=key, row_count=row_count, created_at=utcnow()))


def predictions_of_request(session: Session, *, key: str) -> list[Prediction]:
    """The predictions stored with an idempotency key, in the order they were stored."""
    stmt = select(Prediction).where(Prediction.request_id == key).order_by(Prediction.id)
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- scheduled prediction ledger (0005)


def get_predicted_file(session: Session, *, filename: str) -> PredictedFile | None:
    """The prediction ledger row of a good-data file, or None."""
    stmt = select(PredictedFile).where(PredictedFile.filename == filename)
    return session.scalars(stmt.execution_options(populate_existing=True)).one_or_none()


def predicted_filenames(session: Session, *, states: tuple[str, ...]) -> set[str]:
    """Names of the good-data files whose ledger row is in one of ``states``."""
    stmt = select(PredictedFile.filename).where(PredictedFile.state.in_(states))
    return set(session.scalars(stmt))


def insert_predicted_file(session: Session, **values: Any) -> PredictedFile:
    """Add a prediction ledger row (keyword arguments: ``PredictedFile`` columns), flushed."""
    if values.get("state") not in PREDICTED_FILE_STATES:
        raise ValueError(f"state must be one of {PREDICTED_FILE_STATES}, got {values.get('state')!r}")
    row = PredictedFile(**values)
    session.add(row)
    session.flush()
    return row


def update_predicted_file(session: Session, *, ledger_id: int, **values: Any) -> None:
    """Set columns of a prediction ledger row (``updated_at`` is set too)."""
    if "state" in values and values["state"] not in PREDICTED_FILE_STATES:
        raise ValueError(f"state must be one of {PREDICTED_FILE_STATES}, got {values['state']!r}")
    session.execute(
        update(PredictedFile)
        .where(PredictedFile.id == ledger_id)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- retraining ledger (revision 0005)


def training_inputs(session: Session, *, states: tuple[str, ...] | None = None) -> list[TrainingInput]:
    """Good-data files consumed by retrainings, oldest first; optionally only those in ``states``."""
    stmt = select(TrainingInput)
    if states is not None:
        stmt = stmt.where(TrainingInput.state.in_(states))
    return list(session.scalars(stmt.order_by(TrainingInput.id).execution_options(populate_existing=True)))


def insert_training_inputs(session: Session, *, rows: Sequence[Mapping[str, Any]]) -> None:
    """Record files as consumed by a retraining (keyword columns of ``TrainingInput``), in one statement."""
    if rows:
        session.execute(insert(TrainingInput), [{"state": "consumed", **row} for row in rows])


def mark_training_input_archived(session: Session, *, input_id: int, archived_name: str | None) -> None:
    """A consumed file was moved to archived_data/ (as ``archived_name``; None: found gone)."""
    session.execute(
        update(TrainingInput)
        .where(TrainingInput.id == input_id)
        .values(state="archived", archived_name=archived_name, archived_at=utcnow())
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- monitoring (revision 0006)


def insert_incident_outcomes(session: Session, *, rows: Sequence[Mapping[str, Any]]) -> int:
    """Record actual incident durations (``IncidentOutcome`` columns); returns how many were offered.

    Idempotent: an incident already recorded is left as it is (PostgreSQL ``ON CONFLICT DO
    NOTHING``, SQLite ``INSERT OR IGNORE``), so re-ingesting a file neither fails nor duplicates.
    One executemany of one statement for the whole list (no RETURNING, so the driver's executemany
    stays on its fast path). Give every row ``observed_at`` (one value for a batch): a row without
    it gets the column default, evaluated row by row.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - OutageCast runs on SQLite and PostgreSQL only
        raise NotImplementedError(f"incident outcomes on {dialect}")
    # The Core table, not the ORM entity: the ORM's bulk path costs ~5 us a row for nothing here.
    stmt = dialect_insert(IncidentOutcome.__table__).on_conflict_do_nothing(index_elements=["incident_id"])
    session.execute(stmt, rows if isinstance(rows, list) else list(rows))
    return len(rows)


MONITOR_WINDOW_COLUMNS: tuple[str, ...] = (
    "id",
    "timestamp",
    "model_version",
    "source",
    "cloud_provider",
    "service",
    "severity",
    "start_time",
    "system_load_before_outage",
    "system_load_imputed",
    "number_of_customers_affected",
    "ticket_count",
    "backup_system_triggered",
    "predicted_hours",
)


def monitor_window(
    session: Session,
    *,
    limit: int | None,
    since: datetime | None = None,
    source: str | None = None,
) -> tuple[list[str], list[Any]]:
    """The served predictions a monitor run judges, newest first: column names and row tuples.

    Args:
        session: open session.
        limit: at most this many (the most recent); None: no limit.
        since: only predictions stored at or after this instant.
        source: only this source ("webapp" or "scheduled"); None: every source.
    """
    table = Prediction.__table__
    stmt = select(*(table.c[name] for name in MONITOR_WINDOW_COLUMNS))
    if source is not None:
        stmt = stmt.where(Prediction.source == source)
    if since is not None:
        stmt = stmt.where(Prediction.timestamp >= since)
    stmt = stmt.order_by(Prediction.timestamp.desc(), Prediction.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    result = session.execute(stmt)
    return list(result.keys()), list(result.all())


def realised_error_stats(session: Session) -> list[dict[str, Any]]:
    """Per model version, aggregates of the predictions whose incident's actual duration is known.

    Computed by the database (one grouped join of ``predictions.incident_id`` with
    ``incident_outcomes``): ``matched_rows``, ``mae``, ``bias`` (mean predicted - actual), ``mse``,
    ``interval_rows`` (predictions carrying an interval), ``inside`` (actuals within it) and
    ``nominal_coverage`` (mean nominal coverage of those intervals).
    """
    from sqlalchemy import and_, case

    error = Prediction.predicted_hours - IncidentOutcome.actual_hours
    has_interval = and_(
        Prediction.predicted_hours_low.is_not(None), Prediction.predicted_hours_high.is_not(None)
    )
    inside = and_(
        has_interval,
        IncidentOutcome.actual_hours >= Prediction.predicted_hours_low,
        IncidentOutcome.actual_hours <= Prediction.predicted_hours_high,
    )
    stmt = (
        select(
            Prediction.model_version,
            func.count().label("matched_rows"),
            func.avg(func.abs(error)).label("mae"),
            func.avg(error).label("bias"),
            func.avg(error * error).label("mse"),
            func.sum(case((has_interval, 1), else_=0)).label("interval_rows"),
            func.sum(case((inside, 1), else_=0)).label("inside"),
            func.avg(case((has_interval, Prediction.interval_coverage), else_=None)).label(
                "nominal_coverage"
            ),
        )
        .join(IncidentOutcome, Prediction.incident_id == IncidentOutcome.incident_id)
        .group_by(Prediction.model_version)
        .order_by(Prediction.model_version)
    )
    return [dict(row._mapping) for row in session.execute(stmt)]


def training_metrics(session: Session, *, model_versions: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The held-out metrics recorded with each version's latest ``training_runs`` row (absent: none)."""
    if not model_versions:
        return {}
    stmt = (
        select(TrainingRun.model_version, TrainingRun.metrics)
        .where(TrainingRun.model_version.in_(list(model_versions)))
        .order_by(TrainingRun.id)
    )
    return {version: dict(metrics or {}) for version, metrics in session.execute(stmt)}


def insert_monitor_run(
    session: Session,
    *,
    values: Mapping[str, Any],
    drift: Sequence[Mapping[str, Any]] = (),
    realised: Sequence[Mapping[str, Any]] = (),
) -> int:
    """Store one monitor run with its drift and realised-error rows; returns the run's id."""
    run_id = session.execute(insert(MonitorRun).values(dict(values)).returning(MonitorRun.id)).scalar_one()
    if drift:
        session.execute(insert(DriftResult), [{**row, "run_id": run_id} for row in drift])
    if realised:
        session.execute(insert(RealisedError), [{**row, "run_id": run_id} for row in realised])
    return run_id
