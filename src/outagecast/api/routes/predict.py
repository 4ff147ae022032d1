"""``POST /predict``: one vectorised model call and one bulk insert per request."""

from __future__ import annotations

import hashlib
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outagecast.api.deps import PredictorDep, SessionDep, SettingsDep
from outagecast.api.metrics import record_predictions
from outagecast.api.schemas import PredictRequest, PredictResponse
from outagecast.api.service import (
    ANSWERED_COLUMNS,
    answer_json,
    answer_records,
    explanations,
    features_frame,
    predict_frame,
    stored_columns,
)
from outagecast.db import repository
from outagecast.ml.predict import Predictor

router = APIRouter(tags=["predictions"])

MAX_IDEMPOTENCY_KEY_LENGTH = 200


def idempotency_hash(key: str) -> str:
    """What ``predictions.request_id`` and ``prediction_requests.key`` store for a key: its sha256 hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _stored_answer(session: Session, key_hash: str, rows: int) -> pd.DataFrame | None:
    """The batch stored under ``key_hash`` as the answered columns, in original order; None if none.

    Raises 409 when the key was used for a batch of another size (a reused key, not a retry).
    """
    with session.begin():
        request = repository.get_prediction_request(session, key=key_hash)
        if request is None:
            return None
        if request.row_count != rows:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"Idempotency-Key was already used for a batch of {request.row_count} rows, "
                f"not {rows}: use a new key for a new batch",
            )
        stored = repository.predictions_of_request(session, key=key_hash)
    frame = pd.DataFrame({name: [getattr(p, name) for p in stored] for name in ANSWERED_COLUMNS})
    for name in ("start_time", "predicted_end_time"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses={
        # 400 and 409 were returned but undocumented until schemathesis found them.
        400: {"description": "The body is not JSON text (e.g. not UTF-8)"},
        409: {"description": "Idempotency-Key already used for a batch of another size"},
        413: {"description": "More rows than MAX_BATCH_ROWS"},
        503: {"description": "Model not loaded, or database unavailable"},
    },
)
def predict(
    request: Request,
    body: PredictRequest,
    predictor: PredictorDep,
    session: SessionDep,
    settings: SettingsDep,
    explain: Annotated[bool, Query(description="Add each input's contribution in hours.")] = False,
    coverage: Annotated[
        float | None,
        Query(ge=0.5, le=0.995, description="Nominal interval coverage (default INTERVAL_COVERAGE)."),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
            description="Retry-safe key: a batch sent again with the same key is answered from the "
            "stored predictions and stored nothing new.",
        ),
    ] = None,
) -> dict | Response:
    """Predict the duration of one or more outages, with an interval, and store every prediction.

    With ``Idempotency-Key``, a key already stored answers with the predictions stored for it (same
    shape, original order) and inserts nothing; the key is claimed (``prediction_requests``) first in
    the storing transaction, so a concurrent duplicate fails on its primary key and answers likewise.
    """
    if len(body.features) > settings.max_batch_rows:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"features has {len(body.features)} rows; at most {settings.max_batch_rows} "
            "are accepted per request (MAX_BATCH_ROWS): split the batch",
        )
    key_hash = idempotency_hash(idempotency_key) if idempotency_key is not None else None
    if key_hash is not None:
        stored = _stored_answer(session, key_hash, len(body.features))
        if stored is not None:
            return _answer(stored, predictor=predictor, explain=explain)
    predicted = predict_frame(
        features_frame(body.features),
        predictor=predictor,
        settings=settings,
        source=body.source,
        coverage=coverage,
    )
    # Explanations are computed before storing, so a failure there stores nothing.
    explained = explanations(predicted, predictor=predictor) if explain else None
    columns = stored_columns(predicted)
    if key_hash is not None:
        columns["request_id"] = [key_hash] * len(predicted)
    try:
        with session.begin():
            if key_hash is not None:
                repository.insert_prediction_request(session, key=key_hash, row_count=len(predicted))
            repository.copy_predictions(session, columns=columns)
    except IntegrityError:
        # A concurrent request with the same key stored its batch first: answer with that one.
        stored = _stored_answer(session, key_hash, len(body.features)) if key_hash is not None else None
        if stored is None:
            raise
        return _answer(stored, predictor=predictor, explain=explain)
    # Counted once stored (a replay answered from storage above is not a new prediction).
    record_predictions(request.app, body.source, len(predicted), int(predicted["is_anomaly"].sum()))
    if explained is not None:
        return {"predictions": answer_records(predicted, explained)}
    # The common path skips per-row response objects: the JSON is written from the columns.
    return Response(content=answer_json(predicted), media_type="application/json")


def _answer(frame: pd.DataFrame, *, predictor: Predictor, explain: bool) -> dict | Response:
    """The answer for stored predictions (explanations, when asked, from the model serving now)."""
    if explain:
        return {"predictions": answer_records(frame, explanations(frame, predictor=predictor))}
    return Response(content=answer_json(frame), media_type="application/json")
