"""End to end in a real browser: the continuity manager records a failover of NET-CORE that misses its RTO on
the Continuity records page; the unit page of Network Services then shows its TEST-02 answer (level 4 with
fresh evidence) capped with the reason, and once submitted, so does the leadership dashboard.
Screenshots go to screenshots/ (git-ignored)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import polars as pl
import pytest

from assessment import access, bootstrap, campaigns, clock, workflow
from assessment.demo import OPEN_CYCLE_QUESTIONNAIRE
from assessment.model import Answer
from assessment.questionnaire import load_file
from assessment.settings import load as load_settings

from .helpers.browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, WIDTH, Browser, require_browser, serve

pytestmark = pytest.mark.e2e
UNIT, UNIT_NAME = "OPT-NET", "Network Services"


def _prepare(data) -> None:
    """The demo, with Network Services' open-cycle draft complete and TEST-02 claimed at level 4 (evidence
    10 days old, so only the records can cap it). Done before the app starts: the app then owns the file."""
    settings = dataclasses.replace(load_settings(), data_dir=data, database_url=str(data / "itscm.duckdb"),
                                   demo_on_first_start=True)
    db = bootstrap.start(settings).db
    try:
        system = access.SYSTEM
        cid = campaigns.list_campaigns(db, system).filter(pl.col("status") == "open")["campaign_id"][0]
        have = set(workflow.current_answers(db, system, cid, UNIT)["question_id"])
        answers = [Answer(x.id, 2) for x in load_file(OPEN_CYCLE_QUESTIONNAIRE).questions
                   if x.id not in have and x.id != "TEST-02"]
        answers.append(Answer("TEST-02", 4, evidence="DR test report",
                              evidence_date=clock.today() - timedelta(days=10)))
        workflow.save_answers(db, system, cid, UNIT, answers)
    finally:
        db.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    require_browser()
    data = tmp_path_factory.mktemp("e2e-records")
    _prepare(data)
    with serve(data) as url:
        yield url, data


def _pick(page, key: str, text: str) -> None:
    _choose(page.locator(f".st-key-{key} input"), page, text)


def _choose(box, page, text: str) -> None:
    box.click()
    box.fill(text)
    page.keyboard.press("Enter")


def test_a_failover_missing_its_rto_caps_test_02_on_the_unit_page_and_dashboard(app):
    from playwright.sync_api import expect, sync_playwright

    url, data = app
    reason = f"NET-CORE's latest failover/switchover on {clock.today()} took 2 h against an RTO of 30 min"
    expect.set_options(timeout=60_000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
        page.set_default_timeout(30_000)
        b = Browser(page, url, data)
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)

        b.sign_in("continuity.manager")
        b.go("Continuity records")
        b.shot(SHOTS / "rec-01-services.png")
        page.get_by_role("tab", name="Exercises and tests").click()
        b.settle()
        page.get_by_label("Title").first.fill("Core network failover")
        _choose(page.locator('[data-testid="stMultiSelect"]').filter(has_text="Services in scope").locator("input"),
                page, "NET-CORE")
        b.settle()
        page.keyboard.press("Escape")
        took = page.get_by_label("NET-CORE: recovered in")
        took.fill("2h")
        took.press("Enter")
        b.settle()
        b.shot(SHOTS / "rec-02-exercise-form.png")
        page.get_by_role("button", name="Record exercise").click()
        page.get_by_text("recorded with 1 result(s)").wait_for()
        b.settle()
        b.shot(SHOTS / "rec-03-exercise-recorded.png")

        b.go("Business unit")
        _pick(page, "unit_pick", UNIT_NAME)
        b.settle()
        expect(page.get_by_text("capped by the continuity records").first).to_be_visible()
        expect(page.get_by_text(reason, exact=False).first).to_be_visible()
        b.shot(SHOTS / "rec-04-unit-page.png")
        b.sign_out()

        # The assessment is submitted (scored as of today, so the new exercise counts) ...
        b.sign_in("admin")
        b.go("Self-assessment")
        _pick(page, "sa_unit", UNIT_NAME)
        b.settle()
        expect(page.get_by_text("What the continuity records show")).to_have_count(4)  # in their domains' tabs
        b.shot(SHOTS / "rec-05-self-assessment.png")
        page.get_by_role("button", name="Submit for review").click()
        page.get_by_text("Submitted for review").first.wait_for()
        b.settle()
        b.sign_out()

        # ... and the dashboard names the capped answer and why.
        b.sign_in("leadership")
        page.get_by_text("Gap to target by division and domain").wait_for()
        box = page.locator(".st-key-dash_capped_records")
        expect(box).to_contain_text(f"{UNIT_NAME} · TEST-02")
        expect(box).to_contain_text(reason)
        expect(page.get_by_text("Demonstrated vs required recovery")).to_be_visible()
        b.shot(SHOTS / "rec-06-dashboard.png")
        b.go("Review deadlines")
        b.shot(SHOTS / "rec-07-deadlines.png")
        browser.close()
