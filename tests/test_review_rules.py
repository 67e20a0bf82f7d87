"""Reviewing an assessment: a closed cycle is frozen (issue 13 item 9), and the person who answered or
submitted an assessment cannot also approve or return it (item 12, ITSCM_SEPARATION_OF_DUTIES)."""

from __future__ import annotations

from datetime import date

import pytest

from assessment import access, campaigns, reports, workflow
from assessment.errors import InvalidState, PermissionDenied
from assessment.model import Actor, Answer

from .conftest import ADMIN
from .helpers.excel import fingerprint

TODAY = date(2026, 6, 30)
FULL = [Answer("GOV-01", 2), Answer("GOV-02", 2), Answer("TEST-01", 1), Answer("TEST-02", 1)]
HEAD = Actor("head.u1", access.HEAD, frozenset({"U1"}))
REVIEWER = Actor("bcm", access.MANAGER)
OTHER_ADMIN = Actor("root", access.ADMIN)


def _submitted(db, unit="U1", by: Actor = HEAD, answered_by: Actor | None = None) -> None:
    workflow.save_answers(db, answered_by or by, "C1", unit, FULL, today=TODAY)
    workflow.submit(db, by, "C1", unit, today=TODAY)


# ---- item 9: a closed cycle is frozen ------------------------------------------------------------------------

@pytest.mark.parametrize("decision", ["approve", "return"])
def test_reviewing_in_a_closed_cycle_is_refused_and_changes_no_score(org, decision):
    _submitted(org)
    campaigns.set_status(org, ADMIN, "C1", "closed")
    score = reports.summary(org, ADMIN, "C1", today=TODAY)["score"]
    before = fingerprint(org)
    with pytest.raises(InvalidState, match="closed.*[Rr]eopen"):
        if decision == "approve":
            workflow.approve(org, REVIEWER, "C1", "U1")
        else:
            workflow.return_for_rework(org, REVIEWER, "C1", "U1", "add evidence")
    assert fingerprint(org) == before                       # no status, no score, no audit entry
    # GOV (level 2, weight 2) and TEST (level 1, weight 1): (2 x 2 + 1 x 1) / 3
    assert reports.summary(org, ADMIN, "C1", today=TODAY)["score"] == score == pytest.approx(5 / 3)
    assert workflow.assessment(org, ADMIN, "C1", "U1")["status"] == "submitted"


def test_after_reopening_the_cycle_the_review_goes_through_and_the_head_can_resubmit(org):
    _submitted(org)
    campaigns.set_status(org, ADMIN, "C1", "closed")
    campaigns.set_status(org, ADMIN, "C1", "open")
    workflow.return_for_rework(org, REVIEWER, "C1", "U1", "add evidence for GOV-02")
    workflow.save_answers(org, HEAD, "C1", "U1", [Answer("GOV-02", 3, evidence="minutes",
                                                         evidence_date=date(2026, 3, 1))], today=TODAY)
    workflow.submit(org, HEAD, "C1", "U1", today=TODAY)
    assert workflow.assessment(org, ADMIN, "C1", "U1")["status"] == "submitted"


# ---- item 12: separation of duties ---------------------------------------------------------------------------

@pytest.mark.parametrize("decision", ["approve", "return"])
def test_whoever_answered_cannot_review_by_default(org, monkeypatch, decision):
    monkeypatch.delenv("ITSCM_SEPARATION_OF_DUTIES", raising=False)
    _submitted(org, by=HEAD, answered_by=OTHER_ADMIN)        # the admin answered, the head submitted
    before = fingerprint(org)
    with pytest.raises(PermissionDenied, match="separation of duties"):
        if decision == "approve":
            workflow.approve(org, OTHER_ADMIN, "C1", "U1")
        else:
            workflow.return_for_rework(org, OTHER_ADMIN, "C1", "U1", "more evidence")
    assert fingerprint(org) == before


def test_whoever_submitted_cannot_approve_by_default(org, monkeypatch):
    monkeypatch.delenv("ITSCM_SEPARATION_OF_DUTIES", raising=False)
    workflow.save_answers(org, HEAD, "C1", "U1", FULL, today=TODAY)
    workflow.submit(org, OTHER_ADMIN, "C1", "U1", today=TODAY)  # answered by the head, submitted by the admin
    with pytest.raises(PermissionDenied, match="separation of duties"):
        workflow.approve(org, OTHER_ADMIN, "C1", "U1")
    assert workflow.assessment(org, ADMIN, "C1", "U1")["status"] == "submitted"


def test_an_answer_before_a_return_still_counts(org, monkeypatch):
    monkeypatch.delenv("ITSCM_SEPARATION_OF_DUTIES", raising=False)
    workflow.save_answers(org, OTHER_ADMIN, "C1", "U1", [Answer("GOV-01", 1)], today=TODAY)
    workflow.save_answers(org, HEAD, "C1", "U1", FULL, today=TODAY)   # the head overwrites every answer
    workflow.submit(org, HEAD, "C1", "U1", today=TODAY)
    with pytest.raises(PermissionDenied, match="separation of duties"):
        workflow.approve(org, OTHER_ADMIN, "C1", "U1")


def test_someone_else_reviews_and_answers_in_another_unit_do_not_count(org, monkeypatch):
    monkeypatch.delenv("ITSCM_SEPARATION_OF_DUTIES", raising=False)
    workflow.save_answers(org, Actor("bcm", access.ADMIN), "C1", "U2", FULL, today=TODAY)
    _submitted(org)
    workflow.approve(org, REVIEWER, "C1", "U1")
    assert workflow.assessment(org, ADMIN, "C1", "U1")["status"] == "approved"


@pytest.mark.parametrize("decision", ["approve", "return"])
def test_the_policy_can_be_switched_off(org, monkeypatch, decision):
    monkeypatch.setenv("ITSCM_SEPARATION_OF_DUTIES", "0")
    _submitted(org, by=OTHER_ADMIN)
    if decision == "approve":
        workflow.approve(org, OTHER_ADMIN, "C1", "U1")
        assert workflow.assessment(org, ADMIN, "C1", "U1")["status"] == "approved"
    else:
        workflow.return_for_rework(org, OTHER_ADMIN, "C1", "U1", "more evidence")
        assert workflow.assessment(org, ADMIN, "C1", "U1")["status"] == "returned"
