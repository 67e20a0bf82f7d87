"""The roll-up of unit scores, hand-computed, under both policies: every report shows the same numbers.

One division D1 holds a tier-1 unit answering every question at level 4 and a tier-3 unit answering level 1;
division D2 holds a tier-2 unit at level 3. Tier factors are 3, 2, 1; targets 4, 3, 2. All evidence is fresh,
so nothing is capped and every domain score equals the unit's level.

                       mean                      tier_weighted_mean
  D1 score       (4 + 1) / 2 = 2.5          (4*3 + 1*1) / 4 = 3.25
  D1 target      (4 + 2) / 2 = 3.0          (4*3 + 2*1) / 4 = 3.5
  organisation   (4 + 1 + 3) / 3 = 8/3      (12 + 1 + 6) / 6 = 19/6
  org target     (4 + 2 + 3) / 3 = 3.0      (12 + 2 + 6) / 6 = 10/3
"""

from __future__ import annotations

import io
from datetime import date

import fastexcel
import pytest

from assessment import campaigns, reports, workflow
from assessment.excel import export as excel_export
from assessment.model import Answer
from assessment.questionnaire import loads

from .conftest import ADMIN, FIXTURES, add_org

TODAY = date(2026, 6, 30)
EXPECTED = {
    "mean": {"D1": 2.5, "D1_target": 3.0, "D2": 3.0, "org": 8 / 3, "org_target": 3.0},
    "tier_weighted_mean": {"D1": 3.25, "D1_target": 3.5, "D2": 3.0, "org": 19 / 6, "org_target": 10 / 3},
}


def _questionnaire(policy: str):
    text = (FIXTURES / "mini.yaml").read_text()
    text = text.replace("unit_to_division: mean", f"unit_to_division: {policy}")
    text = text.replace("unit_to_organisation: mean", f"unit_to_organisation: {policy}")
    if policy != "mean":  # a different policy is a different version
        text = text.replace('version: "1.0.0"', 'version: "2.0.0"')
    return loads(text, base_dir=FIXTURES)


def _answers(level: int) -> list[Answer]:
    return [Answer(qid, level, evidence="report", evidence_date=date(2026, 6, 1))
            for qid in ("GOV-01", "GOV-02", "TEST-01", "TEST-02")]


@pytest.fixture(params=["mean", "tier_weighted_mean"])
def scored(request, db):
    q = _questionnaire(request.param)
    assert q.policy.rollup.unit_to_organisation == request.param
    add_org(db, [("U1", "D1", 1), ("U2", "D1", 3), ("U3", "D2", 2)])
    campaigns.create(db, ADMIN, "C1", "Cycle 1", q, date(2026, 6, 1), date(2026, 6, 30), date(2026, 7, 15),
                     status="open")
    for unit, level in (("U1", 4), ("U2", 1), ("U3", 3)):
        workflow.save_answers(db, ADMIN, "C1", unit, _answers(level), today=TODAY)
        workflow.submit(db, ADMIN, "C1", unit, today=TODAY)
    return db, EXPECTED[request.param]


def test_summary(scored):
    db, want = scored
    s = reports.summary(db, ADMIN, "C1", today=TODAY)
    assert s["score"] == pytest.approx(want["org"])
    assert s["target"] == pytest.approx(want["org_target"])
    assert s["gap"] == pytest.approx(want["org_target"] - want["org"])


def test_division_table(scored):
    db, want = scored
    rows = {r["division_id"]: r for r in reports.divisions(db, ADMIN, "C1").iter_rows(named=True)}
    assert rows["D1"]["score"] == pytest.approx(want["D1"])
    assert rows["D1"]["target"] == pytest.approx(want["D1_target"])
    assert rows["D2"]["score"] == pytest.approx(want["D2"])


def test_heatmap_cells_weight_units_like_the_division_score(scored):
    db, want = scored
    cells = reports.heatmap(db, ADMIN, "C1", by="division")
    d1 = cells.filter(cells["row_id"] == "D1")
    assert sorted(d1["domain_id"].to_list()) == ["GOV", "TEST"]
    assert d1["score"].to_list() == pytest.approx([want["D1"]] * 2)
    assert d1["target"].to_list() == pytest.approx([want["D1_target"]] * 2)
    assert d1["gap"].to_list() == pytest.approx([want["D1_target"] - want["D1"]] * 2)


def test_trends(scored):
    db, want = scored
    org = reports.trends(db, ADMIN).row(0, named=True)
    assert org["score"] == pytest.approx(want["org"]) and org["target"] == pytest.approx(want["org_target"])
    div = {r["series"]: r["score"] for r in reports.trends(db, ADMIN, by="division").iter_rows(named=True)}
    assert div["Division D1"] == pytest.approx(want["D1"])


def test_excel_trend_rows(scored):
    db, want = scored
    buf = io.BytesIO()
    excel_export.auditor_pack(db, ADMIN, "C1", buf, today=TODAY)
    sheet = fastexcel.read_excel(buf.getvalue()).load_sheet("Trends", header_row=0).to_polars()
    got = {(r["Level"], r["Series"]): r["Score"] for r in sheet.iter_rows(named=True)}
    assert got[("Organisation", "Organisation")] == pytest.approx(want["org"], abs=1e-9)
    assert got[("Division", "Division D1")] == pytest.approx(want["D1"], abs=1e-9)


def test_checklist_items_roll_units_up_the_same_way(scored):
    db, want = scored
    items = {r["checklist_id"]: r["score"] for r in reports.checklist_coverage(db, ADMIN, "C1").iter_rows(named=True)}
    assert items["CL-01"] == pytest.approx(want["org"])
    assert items["PM"] == pytest.approx(want["org"])


def test_progress_under_a_division_filter(scored):
    """Regression: the filter's parameters once came after the scored-state parameters in the SQL."""
    db, _ = scored
    rows = reports.assessment_progress(db, ADMIN, "C1", reports.Filters(division_ids=("D1",)))
    assert rows.select("division_id", "expected", "submitted").to_dicts() == [
        {"division_id": "D1", "expected": 2, "submitted": 2}]


def test_division_heatmap_keeps_the_divisions_furthest_below_target(scored):
    """D1's domains sit below target (gap 0.5 under the mean policy, 0.25 tier-weighted); D2's meet it (gap 0):
    with room for one division, the heatmap keeps D1 and every one of its domains."""
    db, want = scored
    every = reports.heatmap(db, ADMIN, "C1", by="division")
    assert set(every["row_id"]) == {"D1", "D2"}
    worst = reports.heatmap(db, ADMIN, "C1", by="division", limit=1)
    assert set(worst["row_id"]) == {"D1"}
    assert worst["gap"].to_list() == pytest.approx([want["D1_target"] - want["D1"]] * worst.height)
    assert worst.height == every.filter(every["row_id"] == "D1").height == 2  # GOV and TEST


def test_progress_with_a_limit_puts_the_divisions_most_behind_first(db, mini_q):
    """D1 (alphabetically first) has every assessment in; D2 has one of two still in draft: with room for one
    division, the chart shows D2; without a limit, every division by name."""
    add_org(db, [("U1", "D1", 1), ("U2", "D1", 2), ("U3", "D2", 2), ("U4", "D2", 3)])
    campaigns.create(db, ADMIN, "C1", "Cycle 1", mini_q, date(2026, 6, 1), date(2026, 6, 30), date(2026, 7, 15),
                     status="open")
    for unit in ("U1", "U2", "U3"):
        workflow.save_answers(db, ADMIN, "C1", unit, _answers(3), today=TODAY)
        workflow.submit(db, ADMIN, "C1", unit, today=TODAY)
    assert reports.assessment_progress(db, ADMIN, "C1")["division_id"].to_list() == ["D1", "D2"]
    behind = reports.assessment_progress(db, ADMIN, "C1", limit=1)
    assert behind.select("division_id", "expected", "submitted", "draft").to_dicts() == [
        {"division_id": "D2", "expected": 2, "submitted": 1, "draft": 1}]
