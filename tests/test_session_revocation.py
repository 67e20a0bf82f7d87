"""Revoked access ends at the next write: every engine write re-checks the page actor's session and rights.

A page's callbacks run with the Actor of the previous run. These tests resolve an actor from a real
session, then revoke access in each way an administrator (or the clock) can, then try each write the
pages offer with the old actor: the write is refused and nothing is written.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from assessment import auth, clock, users, workflow
from assessment.access import HEAD, LEADERSHIP, MANAGER
from assessment.auth import SessionEnded
from assessment.model import Answer

from .conftest import ADMIN
from .helpers.excel import fingerprint

TODAY = date(2026, 6, 30)
T0 = datetime(2026, 6, 30, 9, 0)
ANSWERS = [Answer("GOV-01", 4, evidence="policy v3", evidence_date=date(2026, 1, 1)), Answer("GOV-02", 3),
           Answer("TEST-01", is_na=True, na_reason="no failover in scope"), Answer("TEST-02", 1)]


def _revoke(db, kind: str, username: str):
    """Returns the time at which the stale actor then clicks."""
    if kind == "disabled":
        users.update(db, ADMIN, username, active=False)
    elif kind == "unit removed":
        users.update(db, ADMIN, username, unit_ids=["U3"])
    elif kind == "demoted":
        users.update(db, ADMIN, username, role=LEADERSHIP, unit_ids=[])
    elif kind == "idle timeout":
        return T0 + timedelta(minutes=31)
    elif kind == "absolute timeout":
        return T0 + timedelta(hours=12, minutes=1)
    return T0 + timedelta(minutes=1)


def _head(db):
    users.create(db, ADMIN, "head.u1", "Head U1", HEAD, "a long enough passphrase", ["U1"])
    return auth.resolve(db, auth.create_session(db, "head.u1", at=T0), at=T0)


def _manager(db):
    users.create(db, ADMIN, "bcm", "Manager", MANAGER, "a long enough passphrase")
    return auth.resolve(db, auth.create_session(db, "bcm", at=T0), at=T0)


KINDS = ["disabled", "unit removed", "demoted", "idle timeout", "absolute timeout"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("write", ["save", "submit"])
def test_a_head_with_revoked_access_cannot_save_or_submit(org, kind, write):
    actor = _head(org)
    if write == "submit":
        with clock.frozen(T0):
            workflow.save_answers(org, actor, "C1", "U1", ANSWERS, today=TODAY)
    at = _revoke(org, kind, "head.u1")
    before = fingerprint(org)
    with clock.frozen(at), pytest.raises(SessionEnded, match="Nothing was saved"):
        if write == "save":
            workflow.save_answers(org, actor, "C1", "U1", ANSWERS, today=TODAY)
        else:
            workflow.submit(org, actor, "C1", "U1", today=TODAY)
    after = fingerprint(org)
    assert {k: v for k, v in after.items() if k != "audit_log" and k != "audit_head"} == \
        {k: v for k, v in before.items() if k != "audit_log" and k != "audit_head"}
    assert after["answer_events"] == before["answer_events"]


@pytest.mark.parametrize("kind", ["disabled", "demoted", "idle timeout", "absolute timeout"])
@pytest.mark.parametrize("decision", ["approve", "return"])
def test_a_manager_with_revoked_access_cannot_approve_or_return(org, kind, decision):
    workflow.save_answers(org, ADMIN, "C1", "U1", ANSWERS, today=TODAY)
    workflow.submit(org, ADMIN, "C1", "U1", today=TODAY)
    actor = _manager(org)
    at = _revoke(org, kind, "bcm")
    before = fingerprint(org)
    with clock.frozen(at), pytest.raises(SessionEnded):
        if decision == "approve":
            workflow.approve(org, actor, "C1", "U1")
        else:
            workflow.return_for_rework(org, actor, "C1", "U1", "add evidence")
    assert workflow.assessment(org, ADMIN, "C1", "U1")["status"] == "submitted"
    assert fingerprint(org)["question_scores"] == before["question_scores"]


def test_a_signed_out_session_cannot_write(org):
    users.create(org, ADMIN, "head.u1", "Head U1", HEAD, "a long enough passphrase", ["U1"])
    token = auth.create_session(org, "head.u1", at=T0)
    actor = auth.resolve(org, token, at=T0)
    auth.logout(org, token)
    with clock.frozen(T0), pytest.raises(SessionEnded, match="logout"):
        workflow.save_answers(org, actor, "C1", "U1", ANSWERS, today=TODAY)


def test_a_valid_session_still_writes(org):
    actor = _head(org)
    with clock.frozen(T0 + timedelta(minutes=5)):
        r = workflow.save_answers(org, actor, "C1", "U1", ANSWERS, today=TODAY)
    assert r.saved == 4
