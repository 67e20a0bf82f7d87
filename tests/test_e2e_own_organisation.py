"""The README's "Start with your own organisation", step by step in a real browser, from an empty database
with ITSCM_DEMO=0: create the administrator with the CLI, download the organisation template, fill it, upload
it (dry run, then import), create and open the first cycle, a head signs in with the one-time password shown,
answers and submits, and leadership sees the score on the dashboard."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import openpyxl
import pytest

from assessment.questionnaire import SHIPPED_QUESTIONNAIRES, load_file

from .helpers.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, SHOTS, WIDTH, Browser, require_browser, serve

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "correct horse battery staple, first"


def _cli(data, *args: str) -> None:
    env = {**os.environ, "ITSCM_DATA_DIR": str(data), "ITSCM_DEMO": "0", "ITSCM_ADMIN_PASSWORD": ADMIN_PASSWORD}
    env.pop("ITSCM_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "assessment", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def _fill(template, out) -> None:
    """The organisation of the walk-through: one division, one tier-1 unit, its head and a leadership member."""
    wb = openpyxl.load_workbook(template)
    rows = {"Divisions": [{"division_id": "OPS", "name": "Operations"}],
            "Units": [{"unit_id": "OPS-DC", "name": "Data centre", "division_id": "OPS", "tier": 1,
                       "head_usernames": "dana.head", "review_interval_months": 12, "active": "yes"}],
            "People": [{"username": "dana.head", "display_name": "Dana Head", "email": "dana@example.org",
                        "role": "department_head"},
                       {"username": "lee.lead", "display_name": "Lee Lead", "email": "lee@example.org",
                        "role": "leadership"}]}
    for sheet, records in rows.items():
        ws = wb[sheet]
        header = [c.value for c in ws[1]]
        for r in records:
            ws.append([r.get(h) for h in header])
    wb.save(out)


def _sign_in(b: Browser, username: str, password: str) -> None:
    p = b.page
    p.get_by_label("User name").fill(username)
    p.get_by_label("Password", exact=True).fill(password)
    p.get_by_role("button", name="Sign in").click()
    p.get_by_role("button", name="Sign out").wait_for(timeout=90_000)
    b.settle()


def test_a_real_organisation_starts_from_an_empty_database(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    require_browser()
    data = tmp_path / "data"
    data.mkdir()
    _cli(data, "init")
    _cli(data, "create-admin", "admin", "--name", "First Administrator")
    expect.set_options(timeout=60_000)
    with serve(data, demo=False) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(30_000)
        b = Browser(page, url, data)
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        assert not (data / "demo-credentials.txt").exists()          # no demo on a real organisation's start
        _sign_in(b, "admin", ADMIN_PASSWORD)

        # 1-3: the organisation workbook, downloaded, filled, uploaded, checked, imported.
        b.go("Organisation")
        page.get_by_role("tab", name="Import and export").click()
        b.settle()
        with page.expect_download() as got:
            page.get_by_role("button", name="Download the empty template").click()
        template = tmp_path / "template.xlsx"
        got.value.save_as(template)
        filled = tmp_path / "our-organisation.xlsx"
        _fill(template, filled)
        page.locator('input[type="file"]').first.set_input_files(str(filled))
        b.settle()
        page.get_by_text("Dry run, nothing saved yet").wait_for()
        b.shot(SHOTS / "own-01-org-dry-run.png")
        page.get_by_role("button", name="Import our-organisation.xlsx").click()
        page.get_by_text("Imported our-organisation.xlsx").wait_for()
        b.settle()
        page.get_by_role("tab", name="Import and export").click()   # the page re-ran on its first tab
        code = page.locator('[data-testid="stCode"]').first
        code.wait_for()
        secrets = dict(line.split() for line in code.inner_text().strip().splitlines())
        assert set(secrets) == {"dana.head", "lee.lead"}
        b.shot(SHOTS / "own-02-org-imported.png")

        # 4: the first cycle, created from nothing and opened.
        b.go("Campaigns")
        page.get_by_role("tab", name="New cycle").click()
        b.settle()
        page.get_by_role("button", name="Create the cycle").click()
        b.settle()
        # The flash of the new cycle, not the New cycle tab's caption (which also says "open it on the Dates
        # and status tab"): the rerun that shows it re-mounts the tabs, so the tab is clicked only after it.
        page.get_by_text("created as planned with 1 unit(s)").first.wait_for()
        page.get_by_role("tab", name="Dates and status").click()
        b.settle()
        page.get_by_role("button", name="Open the cycle").click()
        b.settle()
        b.shot(SHOTS / "own-03-cycle-open.png")
        b.sign_out()

        # 5: the head signs in with the one-time password, answers every question and submits.
        _sign_in(b, "dana.head", secrets["dana.head"])
        b.go("Self-assessment")
        q = load_file(SHIPPED_QUESTIONNAIRES[-1])   # the newest version init stored: the new cycle's default
        for d in q.domains:
            page.get_by_role("tab", name=d.name).click()
            for x in d.questions:
                page.locator(f".st-key-sa_q_{x.id}").locator("label").filter(
                    has_text=re.compile(r"^1 — ")).first.click()
            b.settle()
        page.get_by_role("button", name="Save draft").click()
        page.get_by_text(re.compile(r"Draft saved: \d+ answer\(s\) changed")).wait_for()
        b.settle()
        page.get_by_role("button", name="Submit for review").click()
        page.get_by_text("Submitted for review").wait_for()
        b.settle()
        b.sign_out()

        # Leadership sees the score: every question at level 1 scores 1.00.
        _sign_in(b, "lee.lead", secrets["lee.lead"])
        page.get_by_text("Gap to target by division and domain").wait_for()
        assert re.match(r"\s*1\s*/\s*1", b.metric("Assessments submitted")), b.metric("Assessments submitted")
        assert b.metric("Organisation score").startswith("1.00"), b.metric("Organisation score")
        b.shot(SHOTS / "own-04-dashboard.png")
        browser.close()
