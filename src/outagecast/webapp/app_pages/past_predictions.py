"""Past predictions: stored predictions by date, source, model version and anomaly flag."""

from datetime import UTC, date, datetime, timedelta

import streamlit as st

from outagecast import schema
from outagecast.clients.api import MAX_PAST_LIMIT, ApiProblem
from outagecast.webapp import charts, data, ui
from outagecast.webapp.formatting import csv_bytes, format_hours, format_percent, predictions_frame

SOURCES = ("all", "webapp", "scheduled")
DEFAULT_DAYS = 30
# Outputs first: what was predicted matters more than the inputs that follow it.
TABLE_COLUMNS = (
    "timestamp",
    "source",
    "predicted_hours",
    "predicted_hours_low",
    "predicted_hours_high",
    "is_anomaly",
    "predicted_end_time",
    *schema.FEATURES,
    "system_load_imputed",
    "model_version",
    "id",
)


def _older() -> None:
    st.session_state.past_offset += st.session_state.past_limit


def _newer() -> None:
    st.session_state.past_offset = max(0, st.session_state.past_offset - st.session_state.past_limit)


tz = ui.user_timezone()
ui.page_header("Past predictions", "What was predicted, when, by which model. Durations are in hours.")

# The API's days are UTC days: ending the default range on the later of the local and the UTC
# date keeps a prediction made a minute ago in view wherever the viewer is.
today = max(datetime.now(tz).date(), datetime.now(UTC).date())
with st.container(border=True, key="past_filters"):
    dates_col, source_col, limit_col = st.columns([2, 2, 1])
    dates = dates_col.date_input(
        "Predicted between",
        value=(today - timedelta(days=DEFAULT_DAYS), today),
        format="YYYY-MM-DD",
        key="past_dates",
        help="Both days included (calendar days in UTC, as the API stores them).",
    )
    source = source_col.segmented_control(
        "Source",
        SOURCES,
        default="all",
        required=True,
        format_func=lambda s: "All" if s == "all" else s,
        key="past_source",
    )
    limit = limit_col.number_input(
        "Max rows", min_value=1, max_value=MAX_PAST_LIMIT, value=100, step=50, key="past_limit"
    )
    model_col, anomaly_col, _ = st.columns([2, 2, 1], vertical_alignment="bottom")
    model_version = model_col.text_input(
        "Model version", placeholder="Any", key="past_model", help="Exact version, as shown on Home."
    )
    anomalies_only = anomaly_col.toggle("Anomalies only", key="past_anomalies")

start_date: date | None = dates[0] if len(dates) > 0 else None
end_date: date | None = dates[1] if len(dates) > 1 else None
filters = {
    "start_date": start_date,
    "end_date": end_date,
    "source": source or "all",
    "limit": int(limit),
    "model_version": model_version.strip() or None,
    "anomaly": True if anomalies_only else None,
}
# Changed filters start again from the newest rows.
if st.session_state.get("past_filters_seen") != filters:
    st.session_state.past_filters_seen = filters
    st.session_state.past_offset = 0
offset: int = st.session_state.past_offset

try:
    with st.spinner("Loading past predictions…"):
        rows = data.past_predictions(offset=offset, **filters)
except ApiProblem as exc:
    ui.show_api_problem(exc, what="load past predictions", key="past_retry")
    st.stop()

if not rows:
    st.info(
        "No stored predictions match these filters." if offset == 0 else "No older predictions.",
        icon=":material/search_off:",
    )
    if offset:
        st.button("Newer", on_click=_newer, icon=":material/arrow_back:", key="past_newer_empty")
    st.stop()

frame = predictions_frame(rows, tz)
frame = frame[[c for c in TABLE_COLUMNS if c in frame.columns]]

count_col, mean_col, rate_col, range_col = st.columns(4)
count_col.metric("Predictions", f"{len(frame):,}", help="On this page of results.", border=True)
mean_col.metric("Mean predicted duration", format_hours(frame["predicted_hours"].mean()), border=True)
rate_col.metric("Anomaly rate", format_percent(frame["is_anomaly"].mean()), border=True)
range_col.metric("Rows", f"{offset + 1:,}–{offset + len(frame):,}", help="Newest first.", border=True)

tz_name = getattr(tz, "key", None) or "UTC"
st.subheader("Predicted durations over time", anchor=False)
st.plotly_chart(
    charts.predictions_over_time(frame, data.anomaly_threshold_hours(), tz_name), key="past_chart"
)

st.caption(ui.timezone_note(tz) + " Click a column header to sort.")
st.dataframe(
    frame, hide_index=True, width="stretch", column_config=ui.prediction_columns(list(frame.columns))
)

newer_col, older_col, download_col = st.columns([1, 1, 4])
newer_col.button(
    "Newer",
    on_click=_newer,
    disabled=offset == 0,
    icon=":material/arrow_back:",
    key="past_newer",
    width="stretch",
)
older_col.button(
    "Older",
    on_click=_older,
    disabled=len(rows) < filters["limit"],  # a short page is the last one
    icon=":material/arrow_forward:",
    icon_position="right",
    key="past_older",
    width="stretch",
)
download_col.download_button(
    "Download these rows (CSV)",
    csv_bytes(frame),
    file_name=f"outagecast_past_predictions_{today:%Y%m%d}.csv",
    mime="text/csv",
    icon=":material/download:",
    key="past_download",
)
