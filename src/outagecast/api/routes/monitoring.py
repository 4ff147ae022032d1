"""``GET /monitoring/...``: the monitoring statistics the web app and people read.

Ingestion quality and predictions over time are aggregated from ``ingestion_stats`` and
``predictions``; drift and realised error come from the monitor job's tables (``monitor_runs``,
``drift_results``, ``realised_errors``); the training-vs-recent distributions compare a version's
training baseline (from the registry, cached: a version's baseline never changes) with the
predictions a monitor run judged. The queries are in ``outagecast.monitoring.reports``.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi import Path as PathParam

from outagecast.api.deps import ModelHolderDep, SessionDep, SettingsDep
from outagecast.api.monitoring_schemas import (
    FEATURES_HELP,
    NO_NUL,
    DistributionOut,
    DriftPoint,
    DriftReport,
    IngestionReport,
    MonitoredFeature,
    PredictionsQuery,
    PredictionsReport,
    RealisedErrorPoint,
    TimeRange,
    UtcDateTime,
)
from outagecast.monitoring import reports
from outagecast.settings import Settings

router = APIRouter(prefix="/monitoring", tags=["monitoring"])
log = logging.getLogger(__name__)

DEFAULT_LAST_N: Final = 1000
MAX_LAST_N: Final = 100_000
MAX_HISTORY_RUNS: Final = 1000
_BASELINES_KEPT: Final = 16

_baselines: dict[tuple[str, str, str], dict[str, Any]] = {}
_baselines_lock = threading.Lock()


def _baseline(settings: Settings, version: str) -> dict[str, Any]:
    """A version's training baseline, downloaded from the registry once per process."""
    from outagecast.ml import registry  # MLflow is imported on first use only

    key = (settings.resolved_mlflow_tracking_uri, settings.registered_model_name, version)
    with _baselines_lock:
        cached = _baselines.get(key)
    if cached is not None:
        return cached
    baseline = registry.load_baseline(settings, version)
    with _baselines_lock:
        if len(_baselines) >= _BASELINES_KEPT:
            _baselines.pop(next(iter(_baselines)))
        _baselines[key] = baseline
    return baseline


_NO_RUN: Final[dict[int | str, dict[str, Any]]] = {404: {"description": "No monitor run with that id"}}


@router.get("/ingestion", response_model=IngestionReport)
def ingestion(session: SessionDep, query: Annotated[TimeRange, Query()]) -> dict[str, Any]:
    """Ingested files, rows, criticality and error types per hour or day (UTC), oldest first."""
    report = reports.ingestion_over_time(session, since=query.since, until=query.until, bucket=query.bucket)
    return report | {"since": query.since, "until": query.until}


@router.get("/drift", response_model=DriftReport, responses=_NO_RUN)
def drift(
    session: SessionDep,
    run_id: Annotated[int | None, Query(ge=1, description="A run; default: the newest ok run.")] = None,
) -> dict[str, Any]:
    """The newest monitor run and the per-feature drift results (of the newest ``ok`` run, or ``run_id``)."""
    report = reports.drift_report(session, run_id=run_id)
    if report is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No monitor run with id {run_id}")
    return report


@router.get("/drift/history", response_model=list[DriftPoint])
def drift_history(
    session: SessionDep,
    feature: Annotated[
        MonitoredFeature | None, Query(description="One feature; default: every feature.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_HISTORY_RUNS, description="The newest this many ok runs.")
    ] = 100,
    since: Annotated[UtcDateTime | None, Query(description="Only runs from then on (ISO 8601).")] = None,
) -> list[dict[str, Any]]:
    """Drift statistics per feature over the newest ``ok`` runs, oldest first."""
    return reports.drift_history(session, feature=feature, limit=limit, since=since)


@router.get(
    "/drift/{feature}/distribution",
    response_model=DistributionOut,
    responses={
        404: {"description": "No monitor run with that id, or no training baseline to compare with"},
        503: {"description": "Model registry unavailable"},
    },
)
def distribution(
    feature: Annotated[MonitoredFeature, PathParam(description=f"One of: {FEATURES_HELP}.")],
    session: SessionDep,
    settings: SettingsDep,
    holder: ModelHolderDep,
    run_id: Annotated[int | None, Query(ge=1, description="A run; default: the newest ok run.")] = None,
    last_n: Annotated[
        int, Query(ge=1, le=MAX_LAST_N, description="Without a run window: the newest this many predictions.")
    ] = DEFAULT_LAST_N,
    part: Annotated[
        Literal["hour", "day_of_week", "month"], Query(description="start_time only: which part to compare.")
    ] = "hour",
) -> dict[str, Any]:
    """Training vs recent distribution of one feature, on the training baseline's bins.

    "Recent" is the window of predictions the monitor run judged (the newest ``ok`` run, or
    ``run_id``), compared with the baseline of the version that run judged; before any run, the
    newest ``last_n`` predictions against the served model's baseline.
    """
    run = reports.get_run(session, run_id) if run_id is not None else reports.latest_run(session, status="ok")
    if run_id is not None and run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No monitor run with id {run_id}")
    version = (run.model_version if run is not None else None) or holder.version
    if version is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail="No training baseline to compare with: no monitor run, no model loaded",
        )
    try:
        baseline = _baseline(settings, version)
    except LookupError as exc:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"No training baseline for {version}: {exc}"
        ) from exc
    except Exception as exc:  # tracking server down, artifact missing: say so plainly
        log.error("cannot load the training baseline of %s: %s", version, exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"Cannot load the training baseline of {version}; retry shortly",
        ) from exc
    windowed = run is not None and run.window_start is not None and run.window_end is not None
    try:
        body = reports.distribution(
            session,
            feature=feature,
            baseline=baseline,
            run=run if windowed else None,
            last_n=last_n,
            part=part,
        )
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    drift_row = None
    if run is not None:
        report = reports.drift_report(session, run_id=run.id) or {"results": []}
        drift_row = next((r for r in report["results"] if r["feature"] == feature), None)
    return body | {
        "model_version": version,
        "window": {
            "run_id": run.id if windowed and run is not None else None,
            "start": run.window_start if windowed and run is not None else None,
            "end": run.window_end if windowed and run is not None else None,
            "source": run.source if windowed and run is not None else None,
            "last_n": None if windowed else last_n,
        },
        "drift": drift_row,
    }


@router.get("/predictions", response_model=PredictionsReport)
def predictions(session: SessionDep, query: Annotated[PredictionsQuery, Query()]) -> dict[str, Any]:
    """Predictions per hour or day (count, mean, quantiles, anomalies), by source and model version,
    and the histogram of the predicted hours."""
    report = reports.predictions_report(
        session,
        since=query.since,
        until=query.until,
        bucket=query.bucket,
        source=query.source,
        model_version=query.model_version,
        bins=query.bins,
    )
    return report | {"since": query.since, "until": query.until}


@router.get("/realised-error", response_model=list[RealisedErrorPoint])
def realised_error(
    session: SessionDep,
    model_version: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="Only this model version.")
    ] = None,
    since: Annotated[UtcDateTime | None, Query(description="Only runs from then on (ISO 8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="The newest this many points.")] = 500,
) -> list[dict[str, Any]]:
    """Realised error (MAE, bias, RMSE, interval coverage) per monitor run and model version, oldest first."""
    return reports.realised_error_history(session, model_version=model_version, since=since, limit=limit)
