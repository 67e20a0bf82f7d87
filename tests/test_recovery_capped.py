"""recovery.capped_answers: the scored answers the continuity records capped, with their reasons, for the
dashboard (on both backends)."""

from __future__ import annotations

from datetime import date

from assessment import campaigns, clock, recovery, workflow
from assessment.model import Actor
from assessment.questionnaire import load_file
from assessment.reports import Filters

from .conftest import ADMIN, FIXTURES
from .test_recovery import ALL_FOUR, NOW, TODAY, logged  # noqa: F401 - the fixture is used by name


def test_capped_answers_lists_what_the_records_capped_with_the_reason(logged):  # noqa: F811
    q = load_file(FIXTURES / "records-mini.yaml")
    with clock.frozen(NOW):
        campaigns.create(logged, ADMIN, "C1", "Cycle 1", q, date(2026, 6, 1), date(2026, 6, 30), date(2026, 7, 15),
                         status="open")
        assert recovery.capped_answers(logged, ADMIN, "C1").height == 0  # nothing scored yet
        workflow.save_answers(logged, ADMIN, "C1", "U1", ALL_FOUR, today=TODAY)
        workflow.submit(logged, ADMIN, "C1", "U1", today=TODAY)
    df = recovery.capped_answers(logged, ADMIN, "C1")
    # GOV-01 (tier 2 only) does not apply to U1; the other three are capped (see test_recovery).
    assert sorted(df["question_id"]) == ["GOV-02", "TEST-01", "TEST-02"]
    assert set(df["unit_id"]) == {"U1"} and set(df["level"]) == {4}
    row = df.filter(df["question_id"] == "TEST-01").row(0, named=True)
    assert row["score"] == 2.0
    assert "PAY-GW's latest failover/switchover on 2026-03-01 took 5 h against an RTO of 2 h" in row["explanation"]
    assert recovery.capped_answers(logged, ADMIN, "C1", limit=1).height == 1
    # Scoped like every read: another division, or a head of another unit, sees none of them.
    assert recovery.capped_answers(logged, ADMIN, "C1", Filters(division_ids=("D2",))).height == 0
    head = Actor("mei.lin", "department_head", units=frozenset({"U3"}))
    assert recovery.capped_answers(logged, head, "C1").height == 0
