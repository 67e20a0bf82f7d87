"""Rules the pages show, now engine functions tested without a page: the next-cycle proposal, urgency
buckets and their aggregation, the deadline horizon, and the progress report under filters."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from assessment import campaigns, reports, workflow
from assessment.model import Answer
from ui import figures

from .conftest import ADMIN

TODAY = date(2026, 6, 30)


def _camps(*rows: tuple[str, date]) -> pl.DataFrame:
    return pl.DataFrame({"campaign_id": [r[0] for r in rows], "opens_on": [r[1] for r in rows]},
                        schema={"campaign_id": pl.String, "opens_on": pl.Date})


# ---- next cycle ---------------------------------------------------------------------------------------------

def test_the_next_cycle_opens_half_a_year_after_the_latest_and_is_named_for_its_half():
    p = campaigns.propose_next(_camps(("2025-H2", date(2025, 11, 2)), ("2026-H1", date(2026, 5, 1))), TODAY)
    # 2026-05-01 + 182 days = 2026-10-30 (later than today): the second half of 2026.
    assert p == campaigns.Proposal("2026-H2", "ITSCM self-assessment 2026 H2", date(2026, 10, 30),
                                   date(2026, 12, 7), date(2026, 12, 19))


def test_a_late_next_cycle_opens_today_and_a_taken_id_gets_a_suffix():
    p = campaigns.propose_next(_camps(("2026-H1", date(2025, 6, 1)), ("2026-H1-2", date(2025, 1, 1))), TODAY)
    assert (p.campaign_id, p.opens_on, p.due_on, p.closes_on) == (
        "2026-H1-3", TODAY, date(2026, 8, 7), date(2026, 8, 19))


def test_the_first_cycle_opens_today():
    p = campaigns.propose_next(_camps(), date(2027, 1, 5))
    assert (p.campaign_id, p.name, p.opens_on) == ("2027-H1", "ITSCM self-assessment 2027 H1", date(2027, 1, 5))


# ---- urgency ------------------------------------------------------------------------------------------------

DAYS = [None, -1, 0, 30, 31, 60, 61, 90, 91]


def _deadlines() -> pl.DataFrame:
    return pl.DataFrame({"unit": ["A", "A", "B", "B", "C", "C", "D", "D", "E"], "division": ["X"] * 4 + ["Y"] * 5,
                         "days_left": DAYS}, schema_overrides={"days_left": pl.Int64}).with_columns(
        reports.bucket_expr())


def test_buckets_by_days_left():
    assert _deadlines()["bucket"].to_list() == [
        "never reviewed", "overdue", "due in 30 days", "due in 30 days", "due in 60 days", "due in 60 days",
        "due in 90 days", "due in 90 days", "later"]


def test_every_bucket_has_a_colour_in_the_figures():
    assert tuple(figures.BUCKETS) == reports.BUCKETS


def test_bucket_counts_list_every_bucket():
    assert reports.bucket_counts(_deadlines()) == {"never reviewed": 1, "overdue": 1, "due in 30 days": 2,
                                                   "due in 60 days": 2, "due in 90 days": 2, "later": 1}
    assert set(reports.bucket_counts(_deadlines().clear()).values()) == {0}


def test_buckets_by_division():
    by = reports.buckets_by(_deadlines(), "division").sort("division", "bucket")
    assert by.filter(pl.col("division") == "X").select("bucket", "count").rows() == [
        ("due in 30 days", 2), ("never reviewed", 1), ("overdue", 1)]


def test_most_urgent_units_first_overdue_then_soonest():
    top = reports.most_urgent_units(_deadlines(), limit=3)
    assert top["unit"].to_list() == ["A", "B", "C"]
    a = top.row(0, named=True)
    assert (a["overdue"], a["30 days"], a["total"], a["most urgent"]) == (2, 0, 2, -1)
    b = top.row(1, named=True)
    assert (b["overdue"], b["30 days"], b["60 days"], b["most urgent"]) == (0, 2, 0, 0)


def test_the_deadline_horizon_keeps_undated_and_due_within(org):
    everything = reports.deadlines(org, ADMIN, "C1", today=TODAY)
    within = reports.deadlines(org, ADMIN, "C1", today=TODAY, horizon_days=30)
    assert within.height == everything.filter(pl.col("days_left").is_null() | (pl.col("days_left") <= 30)).height
    assert within["days_left"].drop_nulls().max() <= 30


# ---- progress under filters ---------------------------------------------------------------------------------

def test_assessment_progress_under_division_and_tier_filters(org):
    full = [Answer("GOV-01", 2), Answer("GOV-02", 2), Answer("TEST-01", 1), Answer("TEST-02", 1)]
    workflow.save_answers(org, ADMIN, "C1", "U1", full, today=TODAY)
    workflow.submit(org, ADMIN, "C1", "U1", today=TODAY)
    cols = ["division_id", "expected", "submitted", "awaiting_review", "draft"]
    by_div = reports.assessment_progress(org, ADMIN, "C1", reports.Filters(division_ids=("D1",)))
    assert by_div.select(cols).rows() == [("D1", 2, 1, 1, 1)]
    by_tier = reports.assessment_progress(org, ADMIN, "C1", reports.Filters(tiers=(1,)))
    assert by_tier.select(cols).rows() == [("D1", 1, 1, 1, 0)]


@pytest.mark.parametrize("tiers", [(3,), (2, 3)])
def test_assessment_progress_counts_only_the_chosen_tiers(org, tiers):
    got = reports.assessment_progress(org, ADMIN, "C1", reports.Filters(tiers=tiers))
    assert got["expected"].sum() == len(tiers) and got["submitted"].sum() == 0
