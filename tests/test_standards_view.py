"""The standards view, hand-computed on a small organisation (questionnaire tests/fixtures/standards-mini.yaml).

Questions and the clauses they cite (weights in brackets):
  GOV-01 [1]  ISO22301 5.2, DORA Art.11(1)        TEST-01 [1]  ISO22301 8.5, DORA Art.11(6)(a)
  GOV-02 [3]  DORA Art.11(1), DORA Art.5(2)(e)    TEST-02 [1]  ISO22301 8.5, DORA Art.12(2)

Scores after the rules (U4 never submits, so it is not scored and counts nowhere):
          GOV-01 GOV-02 TEST-01 TEST-02
  U1 (D1, tier 1)  4   3   5   2
  U2 (D1, tier 3)  1   2   N/A 2      (TEST-02 answered 4 without evidence: capped at 2)
  U3 (D2, tier 2)  3   4   3   N/A

A unit's score on a clause is the weighted mean of its scores on the questions citing it (N/A left out):
  ISO22301 5.2     U1 4, U2 1, U3 3                      -> 1 / 3 / 4, 2 of 3 at or above 3, below: U2
  DORA Art.11(1)   U1 (4+9)/4=3.25, U2 7/4=1.75, U3 15/4=3.75 -> 1.75 / 3.25 / 3.75, 2 of 3
  DORA Art.5(2)(e) U1 3, U2 2, U3 4                      -> 2 / 3 / 4, 2 of 3
  ISO22301 8.5     U1 (5+2)/2=3.5, U2 2, U3 3            -> 2 / 3 / 3.5, 2 of 3
  DORA Art.11(6)(a) U1 5, U3 3 (U2 N/A)                  -> 3 / 4 / 5, 2 of 2
  DORA Art.12(2)   U1 2, U2 2 (U3 N/A)                   -> 2 / 2 / 2, 0 of 2, below: U1, U2
Groups and standards take each question once:
  DORA Art. 11     GOV-01, GOV-02, TEST-01: U1 18/5=3.6, U2 7/4=1.75, U3 18/5=3.6
  DORA             all four: U1 20/6, U2 9/5=1.8, U3 18/5=3.6
  ISO22301         GOV-01, TEST-01, TEST-02: U1 11/3, U2 3/2, U3 6/2=3 (exactly 3 counts as at or above)
"""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import polars as pl
import pytest

from assessment import campaigns, standards_view, workflow
from assessment.cli import main
from assessment.errors import NotFound
from assessment.excel import export as excel_export
from assessment.model import Actor, Answer
from assessment.questionnaire import QUESTIONNAIRE_DIR, load_file, load_standards, loads
from assessment.reports import Filters
from assessment.storage import catalog as catalog_sql

from .conftest import ADMIN, FIXTURES, add_org, duckdb_only

TODAY = date(2026, 6, 30)
FRESH = date(2026, 6, 1)
SCORES = {
    "U1": {"GOV-01": 4, "GOV-02": 3, "TEST-01": 5, "TEST-02": 2},
    "U2": {"GOV-01": 1, "GOV-02": 2, "TEST-01": None, "TEST-02": 4},
    "U3": {"GOV-01": 3, "GOV-02": 4, "TEST-01": 3, "TEST-02": None},
}


def _answers(unit: str) -> list[Answer]:
    out = []
    for qid, level in SCORES[unit].items():
        if level is None:
            out.append(Answer(qid, None, is_na=True, na_reason="not applicable here"))
        elif unit == "U2" and qid == "TEST-02":
            out.append(Answer(qid, level))  # no evidence: the evidence rule caps it at 2
        else:
            out.append(Answer(qid, level, evidence="report", evidence_date=FRESH))
    return out


def _setup(db, q):
    add_org(db, [("U1", "D1", 1), ("U2", "D1", 3), ("U3", "D2", 2), ("U4", "D2", 1)])
    campaigns.create(db, ADMIN, "C1", "Cycle 1", q, date(2026, 6, 1), date(2026, 6, 30), date(2026, 7, 15),
                     status="open")
    for unit in SCORES:
        workflow.save_answers(db, ADMIN, "C1", unit, _answers(unit), today=TODAY)
        workflow.submit(db, ADMIN, "C1", unit, today=TODAY)
    workflow.save_answers(db, ADMIN, "C1", "U4", [Answer("GOV-01", 5, evidence="x", evidence_date=FRESH)],
                          today=TODAY)
    return db


@pytest.fixture
def scored(db):
    return _setup(db, load_file(FIXTURES / "standards-mini.yaml"))


def rows(df: pl.DataFrame, *key: str) -> dict:
    return {tuple(r[k] for k in key) if len(key) > 1 else r[key[0]]: r for r in df.iter_rows(named=True)}


def stats(row: dict) -> tuple:
    """The figures of a row; clause rows also name the units below (groups and standards give the count)."""
    figures = (row["units_scored"], row["lowest"], row["median"], row["highest"], row["at_or_above"], row["share"],
               row["below"])
    return (*figures, row["units_below"]) if "units_below" in row else figures


CLAUSES = {
    ("ISO22301", "5.2"): (3, 1.0, 3.0, 4.0, 2, 66.7, 1, "Unit U2"),
    ("DORA", "Art.11(1)"): (3, 1.75, 3.25, 3.75, 2, 66.7, 1, "Unit U2"),
    ("DORA", "Art.5(2)(e)"): (3, 2.0, 3.0, 4.0, 2, 66.7, 1, "Unit U2"),
    ("ISO22301", "8.5"): (3, 2.0, 3.0, 3.5, 2, 66.7, 1, "Unit U2"),
    ("DORA", "Art.11(6)(a)"): (2, 3.0, 4.0, 5.0, 2, 100.0, 0, ""),
    ("DORA", "Art.12(2)"): (2, 2.0, 2.0, 2.0, 0, 0.0, 2, "Unit U1, Unit U2"),
}


def test_one_row_per_cited_clause_with_hand_computed_scores(scored):
    v = standards_view.view(scored, ADMIN, "C1")
    assert v.compliance_level == 3 and v.questionnaire.startswith("standards-mini@1.0.0")
    got = rows(v.clauses, "standard", "clause")
    assert set(got) == set(CLAUSES)
    for key, want in CLAUSES.items():
        assert stats(got[key]) == pytest.approx(want), key
    assert got[("DORA", "Art.11(1)")]["questions"] == "GOV-01, GOV-02"
    assert got[("ISO22301", "8.5")]["questions"] == "TEST-01, TEST-02"
    assert got[("DORA", "Art.11(1)")]["topic"] == "ICT business continuity policy"
    assert got[("DORA", "Art.11(6)(a)")]["group"] == "Art. 11"
    # standards in catalogue-key order, clauses in catalogue order (Art.5 before Art.11)
    order = [(r["standard"], r["clause"]) for r in v.clauses.iter_rows(named=True)]
    assert order == [("DORA", "Art.5(2)(e)"), ("DORA", "Art.11(1)"), ("DORA", "Art.11(6)(a)"), ("DORA", "Art.12(2)"),
                     ("ISO22301", "5.2"), ("ISO22301", "8.5")]


def test_readiness_per_article_and_clause_group(scored):
    got = rows(standards_view.view(scored, ADMIN, "C1").groups, "standard", "group")
    assert set(got) == {("DORA", "Art. 5"), ("DORA", "Art. 11"), ("DORA", "Art. 12"), ("ISO22301", "clause 5"),
                        ("ISO22301", "clause 8")}
    art11 = got[("DORA", "Art. 11")]
    assert stats(art11) == pytest.approx((3, 1.75, 3.6, 3.6, 2, 66.7, 1))
    assert art11["questions"] == "GOV-01, GOV-02, TEST-01"
    assert stats(got[("DORA", "Art. 12")]) == pytest.approx((2, 2.0, 2.0, 2.0, 0, 0.0, 2))
    cat = load_standards(QUESTIONNAIRE_DIR / "standards.yaml")
    art11_in_catalogue = [c for c in cat["DORA"]["clauses"] if c.startswith("Art.11(")]
    assert (art11["catalogue_clauses"], art11["clauses_cited"]) == (len(art11_in_catalogue), 2)
    clause4 = [c for c in cat["ISO22301"]["clauses"] if c.startswith("8.")]
    assert got[("ISO22301", "clause 8")]["catalogue_clauses"] == len(clause4)


def test_readiness_and_honest_coverage_per_standard(scored):
    v = standards_view.view(scored, ADMIN, "C1")
    got = rows(v.standards, "standard")
    assert stats(got["DORA"]) == pytest.approx((3, 1.8, 20 / 6, 3.6, 2, 66.7, 1))
    assert stats(got["ISO22301"]) == pytest.approx((3, 1.5, 3.0, 11 / 3, 2, 66.7, 1))
    cat = load_standards(QUESTIONNAIRE_DIR / "standards.yaml")
    iso = got["ISO22301"]
    assert iso["catalogue_clauses"] == len(cat["ISO22301"]["clauses"])
    assert (iso["out_of_scope"], iso["clauses_cited"], iso["questions_citing"]) == (4, 2, 3)
    assert iso["in_scope_clauses"] == len(cat["ISO22301"]["clauses"]) - 4
    assert iso["cited_share"] == round(2 / (len(cat["ISO22301"]["clauses"]) - 4) * 100)
    # a standard no question cites is listed with its catalogue, and no unit scores
    assert got["COBIT"]["clauses_cited"] == 0 and got["COBIT"]["units_scored"] == 0
    assert got["COBIT"]["median"] is None
    assert sorted(v.out_of_scope.filter(pl.col("standard") == "ISO22301")["clause"]) == ["4.1", "4.2", "4.3", "6.2"]


def test_filters_by_division_and_tier(scored):
    d2 = rows(standards_view.view(scored, ADMIN, "C1", Filters(division_ids=("D2",))).clauses, "standard", "clause")
    assert stats(d2[("DORA", "Art.11(1)")]) == pytest.approx((1, 3.75, 3.75, 3.75, 1, 100.0, 0, ""))
    assert d2[("DORA", "Art.12(2)")]["units_scored"] == 0  # U3 answered TEST-02 N/A; U4 is not scored
    tier3 = rows(standards_view.view(scored, ADMIN, "C1", Filters(tiers=(3,))).clauses, "standard", "clause")
    assert stats(tier3[("ISO22301", "5.2")]) == pytest.approx((1, 1.0, 1.0, 1.0, 0, 0.0, 1, "Unit U2"))


def test_one_standard_only(scored):
    v = standards_view.view(scored, ADMIN, "C1", standard="DORA")
    assert set(v.clauses["standard"]) == set(v.groups["standard"]) == set(v.standards["standard"]) == {"DORA"}
    assert v.out_of_scope.height == 0  # DORA has no clause out of scope; ISO 22301's are not listed here


def test_a_head_sees_only_their_own_units(scored):
    head = Actor("head-u3", "department_head", units=frozenset({"U3"}))
    got = rows(standards_view.view(scored, head, "C1").clauses, "standard", "clause")
    assert stats(got[("ISO22301", "5.2")]) == pytest.approx((1, 3.0, 3.0, 3.0, 1, 100.0, 0, ""))


def test_compliance_level_comes_from_the_policy(db):
    text = (FIXTURES / "standards-mini.yaml").read_text().replace(
        "  na: {reason_required", "  compliance_level: 4\n  na: {reason_required")
    q = loads(text, base_dir=FIXTURES)
    assert q.policy.compliance_level == 4
    v = standards_view.view(_setup(db, q), ADMIN, "C1")
    got = rows(v.clauses, "standard", "clause")
    assert v.compliance_level == 4
    # 5.2: only U1 (4) is at or above 4; U3 (3) joins the units below, worst first
    assert stats(got[("ISO22301", "5.2")]) == pytest.approx((3, 1.0, 3.0, 4.0, 1, 33.3, 2, "Unit U2, Unit U3"))


def test_units_below_are_listed_worst_first_and_cut_short_with_a_count(scored, monkeypatch):
    monkeypatch.setattr(standards_view, "BELOW_LISTED", 1)
    # a comma inside a name must not change the count of the units left unnamed
    scored.transaction(lambda cur: catalog_sql.update_unit(cur, "U1", name="Unit U1, Payments"))
    got = rows(standards_view.view(scored, ADMIN, "C1").clauses, "standard", "clause")
    assert got[("DORA", "Art.12(2)")]["units_below"] == "Unit U1, Payments … and 1 more"
    assert got[("DORA", "Art.12(2)")]["below"] == 2
    assert got[("ISO22301", "5.2")]["units_below"] == "Unit U2"


def test_unknown_campaign_is_not_found(scored):
    with pytest.raises(NotFound):
        standards_view.view(scored, ADMIN, "NOPE")


def test_clause_group_of_each_id_form():
    cases = {("DORA", "Art.11(6) subpara.2"): "Art. 11", ("DORA", "RTS-2024/1774 Art.24(1)(b)(i)"):
             "RTS 2024/1774 Art. 24", ("ISO22301", "8.2.2"): "clause 8", ("ISO22301", "10"): "clause 10",
             ("ISO27001", "A.5.29"): "A.5", ("ISO27001", "9.3"): "clause 9", ("NIST80034", "ch.4"): "chapter 4",
             ("NIST80034", "Table 3-2"): "chapter 3", ("NIST80034", "App.D"): "appendices",
             ("NIST80053", "CP-2(1)"): "CP-2", ("NISTCSF", "RS.MA-04"): "RS.MA", ("NISTCSF", "ID.AM"): "ID.AM",
             ("ITIL", "v3-Testing"): "ITIL v3", ("COBIT", "DSS04.08"): "DSS04"}
    assert {k: standards_view.clause_group(*k) for k in cases} == cases


def test_csv_is_the_clause_table_with_formula_text_made_literal(scored):
    v = standards_view.view(scored, ADMIN, "C1")
    hostile = standards_view.StandardsView(v.campaign_id, v.questionnaire, v.compliance_level,
                                           v.clauses.with_columns(pl.lit("=HYPERLINK(1)").alias("units_below")),
                                           v.groups, v.standards, v.out_of_scope)
    data = standards_view.csv_bytes(hostile)
    assert data.startswith("\ufeff".encode())
    back = pl.read_csv(data[3:])
    assert back.columns == list(standards_view.CLAUSE_HEADERS.values())
    assert back.height == len(CLAUSES)
    assert set(back["Units below level (worst first)"]) == {"'=HYPERLINK(1)"}


# ---- the CLI --------------------------------------------------------------------------------------------

def test_cli_prints_the_standard_its_groups_and_clauses(scored, capsys):
    duckdb_only(scored)
    path = str(scored.path)
    scored.close()
    assert main(["--db", path, "standards", "--standard", "DORA", "--campaign", "C1"]) == 0
    out = capsys.readouterr().out
    assert "compliant = at or above level 3" in out and "not the whole standard" in out
    lines = {line.split("|")[2].strip(): line for line in out.splitlines()
             if line.startswith("| DORA") and "Art." in line.split("|")[2]}
    assert set(lines) >= {"Art. 5", "Art. 11", "Art. 12", "Art.5(2)(e)", "Art.11(1)", "Art.11(6)(a)", "Art.12(2)"}
    cells = [c.strip() for c in lines["Art.12(2)"].split("|")]
    assert "0.0" in cells and "Unit U1, Unit U2" in cells
    assert "| ISO22301" not in out
    assert "Clauses deliberately out of scope (0)" in out


def test_cli_division_filter_and_unknown_standard(scored, capsys):
    duckdb_only(scored)
    path = str(scored.path)
    scored.close()
    assert main(["--db", path, "standards", "--standard", "ISO22301", "--division", "D2"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| ISO22301 | 5.2"))
    assert [c.strip() for c in row.split("|")][5:11] == ["1", "3.0", "3.0", "3.0", "100.0", ""]
    assert "ISO22301 4.1 (" in out
    assert main(["--db", path, "standards", "--standard", "SOX"]) == 1
    assert "unknown standard 'SOX'" in capsys.readouterr().err


# ---- the auditor pack ------------------------------------------------------------------------------------

def test_auditor_pack_standards_sheet_reads_back_as_the_clause_table(scored):
    buf = io.BytesIO()
    excel_export.auditor_pack(scored, ADMIN, "C1", buf, filters=Filters(division_ids=("D1",)), today=TODAY)
    wb = openpyxl.load_workbook(io.BytesIO(buf.getvalue()))
    assert wb.sheetnames.index("Standards") == wb.sheetnames.index("Incidents over RTO") + 1  # after the records
    ws = wb["Standards"]
    header = [c.value for c in ws[1]]
    assert header == list(standards_view.CLAUSE_HEADERS.values())
    got = {(r[0], r[2]): dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert set(got) == set(CLAUSES)
    # division D1 only: U1 and U2. DORA Art.11(1): U1 3.25, U2 1.75; ISO 22301 8.5: U1 3.5, U2 2
    art11 = got[("DORA", "Art.11(1)")]
    assert (art11["Units scored"], art11["Lowest unit score"], art11["Median unit score"],
            art11["Highest unit score"], art11["Units at or above level"], art11["% of units at or above level"],
            art11["Units below level (worst first)"]) == (2, 1.75, 2.5, 3.25, 1, 50.0, "Unit U2")
    assert got[("ISO22301", "8.5")]["Median unit score"] == pytest.approx(2.75)
    assert got[("DORA", "Art.11(6)(a)")]["Units scored"] == 1  # U2 answered TEST-01 N/A
    assert isinstance(art11["Units scored"], int) and ws.freeze_panes == "D2"
    about = {r[0]: r[1] for r in wb["About"].iter_rows(values_only=True) if r[0]}
    assert about["Sheet: Standards"] == f"{len(CLAUSES)} row(s)"
    assert "at or above level 3" in about["Sheet Standards: how it is computed"]


def test_the_layout_is_reused_per_version_and_catalogue_and_rebuilt_for_another():
    import dataclasses

    mini = load_file(FIXTURES / "mini.yaml")
    core = load_file(QUESTIONNAIRE_DIR / "itscm-core.yaml")
    mini = dataclasses.replace(mini, standards=standards_view.catalogue(mini))
    core = dataclasses.replace(core, standards=standards_view.catalogue(core))
    first = standards_view._layout(mini, None)
    assert standards_view._layout(mini, None) is first  # same version and catalogue: built once
    other = standards_view._layout(core, None)
    assert other is not first and other.clauses.height > first.clauses.height
    assert set(first.clauses["questions"].str.split(", ").explode()) <= {x.id for x in mini.questions}
    # A replaced catalogue (same version) is not served the layout of the old one.
    swapped = dataclasses.replace(mini, standards=dict(mini.standards))
    assert standards_view._layout(swapped, None) is not first
