"""End to end in a real browser: the app served by `streamlit run` on a free port with a temp database,
driven by Playwright through Debian's /usr/bin/chromium.

A department head fills in and submits their unit's self-assessment through the page's widgets; the
leadership dashboard then shows one more submitted assessment. Screenshots of every page go to
screenshots/ (git-ignored). With ITSCM_DOCS_SCREENSHOT=1 the test also refreshes docs/dashboard.png
(the leadership dashboard on the untouched demo organisation, for the README).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from assessment.demo import OPEN_CYCLE_QUESTIONNAIRE
from assessment.questionnaire import load_file

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "screenshots"
DOCS = ROOT / "docs"
WIDTH = 1400
HEAD, UNIT = "amira.haddad", "RET-PAY"   # heads Payments, whose assessment in the open cycle is an empty draft


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app served by `streamlit run` in a subprocess; yields (base url, data folder)."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium; .ci/run does)")
    pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install -e '.[test]')")
    data = tmp_path_factory.mktemp("e2e-data")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "ITSCM_DATABASE_URL"}
    env.update(ITSCM_DATA_DIR=str(data), ITSCM_DEMO="1")
    log = open(data / "server.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the app did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url, data
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Browser:
    """Small helpers over a Playwright page showing the Streamlit app."""

    def __init__(self, page, url: str, data: Path):
        self.page, self.url, self.data = page, url, data

    def settle(self, timeout: float = 30) -> None:
        """Wait until the script run triggered by the last interaction has finished."""
        self.page.wait_for_timeout(250)
        end = time.monotonic() + timeout
        while self.page.locator('[data-testid="stStatusWidget"]').count() and time.monotonic() < end:
            self.page.wait_for_timeout(100)
        self.page.wait_for_timeout(250)

    def password(self, username: str) -> str:
        path = self.data / "demo-credentials.txt"
        for _ in range(100):
            if path.exists():
                for line in path.read_text().splitlines():
                    parts = line.split("\t")
                    if parts[0] == username:
                        return parts[2]
            time.sleep(0.1)
        raise AssertionError(f"no password for {username} in {path}")

    def sign_in(self, username: str) -> None:
        p = self.page
        p.get_by_label("User name").fill(username)
        p.get_by_label("Password", exact=True).fill(self.password(username))
        p.get_by_role("button", name="Sign in").click()
        p.get_by_role("button", name="Sign out").wait_for(timeout=30_000)
        self.settle()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        self.page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)

    def go(self, title: str) -> None:
        self.page.get_by_role("link", name=title).first.click()
        self.page.get_by_role("heading", name=title, level=1).wait_for(timeout=30_000)
        self.settle()

    def metric(self, label: str) -> str:
        m = self.page.locator('[data-testid="stMetric"]').filter(has_text=label).first
        return m.locator('[data-testid="stMetricValue"]').inner_text().strip()

    def shot(self, path: Path) -> None:
        """A full-page screenshot: Streamlit scrolls inside its main container, so grow the viewport first."""
        p = self.page
        height = p.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
        p.set_viewport_size({"width": WIDTH, "height": max(900, min(int(height) + 40, 9000))})
        self.settle()
        path.parent.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(path), full_page=True)
        p.set_viewport_size({"width": WIDTH, "height": 1000})


def _submitted(text: str) -> int:
    m = re.match(r"\s*(\d+)\s*/\s*(\d+)", text)
    assert m, text
    return int(m.group(1))


def test_head_submits_and_leadership_dashboard_changes(app):
    from playwright.sync_api import expect, sync_playwright

    url, data = app
    q = load_file(OPEN_CYCLE_QUESTIONNAIRE)  # the questionnaire of the demo's open cycle (the form shows it)
    n = len(q.questions)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
        page.set_default_timeout(30_000)
        b = Browser(page, url, data)
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)  # first start loads the demo
        b.shot(SHOTS / "01-sign-in.png")

        # Leadership before: note the number of submitted assessments.
        b.sign_in("leadership")
        page.get_by_text("Gap to target by division and domain").wait_for()
        before = _submitted(b.metric("Assessments submitted"))
        b.shot(SHOTS / "02-dashboard.png")
        if os.environ.get("ITSCM_DOCS_SCREENSHOT") == "1":
            b.shot(DOCS / "dashboard.png")
        b.go("Business unit")
        b.shot(SHOTS / "03-business-unit.png")
        b.go("Review deadlines")
        b.shot(SHOTS / "04-review-deadlines.png")
        b.sign_out()

        # The department head fills every question through the page's widgets, saves, submits.
        b.sign_in(HEAD)
        b.go("Self-assessment")
        progress = page.locator('[data-testid="stProgress"]')
        expect(progress).to_contain_text(f"0 of {n}")
        for d in q.domains:
            page.get_by_role("tab", name=d.name).click()
            for x in d.questions:
                box = page.locator(f".st-key-sa_q_{x.id}")
                box.locator("label").filter(has_text=re.compile(r"^2 — ")).first.click()
            b.settle()
        first = page.locator(".st-key-sa_q_PPL-06")
        first.get_by_label("Evidence", exact=True).fill("Vendor continuity meeting minutes, Q3")
        first.get_by_label("Link to evidence").fill("https://intranet.example/itscm/RET-PAY/PPL-06")
        first.get_by_label("Link to evidence").press("Enter")
        b.settle()
        expect(progress).to_contain_text(f"{n} of {n}")
        b.shot(SHOTS / "05-self-assessment-filled.png")
        page.get_by_role("button", name="Save draft").click()
        page.get_by_text(f"Draft saved: {n} answer(s) changed").wait_for()
        b.settle()
        page.get_by_role("button", name="Submit for review").click()
        page.get_by_text("Submitted for review").wait_for()
        b.settle()
        assert page.get_by_text("read-only").first.is_visible()
        b.shot(SHOTS / "06-self-assessment-submitted.png")
        b.sign_out()

        # Leadership after: one more submitted assessment.
        b.sign_in("leadership")
        page.get_by_text("Gap to target by division and domain").wait_for()
        after = _submitted(b.metric("Assessments submitted"))
        b.shot(SHOTS / "07-dashboard-after.png")
        assert after == before + 1
        b.sign_out()

        # The continuity manager sees the new submission waiting for review.
        b.sign_in("continuity.manager")
        b.go("Campaigns")
        b.shot(SHOTS / "08-campaigns.png")
        picker = page.locator(".st-key-cp_review_unit input")  # the review picker offers the new submission
        picker.click()
        picker.fill("Paym")
        expect(page.get_by_role("option", name="Payments")).to_be_visible()
        browser.close()
