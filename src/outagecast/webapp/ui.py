"""Pieces every page shares: headers, the API-problem message with its Retry button, time zone."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import streamlit as st

from outagecast.clients.api import ApiError, ApiProblem, ApiUnavailable, describe_detail
from outagecast.webapp import data
from outagecast.webapp.formatting import TABLE_DATETIME_FORMAT, TIMESTAMP_FIELDS, label, resolve_timezone

# Paths of the pages, relative to streamlit_app.py (st.page_link and AppTest use them).
HOME_PAGE = "app_pages/home.py"
PREDICT_PAGE = "app_pages/predict.py"
PAST_PAGE = "app_pages/past_predictions.py"
MODEL_PAGE = "app_pages/model.py"
DATA_QUALITY_PAGE = "app_pages/data_quality.py"
MONITORING_PAGE = "app_pages/monitoring.py"


def page_header(title: str, caption: str) -> None:
    """The same title block on every page."""
    st.title(title, anchor=False)
    st.caption(caption)


def user_timezone() -> tzinfo:
    """The viewer's time zone as the browser reports it (UTC when it does not)."""
    try:
        name = st.context.timezone
    except Exception:  # outside a browser session (bare script runs) there is no context
        name = None
    return resolve_timezone(name)


def timezone_name(tz: tzinfo) -> str:
    """The zone's IANA name ("Europe/Paris"), or its abbreviation."""
    return getattr(tz, "key", None) or tz.tzname(None) or "UTC"


def timezone_note(tz: tzinfo) -> str:
    """Says which zone the times on a page are in."""
    return f"Times are shown in your time zone ({timezone_name(tz)})."


def show_api_problem(exc: ApiProblem, *, what: str, key: str) -> bool:
    """A clear message for an API failure and a Retry button; True when Retry was clicked.

    ``what`` completes "Could not ..." (e.g. "load past predictions"). The button clears
    the cached answers, so the rerun it triggers really asks the API again.
    """
    if isinstance(exc, ApiUnavailable):
        st.error(
            f"**Could not {what}: the OutageCast API is not answering.**\n\n{exc.message}\n\n"
            "Check that it is running (`outagecast serve`) and that `API_URL` points to it, then retry.",
            icon=":material/cloud_off:",
        )
    elif isinstance(exc, ApiError) and exc.status == 503:
        st.error(
            f"**Could not {what}: the API is running but cannot serve right now.**\n\n"
            f"It said: {_detail(exc)}. This usually passes once the model has loaded; retry shortly.",
            icon=":material/hourglass_top:",
        )
    elif isinstance(exc, ApiError) and exc.status in (401, 403):
        st.error(
            f"**Could not {what}: the API wants a valid API key (HTTP {exc.status}).**\n\n"
            f"It said: {_detail(exc)}. Set `API_KEY` for the web app to the key the API was started "
            "with, then retry.",
            icon=":material/key:",
        )
    elif isinstance(exc, ApiError):
        st.error(
            f"**Could not {what}: the API refused the request (HTTP {exc.status}).**\n\n"
            f"It said: {_detail(exc)}",
            icon=":material/error:",
        )
    else:
        st.error(f"**Could not {what}.**\n\n{exc.message}", icon=":material/error:")
    return st.button("Retry", key=key, icon=":material/refresh:", on_click=data.clear_caches)


def _detail(exc: ApiError) -> str:
    return describe_detail(exc.detail)


def pill_column(title: str, colors: dict[str, str], **kwargs: Any) -> object:
    """A read-only column of coloured labels (cells are one-item lists: ``["high"]``)."""
    return st.column_config.MultiselectColumn(
        title, options=list(colors), color=list(colors.values()), **kwargs
    )


def prediction_columns(frame_columns: list[str]) -> dict[str, object]:
    """Column settings for tables of predictions: readable labels, local times, hours."""
    config: dict[str, object] = {}
    for name in frame_columns:
        title = label(name)
        if name in TIMESTAMP_FIELDS:
            config[name] = st.column_config.DatetimeColumn(title, format=TABLE_DATETIME_FORMAT)
        elif name in ("predicted_hours", "predicted_hours_low", "predicted_hours_high"):
            config[name] = st.column_config.NumberColumn(title, format="%.2f", help="Hours")
        elif name in ("is_anomaly", "system_load_imputed"):
            config[name] = st.column_config.CheckboxColumn(title)
        elif name == "system_load_before_outage":
            config[name] = st.column_config.NumberColumn(title, format="%.0f")
        elif name in ("number_of_customers_affected", "ticket_count"):
            config[name] = st.column_config.NumberColumn(title, format="localized")
        else:
            config[name] = st.column_config.Column(title)
    return config
