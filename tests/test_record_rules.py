"""Record rules in scoring, against values and explanations written by hand (tests/fixtures/records-mini.yaml).

As of 2026-06-30 the 12-month window starts on 2025-06-30 (inclusive), the 6-month window on 2025-12-30.
Rules: TEST-01 exercise_passed (failover, full interruption; top tier; 3+ else 2), GOV-02 objectives_approved
(all services; 3+ else 1), TEST-02 postmortem_done (all services; 3+ else 2), GOV-01 exercise_passed (restore
tests of recovery tier 2 in 6 months; 4+ else 3).
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from assessment import scoring
from assessment.model import FACT_SCHEMAS, RecordFacts
from assessment.questionnaire import load_file

from .conftest import FIXTURES

AS_OF = date(2026, 6, 30)
FRESH = date(2026, 3, 1)
EVIDENCE = {"evidence": "report", "evidence_date": FRESH}


@pytest.fixture(scope="module")
def q():
    return load_file(FIXTURES / "records-mini.yaml")


def units(*ids: str, as_of: date = AS_OF) -> pl.DataFrame:
    return pl.DataFrame({"unit_id": list(ids), "division_id": ["D1"] * len(ids), "tier": [1] * len(ids),
                         "as_of": [as_of] * len(ids)})


def answers(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{"is_na": False, **r} for r in rows], schema_overrides=scoring.ANSWER_SCHEMA)


def full(unit: str, level: int, **extra) -> list[dict]:
    """Every question of the mini questionnaire at `level` with fresh evidence, unless overridden."""
    rows = {qid: {"unit_id": unit, "question_id": qid, "level": level, **EVIDENCE}
            for qid in ("GOV-01", "GOV-02", "TEST-01", "TEST-02")}
    for qid, values in extra.items():
        rows[qid.replace("_", "-")] = {"unit_id": unit, "question_id": qid.replace("_", "-"), **values}
    return list(rows.values())


def svc(unit, sid, tier=1, rto=120, rpo=15, holds=True, approved=date(2026, 1, 15)) -> dict:
    return {"unit_id": unit, "service_id": sid, "name": sid.title(), "recovery_tier": tier, "rto_minutes": rto,
            "rpo_minutes": rpo, "holds_data": holds, "approved_on": approved}


def res(sid, when, kind="failover", took=60, rto=120, eid=None) -> dict:
    met = None if took is None or rto is None else took <= rto
    return {"service_id": sid, "exercise_id": eid or f"EX-{when:%Y%m%d}-{sid}", "exercise_date": when,
            "exercise_type": kind, "achieved_recovery_minutes": took, "achieved_data_loss_minutes": 0,
            "rto_minutes": rto, "rpo_minutes": 15, "recovery_met": met, "data_met": True, "passed": met}


def inc(sid, iid, started, outage=360, rto=120, due=None, done=None) -> dict:
    return {"service_id": sid, "incident_id": iid, "started_on": started, "outage_minutes": outage,
            "rto_minutes": rto, "over_rto": outage > rto, "postmortem_due": due, "postmortem_done": done}


def facts(services=(), results=(), incidents=()) -> RecordFacts:
    return RecordFacts(*(pl.DataFrame(list(rows), schema=FACT_SCHEMAS[k], orient="row") if rows else
                         pl.DataFrame(schema=FACT_SCHEMAS[k])
                         for k, rows in (("services", services), ("results", results), ("incidents", incidents))))


def row(s: scoring.Scores, unit: str, qid: str) -> dict:
    return s.questions.filter((pl.col("unit_id") == unit) & (pl.col("question_id") == qid)).row(0, named=True)


REQ_TEST01 = ("a level of 3 or more needs the latest failover/switchover or full interruption result within 12 "
              "months to pass for every service of the unit's highest recovery tier")
TWO_TOP = [svc("U1", "PAY-GW"), svc("U1", "CARD-AUTH"), svc("U1", "HR-APP", tier=3, rto=None)]


def test_failover_rule_caps_and_names_every_fact(q):
    s = scoring.score(q, answers(full("U1", 4)), units("U1"), records=facts(
        TWO_TOP, [res("CARD-AUTH", date(2026, 1, 10), took=360)]))
    r = row(s, "U1", "TEST-01")
    assert (r["level"], r["score"], r["status"]) == (4, 2.0, "capped_records")
    assert r["explanation"] == (
        f"Answered level 4, capped at 2: {REQ_TEST01}, and PAY-GW has no failover/switchover or full interruption "
        "result since 2025-06-30; CARD-AUTH's latest failover/switchover on 2026-01-10 took 6 h against an RTO of 2 h")
    # HR-APP (tier 3, no RTO) is not in scope: only the unit's highest recovery tier is.
    assert "HR-APP" not in r["explanation"]
    # A record cap counts as answered; the domain's `capped` stays the evidence rule's count.
    test = s.domains.filter(pl.col("domain_id") == "TEST").row(0, named=True)
    assert test["capped"] == 0 and test["answered"] == 2 and test["score"] == pytest.approx((2 + 4) / 2)


def test_failover_rule_holds_when_every_top_tier_service_passed_and_says_so(q):
    s = scoring.score(q, answers(full("U1", 4)), units("U1"), records=facts(
        TWO_TOP, [res("CARD-AUTH", date(2026, 1, 10)), res("PAY-GW", date(2025, 9, 1), kind="full_interruption")]))
    r = row(s, "U1", "TEST-01")
    assert (r["score"], r["status"]) == (4.0, "answered")
    assert r["explanation"] == ("As answered: level 4; the records bear it out: the latest failover/switchover or "
                                "full interruption result since 2025-06-30 passed for CARD-AUTH and PAY-GW")


@pytest.mark.parametrize("when, holds", [(date(2025, 6, 30), True), (date(2025, 6, 29), False),
                                         (date(2026, 6, 30), True), (date(2026, 7, 1), False)],
                         ids=["exactly 12 months", "a day older", "on the as-of date", "after the as-of date"])
def test_window_edges(q, when, holds):
    s = scoring.score(q, answers(full("U1", 3)), units("U1"), records=facts(
        [svc("U1", "PAY-GW")], [res("PAY-GW", when)]))
    r = row(s, "U1", "TEST-01")
    assert r["score"] == (3.0 if holds else 2.0)
    if not holds:
        assert r["explanation"].endswith("PAY-GW has no failover/switchover or full interruption result since "
                                         "2025-06-30")


def test_the_latest_result_decides_a_failure_after_a_pass_caps(q):
    passed_then_failed = [res("PAY-GW", date(2026, 1, 10)), res("PAY-GW", date(2026, 3, 1), took=200)]
    s = scoring.score(q, answers(full("U1", 3)), units("U1"), records=facts([svc("U1", "PAY-GW")], passed_then_failed))
    assert row(s, "U1", "TEST-01")["score"] == 2.0
    assert row(s, "U1", "TEST-01")["explanation"].endswith(
        "PAY-GW's latest failover/switchover on 2026-03-01 took 3 h 20 min against an RTO of 2 h")
    failed_then_passed = [res("PAY-GW", date(2026, 1, 10), took=200), res("PAY-GW", date(2026, 3, 1))]
    s = scoring.score(q, answers(full("U1", 3)), units("U1"), records=facts([svc("U1", "PAY-GW")], failed_then_passed))
    assert row(s, "U1", "TEST-01")["score"] == 3.0


def test_other_exercise_types_do_not_count(q):
    s = scoring.score(q, answers(full("U1", 3)), units("U1"), records=facts(
        [svc("U1", "PAY-GW")], [res("PAY-GW", date(2026, 1, 10), kind="tabletop")]))
    assert row(s, "U1", "TEST-01")["score"] == 2.0


def test_a_service_without_objectives(q):
    # No RTO: its failover cannot be judged (recorded without an RTO), and its objectives are not approved.
    no_rto = svc("U1", "PAY-GW", rto=None, approved=None)
    s = scoring.score(q, answers(full("U1", 3)), units("U1"), records=facts(
        [no_rto], [res("PAY-GW", date(2026, 1, 10), rto=None)]))
    assert row(s, "U1", "TEST-01")["explanation"].endswith(
        "PAY-GW's latest failover/switchover on 2026-01-10 could not be judged: the service had no RTO then")
    gov = row(s, "U1", "GOV-02")
    assert (gov["score"], gov["status"]) == (1.0, "capped_records")
    assert gov["explanation"] == (
        "Answered level 3, capped at 1: a level of 3 or more needs an approved RTO (and an RPO where data is held) "
        "within 12 months for every service of the unit, and PAY-GW has no RTO; PAY-GW has objectives nobody "
        "approved")


def test_objectives_rule_names_each_kind_of_gap(q):
    services = [svc("U1", "A", rto=None), svc("U1", "B", rpo=None), svc("U1", "C", approved=None),
                svc("U1", "D", approved=date(2025, 5, 1)), svc("U1", "E"), svc("U1", "F", rpo=None, holds=False)]
    s = scoring.score(q, answers(full("U1", 5)), units("U1"), records=facts(services))
    assert row(s, "U1", "GOV-02")["explanation"] == (
        "Answered level 5, capped at 1: a level of 3 or more needs an approved RTO (and an RPO where data is held) "
        "within 12 months for every service of the unit, and A has no RTO; B holds data but has no RPO; C has "
        "objectives nobody approved; D's objectives were approved on 2025-05-01, before 2025-06-30")
    ok = scoring.score(q, answers(full("U1", 5)), units("U1"), records=facts([svc("U1", "E"),
                                                                            svc("U1", "F", rpo=None, holds=False)]))
    assert row(ok, "U1", "GOV-02")["explanation"] == (
        "As answered: level 5; the records bear it out: E and F have approved objectives")


def test_a_unit_without_services_is_not_judged_and_the_explanation_says_so(q):
    s = scoring.score(q, answers(full("U1", 4)), units("U1"), records=facts())
    for qid in ("TEST-01", "GOV-02", "TEST-02"):
        r = row(s, "U1", qid)
        assert (r["score"], r["status"]) == (4.0, "answered")
        assert r["explanation"] == (f"As answered: level 4; {qid}'s record rule does not apply: the unit has no "
                                    "services in the service register")
    # A rule naming tiers the unit has no service of does not apply either.
    s = scoring.score(q, answers(full("U1", 4)), units("U1"), records=facts([svc("U1", "PAY-GW")],
                                                                          [res("PAY-GW", FRESH)]))
    assert row(s, "U1", "GOV-01")["explanation"] == (
        "As answered: level 4; GOV-01's record rule does not apply: the unit has no service of recovery tier 2")


def test_levels_below_the_rule_and_na_are_untouched(q):
    rows = full("U1", 2, TEST_01={"is_na": True, "na_reason": "no failover arrangement"})
    s = scoring.score(q, answers(rows), units("U1"), records=facts(TWO_TOP))
    assert row(s, "U1", "TEST-01")["status"] == "na"
    assert row(s, "U1", "GOV-02")["explanation"] == "As answered: level 2"


def test_evidence_and_records_both_failing(q):
    rows = full("U1", 4, TEST_01={"level": 4})  # TEST-01 without evidence
    s = scoring.score(q, answers(rows), units("U1"), records=facts([svc("U1", "PAY-GW")]))
    r = row(s, "U1", "TEST-01")
    assert (r["score"], r["status"]) == (2.0, "capped_records")
    assert r["explanation"] == (
        f"Answered level 4, capped at 2: {REQ_TEST01}, and PAY-GW has no failover/switchover or full interruption "
        "result since 2025-06-30; the evidence rule applies as well: a level of 3 or more needs evidence dated "
        "within 12 months, and no evidence was given")


def test_a_record_cap_never_raises_a_score(q):
    # GOV-01 caps at 3 without a recent restore test of a tier-2 service; the evidence rule already capped at 2.
    rows = full("U1", 5, GOV_01={"level": 5})
    s = scoring.score(q, answers(rows), units("U1"), records=facts([svc("U1", "APP", tier=2)]))
    r = row(s, "U1", "GOV-01")
    assert (r["score"], r["status"]) == (2.0, "capped")
    assert r["explanation"] == (
        "Answered level 5, capped at 2: a level of 3 or more needs evidence dated within 12 months, and no evidence "
        "was given; the records do not bear it out either (3 at most): a level of 4 or more needs the latest "
        "restore test result within 6 months to pass for every service of recovery tier 2, and APP has no restore "
        "test result since 2025-12-30")


REQ_TEST02 = ("a level of 3 or more needs a post-mortem of every incident over RTO within 12 months on every "
              "service of the unit")


def test_incident_over_rto_without_post_mortem_caps(q):
    incidents = [inc("PAY-GW", "INC-00001", date(2026, 2, 1), due=date(2026, 2, 15)),
                 inc("PAY-GW", "INC-00002", date(2026, 3, 1), done=date(2026, 3, 20)),
                 inc("PAY-GW", "INC-00003", date(2026, 6, 20), due=date(2026, 7, 10)),   # post-mortem not due yet
                 inc("PAY-GW", "INC-00004", date(2026, 4, 1), outage=60),                 # within RTO
                 inc("PAY-GW", "INC-00005", date(2025, 6, 29))]                           # before the window
    s = scoring.score(q, answers(full("U1", 4)), units("U1"), records=facts([svc("U1", "PAY-GW")], (), incidents))
    r = row(s, "U1", "TEST-02")
    assert (r["score"], r["status"]) == (2.0, "capped_records")
    assert r["explanation"] == (f"Answered level 4, capped at 2: {REQ_TEST02}, and INC-00001 (started 2026-02-01: "
                                "PAY-GW down 6 h against an RTO of 2 h) has no post-mortem")


def test_incident_over_rto_with_post_mortem_holds(q):
    incidents = [inc("PAY-GW", "INC-00001", date(2026, 2, 1), done=date(2026, 2, 10)),
                 inc("PAY-GW", "INC-00002", date(2026, 3, 1), done=date(2026, 3, 20)),
                 inc("PAY-GW", "INC-00003", date(2026, 6, 20), due=date(2026, 7, 10))]
    s = scoring.score(q, answers(full("U1", 4)), units("U1"), records=facts([svc("U1", "PAY-GW")], (), incidents))
    r = row(s, "U1", "TEST-02")
    assert (r["score"], r["status"]) == (4.0, "answered")
    assert r["explanation"] == (
        "As answered: level 4; the records bear it out: every incident over RTO since 2025-06-30 has its "
        "post-mortem (INC-00001 and INC-00002); INC-00003's post-mortem is due on 2026-07-10")


def test_a_post_mortem_done_after_the_as_of_date_does_not_count(q):
    late = [inc("PAY-GW", "INC-00001", date(2026, 2, 1), done=date(2026, 7, 2))]
    s = scoring.score(q, answers(full("U1", 4)), units("U1"), records=facts([svc("U1", "PAY-GW")], (), late))
    assert row(s, "U1", "TEST-02")["score"] == 2.0


def test_no_incident_over_rto(q):
    s = scoring.score(q, answers(full("U1", 4)), units("U1"), records=facts([svc("U1", "PAY-GW")]))
    assert row(s, "U1", "TEST-02")["explanation"] == (
        "As answered: level 4; the records bear it out: no incident went over RTO on the unit's services since "
        "2025-06-30")


def test_each_unit_is_judged_as_of_its_own_date(q):
    both = pl.concat([units("U1"), units("U2", as_of=date(2026, 2, 28))])
    records = facts([svc("U1", "PAY-GW"), svc("U2", "CARD")],
                    [res("PAY-GW", date(2026, 3, 1)), res("CARD", date(2026, 3, 1))])
    s = scoring.score(q, answers(full("U1", 3) + full("U2", 3)), both, records=records)
    assert row(s, "U1", "TEST-01")["score"] == 3.0
    assert row(s, "U2", "TEST-01")["score"] == 2.0  # the result came after U2's as-of date
    assert row(s, "U2", "TEST-01")["explanation"].endswith("since 2025-02-28")


def test_records_are_required_when_the_questionnaire_has_record_rules(q, mini_q):
    with pytest.raises(ValueError, match="record rules"):
        scoring.score(q, answers(full("U1", 3)), units("U1"))
    scoring.score(mini_q, answers(full("U1", 3)), units("U1"))  # no rules: nothing to read
