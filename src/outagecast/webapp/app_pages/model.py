"""Model: the champion serving predictions, how good it is, what it relies on, how it got there."""

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from outagecast.clients.api import ApiProblem, ModelVersion
from outagecast.webapp import charts, data, ui
from outagecast.webapp.formatting import (
    TABLE_DATETIME_FORMAT,
    format_percent,
    format_timestamp,
    parse_timestamp,
)

FAMILY_NAMES = {"lgbm": "LightGBM (gradient boosting)", "random_forest": "Random forest"}
DECISION_COLORS = {"promoted": "#2ca02c", "rejected": "#d62728"}
TRIGGER_NAMES = {
    "cold_start": "first start",
    "cli": "outagecast train",
    "retrain": "retraining job",
    "manual": "manual promotion",
}


def _reload() -> None:
    """The Reload button: ask the API to serve the registry's champion now."""
    st.session_state.model_reload_error = None
    st.session_state.model_reload_result = None
    try:
        st.session_state.model_reload_result = data.reload_model()
    except ApiProblem as exc:
        st.session_state.model_reload_error = exc


def _hours(value: Any) -> str:
    return "–" if value is None else f"{float(value):.2f} h"


def show_champion(champion: ModelVersion, serving: str | None, tz: Any) -> None:
    """Which version is champion, since when and why, and its quality figures."""
    metrics: Mapping[str, float] = champion.get("metrics") or {}
    # Wide metrics: versions are long, and a metric cuts what does not fit.
    version_col, serving_col = st.columns(2)
    version_col.metric(
        "Champion", champion["version"], border=True, help="The registry's `champion` alias points to it."
    )
    serving_col.metric(
        "Version the API serves",
        serving or "none",
        border=True,
        help="Every prediction stores the version that made it.",
    )
    family = champion.get("family")
    details = [
        FAMILY_NAMES.get(family or "", family or "unknown family"),
        f"registered {format_timestamp(champion.get('created_at'), tz)}",
    ]
    if champion.get("decision"):
        details.append(f"{champion['decision']}: {champion.get('reason') or 'no reason recorded'}")
    st.caption(" · ".join(details))
    if serving != champion["version"]:
        st.warning(
            f"The API serves **{serving or 'no model'}**, not the champion: it picks the champion up "
            "at its next check, or now with **Reload model** below.",
            icon=":material/sync_problem:",
        )

    st.subheader("How good it is", anchor=False)
    rmse, oracle = metrics.get("rmse"), metrics.get("oracle_rmse")
    rmse_col, mae_col, r2_col, oracle_col, coverage_col = st.columns(5)
    rmse_col.metric(
        "RMSE",
        _hours(rmse),
        border=True,
        help="Root mean squared error on held-out outages: the typical size of a miss, big misses "
        "weighing more. Lower is better.",
    )
    mae_col.metric(
        "MAE",
        _hours(metrics.get("mae")),
        border=True,
        help="Mean absolute error on held-out outages: the average miss. Lower is better.",
    )
    r2 = metrics.get("r2")
    r2_col.metric(
        "R²",
        "–" if r2 is None else f"{r2:.3f}",
        border=True,
        help="Share of the variation in durations the model explains (1 is perfect, 0 is no better "
        "than always predicting the average).",
    )
    oracle_col.metric(
        "Oracle RMSE",
        _hours(oracle),
        border=True,
        help="The error of the true expected duration (known for generated data): the noise no "
        "model can predict. The closer RMSE is to it, the less there is left to learn.",
    )
    nominal = data.interval_coverage()
    coverage = metrics.get(f"interval_coverage_{round(nominal * 100)}")
    width = metrics.get(f"interval_width_{round(nominal * 100)}")
    coverage_col.metric(
        "Interval coverage",
        format_percent(coverage),
        delta=f"target {nominal * 100:g} %",
        delta_color="off",
        delta_arrow="off",
        border=True,
        help=f"Share of held-out outages whose real duration fell inside their {nominal * 100:g} % "
        "interval; it should be close to the target."
        + (f" Mean interval width: {width:.2f} h." if width is not None else ""),
    )
    extra = []
    if rmse is not None and oracle:
        extra.append(f"RMSE {rmse / oracle - 1:.1%} above the oracle's floor")
    if metrics.get("reference_rmse") is not None:
        extra.append(
            f"RMSE on the fixed reference set (used to compare versions): {_hours(metrics['reference_rmse'])}"
        )
    if metrics.get("inference_ms_per_row") is not None:
        extra.append(f"speed {metrics['inference_ms_per_row']:.3f} ms per prediction in batches")
    if metrics.get("n_train") is not None:
        extra.append(f"trained on {int(metrics['n_train']):,} outages")
    if extra:
        text = "; ".join(extra)
        st.caption(text[:1].upper() + text[1:] + ".")


def show_reload() -> None:
    """The Reload button and what the last reload did."""
    with st.container(border=True, key="model_reload_box"):
        st.markdown("**Reload model**")
        st.caption(
            "The API checks the registry for a new champion by itself every few minutes. Reload makes "
            "it serve the current champion now; requests in progress finish on the old model."
        )
        st.button("Reload model", icon=":material/sync:", key="model_reload", on_click=_reload)
        error = st.session_state.get("model_reload_error")
        result = st.session_state.get("model_reload_result")
        if error is not None:
            if ui.show_api_problem(error, what="reload the model", key="model_reload_retry"):
                _reload()
                st.rerun()
        elif result is not None:
            if result.get("changed"):
                before = result.get("previous_version") or "nothing"
                st.success(
                    f"Now serving **{result.get('version')}** (was {before}); "
                    f"loaded in {result.get('seconds', 0):.1f} s.",
                    icon=":material/check_circle:",
                )
            else:
                st.info(
                    f"Already serving the champion, **{result.get('version') or 'none'}**: "
                    "nothing to reload.",
                    icon=":material/check:",
                )


def runs_frame(runs: list[Mapping[str, Any]], tz: Any) -> pd.DataFrame:
    """The promotion decisions as a table, newest first."""
    rows = []
    for run in runs:
        metrics = run.get("metrics") or {}
        low, high = run.get("ci_low"), run.get("ci_high")
        rows.append(
            {
                "timestamp": parse_timestamp(run.get("timestamp")),
                "model_version": run.get("model_version"),
                "decision": [run["decision"]] if run.get("decision") else [],
                "reason": run.get("reason"),
                "trigger": TRIGGER_NAMES.get(str(run.get("trigger")), run.get("trigger")),
                "rmse": metrics.get("rmse"),
                "reference_rmse": run.get("reference_rmse"),
                "rmse_diff": run.get("rmse_diff"),
                "ci": f"{low:+.3f} to {high:+.3f}" if low is not None and high is not None else "",
                "latency_ms_per_row": run.get("latency_ms_per_row"),
                "champion_version_before": run.get("champion_version_before") or "",
                "n_train": run.get("n_train"),
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_convert(tz)
    return frame


RUN_COLUMNS = {
    "timestamp": st.column_config.DatetimeColumn("Decided at", format=TABLE_DATETIME_FORMAT),
    "model_version": st.column_config.TextColumn("Version"),
    "decision": ui.pill_column("Decision", DECISION_COLORS, width=100),
    "rmse": st.column_config.NumberColumn("Test RMSE (h)", format="%.3f"),
    "reference_rmse": st.column_config.NumberColumn(
        "Reference RMSE (h)", format="%.3f", help="On the fixed reference set every version is judged on."
    ),
    "rmse_diff": st.column_config.NumberColumn(
        "Δ RMSE (h)",
        format="%+.3f",
        help="Candidate minus champion on the reference set: negative is better.",
    ),
    "ci": st.column_config.TextColumn("95 % CI of Δ (h)", help="Bootstrap confidence interval."),
    "latency_ms_per_row": st.column_config.NumberColumn("Latency (ms/row)", format="%.3f"),
    "trigger": st.column_config.TextColumn("Trained by"),
    "champion_version_before": st.column_config.TextColumn("Champion before"),
    "n_train": st.column_config.NumberColumn("Training rows", format="localized"),
    "reason": st.column_config.TextColumn("Reason", width="large"),
}


def versions_frame(versions: list[ModelVersion], tz: Any) -> pd.DataFrame:
    """Every registered version with its headline metrics."""
    frame = pd.DataFrame(
        [
            {
                "version": v.get("version"),
                "created_at": parse_timestamp(v.get("created_at")),
                "champion": bool(v.get("is_champion")),
                "family": FAMILY_NAMES.get(v.get("family") or "", v.get("family")),
                "rmse": (v.get("metrics") or {}).get("rmse"),
                "mae": (v.get("metrics") or {}).get("mae"),
                "r2": (v.get("metrics") or {}).get("r2"),
                "decision": [v["decision"]] if v.get("decision") else [],
                "reason": v.get("reason") or "",
            }
            for v in versions
        ]
    )
    if not frame.empty:
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True).dt.tz_convert(tz)
    return frame


VERSION_COLUMNS = {
    "version": st.column_config.TextColumn("Version"),
    "created_at": st.column_config.DatetimeColumn("Registered", format=TABLE_DATETIME_FORMAT),
    "champion": st.column_config.CheckboxColumn("Champion"),
    "family": st.column_config.TextColumn("Family"),
    "rmse": st.column_config.NumberColumn("RMSE (h)", format="%.3f"),
    "mae": st.column_config.NumberColumn("MAE (h)", format="%.3f"),
    "r2": st.column_config.NumberColumn("R²", format="%.3f"),
    "decision": ui.pill_column("Decision", DECISION_COLORS, width=100),
    "reason": st.column_config.TextColumn("Reason", width="large"),
}


tz = ui.user_timezone()
ui.page_header(
    "Model",
    "The model that serves predictions, how good it is, and how each version was judged. "
    "Errors are in hours.",
)
try:
    with st.spinner("Asking the model registry…"):
        report = data.models()
except ApiProblem as exc:
    ui.show_api_problem(exc, what="load the model registry", key="model_retry")
    show_reload()
    st.stop()

versions = report.get("versions") or []
champion = next((v for v in versions if v.get("is_champion")), None)
if champion is None:
    st.warning(
        f"The registry `{report.get('registered_model')}` has no champion yet: "
        "`outagecast train` trains, registers and promotes the first model.",
        icon=":material/model_training:",
    )
else:
    show_champion(champion, report.get("serving"), tz)

importance_col, reload_col = st.columns([3, 2], gap="large")
with importance_col:
    st.subheader("What the champion relies on", anchor=False)
    importances = (champion or {}).get("feature_importances") or {}
    if importances:
        st.caption(
            "How many hours each input moves a prediction on average, up or down "
            "(mean absolute contribution over the reference outages)."
        )
        st.plotly_chart(charts.importances_chart(importances), key="model_importances")
    else:
        st.info("The champion has no recorded feature importances.", icon=":material/info:")
with reload_col:
    st.subheader("Serving", anchor=False)
    show_reload()

st.subheader("Training runs and promotion decisions", anchor=False)
runs = report.get("runs") or []
if runs:
    st.caption(
        "Each trained candidate is compared with the champion on the same reference set; it is promoted "
        "only if its RMSE is not worse and it is fast enough. Newest first. " + ui.timezone_note(tz)
    )
    st.container(key="model_runs").dataframe(
        runs_frame(runs, tz),
        hide_index=True,
        width="stretch",
        column_config=RUN_COLUMNS,
        column_order=list(RUN_COLUMNS),
    )
else:
    st.info("No training run has been recorded yet.", icon=":material/history:")

with st.expander(f"Registered versions ({len(versions)})", expanded=False):
    if versions:
        st.dataframe(
            versions_frame(versions, tz), hide_index=True, width="stretch", column_config=VERSION_COLUMNS
        )
    else:
        st.caption("No version registered yet.")
