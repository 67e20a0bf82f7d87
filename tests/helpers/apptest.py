"""Helpers for Streamlit AppTest tests: a fresh data folder per test, sign-in without a password,
and a handle on the app's own Database object (the app process owns the DuckDB file)."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from assessment import auth, bootstrap
from assessment.settings import load as load_settings
from assessment.storage import Database
from ui.session import SESSION_KEY

ROOT = Path(__file__).resolve().parent.parent.parent
APP = ROOT / "app.py"
TIMEOUT = 60

LEADERSHIP = "leadership"
MANAGER = "continuity.manager"
ADMIN = "admin"
# Demo department heads (assessment.demo): Amira Haddad heads Payments (RET-PAY), whose assessment in the
# open cycle is an empty draft; Sara Nilsson heads Corporate Banking (CMK-CB), a partly answered draft.
HEAD_PAY, UNIT_PAY = "amira.haddad", "RET-PAY"
HEAD_CB, UNIT_CB = "sara.nilsson", "CMK-CB"


def clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A data folder bootstrapped once per test session (demo organisation, users, credentials file).

    Built by the same assessment.bootstrap the app runs on first start, then closed, so each test can
    start from a copy of a closed file instead of paying for the demo load and password hashing again.
    """
    folder = tmp_path_factory.mktemp("demo-template")
    settings = dataclasses.replace(load_settings(), data_dir=folder, database_url=str(folder / "itscm.duckdb"),
                                   demo_on_first_start=True)
    bootstrap.start(settings).db.close()
    return folder


def _env(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ITSCM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ITSCM_DATABASE_URL", raising=False)
    monkeypatch.setenv("ITSCM_DEMO", "1")
    clear_caches()


def _teardown() -> None:
    try:
        app_db().close()
    except Exception:  # the test may not have started the app
        pass
    clear_caches()


@pytest.fixture
def app_env(tmp_path, monkeypatch, demo_template):
    """ITSCM_DATA_DIR in a temp folder holding a copy of the demo database, clean Streamlit caches;
    closes the app's database afterwards."""
    for f in demo_template.iterdir():
        shutil.copy2(f, tmp_path / f.name)
    _env(tmp_path, monkeypatch)
    yield tmp_path
    _teardown()


@pytest.fixture
def empty_app_env(tmp_path, monkeypatch):
    """An empty data folder: the app's first start creates the database and loads the demo itself."""
    _env(tmp_path, monkeypatch)
    yield tmp_path
    _teardown()


def app_db() -> Database:
    """The app's process-wide Database (a cache_resource): the same object the pages use."""
    from ui.state import get_db

    return get_db()


def start() -> AppTest:
    """First run: bootstraps the database (demo organisation and users) and shows the sign-in form."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def sign_in(at: AppTest, username: str) -> AppTest:
    """Sign in through a server-side session (no password), as single sign-on would."""
    at.session_state[SESSION_KEY] = auth.create_session(app_db(), username)
    at.run()
    assert not at.exception, at.exception
    return at


def open_page(username: str, page: str, at: AppTest | None = None) -> AppTest:
    """Start the app (unless given), sign in and switch to views/<page>."""
    at = at or start()
    if SESSION_KEY not in at.session_state:
        sign_in(at, username)
    at.switch_page(f"views/{page}").run()
    assert_ok(at)
    return at


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return found[0]


def number(text: str) -> float:
    """The first number in a metric value such as '9 / 16' or '2.84'."""
    m = re.search(r"-?\d+(?:\.\d+)?", text)
    assert m, text
    return float(m.group())


def open_campaign() -> str:
    """The demo's open cycle (the one the self-assessment page answers)."""
    import polars as pl

    from assessment import access, campaigns

    c = campaigns.list_campaigns(app_db(), access.SYSTEM).filter(pl.col("status") == "open")
    return c["campaign_id"][0]


def sa_key(cid: str, uid: str, qid: str, field: str) -> str:
    """The session-state key of one self-assessment form field."""
    return f"sa|{cid}|{uid}|{qid}|{field}"


def by_key(widgets, key: str):
    for wdg in widgets:
        if wdg.key == key:
            return wdg
    raise KeyError(key)
