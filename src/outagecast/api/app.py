"""The FastAPI application: built by ``create_app(settings)``, resources opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from outagecast import __version__
from outagecast.api.model_holder import ModelHolder
from outagecast.api.routes import health, ingestion, models, past_predictions, predict, what_if
from outagecast.db.migrate import upgrade_to_head
from outagecast.db.session import make_engine, make_session_factory
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
    )
    app.state.settings = settings
    app.state.model_holder = ModelHolder(settings)
    app.include_router(health.router)
    app.include_router(predict.router)
    app.include_router(past_predictions.router)
    app.include_router(what_if.router)
    app.include_router(models.router)
    app.include_router(ingestion.router)
    # GX Data Docs pages, linked from GET /ingestion-stats and from alerts.
    docs = StaticFiles(directory=settings.data_docs_path, html=True, check_dir=False)
    app.mount("/data-docs", docs, name="data-docs")
    _add_error_handlers(app)
    return app


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


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeoutError)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The driver's message may hold host names; log it, answer plainly.
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            status_code=503,
            content={"detail": "Database unavailable: the request was not stored; retry shortly"},
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(status_code=500, content={"detail": "Internal error; it has been logged"})
