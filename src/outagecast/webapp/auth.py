"""The web app's password gate (``WEBAPP_PASSWORD``): a login form before any page.

Streamlit has no per-page access control of its own, so the entrypoint calls ``require_login``
before ``st.navigation``: until this browser session has given the password, the script run stops
after the form, and no page code (nor any API call) runs. The flag lives in the session state,
which is server-side and per browser tab session; a restart of the web app asks again.
"""

from __future__ import annotations

import hmac

import streamlit as st

from outagecast.settings import get_settings

SESSION_FLAG = "_outagecast_signed_in"
WRONG_PASSWORD = "Wrong password."


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so response times do not reveal how much of it was right."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def require_login() -> None:
    """Show the login form and stop the run unless no password is configured or the session signed in."""
    password = get_settings().webapp_password
    if password is None or st.session_state.get(SESSION_FLAG, False):
        return
    st.title("OutageCast")
    with st.form("login", enter_to_submit=True):
        given = st.text_input("Password", type="password", key="_outagecast_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        if password_matches(given, password.get_secret_value()):
            st.session_state[SESSION_FLAG] = True
            # The typed password need not stay in the session once it served its purpose.
            st.session_state.pop("_outagecast_password", None)
            st.rerun()
        st.error(WRONG_PASSWORD)
    st.stop()


def sign_out_button() -> None:
    """A sidebar button that ends the session's sign-in (shown only when a password is configured)."""
    if get_settings().webapp_password is None:
        return
    if st.button("Sign out", icon=":material/logout:"):
        st.session_state.pop(SESSION_FLAG, None)
        st.rerun()
