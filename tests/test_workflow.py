"""Answers, submission, review and persisted scores against a real DuckDB file."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from assessment import access, workflow
from assessment.errors import IncompleteAssessment, InvalidState, NotFound, StaleWrite, ValidationError
from assessment.model import Actor, Answer
from assessment.storage import scores as score_store

from .conftest import ADMIN

TODAY = date(2026, 6, 30)
REVIEWER = Actor("bcm", access.MANAGER)  # separation of duties: not the one who answered (ADMIN)
COMPLETE = [
    Answer("GOV-01", 4, evidence="policy v3", evidence_date=date(2026, 1, 1)),
    Answer("GOV-02", 3),
    Answer("TEST-01", is_na=True, na_reason="no failover in scope"),
    Answer("TEST-02", 1),
]


def save(db, answers, unit="U1", **kw):
    return workflow.save_answers(db, ADMIN, "C1", unit, answers, today=TODAY, **kw)


def test_save_is_append_only_and_skips_unchanged(org):
    r = save(org, COMPLETE[:2])
    assert r.saved == 2 and r.unchanged == 0
    r = save(org, [COMPLETE[0], Answer("GOV-02", 4, evidence="minutes", evidence_date=date(2026, 5, 1))])
    assert (r.saved, r.unchanged) == (1, 1)
    hist = workflow.answer_history(org, ADMIN, "C1", "U1")
    assert hist.filter(pl.col("question_id") == "GOV-02")["level"].to_list() == [4, 3]  # newest first
    cur = workflow.current_answers(org, ADMIN, "C1", "U1")
    assert dict(zip(cur["question_id"], cur["level"])) == {"GOV-01": 4, "GOV-02": 4}


def test_invalid_answers_are_all_reported_and_nothing_is_written(org):
    bad = [Answer("GOV-01", 7), Answer("GOV-02", is_na=True, na_reason="x"), Answer("TEST-01", is_na=True),
           Answer("NOPE-01", 1), Answer("TEST-02", 2, evidence_date=date(2027, 1, 1))]
    with pytest.raises(ValidationError) as err:
        save(org, bad)
    text = str(err.value)
    for part in ("GOV-01.level", "GOV-02.na: N/A is not allowed", "TEST-01.na_reason", "NOPE-01: unknown question",
                 "TEST-02.evidence_date"):
        assert part in text
    assert workflow.current_answers(org, ADMIN, "C1", "U1").height == 0


def test_unknown_unit_and_campaign(org):
    with pytest.raises(NotFound, match="ZZ"):
        workflow.save_answers(org, ADMIN, "C1", "ZZ", COMPLETE, today=TODAY)
    with pytest.raises(NotFound, match="campaign"):
        workflow.save_answers(org, ADMIN, "C9", "U1", COMPLETE, today=TODAY)


def test_stale_write_is_refused_with_who_and_when(org):
    save(org, [Answer("GOV-01", 2)])
    base = dict(zip(*workflow.current_answers(org, ADMIN, "C1", "U1").select("question_id", "event_id")
                    .to_dict(as_series=False).values()))
    save(org, [Answer("GOV-01", 3, evidence="e", evidence_date=date(2026, 6, 1))])  # someone else
    with pytest.raises(StaleWrite) as err:
        save(org, [Answer("GOV-01", 1)], base_events=base)
    assert "GOV-01 was changed to level 3 by system" in str(err.value)
    assert workflow.current_answers(org, ADMIN, "C1", "U1")["level"].to_list() == [3]


def test_submit_refuses_missing_answers_with_the_list(org):
    save(org, COMPLETE[:2])
    with pytest.raises(IncompleteAssessment) as err:
        workflow.submit(org, ADMIN, "C1", "U1", today=TODAY)
    assert err.value.missing == ["TEST-01", "TEST-02"]
    assert workflow.assessment(org, ADMIN, "C1", "U1")["status"] == "draft"


def test_submit_persists_hand_computed_scores_and_locks(org):
    save(org, COMPLETE)
    result = workflow.submit(org, ADMIN, "C1", "U1", today=TODAY)
    assert result["score"] == pytest.approx(2.0)
    with org.read() as cur:
        us = score_store.unit_scores(cur, "C1").row(0, named=True)
        qs = score_store.question_scores(cur, "C1", "U1")
    assert (us["score"], us["target"], us["gap"], us["weakest_domain"]) == (2.0, 4.0, 2.0, "TEST")
    assert us["policy"].startswith("mini@1.0.0")
    capped = qs.filter(pl.col("question_id") == "GOV-02").row(0, named=True)
    assert capped["status"] == "capped" and capped["score"] == 2.0
    with pytest.raises(InvalidState, match="read-only until returned"):
        save(org, [Answer("TEST-02", 5)])


def test_return_reopens_and_clears_scores_approve_keeps_them(org):
    save(org, COMPLETE)
    workflow.submit(org, ADMIN, "C1", "U1", today=TODAY)
    with pytest.raises(ValidationError):
        workflow.return_for_rework(org, REVIEWER, "C1", "U1", "")
    workflow.return_for_rework(org, REVIEWER, "C1", "U1", "Add evidence for GOV-02")
    a = workflow.assessment(org, ADMIN, "C1", "U1")
    assert a["status"] == "returned" and a["return_comment"] == "Add evidence for GOV-02"
    with org.read() as cur:
        assert score_store.unit_scores(cur, "C1").height == 0
    save(org, [Answer("GOV-02", 3, evidence="minutes", evidence_date=date(2026, 3, 1))])
    workflow.submit(org, ADMIN, "C1", "U1", today=TODAY)
    workflow.approve(org, REVIEWER, "C1", "U1")
    assert workflow.assessment(org, ADMIN, "C1", "U1")["status"] == "approved"
    with org.read() as cur:
        # GOV now (4*1 + 3*3)/4 = 3.25; unit (3.25*2 + 1*1)/3 = 2.5
        assert score_store.unit_scores(cur, "C1")["score"][0] == pytest.approx(2.5)
    with pytest.raises(InvalidState):
        workflow.approve(org, REVIEWER, "C1", "U1")


def test_rescore_uses_submission_date(org):
    save(org, COMPLETE)
    workflow.submit(org, ADMIN, "C1", "U1", today=TODAY)
    assert workflow.rescore_campaign(org, ADMIN, "C1") == 1
    with org.read() as cur:
        assert score_store.unit_scores(cur, "C1")["score"][0] == pytest.approx(2.0)
