"""OutageCast web app entrypoint: ``streamlit run`` this file (``outagecast ui`` does).

It sets the page layout once and lets ``st.navigation`` pick the page. Pages talk to the
API only through ``outagecast.webapp.data`` (DESIGN §2: never the database, never a model).
"""

import streamlit as st

from outagecast.webapp import auth, data
from outagecast.webapp.ui import (
    DATA_QUALITY_PAGE,
    HOME_PAGE,
    MODEL_PAGE,
    MONITORING_PAGE,
    PAST_PAGE,
    PREDICT_PAGE,
)

st.set_page_config(page_title="OutageCast", page_icon=":material/cloud_sync:", layout="wide")
# Before any page is chosen: without the password (WEBAPP_PASSWORD) no page code runs.
auth.require_login()

pages = [
    st.Page(HOME_PAGE, title="Home", icon=":material/home:", default=True),
    st.Page(PREDICT_PAGE, title="Predict", icon=":material/online_prediction:"),
    st.Page(PAST_PAGE, title="Past predictions", icon=":material/history:"),
    st.Page(MODEL_PAGE, title="Model", icon=":material/model_training:"),
    st.Page(DATA_QUALITY_PAGE, title="Data quality", icon=":material/fact_check:"),
    st.Page(MONITORING_PAGE, title="Monitoring", icon=":material/monitoring:"),
]
page = st.navigation(pages)

with st.sidebar:
    st.caption(f"API: {data.api_url()}")
    auth.sign_out_button()

page.run()
