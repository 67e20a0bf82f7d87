"""Sign-in for the app: local accounts (or OIDC when configured); the actor is re-read every run."""

from __future__ import annotations

import streamlit as st

from assessment import auth, sso
from assessment.access import ROLE_LABELS
from assessment.errors import EngineError
from assessment.model import Actor
from assessment.settings import load as load_settings
from assessment.storage import Database
from ui.format import plain

SESSION_KEY = "itscm_session"
REFUSED_KEY = "itscm_refused"  # why the last write was refused and the user signed out (shown at sign-in)


def _policy() -> auth.SessionPolicy:
    return auth.SessionPolicy.from_settings()


def sso_configured() -> bool:
    """OIDC is on when .streamlit/secrets.toml has an [auth] section and a group mapping file is set."""
    try:
        has_auth = "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False
    return bool(has_auth and load_settings().sso_mapping)


def _sso_token(db: Database) -> str | None:
    """After st.login, map the identity's groups to a role and open our own (time-limited) session."""
    if not getattr(st.user, "is_logged_in", False):
        return None
    try:
        mapping = sso.load_mapping(load_settings().sso_mapping)
        ident = sso.map_identity(st.user.to_dict(), mapping)
        sso.sync_user(db, ident)
    except EngineError as exc:
        st.error(f"Single sign-on refused: {plain(exc)}")
        st.button("Sign out of single sign-on", on_click=st.logout)
        st.stop()
    return auth.create_session(db, ident.username)


def require_actor(db: Database) -> Actor:
    """The signed-in user, resolved from the server-side session on every run; else show the login form."""
    token = st.session_state.get(SESSION_KEY)
    if token is None and sso_configured() and not st.session_state.get("itscm_sso_ended"):
        token = _sso_token(db)
        if token:
            st.session_state[SESSION_KEY] = token
    actor = auth.resolve(db, token, _policy(), source="page")
    if actor is not None:
        return actor
    if token:
        reason = auth.session_end_reason(db, token)
        st.session_state.pop(SESSION_KEY, None)
        st.session_state["itscm_sso_ended"] = True  # our lifetime rules win over the IdP's 30-day cookie
        if reason and reason != "logout":
            st.warning(f"Your session ended ({plain(reason)}). Please sign in again.")
    refused = st.session_state.pop(REFUSED_KEY, None)
    if refused:
        st.error(plain(refused), icon=":material/lock:")
    _login_form(db)
    st.stop()
    raise AssertionError("unreachable")


def _login_form(db: Database) -> None:
    st.title("ITSCM maturity assessment")
    st.caption("Sign in to continue.")
    if sso_configured():
        if st.button("Sign in with single sign-on", type="primary"):
            st.session_state.pop("itscm_sso_ended", None)
            st.login()
        st.caption("or with a local account:")
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


def end_after_refusal(db: Database, message: str) -> None:
    """A write was refused because the session ended or the user's rights changed (auth.SessionEnded):
    end the session here and on the server, and keep the engine's message for the sign-in form.

    The page was drawn for rights the user no longer has, so the next run must not draw it again.
    """
    token = st.session_state.pop(SESSION_KEY, None)
    st.session_state["itscm_sso_ended"] = True
    st.session_state[REFUSED_KEY] = message
    if token:
        try:
            auth.logout(db, token)
        except EngineError:  # the session is already gone; the token is dropped either way
            pass


def sidebar_user(db: Database, actor: Actor) -> None:
    with st.sidebar:
        st.markdown(f"**{plain(actor.username)}**  \n{ROLE_LABELS.get(actor.role, actor.role)}")
        if actor.units:
            st.caption("Units: " + plain(", ".join(sorted(actor.units))))
        if st.button("Sign out", key="logout"):
            auth.logout(db, st.session_state.get(SESSION_KEY, ""))
            st.session_state.pop(SESSION_KEY, None)
            if sso_configured() and getattr(st.user, "is_logged_in", False):
                st.session_state["itscm_sso_ended"] = True
                st.logout()
            st.rerun()
