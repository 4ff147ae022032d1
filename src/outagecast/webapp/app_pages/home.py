"""Home: what OutageCast is, whether the API can answer, and where to go next."""

import streamlit as st

from outagecast.clients.api import ApiProblem
from outagecast.webapp import data, ui

ui.page_header(
    "OutageCast",
    "Predicts how long a cloud outage will last, in hours, from what is known when it starts.",
)

st.markdown(
    """
OutageCast estimates the **duration of a cloud outage** from the provider, the service, the
severity, when it started, the system load, how many customers and tickets it has, and
whether a backup system kicked in. Every prediction is stored with its inputs and the model
version, so you can look back at what was predicted and when. Predictions longer than the
anomaly threshold are flagged, so the unusually long ones stand out.
"""
)

st.subheader("Service status", anchor=False)
try:
    with st.spinner("Asking the API…"):
        health = data.health()
except ApiProblem as exc:
    ui.show_api_problem(exc, what="check the API's health", key="home_retry")
else:
    status_col, loaded_col, db_col = st.columns(3)
    status_col.metric(
        "API",
        "Healthy" if health.healthy else "Degraded",
        border=True,
        help=f"GET {data.api_url()}/health",
    )
    loaded_col.metric("Model loaded", "Yes" if health.model_loaded else "No", border=True)
    db_col.metric("Database", "OK" if health.database == "ok" else "Unreachable", border=True)
    # Full width: versions are long, and a metric cuts what does not fit.
    st.metric(
        "Model version",
        health.model_version or "none loaded",
        border=True,
        help="The model serving predictions (filter Past predictions by it).",
    )
    if health.healthy:
        st.success("The API is up and ready to predict.", icon=":material/check_circle:")
    else:
        st.warning(
            "The API answers but cannot serve every request: "
            + "; ".join(health.problems or ["no reason given"])
            + ".",
            icon=":material/warning:",
        )
        st.button("Check again", key="home_recheck", icon=":material/refresh:", on_click=data.clear_caches)

st.subheader("Get started", anchor=False)
LINKS = (
    (
        ui.PREDICT_PAGE,
        "Predict",
        ":material/online_prediction:",
        "Predict one outage from a form, with its likely range, what drove it and a what-if; "
        "or a whole CSV batch (dataset format or just the features).",
    ),
    (
        ui.PAST_PAGE,
        "Past predictions",
        ":material/history:",
        "Browse stored predictions by date, source, model version and anomaly flag; download them.",
    ),
    (
        ui.MODEL_PAGE,
        "Model",
        ":material/model_training:",
        "The champion model, its accuracy and interval coverage, what it relies on, and every "
        "promotion decision.",
    ),
    (
        ui.DATA_QUALITY_PAGE,
        "Data quality",
        ":material/fact_check:",
        "Ingested CSV batches: valid and invalid rows, criticality, bad rows with reasons, Data Docs.",
    ),
)
for column, (page_path, title, icon, text) in zip(st.columns(len(LINKS)), LINKS, strict=True):
    with column, st.container(border=True, height="stretch"):
        st.page_link(page_path, label=title, icon=icon)
        st.caption(text)
st.caption(f"Anomaly threshold: predictions over {data.anomaly_threshold_hours():g} hours are flagged.")
