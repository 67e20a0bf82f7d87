"""Auditor pack: real workbooks written by the engine and read back with openpyxl, fastexcel and as raw XML."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime

import fastexcel
import polars as pl
import pytest

from assessment import audit, reports, workflow
from assessment.catalog import campaign_questionnaire
from assessment.clock import now
from assessment.errors import PermissionDenied
from assessment.excel import export as excel_export
from assessment.excel import format as excel_format
from assessment.excel.safety import from_literal, literal_text
from assessment.model import Actor, Answer
from assessment.storage import answers as answer_store

from .helpers.excel import ADMIN, TODAY, hidden_columns, save, workbook

# The first closes its cell in raw XML: xlsxwriter writes text shaped <r>...</r> as rich-text markup.
HOSTILE = ['<r><t>a</t></r></is></c><c r="Z9"><f>1+1</f></c><c r="Z10" t="inlineStr"><is><r><t>b</t></r>',
           '=HYPERLINK("http://evil.example","click")', "+1", "-2", "@SUM(A1:A9)", "\t=x", "\r=x",
           "=cmd|' /C calc'!A0", "'=already quoted", "\uff1d1+1"]
SHEETS = ["About", "Scores", "Answers", "Gaps", "Deadlines", "Trends", "Questionnaire", "Service register", "Recovery",
          "Untested top tier", "RTO inversions", "Exercises", "Incidents over RTO", "Standards", "Actions", "Audit log",
          "Review summary", "Review divisions", "Review recovery", "Review incidents", "_meta", "_ids"]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d")


def _event(unit: str, question: str, **values) -> dict:
    base = {"campaign_id": "C1", "unit_id": unit, "question_id": question, "level": None, "is_na": False,
            "na_reason": None, "evidence": None, "evidence_url": None, "evidence_date": None, "comment": None,
            "answered_by": "=evil.user", "answered_at": now(), "source": "test"}
    return {**base, **values}


@pytest.fixture
def hostile(org):
    """Answers whose every text field is a would-be formula (stored raw, bypassing the form's trimming)."""
    save(org, "U1", [Answer("GOV-01", 4, evidence="policy", evidence_date=date(2026, 1, 10)),
                     Answer("GOV-02", 3), Answer("TEST-01", is_na=True, na_reason="no failover"),
                     Answer("TEST-02", 1)])
    workflow.submit(org, ADMIN, "C1", "U1", today=TODAY)
    rows = []
    for i, text in enumerate(HOSTILE):
        q = ["GOV-01", "GOV-02", "TEST-01", "TEST-02"][i % 4]
        rows.append(_event("U2", q, level=2 if q != "TEST-01" else None, is_na=q == "TEST-01",
                           na_reason=text if q == "TEST-01" else None, evidence=text, evidence_url=text,
                           evidence_date=date(2026, 2, 1), comment=text))
    org.transaction(lambda cur: answer_store.append_events(cur, pl.DataFrame(rows).select(
        answer_store.EVENT_COLUMNS)))
    return org


def _pack(db, actor=ADMIN, **kw) -> bytes:
    buf = io.BytesIO()
    excel_export.auditor_pack(db, actor, "C1", buf, today=TODAY, **kw)
    return buf.getvalue()


def test_literal_text_is_reversible_and_never_a_formula():
    for text in [*HOSTILE, "plain", "", "'", "''", "'a", "a=b", "-", "=", "\uff20x"]:
        out = literal_text(text)
        assert not out.startswith(TRIGGERS)
        assert from_literal(out) == text
    assert literal_text("=1+1") == "'=1+1" and literal_text("ok") == "ok"


def test_every_sheet_is_present_and_no_cell_is_ever_a_formula(hostile):
    data = _pack(hostile)
    wb = workbook(data)
    assert wb.sheetnames == SHEETS
    assert wb["_meta"].sheet_state == "hidden" and wb["_ids"].sheet_state == "hidden"
    strings = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    strings += 1
                    assert not cell.value.startswith(TRIGGERS), (ws.title, cell.coordinate, cell.value)
    assert strings > 100
    # The raw XML too: no <f> element in any worksheet, whatever openpyxl makes of it.
    z = zipfile.ZipFile(io.BytesIO(data))
    for name in z.namelist():
        if name.startswith("xl/worksheets/"):
            assert not re.search(rb"<f[ >]", z.read(name)), name


def test_hostile_text_is_kept_literally_and_reads_back_exactly(hostile):
    data = _pack(hostile)
    answers = fastexcel.read_excel(data).load_sheet("Answers", dtypes="string").to_polars()
    u2 = answers.filter(pl.col("Unit ID") == "U2")
    seen = set(u2["Evidence"].to_list()) | set(u2["Comment"].to_list()) | set(u2["N/A reason"].drop_nulls())
    for text in HOSTILE[-4:]:  # the newest event of each question wins: the last four texts are current
        assert literal_text(text) in seen
        assert "'" + text in seen or text.startswith("'")
    assert {from_literal(v) for v in seen if v} >= set(HOSTILE[-4:])
    answered_by = set(u2["Answered by"].to_list())
    assert answered_by == {"'=evil.user"}


def test_dates_are_real_dates_and_numbers_are_numbers(hostile):
    wb = workbook(_pack(hostile))
    ws = wb["Answers"]
    h = {c.value: c.column for c in ws[1]}
    dates = [ws.cell(r, h["Evidence date"]) for r in range(2, ws.max_row + 1)]
    filled = [c for c in dates if c.value is not None]
    assert filled and all(isinstance(c.value, datetime) and c.is_date for c in filled)
    assert {c.value.date() for c in filled} >= {date(2026, 1, 10), date(2026, 2, 1)}
    at = [ws.cell(r, h["Answered at (UTC)"]) for r in range(2, ws.max_row + 1)]
    assert all(isinstance(c.value, datetime) for c in at if c.value is not None)
    levels = [ws.cell(r, h["Level"]).value for r in range(2, ws.max_row + 1)]
    assert 4 in levels and "N/A" in levels and all(v in (None, "N/A", 0, 1, 2, 3, 4, 5) for v in levels)
    scores = {ws.cell(r, h["Question ID"]).value: ws.cell(r, h["Score after rules"]).value
              for r in range(2, ws.max_row + 1) if ws.cell(r, h["Unit ID"]).value == "U1"}
    assert scores == {"GOV-01": 4, "GOV-02": 2, "TEST-01": None, "TEST-02": 1}
    d = wb["Deadlines"]
    dh = {c.value: c.column for c in d[1]}
    assert all(isinstance(d.cell(r, dh["Due on"]).value, datetime) for r in range(2, d.max_row + 1)
               if d.cell(r, dh["Due on"]).value is not None)


def test_about_names_the_audit_head_questionnaire_hash_and_versions(hostile):
    head_seq, head_hash = audit.head(hostile)
    q = campaign_questionnaire(hostile, "C1")
    wb = workbook(_pack(hostile))
    about = {r[0].value: r[1].value for r in wb["About"].iter_rows(min_row=3) if r[0].value}
    assert about["Audit log head hash (SHA-256)"] == head_hash
    assert about["Audit log head sequence"] == head_seq
    assert about["Questionnaire content hash (SHA-256)"] == q.content_hash
    assert about["Questionnaire version"] == q.version
    assert about["Application version"].endswith(excel_export.__version__)
    assert isinstance(about["Generated at (UTC)"], datetime)
    assert about["Campaign"].startswith("C1")


def test_formatting_frozen_headers_filters_widths_and_gap_colours(hostile):
    wb = workbook(_pack(hostile))
    for name in SHEETS[1:8]:
        ws = wb[name]
        assert ws.freeze_panes and ws.freeze_panes.endswith("2"), name
        assert ws.auto_filter.ref, name
        assert ws[1][0].font.b, name
    answers = wb["Answers"]
    assert answers.column_dimensions["H"].width >= 40  # the question text
    gap_col = [c.column_letter for c in answers[1] if c.value == "Gap"][0]
    rules = [r for rng in answers.conditional_formatting for r in rng.rules
             if gap_col in str(rng.sqref)]
    assert len(rules) == 3
    assert [c.value for c in answers[1] if c.column in hidden_columns(answers)] == list(excel_format.ID_COLUMNS)


def test_gaps_are_ranked_by_priority(hostile):
    gaps = fastexcel.read_excel(_pack(hostile)).load_sheet("Gaps").to_polars()
    assert gaps.height > 0
    assert gaps["Priority"].to_list() == sorted(gaps["Priority"].to_list(), reverse=True)
    assert gaps["Rank"].to_list() == list(range(1, gaps.height + 1))


def test_questionnaire_sheet_has_standard_references(hostile):
    q = fastexcel.read_excel(_pack(hostile)).load_sheet("Questionnaire").to_polars()
    refs = dict(zip(q["Question ID"], q["Standard references"]))
    assert refs["GOV-01"].startswith("ISO22301 5.2") and "DORA Art.11(1)" in refs["GOV-02"]
    assert "Level 0 - Absent" in q.columns and q.height == 4


def test_filters_and_roles(hostile):
    f = fastexcel.read_excel(_pack(hostile, filters=reports.Filters(division_ids=("D2",))))
    assert set(f.load_sheet("Answers").to_polars()["Unit ID"]) == {"U3"}
    f = fastexcel.read_excel(_pack(hostile, filters=reports.Filters(unit_ids=("U1",))))
    assert f.load_sheet("Answers").to_polars().height == 4
    leader = Actor("lea", "leadership")
    wb = workbook(_pack(hostile, leader))
    assert "Audit log" not in wb.sheetnames
    about = {r[0].value: r[1].value for r in wb["About"].iter_rows(min_row=3) if r[0].value}
    assert "omitted" in about["Sheet: Audit log"]
    auditor = Actor("aud", "auditor")
    assert "Audit log" in workbook(_pack(hostile, auditor)).sheetnames
    with pytest.raises(PermissionDenied):
        _pack(hostile, Actor("h", "department_head", frozenset({"U1"})))


def test_export_writes_nothing(hostile):
    from .helpers.excel import fingerprint

    before = fingerprint(hostile)
    _pack(hostile)
    assert fingerprint(hostile) == before


def _audit_objects(data: bytes) -> list[tuple[str, str]]:
    ws = workbook(data)["Audit log"]
    head = [c.value for c in ws[1]]
    col_type, col_id = head.index("Object type"), head.index("Object ID")
    return [(from_literal(r[col_type]), from_literal(r[col_id])) for r in ws.iter_rows(min_row=2, values_only=True)]


def test_a_unit_pack_carries_only_that_units_audit_entries(org):
    save(org, "U1", [Answer("GOV-01", 3)])
    save(org, "U2", [Answer("GOV-01", 1)])
    whole = _audit_objects(_pack(org))
    assert ("assessment", "C1/U1") in whole and ("assessment", "C1/U2") in whole
    one = _audit_objects(_pack(org, filters=reports.Filters(unit_ids=("U1",))))
    assert ("assessment", "C1/U1") in one
    assert all(obj in {("assessment", "C1/U1")} for obj in one), one      # nothing about U2 or anyone else
    about = {r[0]: r[1] for r in workbook(_pack(org, filters=reports.Filters(unit_ids=("U1",))))["About"].iter_rows(
        values_only=True)}
    assert "units in this pack only" in about["Audit log scope"]
    assert "Audit log scope" not in {r[0] for r in workbook(_pack(org))["About"].iter_rows(values_only=True)}


def test_the_pack_reports_its_progress_step_by_step(org):
    """The UI's progress bar is fed by the engine: fractions from 0 to 1, never going back, a step per sheet."""
    heard: list[tuple[float, str]] = []
    _pack(org, progress=lambda share, step: heard.append((share, step)))
    shares = [s for s, _ in heard]
    assert shares[0] == 0.0 and shares[-1] == 1.0 and shares == sorted(shares)
    steps = " ".join(step for _, step in heard)
    assert "Writing the Answers sheet" in steps and "Compressing" in steps


def test_a_one_unit_pack_reads_each_thing_once(org):
    """Within one pack build the campaign row, its questionnaire and the register's moment are read once
    (reuse.one_build), and a read asked for positionally or by keyword is the same read."""
    from assessment import reuse
    from assessment.storage import db as db_module

    statements: list[str] = []
    real = db_module.Database.cursor

    class Counting:
        def __init__(self, cur):
            self._cur = cur

        def execute(self, sql, *a, **k):
            statements.append(sql)
            return self._cur.execute(sql, *a, **k)

        def sql(self, sql, *a, **k):
            statements.append(sql)
            return self._cur.sql(sql, *a, **k)

        def __getattr__(self, name):
            return getattr(self._cur, name)

    if not isinstance(org, db_module.Database):
        pytest.skip("counts DuckDB cursors")
    save(org, "U1", [Answer("GOV-01", 3)])
    db_module.Database.cursor = lambda self: Counting(real(self))  # type: ignore[method-assign]
    try:
        _pack(org, Actor("aud", "auditor"), filters=reports.Filters(unit_ids=("U1",)))
    finally:
        db_module.Database.cursor = real  # type: ignore[method-assign]
    flat = [" ".join(s.split()) for s in statements]
    assert sum(s.startswith("SELECT * FROM campaigns WHERE campaign_id") for s in flat) == 1
    # The questionnaire: its key looked up once; its source parsed at most once per process (by content hash).
    assert sum(s.startswith("SELECT c.*, q.content_hash FROM campaigns") for s in flat) == 1
    assert sum(s.startswith("SELECT source FROM questionnaires") for s in flat) <= 1
    # The recovery view is asked for by the review figures and the record sheets, read side by side
    # (parallel.run): the second asks while the first is in flight, and waits for it.
    assert sum("r.achieved_recovery_minutes IS NOT NULL AND x.exercise_date <= ?" in s for s in flat) == 1

    calls = []

    @reuse.reused
    def read(a, b=1, *, c=2):
        calls.append((a, b, c))
        return a + b + c

    with reuse.one_build():
        assert read(1, 1) == read(1, b=1) == read(a=1) == read(1, 1, c=2) == 4
        assert read(1, 2) == 5
    assert calls == [(1, 1, 2), (1, 2, 2)]
