"""The demo organisation is deterministic and shows what it was generated to show."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from assessment import demo, reports
from assessment.cli import main
from assessment.questionnaire import load_default

from .conftest import ADMIN

TODAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def q():
    return load_default()


@pytest.fixture
def loaded(db, q):
    demo.load(db, ADMIN, q, TODAY)
    return db


def test_generator_is_deterministic(q):
    a, b = demo.generate(q, TODAY), demo.generate(q, TODAY)
    assert a.answers.equals(b.answers) and a.states.equals(b.states) and a.units.equals(b.units)
    assert not demo.generate(q, TODAY, seed=8).answers.equals(a.answers)


def test_shape_of_the_organisation(q):
    d = demo.generate(q, TODAY)
    assert 12 <= d.units.height <= 20
    assert set(d.units["tier"]) == {1, 2, 3}
    assert d.divisions.height >= 3
    closed = [c for c in d.campaigns if c["status"] == "closed"]
    assert len(closed) >= 4 and d.campaigns[-1]["status"] == "open"
    scored = d.answers.filter(pl.col("level") >= 3)
    assert scored.filter(pl.col("evidence").is_null()).height > 0  # answers without evidence


def _trend(db, unit_id):
    t = reports.trends(db, ADMIN, reports.Filters(unit_ids=(unit_id,)), by="unit")
    return t.sort("opens_on")["score"].to_list()


def test_trends_follow_the_profiles(loaded):
    improving, regressing = _trend(loaded, "RET-PAY"), _trend(loaded, "CMK-TRD")
    assert improving[-1] > improving[0] + 0.5
    assert regressing[-1] < regressing[0] - 0.5


def test_units_that_skipped_the_last_closed_cycle_show_as_not_reassessed(loaded):
    prev, changes = reports.changes(loaded, ADMIN, "2026-H1")
    assert prev == "2025-H2"
    skipped = changes.filter(pl.col("not_reassessed") > 0)["unit_id"].to_list()
    assert sorted(skipped) == sorted(demo.SKIPPED_LAST_CLOSED)
    assert changes.filter(pl.col("improved") > 0).height > 0 and changes.filter(pl.col("regressed") > 0).height > 0


def test_overdue_plan_reviews_match_the_generator(loaded):
    dl = reports.deadlines(loaded, ADMIN, None, today=TODAY).filter(pl.col("kind") == "plan review")
    overdue = set(dl.filter(pl.col("bucket").is_in(["overdue", "never reviewed"]))["unit_id"])
    intended = {u for u, age in demo.REVIEW_AGE_MONTHS.items() if age is None or age > 12}
    assert overdue == intended
    assert reports.summary(loaded, ADMIN, "2026-H1", today=TODAY)["overdue_reviews"] == len(intended)


def test_cli_status_shows_scores_gaps_and_overdue_reviews(tmp_path, capsys):
    path = str(tmp_path / "demo.duckdb")
    assert main(["--db", path, "init", "--demo", "--today", TODAY.isoformat()]) == 0
    assert main(["--db", path, "status", "--campaign", "2026-H1", "--today", TODAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "5 plan review(s) overdue" in out
    assert "14/16 assessments submitted" in out
    row = next(line for line in out.splitlines() if "| RET-MORT" in line)
    assert "overdue" in row and "approved" in row
    assert main(["--db", path, "deadlines", "--within", "30", "--today", TODAY.isoformat()]) == 0
    assert "never reviewed" in capsys.readouterr().out
