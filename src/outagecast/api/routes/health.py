"""``GET /health``: 200 when the model is loaded and the database answers, else 503."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from outagecast.api.deps import ModelHolderDep
from outagecast.api.schemas import HealthOut
from outagecast.db.session import ping

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(request: Request, holder: ModelHolderDep) -> JSONResponse:
    """Whether the API can serve predictions, and with which model."""
    db_ok = ping(request.app.state.engine)
    problems = ([] if holder.predictor is not None else ["model not loaded"]) + (
        [] if db_ok else ["database unreachable"]
    )
    body = HealthOut(
        status="healthy" if not problems else "degraded",
        model_loaded=holder.predictor is not None,
        model_version=holder.version,
        database="ok" if db_ok else "unreachable",
        problems=problems,
    )
    return JSONResponse(body.model_dump(), status_code=200 if not problems else 503)
