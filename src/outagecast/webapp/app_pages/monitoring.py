"""Monitoring: data quality over time, drift per feature, what the model predicts, and how wrong it was.

Everything comes from the API's ``GET /monitoring/...`` endpoints (the monitor job's verdicts
and aggregates computed in the database); this page only draws them.
"""

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pandas as pd
import streamlit as st

from outagecast.clients.api import ApiProblem
from outagecast.webapp import charts, data, ui
from outagecast.webapp.formatting import (
    TABLE_DATETIME_FORMAT,
    format_percent,
    format_timestamp,
    label,
)

PERIODS = {
    "24 hours": timedelta(hours=24),
    "7 days": timedelta(days=7),
    "30 days": timedelta(days=30),
    "90 days": timedelta(days=90),
}
# Hourly points up to a week, daily beyond (the API refuses hourly series past 92 days).
HOURLY_UP_TO = timedelta(days=7)
TIME_PARTS = {"hour": "hour of day", "day_of_week": "day of week (Monday = 0)", "month": "month"}
PSI_HELP = "Population stability index against the training data"
VERDICT_HELP = (
    "drifted: p-value below DRIFT_P_VALUE and PSI above DRIFT_PSI_THRESHOLD in the newest monitor run"
)


def _local(series: pd.Series, tz: tzinfo) -> pd.Series:
    """UTC timestamps as wall-clock times in the viewer's zone (Plotly draws naive times as given)."""
    return pd.to_datetime(series, utc=True, format="ISO8601").dt.tz_convert(tz).dt.tz_localize(None)


def _feature_name(feature: str) -> str:
    return "predicted hours" if feature == "predicted_hours" else label(feature)


def _problem(exc: ApiProblem, what: str, key: str) -> None:
    ui.show_api_problem(exc, what=what, key=key)


# ------------------------------------------------------------------ sections


def ingestion_section(since: datetime, bucket: str, tz: tzinfo) -> None:
    """Files, rows, criticality and error types per bucket."""
    st.header("Data quality over time", anchor=False, divider="gray")
    try:
        report = data.monitoring_ingestion(since=since, until=None, bucket=bucket)  # type: ignore[arg-type]
    except ApiProblem as exc:
        _problem(exc, "load the ingestion statistics", "mon_ingestion_retry")
        return
    buckets = report.get("buckets") or []
    if not buckets:
        st.info("No file was ingested in this period.", icon=":material/search_off:")
        return
    totals = report["totals"]
    frame = pd.DataFrame(buckets)
    frame["bucket"] = _local(frame["bucket"], tz)
    for level in charts.CRITICALITY_COLORS:
        frame[level] = [c.get(level, 0) for c in frame["criticality"]]
    files_col, rows_col, invalid_col, high_col = st.columns(4)
    files_col.metric("Files", f"{totals['files']:,}", border=True)
    rows_col.metric("Rows", f"{totals['total_rows']:,}", border=True)
    share = totals["invalid_rows"] / totals["total_rows"] if totals["total_rows"] else None
    invalid_col.metric(
        "Invalid rows",
        f"{totals['invalid_rows']:,}",
        delta=format_percent(share) if share is not None else None,
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
    high_col.metric("High-criticality files", f"{int(frame['high'].sum()):,}", border=True)
    tz_name = ui.timezone_name(tz)
    rows_chart, crit_chart = st.columns(2, gap="medium")
    with rows_chart:
        st.subheader("Valid and invalid rows", anchor=False)
        st.plotly_chart(charts.ingestion_buckets_chart(frame, tz_name), key="mon_rows_chart")
    with crit_chart:
        st.subheader("Files by criticality", anchor=False)
        st.plotly_chart(charts.criticality_over_time_chart(frame, tz_name), key="mon_crit_chart")
    errors = pd.DataFrame(report.get("error_types") or [])
    st.subheader("Errors by type", anchor=False)
    if errors.empty:
        st.success("No validation errors in this period.", icon=":material/check_circle:")
    else:
        errors["bucket"] = _local(errors["bucket"], tz)
        st.plotly_chart(charts.error_types_over_time_chart(errors, tz_name), key="mon_errors_chart")


def _run_summary(report: dict[str, Any], tz: tzinfo) -> None:
    latest, run = report.get("latest_run"), report.get("run")
    if latest is not None and run is not None and latest["id"] != run["id"]:
        st.caption(
            f"The newest monitor run ({format_timestamp(latest['timestamp'], tz)}) was **{latest['status']}**"
            + (f": {latest['message']}" if latest.get("message") else "")
            + ". Shown: the newest run that judged drift."
        )
    if run is None:
        return
    window = (
        f"{format_timestamp(run['window_start'], tz)} – {format_timestamp(run['window_end'], tz)}"
        if run.get("window_start") and run.get("window_end")
        else "no window"
    )
    drifted = run.get("drifted_features") or []
    text = (
        f"Run of {format_timestamp(run['timestamp'], tz)} against the training data of "
        f"**{run.get('model_version') or 'the champion'}**: {run['window_rows']:,} predictions ({window}"
        f"{', source ' + run['source'] if run.get('source') else ''}). "
    )
    if drifted:
        st.error(
            text + "**Drifted: " + ", ".join(_feature_name(f) for f in drifted) + ".**",
            icon=":material/warning:",
        )
    else:
        st.success(text + "No drift detected.", icon=":material/check_circle:")


def drift_section(tz: tzinfo) -> None:
    """The newest run's per-feature verdicts, their history, and training vs recent for one feature."""
    st.header("Drift", anchor=False, divider="gray")
    try:
        report = data.monitoring_drift()
    except ApiProblem as exc:
        _problem(exc, "load the drift results", "mon_drift_retry")
        return
    if report.get("run") is None:
        latest = report.get("latest_run")
        st.info(
            "No monitor run has judged drift yet"
            + (
                f" (the newest run was {latest['status']}: {latest.get('message') or 'no message'})"
                if latest
                else ""
            )
            + ". The monitor job (`outagecast monitor`) compares the served inputs with the "
            "champion's training data.",
            icon=":material/hourglass_empty:",
        )
        return
    _run_summary(report, tz)
    results = report.get("results") or []
    table = pd.DataFrame(
        [
            {
                "feature": _feature_name(r["feature"]),
                "verdict": ["drifted" if r["drifted"] else "ok"],
                "test": {"ks": "Kolmogorov-Smirnov", "chi2": "chi-squared"}.get(r["test"], r["test"]),
                "statistic": r.get("statistic"),
                "p_value": r.get("p_value"),
                "psi": r.get("psi"),
                "rows": r.get("rows"),
            }
            for r in sorted(results, key=lambda r: (not r["drifted"], -(r.get("psi") or 0)))
        ]
    )
    table_col, history_col = st.columns([6, 5], gap="medium")
    with table_col:
        st.subheader("Per feature, newest run", anchor=False)
        with st.container(key="mon_drift_table"):
            st.dataframe(
                table,
                hide_index=True,
                width="stretch",
                column_config={
                    "feature": st.column_config.TextColumn("Feature"),
                    "verdict": ui.pill_column(
                        "Verdict",
                        {"drifted": charts.DRIFT_COLORS["drifted"], "ok": charts.DRIFT_COLORS["ok"]},
                        help=VERDICT_HELP,
                    ),
                    "test": st.column_config.TextColumn("Test"),
                    "statistic": st.column_config.NumberColumn("Statistic", format="%.3f"),
                    "p_value": st.column_config.NumberColumn("p-value", format="%.2e"),
                    "psi": st.column_config.NumberColumn("PSI", format="%.3f", help=PSI_HELP),
                    "rows": st.column_config.NumberColumn("Rows", format="localized"),
                },
            )
    with history_col:
        st.subheader("Over monitor runs", anchor=False)
        metric = st.segmented_control(
            "Statistic",
            ["psi", "p_value"],
            default="psi",
            required=True,
            key="mon_drift_metric",
            format_func=lambda m: {"psi": "PSI", "p_value": "p-value"}[m],
            label_visibility="collapsed",
        )
        try:
            history = data.monitoring_drift_history(limit=100)
        except ApiProblem as exc:
            _problem(exc, "load the drift history", "mon_history_retry")
            history = []
        if history:
            frame = pd.DataFrame(history)
            frame["timestamp"] = _local(frame["timestamp"], tz)
            frame["feature"] = frame["feature"].map(_feature_name)
            st.plotly_chart(
                charts.drift_history_chart(frame, ui.timezone_name(tz), metric=metric or "psi"),
                key="mon_history_chart",
            )

    st.subheader("Training vs recent", anchor=False)
    features = [r["feature"] for r in results] or ["predicted_hours"]
    pick_col, part_col = st.columns([3, 2])
    drifted_first = sorted(features, key=lambda f: f not in (report["run"].get("drifted_features") or []))
    feature = pick_col.selectbox("Feature", drifted_first, format_func=_feature_name, key="mon_feature")
    part = "hour"
    if feature == "start_time":
        part = (
            part_col.segmented_control(
                "Part of the start time",
                list(TIME_PARTS),
                default="hour",
                required=True,
                format_func=TIME_PARTS.get,
                key="mon_part",
            )
            or "hour"
        )
    try:
        dist = data.monitoring_distribution(feature, part=part)  # type: ignore[arg-type]
    except ApiProblem as exc:
        _problem(exc, f"load the distribution of {_feature_name(feature)}", "mon_dist_retry")
        return
    axis = _feature_name(feature) + (f" ({TIME_PARTS[part]})" if feature == "start_time" else "")
    st.plotly_chart(charts.distribution_overlay_chart(dist["bins"], axis), key="mon_dist_chart")
    window = dist["window"]
    recent = (
        f"the {dist['recent_rows']:,} predictions the run judged"
        if window.get("run_id")
        else f"the newest {window.get('last_n'):,} predictions ({dist['recent_rows']:,} with a value)"
    )
    st.caption(
        f"Grey: the {dist['training_rows']:,} training rows of {dist['model_version']}; blue: {recent}. "
        + (
            "Bins are the training deciles; the outer bins are open-ended."
            if dist["kind"] == "numeric"
            else ""
        )
    )


def predictions_section(since: datetime, bucket: str, tz: tzinfo) -> None:
    """Volume by source, predicted hours over time (median, mean, 10-90 % band), and their spread."""
    st.header("Predictions", anchor=False, divider="gray")
    try:
        report = data.monitoring_predictions(since=since, until=None, bucket=bucket)  # type: ignore[arg-type]
    except ApiProblem as exc:
        _problem(exc, "load the prediction statistics", "mon_pred_retry")
        return
    if not report.get("total"):
        st.info("No prediction was made in this period.", icon=":material/search_off:")
        return
    threshold = data.anomaly_threshold_hours()
    count_col, mean_col, anomaly_col, versions_col = st.columns(4)
    count_col.metric("Predictions", f"{report['total']:,}", border=True)
    mean_col.metric("Mean predicted duration", f"{report['mean']:.2f} h", border=True)
    anomaly_col.metric(
        "Anomalies",
        f"{report['anomalies']:,}",
        delta=format_percent(report["anomalies"] / report["total"]),
        delta_color="off",
        delta_arrow="off",
        border=True,
        help=f"Above {threshold:g} h.",
    )
    versions = sorted({r["model_version"] for r in report.get("by_model_version") or []})
    versions_col.metric("Model versions", f"{len(versions)}", border=True, help=", ".join(versions))
    tz_name = ui.timezone_name(tz)
    series = pd.DataFrame(
        [{"bucket": s["bucket"], "mean": s["mean"], **s["quantiles"]} for s in report.get("series") or []]
    )
    series["bucket"] = _local(series["bucket"], tz)
    by_source = pd.DataFrame(report.get("by_source") or [])
    by_source["bucket"] = _local(by_source["bucket"], tz)
    left, right = st.columns(2, gap="medium")
    with left:
        st.subheader("Predicted hours over time", anchor=False)
        st.plotly_chart(charts.prediction_quantiles_chart(series, tz_name, threshold), key="mon_quant_chart")
    with right:
        st.subheader("Predictions by source", anchor=False)
        st.plotly_chart(charts.predictions_by_source_chart(by_source, tz_name), key="mon_source_chart")
    hist_col, version_col = st.columns([3, 2], gap="medium")
    with hist_col:
        st.subheader("Distribution of predicted hours", anchor=False)
        histogram = report["histogram"]
        st.plotly_chart(
            charts.binned_histogram_chart(histogram["edges"], histogram["counts"], threshold),
            key="mon_hist_chart",
        )
    with version_col:
        st.subheader("By model version", anchor=False)
        per_version = pd.DataFrame(report.get("by_model_version") or [])
        per_version["weighted"] = per_version["mean"] * per_version["count"]
        summary = per_version.groupby("model_version", as_index=False).agg(
            predictions=("count", "sum"), weighted=("weighted", "sum")
        )
        summary["mean_hours"] = summary["weighted"] / summary["predictions"]
        st.dataframe(
            summary[["model_version", "predictions", "mean_hours"]],
            hide_index=True,
            width="stretch",
            column_config={
                "model_version": st.column_config.TextColumn("Model version"),
                "predictions": st.column_config.NumberColumn("Predictions", format="localized"),
                "mean_hours": st.column_config.NumberColumn("Mean hours", format="%.2f"),
            },
        )


def realised_error_section(tz: tzinfo) -> None:
    """MAE, bias and interval coverage per model version over monitor runs."""
    st.header("Realised error", anchor=False, divider="gray")
    try:
        points = data.realised_error()
    except ApiProblem as exc:
        _problem(exc, "load the realised error", "mon_error_retry")
        return
    if not points:
        st.info(
            "No realised error yet: it is computed once ingested data brings the actual durations of "
            "incidents that were predicted.",
            icon=":material/hourglass_empty:",
        )
        return
    frame = pd.DataFrame(points)
    frame["timestamp"] = _local(frame["timestamp"], tz)
    latest = frame.sort_values("timestamp").groupby("model_version").tail(1)
    degraded = latest[latest["degraded"]]
    if not degraded.empty:
        st.error(
            "**Degraded:** "
            + ", ".join(
                f"{r.model_version} (MAE {r.mae:.2f} h, {r.error_ratio:.2f}× its training MAE)"
                for r in degraded.itertuples()
            ),
            icon=":material/trending_up:",
        )
    tz_name = ui.timezone_name(tz)
    training = latest["training_mae"].dropna()
    mae_col, bias_col, cov_col = st.columns(3, gap="medium")
    with mae_col:
        st.subheader("MAE", anchor=False)
        reference = float(training.mean()) if len(training) == 1 else None
        st.plotly_chart(
            charts.realised_error_chart(
                frame, "mae", tz_name, reference=reference, reference_name="training MAE"
            ),
            key="mon_mae_chart",
        )
    with bias_col:
        st.subheader("Bias", anchor=False)
        st.plotly_chart(charts.realised_error_chart(frame, "bias", tz_name), key="mon_bias_chart")
    with cov_col:
        st.subheader("Interval coverage", anchor=False)
        nominal = frame["nominal_coverage"].dropna()
        st.plotly_chart(
            charts.realised_error_chart(
                frame,
                "interval_coverage",
                tz_name,
                reference=float(nominal.iloc[-1]) if len(nominal) else None,
                reference_name="nominal",
            ),
            key="mon_cov_chart",
        )
    with st.container(key="mon_error_table"):
        st.dataframe(
            latest.assign(verdict=[["degraded" if d else "ok"] for d in latest["degraded"]])[
                [
                    "model_version",
                    "timestamp",
                    "matched_rows",
                    "mae",
                    "bias",
                    "rmse",
                    "interval_coverage",
                    "training_mae",
                    "error_ratio",
                    "verdict",
                ]
            ],
            hide_index=True,
            width="stretch",
            column_config={
                "model_version": st.column_config.TextColumn("Model version"),
                "timestamp": st.column_config.DatetimeColumn("Run", format=TABLE_DATETIME_FORMAT),
                "matched_rows": st.column_config.NumberColumn("Known outcomes", format="localized"),
                "mae": st.column_config.NumberColumn("MAE (h)", format="%.2f"),
                "bias": st.column_config.NumberColumn("Bias (h)", format="%.2f"),
                "rmse": st.column_config.NumberColumn("RMSE (h)", format="%.2f"),
                "interval_coverage": st.column_config.NumberColumn("Coverage", format="percent"),
                "training_mae": st.column_config.NumberColumn("Training MAE (h)", format="%.2f"),
                "error_ratio": st.column_config.NumberColumn("MAE / training", format="%.2f"),
                "verdict": ui.pill_column(
                    "Verdict", {"degraded": charts.DRIFT_COLORS["drifted"], "ok": charts.DRIFT_COLORS["ok"]}
                ),
            },
        )


# ------------------------------------------------------------------ page

tz = ui.user_timezone()
ui.page_header(
    "Monitoring",
    "How the incoming data, the model's inputs and its predictions evolve, and how wrong the predictions "
    "turned out once the actual durations were known.",
)
period_col, bucket_col = st.columns([3, 2])
period = (
    period_col.segmented_control("Period", list(PERIODS), default="7 days", required=True, key="mon_period")
    or "7 days"
)
span = PERIODS[period]
bucket = "hour" if span <= HOURLY_UP_TO else "day"
bucket_col.caption(f"One point per {bucket} (UTC {bucket}s). " + ui.timezone_note(tz))
# Rounded to the bucket, so that reruns within it reuse the cached answers.
now = datetime.now(UTC)
since = (now - span).replace(minute=0, second=0, microsecond=0)
if bucket == "day":
    since = since.replace(hour=0)

ingestion_section(since, bucket, tz)
drift_section(tz)
predictions_section(since, bucket, tz)
realised_error_section(tz)
