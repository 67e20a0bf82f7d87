"""Sign-in for the app: local accounts (or OIDC when configured); the actor is re-read every run."""

from __future__ import annotations

from typing import NoReturn

import streamlit as st

from assessment import auth, sso, users
from assessment.access import ROLE_LABELS
from assessment.errors import EngineError, PermissionDenied
from assessment.model import Actor
from assessment.settings import load as load_settings
from assessment.storage import Database
from ui.format import plain

SESSION_KEY = "itscm_session"
DEVICE_KEY, DEVICE_COOKIE = "itscm_device_new", "itscm_device"  # token_urlsafe: safe inside the script below
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
    """The app session of the provider sign-in held in Streamlit's identity cookie; a refusal page otherwise."""
    if not getattr(st.user, "is_logged_in", False):
        return None
    try:
        mapping = sso.load_mapping(load_settings().sso_mapping or "")  # set: _sso_configured checked it
        return sso.sign_in(db, st.user.to_dict(), mapping, secret=st.secrets["auth"]["cookie_secret"])
    except PermissionDenied as exc:
        _refusal_page("You cannot use this application with this account.", exc)
    except EngineError as exc:
        _refusal_page("Single sign-on is not set up correctly. Please tell your ITSCM administrator.", exc)


def _refusal_page(headline: str, exc: EngineError) -> NoReturn:
    st.title("ITSCM maturity assessment")
    st.error(headline, icon=":material/block:")
    st.text(str(exc))  # names and groups come from the identity provider: shown as plain text
    st.button("Sign out", type="primary", on_click=st.logout)
    st.stop()


def require_actor(db: Database) -> Actor:
    """The signed-in user, resolved from the server-side session on every run; else show the login form."""
    token = st.session_state.get(SESSION_KEY)
    if token is None and sso_configured():
        token = _sso_token(db)
        if token:
            st.session_state[SESSION_KEY] = token
    actor = auth.resolve(db, token, _policy(), source="page")
    if actor is not None:
        _store_device_cookie()
        return actor
    if token:
        reason = auth.session_end_reason(db, token)
        st.session_state.pop(SESSION_KEY, None)
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
    if users.none_exist(db):
        st.info("No account exists yet. Create the first administrator on the server, then sign in here:\n\n"
                "`ITSCM_ADMIN_PASSWORD='a long passphrase' .venv/bin/itscm create-admin admin`\n\n"
                "(README, 'Start with your own organisation').", icon=":material/person_add:")
    if sso_configured():
        if st.button("Sign in with single sign-on", type="primary"):
            st.login()
        st.caption("or with a local account:")
    with st.form("login"):
        username = st.text_input("User name", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        device = _text(st.context.cookies.get(DEVICE_COOKIE))
        try:
            token = auth.login(db, username, password, client=_text(st.context.ip_address), device=device,
                               source="page")
        except auth.LoginFailed as exc:
            st.error(str(exc))
            return
        st.session_state[SESSION_KEY] = token
        st.session_state[DEVICE_KEY] = auth.remember_device(db, token, device=device)
        st.rerun()


def _text(value: object) -> str | None:
    """A request value, or None when there is none (local runs, tests without a browser)."""
    return value if isinstance(value, str) else None


def _store_device_cookie() -> None:
    """Keep the remembered-device token in the browser (a year), so a later sign-in from here passes the
    throttling an attacker elsewhere causes. Streamlit cannot set cookies from Python: a line of script."""
    device = st.session_state.pop(DEVICE_KEY, None)
    if device and device != _text(st.context.cookies.get(DEVICE_COOKIE)):
        st.html(f"<script>document.cookie = '{DEVICE_COOKIE}={device}; path=/; max-age=31536000; "
                "SameSite=Strict' + (location.protocol === 'https:' ? '; Secure' : '');</script>",
                unsafe_allow_javascript=True)


def end_after_refusal(db: Database, message: str) -> None:
    """A write was refused because the session ended or the user's rights changed (auth.SessionEnded):
    end the session here and on the server, and keep the engine's message for the sign-in form.

    The page was drawn for rights the user no longer has, so the next run must not draw it again.
    """
    token = st.session_state.pop(SESSION_KEY, None)
    st.session_state[REFUSED_KEY] = message
    if token:
        try:
            auth.logout(db, token)
        except EngineError:  # the session is already gone; the token is dropped either way
            pass


def sidebar_user(db: Database, actor: Actor) -> None:
    with st.sidebar:
        st.text(actor.username)  # plain text: with single sign-on the name comes from the identity provider
        st.caption(ROLE_LABELS.get(actor.role, actor.role))
        if actor.units:
            st.caption("Units: " + plain(", ".join(sorted(actor.units))))
        st.button("Sign out", key="logout", on_click=_sign_out, args=(db,))


def _sign_out(db: Database) -> None:
    auth.logout(db, st.session_state.pop(SESSION_KEY, ""))
    if getattr(st.user, "is_logged_in", False):
        st.logout()  # drops Streamlit's identity cookie and ends the session at the provider too
