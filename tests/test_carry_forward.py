"""Carry-forward into a new cycle: what is carried, confirming, changing, submitting, the evidence rule at the
new cycle's date, the audit trail, and the changes report across two questionnaire versions."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from assessment import access, campaigns, carry, clock, reports, workflow
from assessment.errors import PermissionDenied, ValidationError
from assessment.model import Actor, Answer
from assessment.questionnaire import loads

from .conftest import ADMIN, FIXTURES

HEAD1 = Actor("head-U1", access.HEAD, frozenset({"U1"}))
HEAD2 = Actor("head-U2", access.HEAD, frozenset({"U2"}))
MANAGER = Actor("bcm", access.MANAGER)
C1_ANSWERS = [
    Answer("GOV-01", 4, evidence="policy v3", evidence_date=date(2026, 5, 1)),  # fresh in 2026, stale in 2027
    Answer("GOV-02", 3, evidence="minutes", evidence_date=date(2026, 5, 20)),
    Answer("TEST-01", is_na=True, na_reason="no failover in scope"),
    Answer("TEST-02", 1),
]


def mini_v2():
    """mini 2.0.0: TEST-02 removed, TEST-03 added (matched by id)."""
    text = (FIXTURES / "mini.yaml").read_text().replace('version: "1.0.0"', 'version: "2.0.0"')
    text = text.replace("- id: TEST-02", "- id: TEST-03")
    return loads(text, base_dir=FIXTURES)


def submit_c1(db) -> None:
    with clock.frozen(datetime(2026, 6, 10, 9, 0)):
        workflow.save_answers(db, HEAD1, "C1", "U1", C1_ANSWERS)
        workflow.submit(db, HEAD1, "C1", "U1")
        workflow.save_answers(db, HEAD2, "C1", "U2", [Answer("GOV-01", 1)])  # a draft: never carried
    campaigns.set_status(db, ADMIN, "C1", "closed")


def new_cycle(db, q, carry_forward=True, actor=MANAGER):
    with clock.frozen(datetime(2027, 6, 1, 8, 0)):
        return campaigns.create(db, actor, "C2", "Cycle 2", q, date(2027, 6, 1), date(2027, 6, 30),
                                date(2027, 7, 15), previous="C1", status="open", carry_forward=carry_forward)


def test_last_submitted_answers_are_carried_by_question_id_to_confirm(org):
    submit_c1(org)
    after = new_cycle(org, mini_v2())
    assert after["carried"] == {"answers": 3, "units": 1, "from": {"C1": 1}, "not_carried": 0}
    states = carry.carried(org, HEAD1, "C2", "U1")
    # TEST-02 was removed in 2.0.0: not carried; TEST-03 is new: empty.
    assert states.select("question_id", "from_campaign_id", "first_given_on", "state").rows() == [
        ("GOV-01", "C1", date(2026, 6, 10), "to confirm"), ("GOV-02", "C1", date(2026, 6, 10), "to confirm"),
        ("TEST-01", "C1", date(2026, 6, 10), "to confirm")]
    current = workflow.current_answers(org, HEAD1, "C2", "U1")
    assert current.select("question_id", "level", "is_na", "evidence", "evidence_date").rows() == [
        ("GOV-01", 4, False, "policy v3", date(2026, 5, 1)), ("GOV-02", 3, False, "minutes", date(2026, 5, 20)),
        ("TEST-01", None, True, None, None)]
    assert set(current["source"]) == {"carried"}
    assert carry.carried(org, HEAD2, "C2", "U2").height == 0  # U2 never submitted
    assert workflow.current_answers(org, ADMIN, "C2", "U3").height == 0


def test_without_carry_forward_drafts_start_empty(org):
    submit_c1(org)
    after = new_cycle(org, mini_v2(), carry_forward=False)
    assert "carried" not in after
    assert workflow.current_answers(org, HEAD1, "C2", "U1").height == 0


def test_submission_needs_every_carried_answer_confirmed_or_changed(org):
    submit_c1(org)
    new_cycle(org, mini_v2())
    with clock.frozen(datetime(2027, 6, 10, 9, 0)):
        workflow.save_answers(org, HEAD1, "C2", "U1", [Answer("TEST-03", 2)])
        with pytest.raises(carry.UnconfirmedAnswers) as err:
            workflow.submit(org, HEAD1, "C2", "U1")
        assert err.value.questions == ["GOV-01", "GOV-02", "TEST-01"]
        assert "GOV-01, GOV-02, TEST-01" in str(err.value)
        # One domain at once (GOV), one changed (TEST-01 gets a level).
        assert carry.confirm(org, HEAD1, "C2", "U1", ["GOV-01", "GOV-02"]) == 2
        assert carry.confirm(org, HEAD1, "C2", "U1", ["GOV-01"]) == 0  # already confirmed: nothing to do
        with pytest.raises(carry.UnconfirmedAnswers, match="TEST-01"):
            workflow.submit(org, HEAD1, "C2", "U1")
        workflow.save_answers(org, HEAD1, "C2", "U1", [Answer("TEST-01", 2)])
        result = workflow.submit(org, HEAD1, "C2", "U1")
    states = dict(carry.carried(org, HEAD1, "C2", "U1").select("question_id", "state").iter_rows())
    assert states == {"GOV-01": "confirmed", "GOV-02": "confirmed", "TEST-01": "changed"}
    # The evidence rule at the new cycle's date: GOV-01's evidence (2026-05-01) is over 12 months old on
    # 2027-06-10, so level 4 counts as 2; GOV-02's (2026-05-20) too: level 3 -> 2.
    # GOV = (2*1 + 2*3) / 4 = 2.0; TEST = (2 + 2) / 2 = 2.0; unit = (2*2.0 + 1*2.0) / 3 = 2.0.
    assert result["score"] == pytest.approx(2.0)
    with org.read() as cur:
        status = dict(cur.execute("SELECT question_id, status FROM question_scores WHERE campaign_id = 'C2' "
                                  "AND unit_id = 'U1'").fetchall())
    assert status["GOV-01"] == status["GOV-02"] == "capped"


def test_confirming_is_checked_and_audited(org):
    submit_c1(org)
    new_cycle(org, mini_v2())
    with pytest.raises(PermissionDenied):
        carry.confirm(org, HEAD2, "C2", "U1", ["GOV-01"])
    with pytest.raises(ValidationError) as err:
        carry.confirm(org, HEAD1, "C2", "U1", ["TEST-03", "NOPE-1", "GOV-01"])
    assert err.value.problems == ["TEST-03: this answer was not carried over from the previous cycle",
                                  "NOPE-1: not a question of mini@2.0.0"]
    assert carry.carried(org, HEAD1, "C2", "U1").filter(pl.col("state") == "confirmed").height == 0  # all or none
    with clock.frozen(datetime(2027, 6, 2, 8, 0)):
        workflow.save_answers(org, HEAD1, "C2", "U1",
                              [Answer("GOV-02", 4, evidence="new", evidence_date=date(2027, 5, 1))])
    with pytest.raises(ValidationError, match="GOV-02: this answer was changed after it was carried over"):
        carry.confirm(org, HEAD1, "C2", "U1", ["GOV-02"])
    carry.confirm(org, HEAD1, "C2", "U1", ["GOV-01"])
    actions = _audit(org)
    assert ("answers.carry", "campaign", "C2", "bcm") in actions
    assert ("answers.confirm", "assessment", "C2/U1", "head-U1") in actions


def _audit(db) -> list[tuple]:
    with db.read() as cur:
        return [tuple(r) for r in cur.execute(
            "SELECT action, object_type, object_id, actor FROM audit_log ORDER BY seq").fetchall()]


def test_changes_count_confirmed_unchanged_apart_and_match_versions_by_id(org):
    submit_c1(org)
    new_cycle(org, mini_v2())
    with clock.frozen(datetime(2027, 6, 10, 9, 0)):
        workflow.save_answers(org, HEAD1, "C2", "U1", [
            Answer("TEST-03", 2), Answer("GOV-01", 4, evidence="policy v4", evidence_date=date(2027, 5, 1))])
        carry.confirm(org, HEAD1, "C2", "U1", ["GOV-02", "TEST-01"])
        workflow.submit(org, HEAD1, "C2", "U1")
    previous, changes = reports.changes(org, ADMIN, "C2")
    assert previous == "C1"
    row = changes.filter(pl.col("unit_id") == "U1").row(0, named=True)
    # GOV-01 4 -> 4 with fresh evidence: unchanged (it was changed, not confirmed); GOV-02 confirmed, but its
    # 2026 evidence is stale now: 3 -> capped 2, a regression; TEST-01 N/A confirmed: confirmed unchanged;
    # TEST-02 removed in 2.0.0; TEST-03 new. Nothing counts as a regression for the version change.
    assert {k: row[k] for k in ("improved", "regressed", "unchanged", "confirmed_unchanged", "removed", "new",
                                "not_reassessed")} == {
        "improved": 0, "regressed": 1, "unchanged": 1, "confirmed_unchanged": 1, "removed": 1, "new": 1,
        "not_reassessed": 0}
    detail = reports.change_details(org, ADMIN, "C2", "C1")
    kinds = dict(detail.filter(pl.col("unit_id") == "U1").select("question_id", "change").iter_rows())
    assert kinds["TEST-02"] == "removed" and kinds["TEST-03"] == "new" and kinds["GOV-02"] == "regressed"
    # U2 and U3 were not re-assessed: U2 had no submission in C1 either, so only U1 has rows.


def test_a_department_head_cannot_create_a_cycle(org):
    submit_c1(org)
    with pytest.raises(PermissionDenied):
        new_cycle(org, mini_v2(), actor=HEAD1)
    assert [c for c in campaigns.list_campaigns(org, ADMIN)["campaign_id"]] == ["C1"]


def test_an_answer_the_new_version_refuses_is_not_carried(org):
    submit_c1(org)
    text = (FIXTURES / "mini.yaml").read_text().replace('version: "1.0.0"', 'version: "3.0.0"')
    strict = loads(text.replace("na_allowed: true", "na_allowed: false", 1), base_dir=FIXTURES)  # TEST-01: no N/A
    after = new_cycle(org, strict)
    assert after["carried"] == {"answers": 3, "units": 1, "from": {"C1": 1}, "not_carried": 1}
    assert carry.carried(org, HEAD1, "C2", "U1")["question_id"].to_list() == ["GOV-01", "GOV-02", "TEST-02"]


def test_carried_answers_to_confirm_are_counted_per_unit_and_reach_the_heads_reminder(org):
    from assessment import reminders, users

    submit_c1(org)
    new_cycle(org, mini_v2())
    assert carry.to_confirm(org, ADMIN, "C2").rows() == [("U1", 3)]
    assert carry.to_confirm(org, HEAD2, "C2").height == 0                     # a head sees their units only
    with clock.frozen(datetime(2027, 6, 2, 9, 0)):
        carry.confirm(org, HEAD1, "C2", "U1", ["GOV-02"])
    assert carry.to_confirm(org, ADMIN, "C2").rows() == [("U1", 2)]
    users.create(org, ADMIN, "ada", "Ada", access.HEAD, None, ["U1"], email="ada@example.org")
    items = reminders.items(org, reminders.Request(date(2027, 6, 20), username="ada"))
    carried = items.filter(pl.col("section") == reminders.CARRIED_SECTION)
    assert carried.select("unit_id", "due_on", "days_left", "bucket").rows() == [
        ("U1", date(2027, 6, 30), 10, "due in 30 days")]
    assert carried["item"][0].startswith("2 answer(s) carried over from the last cycle to confirm or change")
