"""``POST /predict``: one vectorised model call and one bulk insert per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from outagecast.api.deps import PredictorDep, SessionDep, SettingsDep
from outagecast.api.schemas import PredictRequest, PredictResponse
from outagecast.api.service import (
    answer_json,
    answer_records,
    explanations,
    features_frame,
    predict_frame,
    stored_columns,
)
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
) -> dict | Response:
    """Predict the duration of one or more outages, with an interval, and store every prediction."""
    if len(body.features) > settings.max_batch_rows:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"features has {len(body.features)} rows; at most {settings.max_batch_rows} "
            "are accepted per request (MAX_BATCH_ROWS): split the batch",
        )
    predicted = predict_frame(
        features_frame(body.features),
        predictor=predictor,
        settings=settings,
        source=body.source,
        coverage=coverage,
    )
    # Explanations are computed before storing, so a failure there stores nothing.
    explained = explanations(predicted, predictor=predictor) if explain else None
    with session.begin():
        repository.copy_predictions(session, columns=stored_columns(predicted))
    if explained is not None:
        return {"predictions": answer_records(predicted, explained)}
    # The common path skips per-row response objects: the JSON is written from the columns.
    return Response(content=answer_json(predicted), media_type="application/json")
