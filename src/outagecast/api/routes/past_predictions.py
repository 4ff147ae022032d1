"""``GET /past-predictions``: stored predictions, newest first, as a plain JSON list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from outagecast.api.deps import SessionDep
from outagecast.api.schemas import PastPrediction, PastPredictionFilters
from outagecast.db import repository

router = APIRouter(tags=["predictions"])


@router.get("/past-predictions", response_model=list[PastPrediction])
def list_past_predictions(session: SessionDep, filters: Annotated[PastPredictionFilters, Query()]) -> list:
    """Stored predictions, newest first; `end_date` is inclusive, `limit` at most 500."""
    return repository.list_predictions(session, **filters.model_dump())
