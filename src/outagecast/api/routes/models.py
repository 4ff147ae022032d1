"""``GET /models`` (the registry and the promotion decisions) and ``POST /reload-model``."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from outagecast.api.deps import ModelHolderDep, SessionDep, SettingsDep, require_api_key
from outagecast.api.schemas import ModelsOut, ReloadOut
from outagecast.db import repository
from outagecast.ml import registry  # light: MLflow itself is imported on first use

router = APIRouter(tags=["models"])
log = logging.getLogger(__name__)

_REGISTRY_DOWN = "Model registry unavailable; retry shortly"


@router.get("/models", response_model=ModelsOut, responses={503: {"description": "Registry unreachable"}})
def list_models(
    settings: SettingsDep,
    session: SessionDep,
    holder: ModelHolderDep,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many versions and runs.")] = 50,
) -> dict:
    """Registered versions (newest first) with metrics and decisions, the champion, and the run history."""
    try:
        versions = registry.list_versions(settings, limit=limit)
    except Exception as exc:  # a tracking server down: say so, as for the database
        log.error("model registry unavailable: %s", exc)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=_REGISTRY_DOWN) from exc
    return {
        "registered_model": settings.registered_model_name,
        "champion": next((v.version for v in versions if v.is_champion), None),
        "serving": holder.version,
        "versions": [v.as_dict() for v in versions],
        "runs": repository.list_training_runs(session, limit=limit),
    }


@router.post(
    "/reload-model",
    response_model=ReloadOut,
    dependencies=[Depends(require_api_key)],
    responses={
        401: {"description": "API_KEY is set and X-API-Key is wrong"},
        503: {"description": _REGISTRY_DOWN},
    },
)
def reload_model(
    holder: ModelHolderDep,
    force: Annotated[
        bool, Query(description="Load the champion again even if it is already served.")
    ] = False,
) -> dict:
    """Serve the registry's current champion now; requests in flight finish on the old model."""
    try:
        outcome = holder.reload(force=force)
    except Exception as exc:
        log.exception("model reload failed; still serving %s", holder.version or "nothing")
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=_REGISTRY_DOWN) from exc
    return {
        "previous_version": outcome.previous_version,
        "version": outcome.version,
        "champion": outcome.champion,
        "changed": outcome.changed,
        "seconds": outcome.seconds,
    }
