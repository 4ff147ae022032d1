"""The FastAPI application: built by ``create_app(settings)``, resources opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from outagecast import __version__
from outagecast.api import metrics as api_metrics
from outagecast.api.model_holder import ModelHolder
from outagecast.api.routes import health, ingestion, models, monitoring, past_predictions, predict, what_if
from outagecast.api.security import (
    BodySizeLimit,
    ReadKeyProtected,
    WriteRateLimiter,
    api_guard,
)
from outagecast.db.migrate import upgrade_to_head
from outagecast.db.session import make_engine, make_session_factory
from outagecast.redaction import install_log_redaction
from outagecast.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = """
Predicts how long a cloud outage will last, in hours, and stores every prediction with its
inputs and model version. `POST /predict` takes one or many incidents; `GET /past-predictions`
lists what was predicted; `GET /health` says whether the service can answer. The model served
is the `champion` of the MLflow registry: `GET /models` lists the registered versions and the
promotion decisions, `POST /reload-model` picks up a new champion without a restart (the API
also checks for one every `MODEL_REFRESH_SECONDS`).
"""


def create_app(settings: Settings | None = None, *, load_model: bool = True) -> FastAPI:
    """Build the API. Nothing is opened until the app starts (see the lifespan)."""
    settings = settings or get_settings()
    install_log_redaction(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url)
        try:
            upgrade_to_head(settings.resolved_database_url)
        except Exception as exc:  # start degraded rather than not at all; /health says why
            log.error("database migration failed: %s", exc)
        app.state.engine = engine
        app.state.session_factory = make_session_factory(engine)
        try:  # ingestion jobs write Data Docs there; served even before the first one ran
            settings.data_docs_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.error("cannot create the Data Docs folder %s: %s", settings.data_docs_path, exc)
        refresher = None
        if load_model:
            # Off the event loop: a cold start trains a model, and MLflow's first use takes seconds.
            await asyncio.to_thread(app.state.model_holder.load, train_if_missing=True)
            if settings.model_refresh_seconds > 0:
                refresher = asyncio.create_task(
                    _refresh_periodically(app.state.model_holder, settings.model_refresh_seconds)
                )
        yield
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        engine.dispose()

    app = FastAPI(
        title="OutageCast API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # App-wide, so every route of every router (including routers added later) gets the
        # API-key check and the write rate limit; reads and writes are told apart by method.
        dependencies=[Depends(api_guard)],
    )
    app.state.settings = settings
    app.state.model_holder = ModelHolder(settings)
    app.state.rate_limiter = (
        WriteRateLimiter(settings.rate_limit_per_minute) if settings.rate_limit_per_minute > 0 else None
    )
    app.include_router(api_metrics.router)
    app.include_router(health.router)
    app.include_router(predict.router)
    app.include_router(past_predictions.router)
    app.include_router(what_if.router)
    app.include_router(models.router)
    app.include_router(ingestion.router)
    app.include_router(monitoring.router)
    # GX Data Docs pages, linked from GET /ingestion-stats and from alerts.
    docs = StaticFiles(directory=settings.data_docs_path, html=True, check_dir=False)
    app.mount("/data-docs", ReadKeyProtected(docs, settings), name="data-docs")
    _add_error_handlers(app)
    _add_middleware(app, settings)
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    """Body-size limit, request metrics and CORS; the last added runs first."""
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Outside the body limit, so that 413 answers are counted too.
    api_metrics.setup_metrics(app)
    if settings.cors_allow_origins:
        # Outermost, so that error answers carry the CORS headers as well. No middleware at all
        # when no origin is configured: browsers then refuse every cross-origin call.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "Idempotency-Key"],
        )


async def _refresh_periodically(holder: ModelHolder, seconds: float) -> None:
    """Ask the registry for the champion every ``seconds``; swap the model when it changed.

    One alias lookup per tick (milliseconds); the model itself is only downloaded on a change.
    Runs in a worker thread, so requests are never held up by it.
    """
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(holder.refresh)


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from the environment."""
    return create_app(get_settings())


def _driver_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(every psycopg error, psycopg's data errors); empty without psycopg (SQLite-only installs).

    ``COPY`` (the bulk insert of /predict on PostgreSQL) runs on the driver's cursor, so its errors
    reach the app unwrapped by SQLAlchemy: a database dying mid-COPY was a 500, not a 503.
    """
    try:
        import psycopg
    except ImportError:
        return (), ()
    return (psycopg.Error,), (psycopg.DataError,)


def _encodable(value: Any) -> Any:
    """``value`` with every string made valid UTF-8 (lone surrogates written as ``\\udXXX``)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(v) for v in value]
    return value


def _add_error_handlers(app: FastAPI) -> None:
    driver_errors, driver_data_errors = _driver_errors()

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, (DataError, *driver_data_errors)):
            # A value the database cannot hold or compare (an id beyond bigint, a NUL character in
            # text) is the request's fault, not an outage: a 503 would make clients retry it forever.
            # Shaped like FastAPI's own 422 so the documented HTTPValidationError schema holds.
            reason = getattr(exc, "orig", None) or exc  # the driver's message, without the parameters
            log.warning("rejected by the database on %s %s: %s", request.method, request.url.path, reason)
            return JSONResponse(
                status_code=422,
                content={
                    "detail": [
                        {
                            "loc": ["request"],
                            "msg": "A value of the request is out of range for the database or holds a "
                            "NUL character",
                            "type": "value_error",
                        }
                    ]
                },
            )
        # The driver's message may hold host names; log it, answer plainly.
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        api_metrics.record_database_error(request.app)
        return JSONResponse(
            status_code=503,
            content={"detail": "Database unavailable: the request was not stored; retry shortly"},
            headers={"Retry-After": "5"},
        )

    for error in (OperationalError, DBAPIError, PoolTimeoutError, *driver_errors):
        app.add_exception_handler(error, database_unavailable)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422, except that echoed inputs are made encodable: a lone surrogate sent as
        # "\udbe4" in JSON made the 422 itself fail to encode, a 500 (found by fuzzing).
        return JSONResponse(status_code=422, content={"detail": _encodable(jsonable_encoder(exc.errors()))})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(status_code=500, content={"detail": "Internal error; it has been logged"})
