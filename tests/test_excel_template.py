"""Offline template: structure, protection, dropdowns, hidden ids, prefilled answers and the issue record."""

from __future__ import annotations

import io
import json
from datetime import date, datetime

import pytest

from assessment.errors import NotFound, PermissionDenied
from assessment.excel import template as excel_template
from assessment.model import Actor, Answer
from assessment.storage import audit as audit_store

from .helpers.excel import ADMIN, TODAY, hidden_columns, save, workbook


def make(db, unit="U1", actor=ADMIN):
    buf = io.BytesIO()
    result = excel_template.unit_template(db, actor, "C1", unit, buf, today=TODAY)
    return buf.getvalue(), result


@pytest.fixture
def prefilled(org):
    save(org, "U1", [Answer("GOV-01", 3, evidence="=policy", evidence_date=date(2026, 2, 1), comment="@ok"),
                     Answer("TEST-01", is_na=True, na_reason="no failover")])
    return org


def test_sheets_protection_and_unlocked_answer_cells(prefilled):
    data, _ = make(prefilled)
    wb = workbook(data)
    assert wb.sheetnames == ["Instructions", "Answers", "Lists", "_meta", "_ids"]
    assert [wb[s].sheet_state for s in ("Lists", "_meta", "_ids")] == ["hidden"] * 3
    assert wb.security.lockStructure
    ws = wb["Answers"]
    assert ws.protection.sheet and ws.protection.insertRows and ws.protection.deleteRows
    h = {c.value: c.column for c in ws[1]}
    inputs = ["Level", "N/A reason", "Evidence", "Evidence URL", "Evidence date", "Comment"]
    for r in range(2, 6):
        for name, col in h.items():
            assert ws.cell(r, col).protection.locked == (name not in inputs), (r, name)
    assert ws.freeze_panes == "D2"


def test_hidden_ids_in_columns_and_in_a_hidden_sheet(prefilled):
    data, result = make(prefilled)
    wb = workbook(data)
    ws = wb["Answers"]
    h = {c.value: c.column for c in ws[1]}
    ids = ["id:campaign", "id:unit", "id:question", "id:base_event", "id:format"]
    assert {h[i] for i in ids} == hidden_columns(ws)
    rows = [[ws.cell(r, h[i]).value for i in ids] for r in range(2, 6)]
    assert rows[0][:3] == ["C1", "U1", "GOV-01"] and rows[0][3].isdigit() and rows[1][3] is None
    listed = [list(r) for r in wb["_ids"].iter_rows(min_row=2, values_only=True)]
    assert listed == [r[:4] for r in rows]
    meta = {r[0]: r[1] for r in wb["_meta"].iter_rows(values_only=True)}
    assert meta["kind"] == "unit-template" and meta["template_id"] == result.template_id
    assert meta["digest"] == result.digest and meta["unit_id"] == "U1"


def test_level_dropdowns_from_named_ranges_and_a_date_rule(prefilled):
    wb = workbook(make(prefilled)[0])
    assert wb.defined_names["LevelChoices"].attr_text == "Lists!$A$1:$A$7"
    assert [c.value for c in wb["Lists"]["A"]] == [0, 1, 2, 3, 4, 5, "N/A"]
    rules = {(d.type, d.formula1): str(d.sqref) for d in wb["Answers"].data_validations.dataValidation}
    assert rules[("list", "LevelChoices")] == "E4 E5"           # TEST-01/02 allow N/A
    assert rules[("list", "LevelChoicesNoNA")] == "E2 E3"       # GOV-01/02 do not
    assert rules[("date", "DATE(2000,1,1)")] == "I2:I5"


def test_descriptors_beside_each_question_and_prefilled_answers(prefilled):
    ws = workbook(make(prefilled)[0])["Answers"]
    h = {c.value: c.column for c in ws[1]}
    assert ws.cell(2, h["Level 0 - Absent"]).value == "No policy"
    assert ws.cell(2, h["Level 5 - Optimising"]).value == "Policy improved"
    assert ws.cell(2, h["Level"]).value == 3 and ws.cell(4, h["Level"]).value == "N/A"
    assert ws.cell(2, h["Evidence"]).value == "'=policy" and ws.cell(2, h["Comment"]).value == "'@ok"
    assert ws.cell(2, h["Evidence date"]).value == datetime(2026, 2, 1)
    assert ws.cell(4, h["N/A reason"]).value == "no failover" and ws.cell(3, h["Level"]).value is None
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f"


def test_issue_is_recorded_and_access_is_checked(prefilled):
    _, result = make(prefilled)
    with prefilled.read() as cur:
        log = audit_store.query(cur, action="excel.template")
    assert log.height == 1 and log["object_id"][0] == result.template_id
    assert json.loads(log["after_json"][0])["digest"] == result.digest
    with pytest.raises(PermissionDenied):
        make(prefilled, "U2", Actor("h", "department_head", frozenset({"U1"})))
    with pytest.raises(PermissionDenied):
        make(prefilled, "U1", Actor("a", "auditor", can_import=True))
    make(prefilled, "U1", Actor("h", "department_head", frozenset({"U1"})))
    with pytest.raises(NotFound):
        make(prefilled, "U9")
