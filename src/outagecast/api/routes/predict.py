"""``POST /predict``: one vectorised model call and one bulk insert per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from outagecast.api.deps import PredictorDep, SessionDep, SettingsDep
from outagecast.api.schemas import PredictRequest, PredictResponse
from outagecast.api.service import features_frame, predict_rows
from outagecast.db import repository

router = APIRouter(tags=["predictions"])


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses={
        413: {"description": "More rows than MAX_BATCH_ROWS"},
        503: {"description": "Model not loaded, or database unavailable"},
    },
)
def predict(
    body: PredictRequest,
    predictor: PredictorDep,
    session: SessionDep,
    settings: SettingsDep,
    explain: Annotated[bool, Query(description="Add each input's contribution in hours.")] = False,
    coverage: Annotated[
        float | None,
        Query(ge=0.5, le=0.995, description="Nominal interval coverage (default INTERVAL_COVERAGE)."),
    ] = None,
) -> dict:
    """Predict the duration of one or more outages, with an interval, and store every prediction."""
    if len(body.features) > settings.max_batch_rows:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"features has {len(body.features)} rows; at most {settings.max_batch_rows} "
            "are accepted per request (MAX_BATCH_ROWS): split the batch",
        )
    records = predict_rows(
        features_frame(body.features),
        predictor=predictor,
        settings=settings,
        source=body.source,
        coverage=coverage,
        explain=explain,
    )
    with session.begin():
        repository.insert_predictions(session, rows=_db_rows(records))
    return {"predictions": records}


def _db_rows(records: list[dict]) -> list[dict]:
    # pandas timestamps become plain datetimes for the database driver.
    return [
        {
            **{k: v for k, v in r.items() if k != "explanation"},
            "start_time": r["start_time"].to_pydatetime(),
            "predicted_end_time": r["predicted_end_time"].to_pydatetime(),
        }
        for r in records
    ]
