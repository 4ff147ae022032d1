"""The web app's calls to the API, cached where a repeat would ask the same question.

Pages call these functions and never build a client themselves. Failures propagate as the
client's ``ApiProblem`` exceptions (Streamlit does not cache exceptions, so a retry really
asks again). Settings are read through ``get_settings()`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import streamlit as st

from outagecast.clients.api import (
    ApiClient,
    BadRows,
    ChunkCallback,
    Criticality,
    Health,
    IngestionStat,
    ModelsReport,
    MonitoringBucket,
    MonitoringReport,
    PastPrediction,
    Prediction,
    Reload,
    SourceFilter,
    StartTimePart,
    WhatIf,
)
from outagecast.settings import get_settings

# Health is cheap and should reflect a restarted API quickly; past predictions change only
# when someone predicts, and this session clears them itself when it does.
HEALTH_TTL_SECONDS = 10
PAST_TTL_SECONDS = 30
# The registry changes on retraining (minutes apart); ingestion every minute at most.
MODELS_TTL_SECONDS = 30
INGESTION_TTL_SECONDS = 30
# A what-if answer only changes with the model; a reload from this app clears it at once.
WHAT_IF_TTL_SECONDS = 300
# The monitor job runs every few minutes; ingestion and predictions change by the minute.
MONITORING_TTL_SECONDS = 60


@st.cache_resource(show_spinner=False)
def _client(api_url: str, api_key: str | None, timeout: float, max_batch_rows: int) -> ApiClient:
    # One pooled client per configuration, shared by every session of this server.
    return ApiClient(api_url, api_key=api_key, timeout=timeout, max_batch_rows=max_batch_rows)


def client() -> ApiClient:
    """The API client for the current settings."""
    s = get_settings()
    key = s.api_key.get_secret_value() if s.api_key is not None else None
    return _client(s.api_url, key, s.api_timeout_seconds, s.max_batch_rows)


def api_url() -> str:
    """Where the API is expected (for messages)."""
    return get_settings().api_url


def anomaly_threshold_hours() -> float:
    """The anomaly threshold the deployment is configured with (the API applies it)."""
    return get_settings().anomaly_threshold_hours


def interval_coverage() -> float:
    """The nominal coverage of the prediction intervals the deployment is configured with."""
    return get_settings().interval_coverage


def health() -> Health:
    """``GET /health``, cached for a few seconds."""
    return _health(api_url())


@st.cache_data(ttl=HEALTH_TTL_SECONDS, show_spinner=False)
def _health(url: str) -> Health:
    # ``url`` only keys the cache, so that a changed setting asks again.
    return client().health()


def past_predictions(
    *,
    start_date: date | None = None,
    end_date: date | None = None,
    source: SourceFilter = "all",
    limit: int = 100,
    offset: int = 0,
    model_version: str | None = None,
    anomaly: bool | None = None,
) -> list[PastPrediction]:
    """``GET /past-predictions`` with the page's filters, cached until this session predicts."""
    return _past_predictions(
        api_url(),
        start_date=start_date,
        end_date=end_date,
        source=source,
        limit=limit,
        offset=offset,
        model_version=model_version,
        anomaly=anomaly,
    )


@st.cache_data(ttl=PAST_TTL_SECONDS, show_spinner=False)
def _past_predictions(
    url: str,
    *,
    start_date: date | None,
    end_date: date | None,
    source: SourceFilter,
    limit: int,
    offset: int,
    model_version: str | None,
    anomaly: bool | None,
) -> list[PastPrediction]:
    return client().past_predictions(
        start_date=start_date,
        end_date=end_date,
        source=source,
        limit=limit,
        offset=offset,
        model_version=model_version,
        anomaly=anomaly,
    )


def predict(
    rows: Sequence[dict[str, Any]], on_chunk: ChunkCallback | None = None, *, explain: bool = False
) -> list[Prediction]:
    """``POST /predict`` from the web app (never cached: every call is stored by the API)."""
    try:
        return client().predict(rows, source="webapp", on_chunk=on_chunk, explain=explain)
    finally:
        # Even a failed batch may have stored its first chunks: the history has changed.
        _past_predictions.clear()


def what_if(incident: dict[str, Any], vary: str, values: list[Any]) -> WhatIf:
    """``POST /what-if``: one batched call for every value (nothing is stored, so it is cached)."""
    return _what_if(api_url(), incident, vary, values)


@st.cache_data(ttl=WHAT_IF_TTL_SECONDS, show_spinner=False, max_entries=200)
def _what_if(url: str, incident: dict[str, Any], vary: str, values: list[Any]) -> WhatIf:
    return client().what_if(incident, vary, values)


def models() -> ModelsReport:
    """``GET /models``, cached for a little while."""
    return _models(api_url())


@st.cache_data(ttl=MODELS_TTL_SECONDS, show_spinner=False)
def _models(url: str) -> ModelsReport:
    return client().models()


def reload_model() -> Reload:
    """``POST /reload-model`` (with ``X-API-Key`` when ``API_KEY`` is set); forgets what the
    reload may have changed: health, the registry view, what-if answers."""
    try:
        return client().reload_model()
    finally:
        _health.clear()
        _models.clear()
        _what_if.clear()


def ingestion_stats(
    *,
    start_date: date | None = None,
    end_date: date | None = None,
    criticality: Criticality | None = None,
    limit: int = 100,
) -> list[IngestionStat]:
    """``GET /ingestion-stats`` with the page's filters, cached for a little while."""
    return _ingestion_stats(
        api_url(), start_date=start_date, end_date=end_date, criticality=criticality, limit=limit
    )


@st.cache_data(ttl=INGESTION_TTL_SECONDS, show_spinner=False)
def _ingestion_stats(
    url: str, *, start_date: date | None, end_date: date | None, criticality: Criticality | None, limit: int
) -> list[IngestionStat]:
    return client().ingestion_stats(
        start_date=start_date, end_date=end_date, criticality=criticality, limit=limit
    )


def bad_rows(stat_id: int, *, limit: int = 100) -> BadRows:
    """``GET /ingestion-stats/{id}/bad-rows`` (a file's bad rows do not change once ingested)."""
    return _bad_rows(api_url(), stat_id, limit)


@st.cache_data(ttl=INGESTION_TTL_SECONDS, show_spinner=False)
def _bad_rows(url: str, stat_id: int, limit: int) -> BadRows:
    return client().bad_rows(stat_id, limit=limit)


def monitoring_ingestion(
    *, since: datetime, until: datetime | None, bucket: MonitoringBucket
) -> MonitoringReport:
    """``GET /monitoring/ingestion``, cached for a minute (``since`` is rounded by the page)."""
    return _monitoring_ingestion(api_url(), since, until, bucket)


@st.cache_data(ttl=MONITORING_TTL_SECONDS, show_spinner=False)
def _monitoring_ingestion(
    url: str, since: datetime, until: datetime | None, bucket: MonitoringBucket
) -> MonitoringReport:
    return client().monitoring_ingestion(since=since, until=until, bucket=bucket)


def monitoring_drift() -> MonitoringReport:
    """``GET /monitoring/drift`` (the newest run and its per-feature results), cached for a minute."""
    return _monitoring_drift(api_url())


@st.cache_data(ttl=MONITORING_TTL_SECONDS, show_spinner=False)
def _monitoring_drift(url: str) -> MonitoringReport:
    return client().monitoring_drift()


def monitoring_drift_history(*, feature: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """``GET /monitoring/drift/history``, cached for a minute."""
    return _monitoring_drift_history(api_url(), feature, limit)


@st.cache_data(ttl=MONITORING_TTL_SECONDS, show_spinner=False)
def _monitoring_drift_history(url: str, feature: str | None, limit: int) -> list[dict[str, Any]]:
    return client().monitoring_drift_history(feature=feature, limit=limit)


def monitoring_distribution(feature: str, *, part: StartTimePart = "hour") -> MonitoringReport:
    """``GET /monitoring/drift/{feature}/distribution`` (the newest ok run's window), cached for a minute."""
    return _monitoring_distribution(api_url(), feature, part)


@st.cache_data(ttl=MONITORING_TTL_SECONDS, show_spinner=False)
def _monitoring_distribution(url: str, feature: str, part: StartTimePart) -> MonitoringReport:
    return client().monitoring_distribution(feature, part=part)


def monitoring_predictions(
    *, since: datetime, until: datetime | None, bucket: MonitoringBucket, source: str | None = None
) -> MonitoringReport:
    """``GET /monitoring/predictions``, cached for a minute."""
    return _monitoring_predictions(api_url(), since, until, bucket, source)


@st.cache_data(ttl=MONITORING_TTL_SECONDS, show_spinner=False)
def _monitoring_predictions(
    url: str, since: datetime, until: datetime | None, bucket: MonitoringBucket, source: str | None
) -> MonitoringReport:
    return client().monitoring_predictions(
        since=since,
        until=until,
        bucket=bucket,
        source=source,  # type: ignore[arg-type]  # the page offers the API's sources only
    )


def realised_error(*, model_version: str | None = None) -> list[dict[str, Any]]:
    """``GET /monitoring/realised-error``, cached for a minute."""
    return _realised_error(api_url(), model_version)


@st.cache_data(ttl=MONITORING_TTL_SECONDS, show_spinner=False)
def _realised_error(url: str, model_version: str | None) -> list[dict[str, Any]]:
    return client().realised_error(model_version=model_version)


_MONITORING_CACHES = (
    _monitoring_ingestion,
    _monitoring_drift,
    _monitoring_drift_history,
    _monitoring_distribution,
    _monitoring_predictions,
    _realised_error,
)


def public_url(path: str) -> str:
    """A link people can open for a path the API hands out (Data Docs pages): on
    ``PUBLIC_API_URL`` when set (``API_URL`` may be a name only other containers resolve)."""
    s = get_settings()
    if path.startswith(("http://", "https://")):
        return path
    return f"{(s.public_api_url or s.api_url).rstrip('/')}/{path.lstrip('/')}"


def clear_caches() -> None:
    """Forget cached answers, so that the next call asks the API again (the Retry buttons)."""
    for cached in (
        _health,
        _past_predictions,
        _what_if,
        _models,
        _ingestion_stats,
        _bad_rows,
        *_MONITORING_CACHES,
    ):
        cached.clear()
