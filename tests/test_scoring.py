"""Scoring against values computed by hand from the mini questionnaire (weights, N/A, caps, tiers, roll-up)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from assessment import scoring
from assessment.errors import InvalidState
from assessment.questionnaire import loads

AS_OF = date(2026, 6, 30)


def answers(rows):
    return pl.DataFrame(rows, schema=scoring.ANSWER_SCHEMA, orient="row")


def a(unit, q, level=None, na=False, reason=None, ev=None, ev_date=None):
    return (unit, q, level, na, reason, ev, None, ev_date)


UNITS = pl.DataFrame({"unit_id": ["U1", "U2", "U3"], "division_id": ["D1", "D1", "D2"], "tier": [1, 3, 2],
                      "as_of": [AS_OF] * 3})
ANSWERS = answers([
    # U1 (tier 1, target 4): GOV-01 4 with fresh evidence, GOV-02 3 without evidence (capped to 2),
    # TEST-01 N/A, TEST-02 level 1.
    a("U1", "GOV-01", 4, ev="policy v3", ev_date=date(2026, 1, 1)),
    a("U1", "GOV-02", 3),
    a("U1", "TEST-01", na=True, reason="no failover in scope"),
    a("U1", "TEST-02", 1),
    # U2 (tier 3, target 2): GOV-01 5 with evidence older than 12 months (capped), GOV-02 1,
    # the whole TEST domain N/A.
    a("U2", "GOV-01", 5, ev="old policy", ev_date=date(2025, 5, 1)),
    a("U2", "GOV-02", 1),
    a("U2", "TEST-01", na=True, reason="n/a"),
    a("U2", "TEST-02", na=True, reason="n/a"),
    # U3 (tier 2, target 3): everything at 0.
    a("U3", "GOV-01", 0), a("U3", "GOV-02", 0), a("U3", "TEST-01", 0), a("U3", "TEST-02", 0),
])


@pytest.fixture
def scores(mini_q):
    return scoring.score(mini_q, ANSWERS, UNITS)


def q_row(s, unit, qid):
    return s.questions.filter((pl.col("unit_id") == unit) & (pl.col("question_id") == qid)).row(0, named=True)


def d_row(s, unit, did):
    return s.domains.filter((pl.col("unit_id") == unit) & (pl.col("domain_id") == did)).row(0, named=True)


def u_row(s, unit):
    return s.units.filter(pl.col("unit_id") == unit).row(0, named=True)


def test_question_scores_follow_level_evidence_rule_and_na(scores):
    assert q_row(scores, "U1", "GOV-01")["score"] == 4.0
    assert q_row(scores, "U1", "GOV-01")["status"] == "answered"
    capped = q_row(scores, "U1", "GOV-02")
    assert (capped["level"], capped["score"], capped["status"]) == (3, 2.0, "capped")
    assert "no evidence was given" in capped["explanation"]
    na = q_row(scores, "U1", "TEST-01")
    assert na["score"] is None and na["status"] == "na"
    assert "no failover in scope" in na["explanation"]
    old = q_row(scores, "U2", "GOV-01")
    assert (old["score"], old["status"]) == (2.0, "capped")
    assert "2025-05-01" in old["explanation"]


def test_question_gap_and_priority(scores):
    # gap = target - score; priority = gap x question weight x tier factor
    gov2 = q_row(scores, "U1", "GOV-02")
    assert gov2["gap"] == 2.0 and gov2["priority"] == 2.0 * 3.0 * 3.0
    test2 = q_row(scores, "U1", "TEST-02")
    assert test2["gap"] == 3.0 and test2["priority"] == 3.0 * 1.0 * 3.0
    assert q_row(scores, "U1", "GOV-01")["priority"] == 0.0


def test_domain_weighted_mean_excludes_na(scores):
    assert d_row(scores, "U1", "GOV")["score"] == pytest.approx((4 * 1 + 2 * 3) / 4)  # 2.5
    assert d_row(scores, "U1", "TEST")["score"] == pytest.approx(1.0)  # TEST-01 N/A excluded
    assert d_row(scores, "U1", "GOV")["priority"] == pytest.approx(1.5 * 2.0 * 3.0)
    assert d_row(scores, "U1", "GOV")["capped"] == 1


def test_all_na_domain_has_no_score_and_is_left_out_of_the_unit(scores):
    assert d_row(scores, "U2", "TEST")["score"] is None
    assert d_row(scores, "U2", "GOV")["score"] == pytest.approx((2 * 1 + 1 * 3) / 4)  # 1.25
    assert u_row(scores, "U2")["score"] == pytest.approx(1.25)


def test_unit_score_target_gap_weakest_and_band(scores):
    u1 = u_row(scores, "U1")
    assert u1["score"] == pytest.approx((2.5 * 2 + 1.0 * 1) / 3)  # 2.0
    assert (u1["target"], u1["gap"]) == (4.0, pytest.approx(2.0))
    assert (u1["weakest_domain"], u1["weakest_score"]) == ("TEST", 1.0)
    assert u1["band"] == "Weak"
    assert (u1["answered"], u1["na"], u1["capped"]) == (3, 1, 1)
    assert u_row(scores, "U3")["score"] == 0.0 and u_row(scores, "U3")["band"] == "Critical"
    assert u_row(scores, "U3")["target"] == 3.0


def test_evidence_on_the_cutoff_date_still_counts(mini_q):
    s = scoring.score(mini_q, answers([a("U1", "GOV-01", 4, ev="x", ev_date=date(2025, 6, 30))]), UNITS[:1])
    assert q_row(s, "U1", "GOV-01")["score"] == 4.0
    s = scoring.score(mini_q, answers([a("U1", "GOV-01", 4, ev="x", ev_date=date(2025, 6, 29))]), UNITS[:1])
    assert q_row(s, "U1", "GOV-01")["score"] == 2.0


def test_unanswered_questions_are_reported_missing(mini_q):
    s = scoring.score(mini_q, answers([a("U1", "GOV-01", 2)]), UNITS[:1])
    assert q_row(s, "U1", "GOV-02")["status"] == "missing"
    assert u_row(s, "U1")["score"] == 2.0 and u_row(s, "U1")["weakest_domain"] == "GOV"


def test_rollup_weights_follow_the_policy(mini_q):
    """Scoring sets each unit's roll-up weight (used by every report, see tests/test_rollup.py)."""
    s = scoring.score(mini_q, ANSWERS, UNITS)
    assert dict(zip(s.units["unit_id"], s.units["rollup_weight"])) == {"U1": 1.0, "U2": 1.0, "U3": 1.0}
    weighted = loads(mini_q.source.replace("unit_to_division: mean", "unit_to_division: tier_weighted_mean")
                     .replace("unit_to_organisation: mean", "unit_to_organisation: tier_weighted_mean"),
                     check_references=False)
    s = scoring.score(weighted, ANSWERS, UNITS)
    # tier factors: U1 tier 1 -> 3, U2 tier 3 -> 1, U3 tier 2 -> 2
    assert dict(zip(s.units["unit_id"], s.units["rollup_weight"])) == {"U1": 3.0, "U2": 1.0, "U3": 2.0}


def test_unknown_tier_is_refused(mini_q):
    bad = UNITS.with_columns(pl.lit(7).alias("tier"))
    with pytest.raises(InvalidState, match="tier"):
        scoring.score(mini_q, ANSWERS, bad)
