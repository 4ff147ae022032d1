"""Predict: one outage from a form, or a whole CSV batch."""

from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any

import streamlit as st

from outagecast import schema
from outagecast.clients.api import ApiProblem
from outagecast.webapp import charts, csv_batch, data, ui, what_if
from outagecast.webapp.formatting import (
    csv_bytes,
    driver_label,
    format_duration,
    format_hours,
    format_interval,
    format_percent,
    format_timestamp,
    predictions_frame,
)

# Shown in the batch results table and written to the download, in this order: outputs first.
RESULT_COLUMNS = (
    "row",
    "predicted_hours",
    "predicted_hours_low",
    "predicted_hours_high",
    "is_anomaly",
    "start_time",
    "predicted_end_time",
    *(f for f in schema.FEATURES if f != "start_time"),
    "system_load_imputed",
    "model_version",
)
PREVIEW_ROWS = 10


def single_request(tz: tzinfo) -> dict[str, Any] | None:
    """The form for one outage; the request body once "Predict" is clicked."""
    # A stable default start: a default that changes each rerun would reset the widget.
    default_start = st.session_state.setdefault(
        "predict_default_start", datetime.now(tz).replace(second=0, microsecond=0, tzinfo=None)
    )
    with st.form("predict_form", border=True):
        c1, c2, c3 = st.columns(3)
        provider = c1.selectbox(
            "Cloud provider", schema.categories_of("cloud_provider"), key="predict_provider"
        )
        service = c2.selectbox("Service", schema.categories_of("service"), key="predict_service")
        severity = c3.selectbox("Severity", schema.categories_of("severity"), index=1, key="predict_severity")
        c1, c2, c3 = st.columns(3)
        start = c1.datetime_input(
            "Outage start",
            value=default_start,
            format="YYYY-MM-DD",
            step=timedelta(minutes=15),
            key="predict_start",
            help=ui.timezone_note(tz),
        )
        load = c2.number_input(
            "System load before the outage (%)",
            min_value=0.0,
            max_value=100.0,
            value=None,
            step=1.0,
            format="%.1f",
            placeholder=f"Unknown: {schema.DEFAULT_SYSTEM_LOAD:g} % is assumed",
            key="predict_load",
            help="Leave empty when unknown; the API then assumes "
            f"{schema.DEFAULT_SYSTEM_LOAD:g} % and records that it did.",
        )
        backup = c3.radio(
            "Backup system triggered", schema.YES_NO, index=1, horizontal=True, key="predict_backup"
        )
        c1, c2, _ = st.columns(3)
        customers = c1.number_input(
            "Customers affected", min_value=0, value=1000, step=100, key="predict_customers"
        )
        tickets = c2.number_input("Support tickets", min_value=0, value=25, step=1, key="predict_tickets")
        submitted = st.form_submit_button("Predict", type="primary", icon=":material/online_prediction:")
    if not submitted:
        return None
    row: dict[str, Any] = {
        "cloud_provider": provider,
        "service": service,
        "severity": severity,
        "number_of_customers_affected": int(customers),
        "ticket_count": int(tickets),
        "backup_system_triggered": backup,
    }
    if start is not None:  # empty: the API takes "now"
        row["start_time"] = start.replace(tzinfo=tz).isoformat()
    if load is not None:
        row["system_load_before_outage"] = float(load)
    return row


def run_single(row: dict[str, Any]) -> None:
    """Ask the API for one prediction; keep the answer or the failure for this session's reruns."""
    st.session_state.predict_request = row
    st.session_state.predict_error = None
    st.session_state.predict_result = None
    # A new incident: the what-if ranges start again from its own values.
    for key in [k for k in st.session_state if str(k).startswith("whatif_range_")]:
        del st.session_state[key]
    try:
        with st.spinner("Predicting…"):
            (prediction,) = data.predict([row], explain=True)
    except ApiProblem as exc:
        st.session_state.predict_error = exc
    else:
        st.session_state.predict_result = prediction


def show_single(prediction: Mapping[str, Any], request: Mapping[str, Any], tz: tzinfo) -> None:
    """The answer for one outage: duration and interval, end time, anomaly badge, what was asked,
    what drove it, and a what-if."""
    hours = float(prediction["predicted_hours"])
    threshold = data.anomaly_threshold_hours()
    with st.container(border=True, key="predict_result"):
        if prediction.get("is_anomaly"):
            st.badge(f"Anomaly: longer than {threshold:g} hours", icon=":material/warning:", color="red")
        else:
            st.badge(f"Normal: within {threshold:g} hours", icon=":material/check:", color="green")
        # The end time gets the wider column: a readable date is long and metrics do not wrap.
        duration_col, end_col = st.columns([1, 2])
        duration_col.metric("Predicted duration", format_duration(hours))
        duration_col.caption(format_hours(hours))
        end_col.metric("Predicted end", format_timestamp(prediction["predicted_end_time"], tz))
        end_col.caption(f"Outage start: {format_timestamp(prediction['start_time'], tz)}")
        low, high = prediction.get("predicted_hours_low"), prediction.get("predicted_hours_high")
        if low is not None and high is not None:
            coverage = prediction.get("interval_coverage")
            how_sure = (
                f" — about {round(coverage * 10)} in 10 outages like this one end within that range "
                f"({coverage * 100:g} % interval)"
                if coverage
                else ""
            )
            st.markdown(f"**{format_interval(hours, low, high)}**{how_sure}.")
        load = prediction.get("system_load_before_outage")
        load_text = f"{load:g} %" + (" (assumed)" if prediction.get("system_load_imputed") else "")
        st.caption(
            f"{prediction['cloud_provider']} · {prediction['service']} · {prediction['severity']} severity · "
            f"system load {load_text} · {prediction['number_of_customers_affected']:,} customers · "
            f"{prediction['ticket_count']:,} tickets · backup {prediction['backup_system_triggered']} · "
            f"model {prediction.get('model_version', '?')}"
        )
        drivers_col, what_if_col = st.columns(2, gap="large")
        with drivers_col:
            show_explanation(prediction, tz)
        with what_if_col:
            what_if_section(prediction, request, tz)


def show_explanation(prediction: Mapping[str, Any], tz: tzinfo) -> None:
    """Each input's contribution in hours, when the API sends an explanation."""
    explanation = prediction.get("explanation")
    if not isinstance(explanation, Mapping):
        return
    contributions = explanation.get("contributions")
    if not isinstance(contributions, Mapping) or not contributions:
        return
    base = explanation.get("base_hours")
    st.markdown("**What drove this prediction**")
    if base is not None:
        st.caption(
            f"The model starts from its average, {format_hours(base)}; each input then adds hours (red) or "
            f"removes them (blue). Together they make the {format_hours(prediction['predicted_hours'])} "
            "predicted."
        )
    names = {name: driver_label(name, value, prediction, tz) for name, value in contributions.items()}
    st.plotly_chart(charts.contributions_chart(contributions, names), key="predict_explanation")


def what_if_section(prediction: Mapping[str, Any], request: Mapping[str, Any], tz: tzinfo) -> None:
    """Vary one input over a range: ONE ``POST /what-if`` call, a line with the interval band."""
    st.markdown("**What if…?**")
    choice_col, range_col = st.columns([2, 3])
    key = choice_col.selectbox(
        "Change one input",
        list(what_if.CHOICES),
        format_func=lambda k: what_if.CHOICES[k].title,
        key="whatif_input",
    )
    choice = what_if.CHOICES[key]
    current = what_if.current_value(choice, prediction, tz)
    start = what_if.local_start(prediction, tz)
    if choice.categorical:
        range_col.caption(f"Every {choice.noun} option is tried.")
        low, high = 0.0, 0.0
    else:
        minimum, maximum, step = what_if.slider_bounds(choice, current)
        default = what_if.default_range(choice, current)
        as_int = choice.kind != "float"
        low, high = range_col.slider(
            "Range to try",
            min_value=int(minimum) if as_int else minimum,
            max_value=int(maximum) if as_int else maximum,
            value=(int(default[0]), int(default[1])) if as_int else default,
            step=int(step) if as_int else step,
            key=f"whatif_range_{key}",
            format="%d h" if choice.kind == "hour" else None,
        )
    xs = what_if.grid(choice, low, high, current)
    # The incident as predicted, its start pinned (an absent start would mean "now" at each call).
    incident = {**request, "start_time": prediction["start_time"]}
    try:
        with st.spinner("Trying each value…"):
            answer = data.what_if(incident, choice.vary, what_if.api_values(choice, xs, start))
    except ApiProblem as exc:
        ui.show_api_problem(exc, what="work out the what-if", key="whatif_retry")
        return
    in_range = current is not None and current in xs
    st.plotly_chart(
        charts.what_if_chart(
            xs,
            answer["points"],
            x_title=choice.title + (f" ({ui.timezone_name(tz)})" if choice.kind == "hour" else ""),
            current_x=current if in_range else None,
            current_hours=float(prediction["predicted_hours"]) if in_range else None,
            coverage=answer.get("interval_coverage"),
            categorical=choice.categorical,
            tick_text=what_if.tick_text(choice, xs, start) if choice.kind == "hour" else None,
        ),
        key="whatif_chart",
    )
    st.markdown(
        what_if.summary(
            choice,
            xs,
            answer["points"],
            start=start,
            current=current,
            prediction=prediction,
            coverage=answer.get("interval_coverage"),
        )
    )


def batch_section(tz: tzinfo) -> None:
    """Upload, check, preview, predict, and show the results of a CSV batch."""
    required = ", ".join(f"`{c}`" for c in csv_batch.REQUIRED_FEATURES)
    optional = ", ".join(f"`{c}`" for c in schema.OPTIONAL_FEATURES)
    st.markdown(
        f"Upload a CSV in the 40-column dataset format, or with just the model's columns. "
        f"Required: {required}. Optional: {optional}. Other columns are ignored."
    )
    uploaded = st.file_uploader("CSV file", type=["csv"], key="batch_file")
    if uploaded is None:
        st.session_state.pop("batch_state", None)
        return
    state = st.session_state.get("batch_state")
    if state is None or state["file_id"] != uploaded.file_id:
        with st.spinner("Checking the file…"):
            check = csv_batch.check_csv(uploaded.getvalue(), uploaded.name)
        state = {"file_id": uploaded.file_id, "check": check, "run": None}
        st.session_state.batch_state = state
    check: csv_batch.BatchCheck = state["check"]
    run: csv_batch.BatchRun | None = state["run"]

    if check.fatal:
        st.error(f"**This file cannot be used.** {check.fatal}", icon=":material/error:")
        return

    st.markdown(f"**Preview** (first {min(PREVIEW_ROWS, check.total_rows)} of {check.total_rows:,} rows)")
    st.dataframe(check.frame.head(PREVIEW_ROWS), width="stretch")
    for note in check.notes:
        st.caption(note)

    total_col, good_col, bad_col = st.columns(3)
    total_col.metric("Rows in file", f"{check.total_rows:,}")
    good_col.metric("Ready to predict", f"{len(check.good_rows):,}")
    bad_col.metric("Rows with problems", f"{len(check.bad_rows):,}")
    if check.problems:
        show_problems(check)

    pending = run.pending(check) if run else check.good_rows
    retry = False
    if run is not None and run.error is not None:
        done = len(run.predictions)
        st.warning(
            f"{done:,} of {len(check.good_rows):,} rows were predicted before the failure (shown below); "
            f"{len(pending):,} are still to send. Retry sends only those.",
            icon=":material/info:",
        )
        retry = ui.show_api_problem(run.error, what="predict the batch", key="batch_retry")
    elif pending:
        noun = "row" if len(pending) == 1 else "rows"
        if st.button(f"Predict {len(pending):,} {noun}", type="primary", key="batch_predict"):
            retry = True
    if retry and pending:
        progress = st.progress(0.0, text="Sending rows to the API…")

        def on_chunk(done: int, total: int) -> None:
            progress.progress(done / total if total else 1.0, text=f"Predicted {done:,} of {total:,} rows")

        state["run"] = csv_batch.predict_checked(
            check, lambda rows, cb: data.predict(rows, on_chunk=cb), run, on_chunk=on_chunk
        )
        st.rerun()

    if run is not None and run.predictions:
        show_batch_results(check, run, tz)


def show_problems(check: csv_batch.BatchCheck) -> None:
    """What is wrong with which rows: a summary naming columns and rows, the table, a download."""
    bad = len(check.bad_rows)
    summary = "\n".join(f"- {message}" for message in check.summary())
    st.error(
        f"**{bad:,} row{'s' if bad != 1 else ''} cannot be predicted and will not be sent** "
        f"(rows are numbered from 1, the first row under the header):\n\n{summary}",
        icon=":material/rule:",
    )
    with st.expander(f"Rows with problems ({bad:,})"):
        st.dataframe(check.problems_frame(), hide_index=True, width="stretch")
        st.download_button(
            "Download the rows with problems (CSV)",
            csv_bytes(check.rejected_frame()),
            file_name=f"{_stem(check.file_name)}_rejected.csv",
            mime="text/csv",
            icon=":material/download:",
            key="batch_rejected_download",
        )


def show_batch_results(check: csv_batch.BatchCheck, run: csv_batch.BatchRun, tz: tzinfo) -> None:
    """The predictions so far: summary figures, the table, a CSV download and a histogram."""
    rows = sorted(run.predictions)
    frame = predictions_frame([run.predictions[r] for r in rows], tz)
    frame.insert(0, "row", rows)
    frame = frame[[c for c in RESULT_COLUMNS if c in frame.columns]]
    st.subheader("Results", anchor=False)
    hours = frame["predicted_hours"]
    count_col, mean_col, max_col, anomaly_col = st.columns(4)
    count_col.metric("Predicted", f"{len(frame):,} of {check.total_rows:,} rows")
    mean_col.metric("Mean predicted duration", format_hours(hours.mean()))
    max_col.metric("Longest", format_hours(hours.max()))
    anomaly_col.metric("Anomalies", format_percent(frame["is_anomaly"].mean()))
    st.caption(ui.timezone_note(tz))
    st.dataframe(
        frame, hide_index=True, width="stretch", column_config=ui.prediction_columns(list(frame.columns))
    )
    st.download_button(
        "Download results (CSV)",
        csv_bytes(frame),
        file_name=f"{_stem(check.file_name)}_predictions.csv",
        mime="text/csv",
        icon=":material/download:",
        key="batch_download",
    )
    st.subheader("Distribution of predicted durations", anchor=False)
    st.plotly_chart(charts.duration_histogram(frame, data.anomaly_threshold_hours()), key="batch_histogram")


def _stem(file_name: str) -> str:
    return file_name.rsplit(".", 1)[0] or "batch"


tz = ui.user_timezone()
ui.page_header(
    "Predict outage duration", "Durations are in hours. Every prediction is stored with its inputs."
)
single_tab, batch_tab = st.tabs(["One outage", "CSV batch"])
with single_tab:
    row = single_request(tz)
    if row is not None:
        run_single(row)
    error = st.session_state.get("predict_error")
    if error is not None:
        if ui.show_api_problem(error, what="get a prediction", key="predict_retry"):
            run_single(st.session_state.predict_request)
            st.rerun()
    elif st.session_state.get("predict_result") is not None:
        show_single(st.session_state.predict_result, st.session_state.predict_request, tz)
with batch_tab:
    batch_section(tz)
