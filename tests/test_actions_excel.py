"""The Actions sheet of the auditor pack and the action register, read back; the bulk status update through
the validated import: safety checks, every problem at once, dry-run diff, conflicts, all-or-nothing."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest

from assessment import access, actions
from assessment.excel import actions_sheet, export
from assessment.model import Actor

from .conftest import ADMIN
from .helpers.excel import edit, rezip, workbook
from .test_actions import HEAD, MANAGER, TODAY, _audit_head, _new, _rows, _users

MEI = Actor("mei.lin", access.HEAD, frozenset({"U3"}))


@pytest.fixture
def register(org):
    """ACT-00001 and ACT-00002 (U1, amira.haddad), ACT-00003 (U3, mei.lin); ACT-00002 in progress."""
    people = org
    _users(people)
    actions.create(people, MANAGER, _new(title="=HYPERLINK(\"http://evil\")", due_on=date(2026, 7, 10)), today=TODAY)
    aid = actions.create(people, MANAGER, _new(title="Second", due_on=date(2026, 7, 20)), today=TODAY)
    actions.progress(people, HEAD, aid, "in_progress", base_revision=1, today=TODAY)
    actions.create(people, MANAGER, _new(unit="U3", owner="mei.lin", title="Third", due_on=date(2026, 8, 1)),
                   today=TODAY)
    return people


def _export(db, actor=ADMIN) -> bytes:
    out = io.BytesIO()
    actions_sheet.write_register(db, actor, out, today=TODAY)
    return out.getvalue()


def _row(ws, aid: str) -> int:
    h = {c.value: c.column for c in ws[1]}
    return next(r for r in range(2, ws.max_row + 1) if ws.cell(r, h["Action ID"]).value == aid)


def _set(data: bytes, changes: list[tuple[str, str, object]]) -> bytes:
    ws = workbook(data)["Actions"]
    return edit(data, [(_row(ws, aid), header, value) for aid, header, value in changes], sheet="Actions")


def test_the_register_reads_back_with_literal_text_and_hidden_revisions(register):
    ws = workbook(_export(register))["Actions"]
    h = {c.value: c.column for c in ws[1]}
    got = {ws.cell(r, h["Action ID"]).value: (ws.cell(r, h["Status"]).value, ws.cell(r, h["id:revision"]).value,
                                              ws.cell(r, h["Title"]).value) for r in range(2, ws.max_row + 1)}
    assert got == {"ACT-00001": ("open", "1", "'=HYPERLINK(\"http://evil\")"),
                   "ACT-00002": ("in_progress", "2", "Second"), "ACT-00003": ("open", "1", "Third")}
    assert ws.column_dimensions[openpyxl.utils.get_column_letter(h["id:revision"])].hidden


def test_the_auditor_pack_has_an_actions_sheet(register, tmp_path):
    path = tmp_path / "pack.xlsx"
    result = export.auditor_pack(register, ADMIN, "C1", path, today=TODAY)
    assert result.sheets["Actions"] == 3
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames.index("Actions") < wb.sheetnames.index("Audit log")
    rows = list(wb["Actions"].iter_rows(min_row=2, values_only=True))
    assert sorted(r[0] for r in rows) == ["ACT-00001", "ACT-00002", "ACT-00003"]


def test_the_owner_updates_in_bulk_dry_run_then_commit(register):
    data = _set(_export(register, HEAD), [
        ("ACT-00001", "Status", "done"), ("ACT-00001", "Closure evidence", "Runbook v3 approved"),
        ("ACT-00002", "Status", "Done"), ("ACT-00002", "Evidence link", "https://wiki.example/x"),
        ("ACT-00002", "Evidence date", "2026-06-15")])
    before = (_rows(register), _audit_head(register))
    dry = actions_sheet.analyse(register, HEAD, data, "register.xlsx", today=TODAY)
    assert dry.ok, dry.problems
    assert dry.summary == {"changed": 2, "unchanged": 0, "conflict": 0}
    assert dry.diff.sort("action_id").select("action_id", "before", "status", "change").rows() == [
        ("ACT-00001", "open", "done", "changed"), ("ACT-00002", "in_progress", "done", "changed")]
    assert (_rows(register), _audit_head(register)) == before  # a dry run writes nothing
    done = actions_sheet.commit(register, HEAD, data, "register.xlsx", today=TODAY)
    assert done.committed and done.written == 2
    a1, a2 = actions.get_action(register, ADMIN, "ACT-00001"), actions.get_action(register, ADMIN, "ACT-00002")
    assert (a1["status"], a1["revision"], a1["evidence_text"], a1["evidence_date"]) == ("done", 2,
                                                                                         "Runbook v3 approved", TODAY)
    assert (a2["status"], a2["revision"], a2["evidence_url"], a2["evidence_date"]) == (
        "done", 3, "https://wiki.example/x", date(2026, 6, 15))
    assert a2["history"]["status"].to_list() == ["open", "in_progress", "done"]
    # Importing the same file again changes nothing: every row is as stored now.
    mark = (_rows(register), _audit_head(register))
    again = actions_sheet.commit(register, HEAD, data, "register.xlsx", today=TODAY)
    assert again.committed and again.written == 0 and again.summary["unchanged"] == 2
    assert (_rows(register), _audit_head(register)) == mark


def test_every_problem_at_once_and_nothing_written(register):
    data = _set(_export(register, ADMIN), [
        ("ACT-00001", "Status", "verified"),                  # owners cannot verify
        ("ACT-00002", "Status", "done"),                      # done without evidence
        ("ACT-00003", "Status", "in_progress"),               # not her unit's: mei.lin's
        ("ACT-00001", "Evidence date", "30/06/2026")])        # not a date
    before = (_rows(register), _audit_head(register))
    result = actions_sheet.commit(register, HEAD, data, "register.xlsx", today=TODAY)
    assert not result.committed
    got = sorted((p.row, p.column, p.message.split(":")[0]) for p in result.problems)
    assert got == [
        (2, "Evidence date", "cannot read '30/06/2026' as a date (YYYY-MM-DD)"),
        (2, "Status", "expected one of open, in_progress, done, got verified; verify or accept the risk instead"),
        (3, "Closure evidence", "say what was done (a text or a link) before marking the action done"),
        (4, "Status", "amira.haddad may not change ACT-00003"),
    ]
    assert all(p.cell for p in result.problems)
    assert (_rows(register), _audit_head(register)) == before


def test_a_conflict_is_never_overwritten(register):
    data = _set(_export(register, ADMIN), [("ACT-00003", "Status", "in_progress")])
    actions.progress(register, MEI, "ACT-00003", "done", base_revision=1, evidence_text="x", today=TODAY)
    before = (_rows(register), _audit_head(register))
    result = actions_sheet.commit(register, MEI, data, "register.xlsx", today=TODAY)
    assert not result.committed and result.summary["conflict"] == 1
    assert "changed by mei.lin" in result.problems[0].message
    assert (_rows(register), _audit_head(register)) == before


def test_a_formula_or_an_unexpected_sheet_is_refused_before_anything_is_read(register):
    wb = workbook(_export(register, HEAD))
    wb["Actions"]["B2"] = "=1+1"
    wb.create_sheet("Extra")["A1"] = "x"
    out = io.BytesIO()
    wb.save(out)
    result = actions_sheet.analyse(register, HEAD, out.getvalue(), "register.xlsx", today=TODAY)
    messages = " | ".join(p.message for p in result.problems)
    assert "formula" in messages and "'Extra'" in messages and not result.ok


def test_the_import_safety_checks_apply(register):
    bomb = rezip(_export(register, HEAD), add={"xl/padding.bin": b"0" * (50 * 1024 * 1024)})
    result = actions_sheet.analyse(register, HEAD, bomb, "bomb.xlsx", today=TODAY)
    assert not result.ok and result.problems[0].sheet == "(file)"
