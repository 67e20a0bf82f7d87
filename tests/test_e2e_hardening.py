"""Hardening in a real browser (issue 13 items 1 and 6), on a demo organisation with planted names.

- A department head's self-assessment is open; an administrator disables them in another browser; the
  head clicks Save draft: nothing is saved and the sign-in form says why.
- The leadership dashboard shows unit, division and campaign names holding Markdown images: the browser
  never requests the planted image host.
Screenshots go to screenshots/ (git-ignored).
"""

from __future__ import annotations

import dataclasses
import re

import polars as pl
import pytest

from assessment import access, bootstrap, workflow
from assessment.settings import load as load_settings
from assessment.storage import campaigns as campaigns_sql
from assessment.storage import catalog as catalog_sql
from assessment.storage import users as users_sql
from assessment.storage.db import open_database

from .helpers.browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, WIDTH, Browser, require_browser, serve

pytestmark = pytest.mark.e2e

HOST = "planted.invalid"
HEAD, UNIT = "amira.haddad", "RET-PAY"
WORST = "CMK-TRD"  # the dashboard's unit profile shows the unit with the worst gap first


def planted(field: str) -> str:
    return f"{field} ![](http://{HOST}/{field}.png) **bold**"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A demo data folder (as the app's first start makes it) with Markdown images in names."""
    require_browser()
    folder = tmp_path_factory.mktemp("e2e-hardening")
    settings = dataclasses.replace(load_settings(), data_dir=folder, database_url=str(folder / "itscm.duckdb"),
                                   demo_on_first_start=True)
    db = bootstrap.start(settings).db
    with db.read() as cur:
        division = catalog_sql.unit(cur, WORST)["division_id"]
        cid = campaigns_sql.campaigns(cur).filter(pl.col("status") == "open")["campaign_id"][0]

    def plant(cur):
        catalog_sql.update_unit(cur, WORST, name=planted("unit"))
        cur.execute("UPDATE divisions SET name = ? WHERE division_id = ?", [planted("division"), division])
        campaigns_sql.update_campaign(cur, cid, name=planted("campaign"))

    db.transaction(plant)
    db.close()
    return folder, cid


def test_revoked_head_saves_nothing_and_planted_images_are_never_fetched(data):
    from playwright.sync_api import expect, sync_playwright

    folder, cid = data
    expect.set_options(timeout=60_000)  # a page run can take many seconds on a busy machine
    with serve(folder) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        requests: list[str] = []

        def window() -> Browser:
            page = browser.new_context(viewport={"width": WIDTH, "height": 1000}).new_page()
            page.set_default_timeout(90_000)
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url)
            page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
            return Browser(page, url, folder)

        # Leadership: the dashboard shows the planted names (escaped) and fetches nothing from the host.
        lead = window()
        lead.sign_in("leadership")
        lead.page.get_by_text("Gap to target by division and domain").wait_for()
        shown = lead.page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="unit ![](http:")
        expect(shown.first).to_contain_text("planted.invalid/unit.png) **bold**")  # the syntax as written
        markdown = lead.page.locator('[data-testid="stMarkdownContainer"]')
        expect(markdown.locator("strong").filter(has_text=re.compile(r"^bold$"))).to_have_count(0)  # not bold
        expect(markdown.locator(f'a[href*="{HOST}"]')).to_have_count(0)     # no link, bare URLs included
        expect(lead.page.locator(f'img[src*="{HOST}"]')).to_have_count(0)
        lead.shot(SHOTS / "hardening-01-dashboard-planted-names.png")
        assert not [u for u in requests if HOST in u], requests

        # The head opens their form and chooses a level.
        head = window()
        head.sign_in(HEAD)
        head.go("Self-assessment")
        head.page.locator(".st-key-sa_q_GOV-01 label").filter(has_text=re.compile(r"^3 — ")).first.click()
        head.settle()
        expect(head.page.locator(".st-key-sa_q_GOV-01 input[type=radio]").nth(3)).to_be_checked()

        # The administrator disables the head in another browser.
        admin = window()
        admin.sign_in("admin")
        admin.page.get_by_role("link", name="Users & backups").first.click()
        admin.page.get_by_role("heading", name="Users", level=1).wait_for()
        admin.settle()
        picker = admin.page.locator(".st-key-edit_user input")
        picker.click()
        picker.fill(HEAD)
        admin.page.get_by_role("option", name=HEAD).click()
        admin.settle()
        admin.page.locator('[class*="st-key-edit_active_amira"] label').click()
        admin.page.get_by_role("button", name="Save changes").click()
        admin.page.get_by_text(f"{HEAD} updated.").wait_for()
        admin.shot(SHOTS / "hardening-02-admin-disabled-the-head.png")

        # The head's page is still open: Save draft writes nothing and lands on the sign-in form.
        head.page.get_by_role("button", name="Save draft").click()
        head.page.get_by_text("Nothing was saved: your session ended (user disabled)").wait_for()
        expect(head.page.get_by_role("button", name="Sign in")).to_be_visible()
        expect(head.page.get_by_text("Draft saved")).to_have_count(0)
        head.shot(SHOTS / "hardening-03-refused-save-sign-in.png")
        assert not [u for u in requests if HOST in u], requests
        browser.close()

    db = open_database(folder / "itscm.duckdb")
    try:
        answers = workflow.current_answers(db, access.SYSTEM, cid, UNIT)
        assert answers.height == 0                                # the draft was never saved
        with db.read() as cur:
            assert not users_sql.user(cur, HEAD)["active"]
    finally:
        db.close()
