"""In a real browser: a department head downloads their calendar from My account and the file parses back."""

from __future__ import annotations

import pytest
from icalendar import Calendar

from .helpers.browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, WIDTH, Browser, require_browser, serve

pytestmark = pytest.mark.e2e
HEAD, UNIT = "amira.haddad", "Payments"


def test_head_downloads_their_deadlines_as_ics(tmp_path):
    from playwright.sync_api import sync_playwright

    require_browser()
    (tmp_path / "data").mkdir()
    with serve(tmp_path / "data") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(30_000)
        b = Browser(page, url, tmp_path / "data")
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        b.sign_in(HEAD)
        b.go("My account")
        button = page.get_by_role("button", name="Download calendar (.ics)")
        button.wait_for()
        b.shot(SHOTS / "account-calendar.png")
        with page.expect_download() as info:
            button.click()
        download = info.value
        assert download.suggested_filename == f"itscm-deadlines-{HEAD}.ics"
        path = tmp_path / "mine.ics"
        download.save_as(path)
        browser.close()
    events = list(Calendar.from_ical(path.read_bytes()).walk("VEVENT"))
    assert events and all(f": {UNIT} - " in str(e["SUMMARY"]) for e in events)  # only her own unit
    assert len({str(e["UID"]) for e in events}) == len(events)
