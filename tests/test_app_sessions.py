"""Revoked access ends at the next click, on the pages (issue 13 item 1).

Each test draws a page for a signed-in user, then revokes their access the way an administrator (or the
clock) can, then clicks a write button. The callback runs with the Actor of the previous run; the engine
refuses the write, the page says so truthfully ("Nothing was saved: your session ended (...)"), no success
message appears, the user lands on the sign-in form, and nothing reached the database.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from assessment import access, clock, users, workflow
from assessment.catalog import campaign_questionnaire
from assessment.model import Answer

from .helpers.apptest import HEAD_PAY, MANAGER, UNIT_PAY, app_db, by_key, open_campaign, open_page, sa_key
from .helpers.excel import fingerprint

SYSTEM = access.SYSTEM
HEAD_KINDS = ["user disabled", "unit removed", "demoted to leadership", "idle timeout", "absolute timeout"]
MANAGER_KINDS = ["user disabled", "demoted to leadership", "idle timeout", "absolute timeout"]


def revoke(kind: str, username: str):
    """Revoke access now; returns the moment the user then clicks (None: now)."""
    db = app_db()
    if kind == "user disabled":
        users.update(db, SYSTEM, username, active=False)
    elif kind == "unit removed":
        users.update(db, SYSTEM, username, unit_ids=["RET-CARD"])
    elif kind == "demoted to leadership":
        users.update(db, SYSTEM, username, role=access.LEADERSHIP, unit_ids=[])
    elif kind == "idle timeout":
        return clock.now() + timedelta(minutes=31)
    elif kind == "absolute timeout":
        return clock.now() + timedelta(hours=12, minutes=1)
    return None


def click_after(at, key: str, when) -> None:
    button = by_key(at.button, key)
    if when is None:
        button.click().run()
        return
    with clock.frozen(when):
        button.click().run()


def assert_refused_and_signed_out(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any(e.startswith("Nothing was saved: your session ended (") for e in errors), errors
    assert not at.success, [s.value for s in at.success]
    assert at.text_input(key="login_username") is not None     # the sign-in form, not the page
    assert [t.value for t in at.title] == ["ITSCM maturity assessment"]


@pytest.mark.usefixtures("app_env")
@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_save_draft_after_revocation_saves_nothing_and_signs_out(kind):
    at = open_page(HEAD_PAY, "self_assessment.py")
    cid = open_campaign()
    at.radio(key=sa_key(cid, UNIT_PAY, "GOV-01", "level")).set_value(3).run()
    when = revoke(kind, HEAD_PAY)
    before = fingerprint(app_db())
    click_after(at, "sa_save", when)
    assert_refused_and_signed_out(at)
    after = fingerprint(app_db())
    assert after["answer_events"] == before["answer_events"]
    assert after["assessments"] == before["assessments"]
    assert workflow.current_answers(app_db(), SYSTEM, cid, UNIT_PAY).height == 0


@pytest.mark.usefixtures("app_env")
@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_submit_after_revocation_submits_nothing_and_signs_out(kind):
    cid = open_campaign()
    questions = campaign_questionnaire(app_db(), cid).questions
    workflow.save_answers(app_db(), SYSTEM, cid, UNIT_PAY, [Answer(x.id, 2) for x in questions])
    at = open_page(HEAD_PAY, "self_assessment.py")
    when = revoke(kind, HEAD_PAY)
    before = fingerprint(app_db())
    click_after(at, "sa_submit", when)
    assert_refused_and_signed_out(at)
    assert fingerprint(app_db())["question_scores"] == before["question_scores"]
    assert fingerprint(app_db())["assessments"] == before["assessments"]
    assert workflow.assessment(app_db(), SYSTEM, cid, UNIT_PAY)["status"] == "draft"


@pytest.mark.usefixtures("app_env")
@pytest.mark.parametrize("kind", MANAGER_KINDS)
@pytest.mark.parametrize("button", ["cp_approve", "cp_return"])
def test_review_after_revocation_changes_nothing_and_signs_out(kind, button):
    cid = open_campaign()
    at = open_page(MANAGER, "campaigns.py")
    by_key(at.selectbox, "cp_review_unit").set_value("OPT-DC").run()
    by_key(at.text_area, "cp_comment").set_value("Add dated evidence for TEST-02.").run()
    when = revoke(kind, MANAGER)
    before = fingerprint(app_db())
    click_after(at, button, when)
    assert_refused_and_signed_out(at)
    after = fingerprint(app_db())
    assert after["assessments"] == before["assessments"]
    assert after["question_scores"] == before["question_scores"]
    assert workflow.assessment(app_db(), SYSTEM, cid, "OPT-DC")["status"] == "submitted"


@pytest.mark.usefixtures("app_env")
def test_a_valid_session_still_saves_from_the_page():
    at = open_page(HEAD_PAY, "self_assessment.py")
    cid = open_campaign()
    at.radio(key=sa_key(cid, UNIT_PAY, "GOV-01", "level")).set_value(3).run()
    by_key(at.button, "sa_save").click().run()
    assert any("Draft saved: 1 answer(s) changed" in s.value for s in at.success)
    assert workflow.current_answers(app_db(), SYSTEM, cid, UNIT_PAY).height == 1
