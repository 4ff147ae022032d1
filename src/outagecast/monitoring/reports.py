"""Read side of monitoring: what the ``GET /monitoring/...`` endpoints and the web app show.

Every function takes an open session and returns plain dicts (JSON-ready apart from datetimes).
All aggregation happens in the database through SQLAlchemy expressions (no SQL assembled from
strings, every value a bound parameter, no loop over rows in Python), and works on SQLite and
PostgreSQL. The two differ in three places, each handled in one helper:

* time buckets (:func:`bucket_of`): ``strftime`` on SQLite's text timestamps, ``date_trunc`` on
  PostgreSQL's ``timestamptz`` (in UTC), both rendered as ``YYYY-MM-DD HH:MM:SS`` text;
* JSON objects (:func:`_json_pairs`): ``json_each`` on SQLite, ``jsonb_each_text`` on PostgreSQL;
* parts of a timestamp (:func:`_time_part`): ``strftime`` vs ``extract``.

Quantiles use nearest-rank over window functions (``row_number``/``count``), which both
backends have; PostgreSQL's ``percentile_cont`` has no SQLite equivalent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import Float, Integer, Select, and_, case, cast, func, literal, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from outagecast import schema
from outagecast.db.models import (
    DriftResult,
    IngestionStat,
    MonitorRun,
    Prediction,
    RealisedError,
)

Bucket = Literal["hour", "day"]
TimePart = Literal["hour", "day_of_week", "month"]

PREDICTION_FEATURE: Final = "predicted_hours"  # the drift row of the model's outputs
NUMERIC_FEATURES: Final = (*schema.NUMERIC_FEATURES, PREDICTION_FEATURE)
CATEGORICAL_FEATURES: Final = (*schema.CATEGORICAL_FEATURES, *schema.BINARY_FEATURES)
TIME_FEATURE: Final = schema.TIME_FEATURE
# Every name a drift result may carry (and the distribution endpoint accepts).
MONITORED_FEATURES: Final = (*schema.FEATURES, PREDICTION_FEATURE)
OTHER: Final = "__other__"  # values outside the schema (as ml.baseline counts them)
QUANTILES: Final = (0.1, 0.5, 0.9)
_BUCKET_TEXT: Final = "%Y-%m-%d %H:%M:%S"
_SQLITE_BUCKET: Final = {"hour": "%Y-%m-%d %H:00:00", "day": "%Y-%m-%d 00:00:00"}


# ------------------------------------------------------------------ dialect helpers


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def bucket_of(session: Session, column: Any, bucket: Bucket) -> ColumnElement[str]:
    """The start of ``column``'s hour or day in UTC, as ``YYYY-MM-DD HH:MM:SS`` text."""
    if bucket not in _SQLITE_BUCKET:
        raise ValueError(f"bucket must be 'hour' or 'day', got {bucket!r}")
    if _dialect(session) == "sqlite":
        # SQLite stores UTC text (db.models.UTCDateTime), which strftime reads directly.
        return func.strftime(_SQLITE_BUCKET[bucket], column)
    # timezone('UTC', timestamptz) is the UTC wall-clock time, whatever the session's TimeZone.
    truncated = func.date_trunc(bucket, func.timezone("UTC", column))
    return func.to_char(truncated, "YYYY-MM-DD HH24:MI:SS")


def parse_bucket(text: str) -> datetime:
    """A bucket label from :func:`bucket_of` as an aware UTC datetime."""
    return datetime.strptime(text, _BUCKET_TEXT).replace(tzinfo=UTC)


def _json_pairs(session: Session, column: Any) -> Any:
    """A table-valued function giving the (key, value) pairs of a JSON object column."""
    if _dialect(session) == "sqlite":
        return func.json_each(column).table_valued("key", "value")
    return func.jsonb_each_text(column).table_valued("key", "value")


def _json_is_object(session: Session, column: Any) -> ColumnElement[bool]:
    if _dialect(session) == "sqlite":
        return func.json_type(column) == "object"
    return func.jsonb_typeof(column) == "object"


def _time_part(session: Session, column: Any, part: TimePart) -> ColumnElement[int]:
    """Hour (0-23), day of week (Monday = 0, as ``datasets.generate.time_parts``) or month."""
    if _dialect(session) == "sqlite":
        fmt = {"hour": "%H", "day_of_week": "%w", "month": "%m"}[part]
        value = cast(func.strftime(fmt, column), Integer)
        return (value + 6) % 7 if part == "day_of_week" else value  # %w: Sunday = 0
    field = {"hour": "hour", "day_of_week": "isodow", "month": "month"}[part]
    value = cast(func.extract(field, func.timezone("UTC", column)), Integer)
    return value - 1 if part == "day_of_week" else value  # isodow: Monday = 1


def _floor(session: Session, value: Any) -> ColumnElement[int]:
    """floor() of a non-negative number as an integer.

    PostgreSQL's cast to integer rounds, SQLite's truncates (and SQLite's floor() needs its math
    extension), so: floor on PostgreSQL, the truncating cast (floor for values >= 0) on SQLite.
    """
    if _dialect(session) == "sqlite":
        return cast(value, Integer)
    return cast(func.floor(value), Integer)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _in_range(stmt: Select[Any], column: Any, since: datetime | None, until: datetime | None) -> Select[Any]:
    if since is not None:
        stmt = stmt.where(column >= since)
    if until is not None:
        stmt = stmt.where(column <= until)
    return stmt


# ------------------------------------------------------------------ ingestion


def ingestion_over_time(
    session: Session, *, since: datetime | None, until: datetime | None, bucket: Bucket
) -> dict[str, Any]:
    """Files, rows and criticality counts per time bucket, and error types per bucket.

    Returns ``{"buckets": [...], "error_types": [...], "totals": {...}}``; buckets oldest first.
    """
    b = bucket_of(session, IngestionStat.timestamp, bucket).label("bucket")
    crit = {
        level: func.coalesce(func.sum(case((IngestionStat.criticality == level, 1), else_=0)), 0)
        for level in ("none", "low", "medium", "high")
    }
    stmt = select(
        b,
        func.count().label("files"),
        func.coalesce(func.sum(IngestionStat.total_rows), 0).label("total_rows"),
        func.coalesce(func.sum(IngestionStat.valid_rows), 0).label("valid_rows"),
        func.coalesce(func.sum(IngestionStat.invalid_rows), 0).label("invalid_rows"),
        *(expr.label(f"criticality_{level}") for level, expr in crit.items()),
    )
    stmt = _in_range(stmt, IngestionStat.timestamp, since, until).group_by(b).order_by(b)
    buckets = []
    for row in session.execute(stmt).mappings():
        item = dict(row)
        item["bucket"] = parse_bucket(row["bucket"])
        item["criticality"] = {level: int(item.pop(f"criticality_{level}")) for level in crit}
        buckets.append(item)

    pairs = _json_pairs(session, IngestionStat.error_types)
    eb = bucket_of(session, IngestionStat.timestamp, bucket).label("bucket")
    errors = (
        select(eb, pairs.c.key.label("error_type"), func.sum(cast(pairs.c.value, Float)).label("rows"))
        .select_from(IngestionStat)
        .join(pairs, true())
        .where(_json_is_object(session, IngestionStat.error_types))
    )
    errors = _in_range(errors, IngestionStat.timestamp, since, until)
    errors = errors.group_by(eb, pairs.c.key).order_by(eb, pairs.c.key)
    error_types = [
        {"bucket": parse_bucket(r.bucket), "error_type": str(r.error_type), "rows": int(r.rows or 0)}
        for r in session.execute(errors)
    ]
    totals = {
        "files": sum(x["files"] for x in buckets),
        "total_rows": sum(x["total_rows"] for x in buckets),
        "valid_rows": sum(x["valid_rows"] for x in buckets),
        "invalid_rows": sum(x["invalid_rows"] for x in buckets),
    }
    return {"bucket": bucket, "buckets": buckets, "error_types": error_types, "totals": totals}


# ------------------------------------------------------------------ drift


def _run_dict(run: MonitorRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "timestamp": run.timestamp,
        "status": run.status,
        "message": run.message,
        "model_version": run.model_version,
        "source": run.source,
        "window_rows": run.window_rows,
        "window_start": run.window_start,
        "window_end": run.window_end,
        "drift_detected": run.drift_detected,
        "prediction_drift": run.prediction_drift,
        "drifted_features": list(run.drifted_features or []),
    }


def _result_dict(result: DriftResult) -> dict[str, Any]:
    return {
        "feature": result.feature,
        "kind": result.kind,
        "test": result.test,
        "statistic": _finite(result.statistic),
        "p_value": _finite(result.p_value),
        "psi": _finite(result.psi),
        "drifted": result.drifted,
        "rows": result.rows,
    }


def get_run(session: Session, run_id: int) -> MonitorRun | None:
    """One monitor run by id."""
    return session.get(MonitorRun, run_id)


def latest_run(session: Session, *, status: str | None = None) -> MonitorRun | None:
    """The newest monitor run (of that status, when given)."""
    stmt = select(MonitorRun)
    if status is not None:
        stmt = stmt.where(MonitorRun.status == status)
    return session.scalars(stmt.order_by(MonitorRun.timestamp.desc(), MonitorRun.id.desc()).limit(1)).first()


def drift_report(session: Session, *, run_id: int | None = None) -> dict[str, Any] | None:
    """The latest run and the per-feature results of the run they come from.

    Without ``run_id`` the results are the newest ``ok`` run's (a skipped or failed run has none),
    and ``latest_run`` says what the newest run of any status was. None: no such run.
    """
    newest = latest_run(session)
    run = get_run(session, run_id) if run_id is not None else latest_run(session, status="ok")
    if run_id is not None and run is None:
        return None
    results: list[dict[str, Any]] = []
    if run is not None:
        stmt = select(DriftResult).where(DriftResult.run_id == run.id).order_by(DriftResult.feature)
        results = [_result_dict(r) for r in session.scalars(stmt)]
    return {
        "latest_run": _run_dict(newest) if newest is not None else None,
        "run": _run_dict(run) if run is not None else None,
        "results": results,
    }


def drift_history(
    session: Session, *, feature: str | None, limit: int, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Drift results of the last ``limit`` ``ok`` runs (one feature, or all), oldest first."""
    runs = select(MonitorRun.id).where(MonitorRun.status == "ok")
    runs = _in_range(runs, MonitorRun.timestamp, since, None)
    runs = runs.order_by(MonitorRun.timestamp.desc(), MonitorRun.id.desc()).limit(limit).subquery()
    stmt = (
        select(MonitorRun.id, MonitorRun.timestamp, MonitorRun.model_version, DriftResult)
        .join(DriftResult, DriftResult.run_id == MonitorRun.id)
        .where(MonitorRun.id.in_(select(runs.c.id)))
    )
    if feature is not None:
        stmt = stmt.where(DriftResult.feature == feature)
    stmt = stmt.order_by(MonitorRun.timestamp, MonitorRun.id, DriftResult.feature)
    return [
        {"run_id": run_id, "timestamp": ts, "model_version": version, **_result_dict(result)}
        for run_id, ts, version, result in session.execute(stmt)
    ]


# ------------------------------------------------------------------ distributions


def _window_filter(run: MonitorRun | None) -> list[ColumnElement[bool]]:
    """The predictions a monitor run judged: its time window and source."""
    if run is None or run.window_start is None or run.window_end is None:
        return []
    conditions = [Prediction.timestamp >= run.window_start, Prediction.timestamp <= run.window_end]
    if run.source is not None:
        conditions.append(Prediction.source == run.source)
    return conditions


def _recent(run: MonitorRun | None, last_n: int) -> Any:
    """The recent predictions as a subquery: a run's window, else the newest ``last_n``."""
    stmt = select(Prediction).order_by(Prediction.timestamp.desc(), Prediction.id.desc())
    conditions = _window_filter(run)
    if conditions and run is not None:
        # The same rows the monitor took (newest first, at most window_rows): a batch stored in one
        # insert shares one timestamp, so the time bounds alone could hold more than it judged.
        return stmt.where(and_(*conditions)).limit(run.window_rows).subquery("recent")
    return stmt.limit(last_n).subquery("recent")


def recent_numeric_counts(
    session: Session, *, feature: str, edges: Sequence[float], run: MonitorRun | None, last_n: int
) -> tuple[list[int], int]:
    """Counts of the recent values per training bin (outer bins open-ended), and rows counted.

    Bins follow ``ml.baseline``: ``edges[1:-1]`` are the cut points, each bin closed on the left,
    so values beyond the training range fall into the outer bins (as PSI counts them).
    """
    recent = _recent(run, last_n)
    column = recent.c[feature]
    cuts = list(edges[1:-1])
    bins = len(edges) - 1
    if cuts:
        index: Any = case(*((column < cut, i) for i, cut in enumerate(cuts)), else_=len(cuts))
    else:
        index = literal(0)
    stmt = select(index.label("bin"), func.count().label("n")).where(column.is_not(None))
    if feature == "system_load_before_outage":
        # Imputed loads (the API filled in 50) say nothing about real loads: drift leaves them out.
        stmt = stmt.where(recent.c.system_load_imputed.is_(False))
    stmt = stmt.group_by(index)
    counts = [0] * max(bins, 1)
    for row in session.execute(stmt):
        counts[int(row.bin)] = int(row.n)
    return counts, sum(counts)


def recent_category_counts(
    session: Session, *, feature: str, part: TimePart | None, run: MonitorRun | None, last_n: int
) -> dict[str, int]:
    """Counts of the recent values per category (or per start-time part), missing values left out."""
    recent = _recent(run, last_n)
    column = recent.c[feature]
    value: Any = _time_part(session, column, part) if part is not None else column
    stmt = select(value.label("value"), func.count().label("n")).where(column.is_not(None)).group_by(value)
    return {str(row.value): int(row.n) for row in session.execute(stmt)}


# ------------------------------------------------------------------ predictions


def _prediction_filters(
    stmt: Select[Any],
    *,
    since: datetime | None,
    until: datetime | None,
    source: str | None,
    model_version: str | None,
) -> Select[Any]:
    stmt = _in_range(stmt, Prediction.timestamp, since, until)
    if source is not None:
        stmt = stmt.where(Prediction.source == source)
    if model_version is not None:
        stmt = stmt.where(Prediction.model_version == model_version)
    return stmt


def predictions_report(
    session: Session,
    *,
    since: datetime | None,
    until: datetime | None,
    bucket: Bucket,
    source: str | None = None,
    model_version: str | None = None,
    bins: int = 30,
) -> dict[str, Any]:
    """Predictions over time (count, mean, quantiles, anomalies), by source and version, and a histogram."""
    filters = {"since": since, "until": until, "source": source, "model_version": model_version}
    b = bucket_of(session, Prediction.timestamp, bucket)
    # Nearest-rank quantiles: within each bucket, the smallest value whose rank reaches p * n.
    ranked = _prediction_filters(
        select(
            b.label("bucket"),
            Prediction.predicted_hours.label("v"),
            Prediction.is_anomaly.label("anomaly"),
            func.row_number().over(partition_by=b, order_by=Prediction.predicted_hours).label("rn"),
            func.count().over(partition_by=b).label("n"),
        ),
        **filters,
    ).subquery("ranked")
    quantile_cols = [
        func.min(case((ranked.c.rn >= p * ranked.c.n, ranked.c.v))).label(f"p{round(p * 100)}")
        for p in QUANTILES
    ]
    series_stmt = (
        select(
            ranked.c.bucket,
            func.count().label("count"),
            func.avg(ranked.c.v).label("mean"),
            func.sum(case((ranked.c.anomaly, 1), else_=0)).label("anomalies"),
            *quantile_cols,
        )
        .group_by(ranked.c.bucket)
        .order_by(ranked.c.bucket)
    )
    series = [
        {
            "bucket": parse_bucket(r.bucket),
            "count": int(r.count),
            "mean": _finite(r.mean),
            "anomalies": int(r.anomalies or 0),
            "quantiles": {f"p{round(p * 100)}": _finite(getattr(r, f"p{round(p * 100)}")) for p in QUANTILES},
        }
        for r in session.execute(series_stmt)
    ]

    def grouped(column: Any, name: str) -> list[dict[str, Any]]:
        gb = bucket_of(session, Prediction.timestamp, bucket).label("bucket")
        stmt = _prediction_filters(
            select(gb, column.label(name), func.count().label("count"), func.avg(Prediction.predicted_hours)),
            **filters,
        )
        stmt = stmt.group_by(gb, column).order_by(gb, column)
        return [
            {"bucket": parse_bucket(r[0]), name: r[1], "count": int(r[2]), "mean": _finite(r[3])}
            for r in session.execute(stmt)
        ]

    by_source = grouped(Prediction.source, "source")
    by_model_version = grouped(Prediction.model_version, "model_version")

    summary_stmt = _prediction_filters(
        select(
            func.count(),
            func.min(Prediction.predicted_hours),
            func.max(Prediction.predicted_hours),
            func.avg(Prediction.predicted_hours),
            func.sum(case((Prediction.is_anomaly, 1), else_=0)),
        ),
        **filters,
    )
    total, low, high, mean, anomalies = session.execute(summary_stmt).one()
    histogram = {"edges": [], "counts": []}
    if total:
        histogram = _histogram(session, float(low), float(high), bins, int(total), filters)
    return {
        "bucket": bucket,
        "total": int(total or 0),
        "mean": _finite(mean),
        "anomalies": int(anomalies or 0),
        "series": series,
        "by_source": by_source,
        "by_model_version": by_model_version,
        "histogram": histogram,
    }


def _histogram(
    session: Session, low: float, high: float, bins: int, total: int, filters: dict[str, Any]
) -> dict[str, Any]:
    """Equal-width histogram of the predicted hours between ``low`` and ``high``, counted in the database."""
    if high <= low:  # one distinct value: one bin holding everything
        return {"edges": [low, high], "counts": [total]}
    width = (high - low) / bins
    # The maximum joins the last bin (numpy's convention: the last bin is closed).
    index = case(
        (Prediction.predicted_hours >= high, bins - 1),
        else_=_floor(session, (Prediction.predicted_hours - low) / width),
    )
    # A float cast can round (v - low) / width up to ``bins`` just below ``high``: clamp it.
    clamped = case((index > bins - 1, bins - 1), else_=index)
    stmt = _prediction_filters(select(clamped.label("bin"), func.count().label("n")), **filters).group_by(
        clamped
    )
    counts = [0] * bins
    for row in session.execute(stmt):
        counts[int(row.bin)] += int(row.n)
    return {"edges": [low + i * width for i in range(bins)] + [high], "counts": counts}


# ------------------------------------------------------------------ realised error


def realised_error_history(
    session: Session, *, model_version: str | None, since: datetime | None, limit: int
) -> list[dict[str, Any]]:
    """Realised error per run and model version, oldest first (the newest ``limit`` points)."""
    stmt = select(RealisedError, MonitorRun.timestamp).join(MonitorRun, MonitorRun.id == RealisedError.run_id)
    if model_version is not None:
        stmt = stmt.where(RealisedError.model_version == model_version)
    stmt = _in_range(stmt, MonitorRun.timestamp, since, None)
    stmt = stmt.order_by(MonitorRun.timestamp.desc(), RealisedError.id.desc()).limit(limit)
    rows = [
        {
            "run_id": e.run_id,
            "timestamp": ts,
            "model_version": e.model_version,
            "matched_rows": e.matched_rows,
            "mae": _finite(e.mae),
            "bias": _finite(e.bias),
            "rmse": _finite(e.rmse),
            "interval_coverage": _finite(e.interval_coverage),
            "nominal_coverage": _finite(e.nominal_coverage),
            "training_mae": _finite(e.training_mae),
            "error_ratio": _finite(e.error_ratio),
            "degraded": e.degraded,
        }
        for e, ts in session.execute(stmt)
    ]
    rows.reverse()
    return rows


# ------------------------------------------------------------------ training vs recent


def feature_kind(feature: str) -> Literal["numeric", "categorical", "time"]:
    """How a monitored feature is binned; ValueError for a name that is not monitored."""
    if feature in NUMERIC_FEATURES:
        return "numeric"
    if feature in CATEGORICAL_FEATURES:
        return "categorical"
    if feature == TIME_FEATURE:
        return "time"
    raise ValueError(f"unknown feature {feature!r}; monitored: {', '.join(MONITORED_FEATURES)}")


def _shares(counts: Sequence[int]) -> list[float | None]:
    total = sum(counts)
    return [c / total if total else None for c in counts]


def distribution(
    session: Session,
    *,
    feature: str,
    baseline: dict[str, Any],
    run: MonitorRun | None,
    last_n: int,
    part: TimePart = "hour",
) -> dict[str, Any]:
    """Training (from a ``ml.baseline`` document) and recent counts of one feature on the same bins.

    Numeric features use the baseline's decile histogram; categorical ones every allowed value
    (plus ``__other__`` when either side has some); ``start_time`` one of its parts (``part``).

    Raises:
        ValueError: unknown feature.
        LookupError: the baseline has no statistics for it.
    """
    kind = feature_kind(feature)
    if kind == "numeric":
        stats = (
            baseline.get("prediction")
            if feature == PREDICTION_FEATURE
            else baseline.get("numeric", {}).get(feature)
        )
        histogram = (stats or {}).get("histogram")
        if not histogram:
            raise LookupError(f"the training baseline has no histogram of {feature}")
        edges = [float(e) for e in histogram["edges"]]
        training = [int(c) for c in histogram["counts"]]
        recent, _ = recent_numeric_counts(session, feature=feature, edges=edges, run=run, last_n=last_n)
        labels = [f"{lo:.4g} – {hi:.4g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        bounds = list(zip(edges[:-1], edges[1:], strict=True))
    else:
        key = f"{TIME_FEATURE}.{part}" if kind == "time" else feature
        stats = baseline.get("categorical", {}).get(key)
        if not stats:
            raise LookupError(f"the training baseline has no counts of {key}")
        training_by = {str(k): int(v) for k, v in stats["counts"].items()}
        recent_by = recent_category_counts(
            session, feature=feature, part=part if kind == "time" else None, run=run, last_n=last_n
        )
        values = [v for v in training_by if v != OTHER]
        # Values the schema does not know are lumped together, as the baseline counts them.
        other_recent = sum(n for v, n in recent_by.items() if v not in training_by or v == OTHER)
        labels = [*values, OTHER] if training_by.get(OTHER, 0) or other_recent else values
        training = [training_by.get(v, 0) for v in labels]
        recent = [recent_by.get(v, 0) if v != OTHER else other_recent for v in labels]
        bounds = [(None, None)] * len(labels)
    training_shares, recent_shares = _shares(training), _shares(recent)
    return {
        "feature": feature,
        "kind": "categorical" if kind == "time" else kind,
        "part": part if kind == "time" else None,
        "training_rows": sum(training),
        "recent_rows": sum(recent),
        "bins": [
            {
                "label": label,
                "lower": lower,
                "upper": upper,
                "training_count": t,
                "recent_count": r,
                "training_share": ts,
                "recent_share": rs,
            }
            for label, (lower, upper), t, r, ts, rs in zip(
                labels, bounds, training, recent, training_shares, recent_shares, strict=True
            )
        ],
    }
