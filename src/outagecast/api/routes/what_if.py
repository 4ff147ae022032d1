"""``POST /what-if``: one incident, one input varied over many values, one model call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from outagecast.api.deps import PredictorDep, SettingsDep
from outagecast.api.schemas import IncidentFeatures, WhatIfRequest, WhatIfResponse
from outagecast.api.service import features_frame, predict_frame

router = APIRouter(tags=["predictions"])


@router.post(
    "/what-if",
    response_model=WhatIfResponse,
    responses={
        400: {"description": "The body is not JSON text (e.g. not UTF-8)"},
        503: {"description": "Model not loaded"},
    },
)
def what_if(
    body: WhatIfRequest,
    predictor: PredictorDep,
    settings: SettingsDep,
    coverage: Annotated[
        float | None, Query(ge=0.5, le=0.995, description="Nominal interval coverage.")
    ] = None,
) -> dict:
    """Predict the incident once per value of ``vary``, in one batch; nothing is stored."""
    base = body.incident.model_dump()
    variants: list[IncidentFeatures] = []
    errors = []
    for i, value in enumerate(body.values):
        try:
            variants.append(IncidentFeatures.model_validate({**base, body.vary: value}))
        except ValidationError as exc:  # say which value is bad, as a 422 on that value
            errors += [{**e, "loc": ("body", "values", i)} for e in exc.errors(include_url=False)]
    if errors:
        raise RequestValidationError(errors)
    predicted = predict_frame(
        features_frame(variants), predictor=predictor, settings=settings, source="webapp", coverage=coverage
    )
    low, high = predicted["predicted_hours_low"], predicted["predicted_hours_high"]
    has_interval = bool(low.notna().all())
    return {
        "vary": body.vary,
        "model_version": predictor.version,
        "interval_coverage": float(predicted["interval_coverage"].iloc[0]) if has_interval else None,
        "points": [
            {
                "value": value,
                "predicted_hours": float(h),
                "predicted_hours_low": float(lo) if has_interval else None,
                "predicted_hours_high": float(hi) if has_interval else None,
            }
            for value, h, lo, hi in zip(body.values, predicted["predicted_hours"], low, high, strict=True)
        ],
    }
