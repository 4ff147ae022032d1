"""The web app's calls to the API, cached where a repeat would ask the same question.

Pages call these functions and never build a client themselves. Failures propagate as the
client's ``ApiProblem`` exceptions (Streamlit does not cache exceptions, so a retry really
asks again). Settings are read through ``get_settings()`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import streamlit as st

from outagecast.clients.api import ApiClient, ChunkCallback, Health, PastPrediction, Prediction, SourceFilter
from outagecast.settings import get_settings

# Health is cheap and should reflect a restarted API quickly; past predictions change only
# when someone predicts, and this session clears them itself when it does.
HEALTH_TTL_SECONDS = 10
PAST_TTL_SECONDS = 30


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


def clear_caches() -> None:
    """Forget cached answers, so that the next call asks the API again (the Retry buttons)."""
    _health.clear()
    _past_predictions.clear()
