"""The benchmark's query floors return the product's frames: otherwise their ratios mean nothing.

Each floor (benchmarks/floors.py, plain SQL) and the product call the benchmark times (benchmarks/run.py)
read the same synthetic organisation; the frames must agree column for column and row for row, in the
product's order where the product orders. The organisation is bent so that every rule the product applies
shows: a deactivated unit, a unit moved to another division after its cycles (its plan never reviewed), a
unit left out of the open cycle, a confirmed carried answer, a question new in the cycle and one removed
from it, a returned self-assessment.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assessment import actions, recovery, reports, standards_view
from assessment.catalog import campaign_questionnaire
from benchmarks import floors, synth
from benchmarks.run import _clause_keys

from .conftest import ADMIN
from .helpers.bench import TODAY, synthetic_org

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    db = synthetic_org(tmp_path_factory.mktemp("floors") / "bench.duckdb")
    with db.read() as cur:
        ids = [r[0] for r in cur.execute("SELECT campaign_id FROM campaigns ORDER BY opens_on").fetchall()]
    latest, previous = ids[-1], ids[-2]
    with db.read() as cur:
        units = [r[0] for r in cur.execute("SELECT unit_id FROM unit_scores WHERE campaign_id = ? ORDER BY unit_id",
                                           [latest]).fetchall()]
        gone, moved, left_out, carried, shrunk = units[:5]
        other = cur.execute("SELECT min(division_id) FROM divisions WHERE division_id <> "
                            "(SELECT division_id FROM business_units WHERE unit_id = ?)", [moved]).fetchall()[0][0]
        cur.execute("UPDATE business_units SET active = false WHERE unit_id = ?", [gone])
        cur.execute("UPDATE business_units SET division_id = ?, plan_last_reviewed = NULL WHERE unit_id = ?",
                    [other, moved])
        for table in ("question_scores", "domain_scores", "unit_scores", "assessments"):
            cur.execute(f"DELETE FROM {table} WHERE campaign_id = ? AND unit_id = ?", [latest, left_out])
        # A carried answer the head confirmed, on a question whose score did not move.
        q_same = cur.execute("""SELECT c.question_id FROM question_scores c JOIN question_scores p
                                  ON p.unit_id = c.unit_id AND p.question_id = c.question_id AND p.campaign_id = ?
                                WHERE c.campaign_id = ? AND c.unit_id = ? AND c.score = p.score
                                ORDER BY c.question_id LIMIT 1""", [previous, latest, carried]).fetchall()[0][0]
        cur.execute("""INSERT INTO carried_answers SELECT campaign_id, unit_id, question_id, event_id, ?,
                         DATE '2026-01-05', 'head', TIMESTAMP '2026-10-20 09:00:00' FROM current_answers
                       WHERE campaign_id = ? AND unit_id = ? AND question_id = ?""",
                    [previous, latest, carried, q_same])
        # One question new in the cycle (unscored before), one scored before and not now.
        first, last = cur.execute("SELECT min(question_id), max(question_id) FROM question_scores "
                                  "WHERE campaign_id = ? AND unit_id = ?", [latest, shrunk]).fetchall()[0]
        cur.execute("DELETE FROM question_scores WHERE campaign_id = ? AND unit_id = ? AND question_id = ?",
                    [previous, shrunk, first])
        cur.execute("DELETE FROM question_scores WHERE campaign_id = ? AND unit_id = ? AND question_id = ?",
                    [latest, shrunk, last])
        cur.execute("UPDATE assessments SET status = 'returned' WHERE campaign_id = ? AND status = 'draft' "
                    "AND unit_id = (SELECT min(unit_id) FROM assessments WHERE campaign_id = ? AND status = 'draft')",
                    [latest, latest])
    rule = campaign_questionnaire(db, latest).policy.evidence_rule
    assert not campaign_questionnaire(db, latest).policy.recovery_testing  # the floor covers no exercise schedule
    yield db, latest, previous, rule
    db.close()


def _same(product: pl.DataFrame, floor: pl.DataFrame) -> None:
    assert product.height > 0
    assert floor.columns == product.columns
    assert_frame_equal(floor, product, check_exact=False)


def test_trends_floors_are_the_products_frames(org):
    db, *_ = org
    for by, by_division in (("organisation", False), ("division", True)):
        product = reports.trends(db, ADMIN, by=by)
        _same(product, floors.trends(db, by_division))
        assert product["campaign_id"].n_unique() == synth.CYCLES


def test_changes_floors_are_the_products_frames(org):
    db, latest, previous, _ = org
    prev, product = reports.changes(db, ADMIN, latest)
    assert prev == previous
    _same(product, floors.changes(db, latest))
    detail = reports.change_details(db, ADMIN, latest, previous, limit=500)
    _same(detail, floors.changes_detail(db, latest, previous, 500))
    every = reports.change_details(db, ADMIN, latest, previous, limit=100_000)
    _same(every, floors.changes_detail(db, latest, previous, 100_000))
    assert set(every["change"]) == {"improved", "regressed", "not re-assessed", "confirmed unchanged", "new",
                                    "removed"}
    assert product["unchanged"].sum() > 0 and product["other"].sum() >= 0


def test_deadline_floors_are_the_products_frames(org):
    db, latest, _, rule = org
    product = reports.deadlines(db, ADMIN, latest, today=TODAY)
    floor = floors.deadlines(db, latest, rule.min_level, rule.max_age_months, TODAY)
    # The product orders by days left only (ties in any order): the same order of days, the same rows.
    assert floor["days_left"].to_list() == product["days_left"].to_list()
    _same(product.sort(product.columns, nulls_last=True), floor.sort(floor.columns, nulls_last=True))
    assert set(product["kind"]) == {"plan review", "assessment due", "service review", "evidence expiry"}
    assert {"never reviewed", "overdue", "later"} <= set(product["bucket"])

    both = floors.deadlines_with_actions(db, latest, rule.min_level, rule.max_age_months, TODAY)
    assert both[0].equals(floor)
    due = actions.due_for(db, ADMIN, today=TODAY)
    _same(due, both[1])
    assert set(due["kind"]) == {"action due", "risk acceptance"}


def test_summary_floor_is_the_products_figures(org):
    db, latest, *_ = org
    product = reports.summary(db, ADMIN, latest, today=TODAY)
    floor = floors.summary(db, latest, TODAY)
    assert floor.height == 1
    row = floor.row(0, named=True)
    assert set(row) == set(product)
    for key, value in product.items():
        assert row[key] == pytest.approx(value), key
    # The bent organisation shows in the figures: the unit left out of the open cycle counts as expected
    # nowhere but is covered, and the moved unit's never-reviewed plan is overdue.
    assert product["units"] == product["expected"] + 1
    assert product["overdue_reviews"] >= 1 and 0 < product["units_scored"] < product["units"]


def test_heatmap_and_gap_floors_are_the_products_frames(org):
    db, latest, *_ = org
    division = reports.heatmap(db, ADMIN, latest, by="division")
    _same(division, floors.heatmap_division(db, latest))
    assert division["row_id"].n_unique() == 2                     # S: 20 units in two divisions
    for limit in (3, 40):
        _same(reports.heatmap(db, ADMIN, latest, by="unit", limit=limit), floors.heatmap_unit(db, latest, limit))
    assert reports.heatmap(db, ADMIN, latest, by="unit", limit=3)["row_id"].n_unique() == 3
    for limit in (5, 20, 10_000):
        _same(reports.top_gaps(db, ADMIN, latest, limit=limit), floors.top_gaps(db, latest, limit))


def test_checklist_floor_is_the_products_frame(org):
    db, latest, *_ = org
    product = reports.checklist_coverage(db, ADMIN, latest)
    _same(product, floors.checklist_coverage(db, latest))
    assert product["units"].max() > 0


def test_recovery_floor_is_the_products_frame(org):
    db, *_ = org
    at = datetime.combine(TODAY, datetime.max.time())
    with db.read() as cur:
        tested, no_rto = (r[0] for r in cur.execute(
            "SELECT DISTINCT r.service_id FROM exercise_results r JOIN services s ON s.service_id = r.service_id "
            "JOIN business_units u ON u.unit_id = s.unit_id WHERE u.active ORDER BY r.service_id LIMIT 2").fetchall())
        # One service whose results measured no recovery time (never tested), one without an RTO: every status.
        kept = cur.execute("SELECT exercise_id, achieved_recovery_minutes FROM exercise_results WHERE service_id = ?",
                           [tested]).fetchall()
        rto = cur.execute("SELECT revision, rto_minutes FROM service_versions WHERE service_id = ?",
                          [no_rto]).fetchall()
        cur.execute("UPDATE exercise_results SET achieved_recovery_minutes = NULL WHERE service_id = ?", [tested])
        cur.execute("UPDATE service_versions SET rto_minutes = NULL WHERE service_id = ?", [no_rto])
    try:
        product = recovery.demonstrated(db, ADMIN, at=at)
        _same(product, floors.recovery(db, at))
        assert set(product["status"]) == {"slower than RTO", "never tested", "no RTO", "within RTO"}
        assert product["proof_age_days"].drop_nulls().min() >= 0
    finally:
        with db.read() as cur:
            for exercise_id, minutes in kept:
                cur.execute("UPDATE exercise_results SET achieved_recovery_minutes = ? WHERE service_id = ? "
                            "AND exercise_id = ?", [minutes, tested, exercise_id])
            for revision, minutes in rto:
                cur.execute("UPDATE service_versions SET rto_minutes = ? WHERE service_id = ? AND revision = ?",
                            [minutes, no_rto, revision])


def test_standards_floor_is_the_products_figures(org, monkeypatch):
    db, latest, *_ = org
    # The bench lists 25 units below; 3 here, so clauses with more units below show the "… and N more" form.
    monkeypatch.setattr(standards_view, "BELOW_LISTED", 3)
    view = standards_view.view(db, ADMIN, latest)
    stats = ["units_scored", "lowest", "median", "highest", "at_or_above", "share", "below"]
    product = pl.concat([
        view.clauses.select(pl.format("c|{}|{}", "standard", "clause").alias("key_id"), *stats, "units_below"),
        view.groups.select(pl.format("g|{}|{}", "standard", "group").alias("key_id"), *stats,
                           pl.lit("").alias("units_below")),
        view.standards.select(pl.format("s|{}", "standard").alias("key_id"), *stats,
                              pl.lit("").alias("units_below")),
    ]).filter(pl.col("units_scored") > 0).sort("key_id")
    q = campaign_questionnaire(db, latest)
    floor = floors.standards(db, latest, _clause_keys(db, latest), q.policy.compliance_level, 3)
    counts = {"units_scored": pl.Int64, "at_or_above": pl.Int64, "below": pl.Int64}
    _same(product.cast(counts), floor.cast(counts))
    assert product["units_below"].str.contains("… and").any()
    assert product["key_id"].str.starts_with("g|").any() and product["key_id"].str.starts_with("s|").any()
