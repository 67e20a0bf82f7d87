"""Recovery views and scoring through the engine on a real database: demonstrated against required recovery,
untested top-tier services, inversions, incidents over RTO, per division, deadlines; submit, preview and
rescore read the records as of the assessment date."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from assessment import access, campaigns, clock, exercises, incidents, recovery, reports, services, workflow
from assessment.model import Actor, AffectedService, Answer, Dependency, Exercise, ExerciseResult, Incident
from assessment.questionnaire import load_file
from assessment.storage import scores as scores_sql

from .conftest import ADMIN, FIXTURES
from .helpers.records import core_db, pay_gw

NOW = datetime(2026, 6, 30, 12, 0)
TODAY = NOW.date()


def record(db, when: date, kind: str, **took):
    return exercises.record_exercise(db, ADMIN, Exercise(when, kind, f"{kind} {when}", tuple(
        ExerciseResult(sid, minutes, 0) for sid, minutes in took.items())))


@pytest.fixture
def logged(reg):
    """Adds TRD (U3, D2, tier 1, RTO 1 h, never tested) and HR (U2, tier 3, no RTO); exercises and incidents.

    PAY-GW (U1, RTO 2 h): failover passed 2025-09-01 in 90 min, failed 2026-03-01 in 5 h.
    CORE-DB (U1, RTO 1 h): restore test 2026-02-01 in 45 min (passed).
    INC-00001 2026-02-10: PAY-GW down 6 h (over RTO), post-mortem due 2026-02-24, not done.
    INC-00002 2026-05-01: CORE-DB down 30 min (within RTO).
    """
    with clock.frozen(datetime(2025, 2, 1, 9)):
        services.create_service(reg, ADMIN, services.service_input(
            service_id="TRD", name="Trading platform", unit_id="U3", owner="mei.lin", recovery_tier=1, rto="1h",
            rpo="0m", mtpd="4h", approved_by="Head of Trading", approved_on=date(2025, 2, 1),
            next_review=date(2026, 7, 15)))
        services.create_service(reg, ADMIN, services.service_input(
            service_id="HR", name="HR portal", unit_id="U2", owner="chloe.martin", recovery_tier=3, holds_data=False))
    with clock.frozen(NOW):
        record(reg, date(2025, 9, 1), "failover", **{"PAY-GW": 90})
        record(reg, date(2026, 3, 1), "failover", **{"PAY-GW": 300})
        record(reg, date(2026, 2, 1), "restore_test", **{"CORE-DB": 45})
        incidents.record_incident(reg, ADMIN, Incident("Gateway down", "critical", datetime(2026, 2, 10, 8),
                                                       (AffectedService("PAY-GW"),), ended_at=datetime(2026, 2, 10, 14),
                                                       postmortem_due=date(2026, 2, 24)))
        incidents.record_incident(reg, ADMIN, Incident("DB failover", "high", datetime(2026, 5, 1, 8),
                                                       (AffectedService("CORE-DB"),),
                                                       ended_at=datetime(2026, 5, 1, 8, 30)))
    return reg


def test_demonstrated_against_required_recovery(logged):
    df = recovery.demonstrated(logged, ADMIN, at=NOW)
    rows = {r["service_id"]: r for r in df.iter_rows(named=True)}
    assert df["service_id"].to_list() == ["PAY-GW", "TRD", "HR", "CORE-DB"]   # worst first
    pay = rows["PAY-GW"]
    assert (pay["rto_minutes"], pay["demonstrated_minutes"], pay["demonstrated_on"], pay["gap_minutes"],
            pay["proof_age_days"], pay["passed"], pay["status"]) == (
        120, 300, date(2026, 3, 1), 180, 121, False, "slower than RTO")
    assert (rows["CORE-DB"]["gap_minutes"], rows["CORE-DB"]["status"]) == (-15, "within RTO")
    assert rows["TRD"]["status"] == "never tested" and rows["HR"]["status"] == "no RTO"
    assert recovery.demonstrated(logged, ADMIN, at=NOW, limit=1)["service_id"].to_list() == ["PAY-GW"]
    # As of a date before the failing failover, PAY-GW's proof was the passing one.
    before = recovery.demonstrated(logged, ADMIN, at=datetime(2026, 2, 15)).filter(pl.col("service_id") == "PAY-GW")
    assert before.select("demonstrated_minutes", "status").row(0) == (90, "within RTO")


def test_untested_top_tier_services(logged):
    df = recovery.untested_top_tier(logged, ADMIN, at=NOW)
    # PAY-GW's latest failover failed but it passed on 2025-09-01, within 12 months; TRD never ran.
    assert df.select("service_id", "last_passed_on", "last_tested_on").rows() == [("TRD", None, None)]
    later = recovery.untested_top_tier(logged, ADMIN, at=datetime(2026, 9, 2))
    assert later.select("service_id", "last_passed_on").rows() == [("PAY-GW", date(2025, 9, 1)), ("TRD", None)]


def test_inversions_accepted_ones_included(logged):
    assert recovery.inversions(logged, ADMIN, at=NOW).height == 0
    accepted = pay_gw(dependencies=(Dependency("service", "CORE-DB", accepted_inversion="manual queueing, CFO"),))
    services.update_service(logged, ADMIN, accepted, base_revision=1)
    services.update_service(logged, ADMIN, core_db(rto_minutes=240), base_revision=1)
    inv = recovery.inversions(logged, ADMIN)
    assert inv.select("service_id", "depends_on", "accepted_inversion", "division_id").rows() == [
        ("PAY-GW", "CORE-DB", "manual queueing, CFO", "D1")]
    assert inv["chain"][0] == "PAY-GW (RTO 2 h) depends on CORE-DB (RTO 4 h)"
    head_u3 = Actor("h3", access.HEAD, frozenset({"U3"}))
    assert recovery.inversions(logged, head_u3).height == 0


def test_incidents_over_rto(logged):
    df = recovery.incidents_over_rto(logged, ADMIN, today=TODAY)
    assert df.select("incident_id", "service_id", "outage_minutes", "over_by_minutes", "postmortem_status").rows() == [
        ("INC-00001", "PAY-GW", 360, 240, "overdue")]


def test_by_division(logged):
    df = recovery.by_division(logged, ADMIN, at=NOW)
    d1 = df.filter(pl.col("division_id") == "D1").row(0, named=True)
    d2 = df.filter(pl.col("division_id") == "D2").row(0, named=True)
    assert {k: d1[k] for k in ("services", "top_tier_services", "untested_top_tier", "slower_than_rto",
                               "never_tested", "without_rto", "incidents_over_rto", "postmortems_overdue",
                               "inversions")} == {
        "services": 3, "top_tier_services": 2, "untested_top_tier": 0, "slower_than_rto": 1, "never_tested": 1,
        "without_rto": 1, "incidents_over_rto": 1, "postmortems_overdue": 1, "inversions": 0}
    assert (d2["services"], d2["untested_top_tier"], d2["never_tested"]) == (1, 1, 1)
    assert df["division_id"].to_list() == ["D2", "D1"]  # most untested top-tier services first


def test_deadlines_include_service_reviews_and_exercises_due(logged):
    q = load_file(FIXTURES / "records-mini.yaml")
    campaigns.create(logged, ADMIN, "C1", "Cycle 1", q, date(2026, 6, 1), date(2026, 6, 30), date(2026, 7, 15),
                     status="open")
    dl = reports.deadlines(logged, ADMIN, "C1", today=TODAY)
    rows = {(r["kind"], r["item"].split(" ")[0]): r for r in dl.iter_rows(named=True)
            if r["kind"] in ("service review", "exercise due")}
    assert rows[("service review", "TRD")]["due_on"] == date(2026, 7, 15)
    assert rows[("service review", "TRD")]["bucket"] == "due in 30 days"
    assert rows[("service review", "CORE-DB")]["days_left"] == (date(2026, 1, 5) - TODAY).days
    # Tier 1: failover or restore test every 12 months. Tier 3 (HR) has no schedule in this policy.
    assert rows[("exercise due", "PAY-GW")]["due_on"] == date(2027, 3, 1)
    assert rows[("exercise due", "CORE-DB")]["since"] == date(2026, 2, 1)
    assert rows[("exercise due", "TRD")]["due_on"] is None and rows[("exercise due", "TRD")]["bucket"] == \
        "never reviewed"
    assert ("exercise due", "HR") not in rows
    assert rows[("exercise due", "PAY-GW")]["item"] == ("PAY-GW Payment gateway: failover/switchover or restore test "
                                                        "(recovery tier 1: every 12 months)")
    # Without a campaign there is no test schedule: reviews only.
    assert "exercise due" not in set(reports.deadlines(logged, ADMIN, None, today=TODAY)["kind"])


ALL_FOUR = [Answer(qid, 4, evidence="report", evidence_date=date(2026, 3, 1))
            for qid in ("GOV-01", "GOV-02", "TEST-01", "TEST-02")]


def test_submit_preview_and_rescore_read_the_records_as_of_the_assessment(logged):
    q = load_file(FIXTURES / "records-mini.yaml")
    with clock.frozen(NOW):
        campaigns.create(logged, ADMIN, "C1", "Cycle 1", q, date(2026, 6, 1), date(2026, 6, 30), date(2026, 7, 15),
                         status="open")
        workflow.save_answers(logged, ADMIN, "C1", "U1", ALL_FOUR, today=TODAY)
        preview = workflow.preview(logged, ADMIN, "C1", "U1", as_of=TODAY).questions
        result = workflow.submit(logged, ADMIN, "C1", "U1", today=TODAY)
    with logged.read() as cur:
        stored = scores_sql.question_scores(cur, "C1", "U1")
    got = {r["question_id"]: r for r in stored.iter_rows(named=True)}
    # TEST-01: PAY-GW's latest failover (2026-03-01) took 5 h against 2 h; TEST-02: INC-00001 lacks its
    # post-mortem; GOV-02: PAY-GW has no approval. GOV-01 looks at tier 2 only: not applicable.
    assert {k: (got[k]["score"], got[k]["status"]) for k in got} == {
        "GOV-01": (4.0, "answered"), "GOV-02": (1.0, "capped_records"), "TEST-01": (2.0, "capped_records"),
        "TEST-02": (2.0, "capped_records")}
    assert "PAY-GW's latest failover/switchover on 2026-03-01 took 5 h against an RTO of 2 h" in \
        got["TEST-01"]["explanation"]
    assert preview.sort("question_id")["explanation"].to_list() == stored.sort("question_id")["explanation"].to_list()
    # GOV 2:(4x1 + 1x3)/4 = 1.75, TEST (2+2)/2 = 2; unit = (1.75x2 + 2x1)/3
    assert result["score"] == pytest.approx((1.75 * 2 + 2.0) / 3) and result["capped"] == 0  # evidence caps only

    # Later facts do not change the submitted assessment until it is re-scored, and then only facts dated
    # up to the submission day count: a passing failover on 2026-07-05 does not lift TEST-01.
    with clock.frozen(datetime(2026, 7, 6, 9)):
        record(logged, date(2026, 7, 5), "failover", **{"PAY-GW": 60})
        incidents.record_postmortem(logged, ADMIN, "INC-00001", done_on=date(2026, 6, 1), base_revision=1)
        services.update_service(logged, ADMIN, pay_gw(approved_by="CFO", approved_on=date(2026, 6, 1)), base_revision=1)
        workflow.rescore_campaign(logged, ADMIN, "C1")
    with logged.read() as cur:
        again = {r["question_id"]: r for r in scores_sql.question_scores(cur, "C1", "U1").iter_rows(named=True)}
    assert again["TEST-01"]["score"] == 2.0      # the new failover is after the assessment date
    assert again["TEST-02"]["score"] == 4.0      # the post-mortem is dated 2026-06-01, before it
    assert again["GOV-02"]["score"] == 1.0       # the approval was recorded after the assessment date


def test_record_checks_for_the_form(logged):
    q = load_file(FIXTURES / "records-mini.yaml")
    campaigns.create(logged, ADMIN, "C1", "Cycle 1", q, date(2026, 6, 1), date(2026, 6, 30), date(2026, 7, 15),
                     status="open")
    checks = recovery.record_checks(logged, ADMIN, "C1", "U1", as_of=TODAY)
    assert checks.select("question_id", "check", "applies", "holds").rows() == [
        ("GOV-01", "exercise_passed", False, True), ("GOV-02", "objectives_approved", True, False),
        ("TEST-01", "exercise_passed", True, False), ("TEST-02", "postmortem_done", True, False)]
    facts = recovery.unit_records(logged, ADMIN, "U1", as_of=TODAY)
    assert sorted(facts.services["service_id"]) == ["CORE-DB", "PAY-GW"] and facts.results.height == 3
