"""Single sign-on end to end: a real OpenID Connect provider on loopback, the app set up as the README says,
and Chromium signing in through the provider's own login page.

The provider (oidc-provider-mock) knows three people; their groups are claims of their ID tokens. The app maps
the groups with a mapping file written here. What is checked: a department head gets exactly the mapped units,
a continuity manager gets that role, a person in no mapped group is refused with a clear page and gets no
account (the refusal is in the audit trail), and sign-out and the app's idle timeout both end the session for
good, although Streamlit keeps the provider's identity in a 30-day cookie. Screenshots go to screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from assessment import access, audit, catalog, demo, users
from assessment.clock import now
from assessment.questionnaire import load_default
from assessment.storage import users as user_store
from assessment.storage.db import frame, open_database

from .oidc_helpers import AppServer, free_port, provider, write_secrets
from .test_e2e_browser import CHROMIUM, SHOTS, WIDTH, Browser

pytestmark = pytest.mark.e2e

MAPPING = """\
groups_claim: groups
username_claim: email
groups:
  itscm-bcm:           {role: continuity_manager}
  itscm-head-lending:  {role: department_head, units: [RET-MORT]}
  itscm-head-payments: {role: department_head, units: [RET-PAY]}
"""
HEAD = "ana.lima@bank.example"          # heads Payments and Mortgages through two groups
MANAGER = "bcm.lead@bank.example"
OUTSIDER = "sam.reed@bank.example"      # in no mapped group
PEOPLE = {
    "ana": {"email": HEAD, "name": "Ana Lima", "groups": ["staff", "itscm-head-payments", "itscm-head-lending"]},
    "bcm": {"email": MANAGER, "name": "Bo Lindqvist", "groups": ["staff", "itscm-bcm"]},
    "sam": {"email": OUTSIDER, "name": "Sam Reed", "groups": ["staff", "marketing"]},
}


@pytest.fixture(scope="module")
def sso(tmp_path_factory) -> Iterator[AppServer]:
    """The demo app with single sign-on against a provider on loopback; both stopped even when a test fails."""
    if not CHROMIUM.exists():
        pytest.skip(SKIP_NO_CHROMIUM)
    pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install -e '.[test]')")
    pytest.importorskip("oidc_provider_mock", reason="needs oidc-provider-mock (pip install -e '.[test]')")
    pytest.importorskip("authlib", reason="needs streamlit[auth] (pip install -e .)")
    base = tmp_path_factory.mktemp("sso")
    data, conf = base / "data", base / "conf"
    data.mkdir()
    conf.mkdir()
    _seed_demo_organisation(data / "itscm.duckdb")
    (conf / "sso.yaml").write_text(MAPPING, encoding="utf-8")
    port = free_port()
    with provider(PEOPLE) as prov:
        write_secrets(conf / "secrets.toml", app_url=f"http://127.0.0.1:{port}", prov=prov)
        app = AppServer(port=port, data=data, secrets_file=conf / "secrets.toml",
                        env={"ITSCM_DEMO": "0", "ITSCM_SSO_MAPPING": str(conf / "sso.yaml")})
        try:
            yield app
        finally:
            app.stop()


def _seed_demo_organisation(path: Path) -> None:
    """The demo organisation without its local accounts: everyone here signs in through the provider
    (and hashing twenty demo passwords would double the start-up time)."""
    q = load_default()
    db = open_database(path)
    try:
        catalog.register_questionnaire(db, access.SYSTEM, q)
        demo.load(db, access.SYSTEM, q, date.today())
    finally:
        db.close()


@contextmanager
def stopped(app: AppServer) -> Iterator:
    """The app's database, opened by the test while the app is down (DuckDB allows one process per file).

    The app is not started again here: the next `browser` fixture does that, so a last check costs no restart.
    """
    app.stop()
    db = open_database(app.data / "itscm.duckdb")
    try:
        yield db
    finally:
        db.close()


SKIP_NO_CHROMIUM = "needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium; .ci/run does)"


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():  # asked for before `sso` by some tests: skip here too rather than fail to launch
        pytest.skip(SKIP_NO_CHROMIUM)
    pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install -e '.[test]')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium, sso) -> Iterator[Browser]:
    """A fresh browser profile (no cookies) on the app's start page."""
    sso.start()
    context = chromium.new_context(viewport={"width": WIDTH, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(sso.url)
        page.get_by_role("button", name="Sign in with single sign-on").wait_for(timeout=60_000)
        yield Browser(page, sso.url, sso.data)
    finally:
        context.close()


def sign_in_at_provider(b: Browser, subject: str) -> None:
    """Click the app's SSO button, then sign in on the provider's own page by typing the subject."""
    p = b.page
    p.get_by_role("button", name="Sign in with single sign-on").click()
    p.get_by_role("heading", name="Authorize Client").wait_for()
    assert not p.url.startswith(b.url), "the sign-in page is the provider's, not the app's"
    p.get_by_placeholder("sub").fill(subject)
    p.get_by_role("button", name="Authorize").click()
    p.wait_for_url(re.compile(re.escape(b.url) + r"/.*"))
    b.settle()


def sidebar(b: Browser) -> str:
    return b.page.locator('[data-testid="stSidebar"]').inner_text()


def nav_links(b: Browser) -> list[str]:
    """Page titles in the navigation (each link's text starts with its icon's name)."""
    return [t.strip().splitlines()[-1] for t in b.page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]


def test_department_head_gets_the_mapped_role_and_only_the_mapped_units(browser):
    b = browser
    sign_in_at_provider(b, "ana")
    b.page.get_by_role("button", name="Sign out").wait_for()
    side = sidebar(b)
    assert HEAD in side and "Department head" in side
    assert "Units: RET-MORT, RET-PAY" in side
    assert "Campaigns" not in nav_links(b) and "Self-assessment" in nav_links(b)
    b.go("Self-assessment")
    b.page.locator(".st-key-sa_unit input").click()
    options = sorted(t.strip() for t in b.page.get_by_role("option").all_inner_texts())
    assert options == ["Mortgages · Retail Banking", "Payments · Retail Banking"]
    b.page.keyboard.press("Escape")
    b.shot(SHOTS / "sso-01-department-head.png")


def test_continuity_manager_group_gives_that_role(browser):
    b = browser
    sign_in_at_provider(b, "bcm")
    b.page.get_by_role("heading", name="Leadership dashboard").wait_for()
    assert "Continuity manager" in sidebar(b)
    assert "Campaigns" in nav_links(b)
    b.go("Campaigns")


def test_sign_out_ends_the_session_and_a_reload_does_not_sign_in_again(browser):
    b = browser
    p = b.page
    sign_in_at_provider(b, "ana")
    p.get_by_role("button", name="Sign out").wait_for()
    identity = [c for c in p.context.cookies() if c["name"].startswith("_streamlit_user")]
    assert identity, "Streamlit keeps the provider's identity in a cookie"
    p.get_by_role("button", name="Sign out").click()
    p.get_by_role("heading", name="End Session").wait_for()   # the provider's end-session page
    p.get_by_role("button", name="End session").click()
    p.get_by_role("button", name="Sign in with single sign-on").wait_for()
    p.reload()
    p.get_by_role("button", name="Sign in with single sign-on").wait_for()
    b.settle()
    assert p.get_by_role("button", name="Sign out").count() == 0
    # Even with the old identity cookie back (a copy, or a browser that missed its deletion), the app's own
    # session rule wins: that sign-in's session has ended, so the app asks for a new sign-in.
    p.context.add_cookies(identity)
    p.reload()
    p.get_by_role("button", name="Sign in with single sign-on").wait_for()
    b.settle()
    assert p.get_by_role("button", name="Sign out").count() == 0


def test_idle_timeout_still_applies_to_a_single_sign_on_session(browser, sso):
    b = browser
    p = b.page
    sign_in_at_provider(b, "bcm")
    p.get_by_role("button", name="Sign out").wait_for()
    with stopped(sso) as db:  # two hours without a request, far beyond the 30-minute idle limit
        live = _sessions(db, MANAGER).filter(ended=False)["token_hash"].to_list()
        assert live
        db.transaction(lambda cur: [user_store.touch_session(cur, h, now() - timedelta(hours=2)) for h in live])
    sso.start()
    p.reload()
    p.get_by_text("Your session ended (idle timeout). Please sign in again.").wait_for()
    b.settle()
    assert p.get_by_role("button", name="Sign out").count() == 0 and nav_links(b) == []
    b.shot(SHOTS / "sso-03-session-ended.png")
    # Signing in at the provider again opens a new session.
    sign_in_at_provider(b, "bcm")
    p.get_by_role("button", name="Sign out").wait_for()


def test_person_in_no_mapped_group_is_refused_and_gets_no_account(browser, sso):
    b = browser
    sign_in_at_provider(b, "sam")
    p = b.page
    p.get_by_text("You cannot use this application with this account.").wait_for()
    p.get_by_text("no role is mapped", exact=False).wait_for()
    b.settle()
    body = p.locator('[data-testid="stMain"]').inner_text()
    assert f"{OUTSIDER} is in no group that grants access" in body and "no role is mapped" in body
    assert p.get_by_role("button", name="Sign out").count() == 1
    assert nav_links(b) == [] and p.get_by_role("heading", name="Leadership dashboard").count() == 0
    b.shot(SHOTS / "sso-02-refused.png")
    with stopped(sso) as db:
        assert OUTSIDER not in users.list_users(db, access.SYSTEM)["username"].to_list()
        refusals = audit.entries(db, access.SYSTEM, user=OUTSIDER, action="login.refused")
        assert refusals.height >= 1
        assert _sessions(db, OUTSIDER).height == 0


def _sessions(db, username: str) -> pl.DataFrame:
    with db.read() as cur:
        df = frame(cur, "SELECT * FROM sessions WHERE username = ? ORDER BY created_at", [username])
    return df.with_columns(ended=pl.col("ended_at").is_not_null())
