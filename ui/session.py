"""Sign-in for the app: local accounts (or OIDC when configured); the actor is re-read every run."""

from __future__ import annotations

import streamlit as st

from assessment import auth
from assessment.access import ROLE_LABELS
from assessment.model import Actor
from assessment.settings import load as load_settings
from assessment.storage import Database

SESSION_KEY = "itscm_session"


def _policy() -> auth.SessionPolicy:
    from datetime import timedelta

    s = load_settings()
    return auth.SessionPolicy(idle=timedelta(minutes=s.session_idle_minutes),
                              absolute=timedelta(hours=s.session_max_hours))


def require_actor(db: Database) -> Actor:
    """The signed-in user, resolved from the server-side session on every run; else show the login form."""
    token = st.session_state.get(SESSION_KEY)
    actor = auth.resolve(db, token, _policy(), source="page")
    if actor is not None:
        return actor
    if token:
        reason = auth.session_end_reason(db, token)
        st.session_state.pop(SESSION_KEY, None)
        if reason and reason != "logout":
            st.warning(f"Your session ended ({reason}). Please sign in again.")
    _login_form(db)
    st.stop()
    raise AssertionError("unreachable")


def _login_form(db: Database) -> None:
    st.title("ITSCM maturity assessment")
    st.caption("Sign in to continue.")
    with st.form("login"):
        username = st.text_input("User name", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            st.session_state[SESSION_KEY] = auth.login(db, username, password, source="page")
        except auth.LoginFailed as exc:
            st.error(str(exc))
            return
        st.rerun()


def sidebar_user(db: Database, actor: Actor) -> None:
    with st.sidebar:
        st.markdown(f"**{actor.username}**  \n{ROLE_LABELS.get(actor.role, actor.role)}")
        if actor.units:
            st.caption("Units: " + ", ".join(sorted(actor.units)))
        if st.button("Sign out", key="logout"):
            auth.logout(db, st.session_state.get(SESSION_KEY, ""))
            st.session_state.pop(SESSION_KEY, None)
            st.rerun()
