"""Dependencies the routes name through ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.orm import Session

from outagecast.api.model_holder import ModelHolder
from outagecast.api.security import key_matches
from outagecast.ml.predict import Predictor
from outagecast.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; the route decides where the transaction begins and ends."""
    with request.app.state.session_factory() as session:
        yield session


def get_model_holder(request: Request) -> ModelHolder:
    return request.app.state.model_holder


def get_predictor(holder: Annotated[ModelHolder, Depends(get_model_holder)]) -> Predictor:
    """The loaded predictor, read once per request; 503 when there is none."""
    predictor = holder.predictor
    if predictor is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="Model not loaded")
    return predictor


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
ModelHolderDep = Annotated[ModelHolder, Depends(get_model_holder)]
PredictorDep = Annotated[Predictor, Depends(get_predictor)]


def require_api_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> None:
    """When ``API_KEY`` is set, the request must carry it in ``X-API-Key`` (401 otherwise).

    Every write already gets this check from the app-wide ``security.api_guard``; routes that
    must never be open whatever the method (admin reads, say) can name this one explicitly.
    """
    if not key_matches(x_api_key, request.app.state.settings):  # constant-time comparison
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Missing or wrong X-API-Key",
            headers={"WWW-Authenticate": "API-Key"},
        )
