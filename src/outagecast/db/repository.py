"""Reads and writes of the OutageCast tables: keyword-only functions taking a session.

None of them commits: the caller owns the transaction (one per API request or job run).
Every value travels as a bound parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Column, Select, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from outagecast.db.models import CRITICALITIES, SOURCES, IngestionStat, Prediction

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
