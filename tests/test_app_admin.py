"""AppTest runs of sign-in, the admin, account and audit pages, and what each role is offered."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from assessment import access, audit, auth, users
from ui.state import get_db

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ITSCM_DATA_DIR", str(tmp_path))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=60).run()  # first start: demo organisation and accounts
    creds = {}
    for line in (tmp_path / "demo-credentials.txt").read_text().splitlines()[1:]:
        user, role, pw = line.split("\t")
        creds.setdefault(role, (user, pw))
    yield at, get_db(), creds
    get_db().close()
    st.cache_resource.clear()


def signed_in(db, username: str, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["itscm_session"] = auth.create_session(db, username)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_login_form_signs_in_and_wrong_password_is_refused(env):
    at, db, creds = env
    user, pw = creds[access.LEADERSHIP]
    assert [t.value for t in at.title] == ["ITSCM maturity assessment"]
    at.text_input(key="login_username").input(user)
    at.text_input(key="login_password").input("definitely wrong")
    at.button[0].click().run()
    assert "wrong user name or password" in at.error[0].value
    at.text_input(key="login_password").input(pw)
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Leadership dashboard"
    assert pw not in str(audit.entries(db, access.SYSTEM).rows())


def test_sign_out_ends_the_session(env):
    _, db, creds = env
    at = signed_in(db, creds[access.LEADERSHIP][0])
    token = at.session_state["itscm_session"]
    at.button(key="logout").click().run()
    assert auth.resolve(db, token) is None
    assert at.title[0].value == "ITSCM maturity assessment"


@pytest.mark.parametrize("role, visible, hidden", [
    (access.HEAD, {"Self-assessment", "My account"}, {"Users & backups", "Audit trail", "Campaigns"}),
    (access.LEADERSHIP, {"Leadership dashboard"}, {"Users & backups", "Audit trail", "Self-assessment"}),
    (access.AUDITOR, {"Audit trail"}, {"Users & backups", "Self-assessment", "Campaigns"}),
    (access.ADMIN, {"Users & backups", "Audit trail"}, set()),
])
def test_navigation_offers_only_permitted_pages(env, role, visible, hidden):
    _, db, creds = env
    at = signed_in(db, creds[role][0])
    titles = _nav_titles(at)
    assert visible <= titles and not (hidden & titles)


def _nav_titles(at: AppTest) -> set[str]:
    # AppTest keeps the pages st.navigation registered in this run (no public accessor yet).
    return {p["page_name"] for p in at._registered_pages.values()}


def test_admin_creates_and_disables_a_user(env):
    _, db, creds = env
    at = signed_in(db, creds[access.ADMIN][0], "views/admin.py")
    at.text_input(key="new_username").input("new.auditor")
    at.text_input(key="new_name").input("New Auditor")
    at.selectbox(key="new_role").select(access.AUDITOR)
    at.text_input(key="new_password").input("a long enough passphrase")
    at.button(key="create_user_submit").click().run()
    assert not at.exception and not at.error, at.error
    assert "new.auditor" in at.dataframe[0].value["username"].to_list()
    token = auth.login(db, "new.auditor", "a long enough passphrase")
    at.selectbox(key="edit_user").select("new.auditor").run()
    at.checkbox(key="edit_active_new.auditor").uncheck()
    at.button(key="edit_user_submit").click().run()
    assert not at.error, at.error
    assert auth.resolve(db, token) is None


def test_admin_change_with_a_bad_password_saves_nothing_and_lists_the_problem(env):
    _, db, creds = env
    head = creds[access.HEAD][0]
    at = signed_in(db, creds[access.ADMIN][0], "views/admin.py")
    at.selectbox(key="edit_user").select(head).run()
    at.selectbox(key=f"edit_role_{head}").select(access.MANAGER)
    at.multiselect(key=f"edit_units_{head}").set_value([])
    at.text_input(key=f"edit_pw_{head}").input("short")
    at.button(key="edit_user_submit").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("password" in e and "at least 8 characters" in e for e in errors), errors
    assert not at.success
    row = users.list_users(db, access.SYSTEM).filter(pl.col("username") == head).row(0, named=True)
    assert row["role"] == access.HEAD and row["units"]             # the role change was not saved either


def test_admin_changes_role_and_password_together(env):
    _, db, creds = env
    head = creds[access.HEAD][0]
    at = signed_in(db, creds[access.ADMIN][0], "views/admin.py")
    at.selectbox(key="edit_user").select(head).run()
    at.selectbox(key=f"edit_role_{head}").select(access.LEADERSHIP)
    at.multiselect(key=f"edit_units_{head}").set_value([])
    at.text_input(key=f"edit_pw_{head}").input("a brand new passphrase")
    at.button(key="edit_user_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(f"{head} updated" in s.value for s in at.success)
    row = users.list_users(db, access.SYSTEM).filter(pl.col("username") == head).row(0, named=True)
    assert row["role"] == access.LEADERSHIP
    assert auth.login(db, head, "a brand new passphrase")


def test_account_page_changes_password(env):
    _, db, creds = env
    user, pw = creds[access.LEADERSHIP]
    at = signed_in(db, user, "views/account.py")
    at.text_input(key="pw_current").input(pw)
    at.text_input(key="pw_new").input("my new passphrase 2026")
    at.text_input(key="pw_again").input("my new passphrase 2026")
    at.button(key="pw_submit").click().run()
    assert not at.error, at.error
    assert at.success[0].value == "Password changed."
    assert auth.login(db, user, "my new passphrase 2026")


def test_audit_page_shows_entries_and_verifies(env):
    _, db, creds = env
    at = signed_in(db, creds[access.AUDITOR][0], "views/audit.py")
    assert at.dataframe[0].value.shape[0] > 0
    at.button(key="audit_verify").click().run()
    assert "audit chain intact" in at.success[0].value


@pytest.mark.parametrize("page", ["views/admin.py", "views/audit.py"])
def test_head_cannot_reach_admin_pages_even_by_path(env, page):
    _, db, creds = env
    at = signed_in(db, creds[access.HEAD][0])
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page)


def test_admin_backs_up_from_the_page(env, tmp_path):
    _, db, creds = env
    at = signed_in(db, creds[access.ADMIN][0], "views/admin.py")
    at.button(key="backup_now").click().run()
    assert not at.error, at.error
    assert at.success[0].value.startswith("Backup written: ")
    assert list((tmp_path / "backups").glob("*.duckdb"))
