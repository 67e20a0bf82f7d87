"""The Standards page in a real browser on the demo: it renders DORA's readiness, and with
ITSCM_DOCS_SCREENSHOT=1 it refreshes docs/standards.png (the README's screenshot)."""

from __future__ import annotations

import os

import pytest

from .helpers.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, SHOTS, WIDTH, Browser, require_browser, serve


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    require_browser()
    data = tmp_path_factory.mktemp("standards-e2e")
    with serve(data) as url:
        yield url, data


def test_standards_page_shows_dora_readiness(app):
    from playwright.sync_api import sync_playwright

    url, data = app
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
        page.set_default_timeout(60_000)
        b = Browser(page, url, data)
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for(timeout=90_000)  # first start loads the demo
        b.sign_in("leadership")
        b.go("Standards")
        page.get_by_text("By article or clause group").wait_for()
        page.get_by_text("Cited clauses").wait_for()
        assert b.metric("Units at or above 3").endswith("%")
        assert " of " in b.metric("Catalogue clauses cited")
        assert not page.locator('[data-testid="stException"]').count()
        b.shot(SHOTS / "standards.png")
        if os.environ.get("ITSCM_DOCS_SCREENSHOT") == "1":
            b.shot(ROOT / "docs" / "standards.png")
        browser.close()
