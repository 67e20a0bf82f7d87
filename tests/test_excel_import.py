"""Excel import: round trips, a filled template that changes the scores as hand-computed, dry run, all-or-nothing
commit, re-import, conflicts, access and the CLI, against real files and a real database."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from datetime import date

import polars as pl
import pytest

from assessment import campaigns, workflow
from assessment.cli import main as cli_main
from assessment.errors import PermissionDenied
from assessment.excel import export as excel_export
from assessment.excel import importer as excel_import
from assessment.excel import template as excel_template
from assessment.model import Actor, Answer
from assessment.storage import audit as audit_store
from assessment.storage import scores as score_store
from assessment.storage.db import frame, open_database

from .conftest import add_org
from .helpers.excel import ADMIN, TODAY, edit, fingerprint, save, workbook

HEAD_U1 = Actor("head.u1", "department_head", frozenset({"U1"}))


def pack(db, actor=ADMIN, **kw) -> bytes:
    buf = io.BytesIO()
    excel_export.auditor_pack(db, actor, "C1", buf, today=TODAY, **kw)
    return buf.getvalue()


def template(db, unit="U1", actor=ADMIN) -> bytes:
    buf = io.BytesIO()
    excel_template.unit_template(db, actor, "C1", unit, buf, today=TODAY)
    return buf.getvalue()


def dry(db, data, actor=ADMIN, name="file.xlsx"):
    return excel_import.analyse(db, actor, data, name, today=TODAY)


def commit(db, data, actor=ADMIN, name="file.xlsx", **kw):
    return excel_import.commit(db, actor, data, name, today=TODAY, **kw)


def current(db, unit="U1") -> dict:
    df = workflow.current_answers(db, ADMIN, "C1", unit)
    return {r["question_id"]: r for r in df.to_dicts()}


@pytest.fixture
def answered(org):
    """U1 fully answered and submitted (scored), U2 partly answered with would-be formulas, U3 empty."""
    save(org, "U1", [Answer("GOV-01", 4, evidence='=HYPERLINK("http://evil","x")', evidence_date=date(2026, 1, 1),
                            evidence_url="https://intranet/policy"),
                     Answer("GOV-02", 3, comment="+1 and more"),
                     Answer("TEST-01", is_na=True, na_reason="@SUM(A1) no failover"),
                     Answer("TEST-02", 1, comment="-2 regressions")])
    workflow.submit(org, ADMIN, "C1", "U1", today=TODAY)
    save(org, "U2", [Answer("GOV-01", 2, evidence="=1+1", evidence_date=date(2026, 3, 1)),
                     Answer("TEST-01", is_na=True, na_reason="not in scope")])
    return org


# ---- reading only the columns the import looks at --------------------------------------------------------------

def test_reading_the_answer_columns_only_gives_the_same_rows_as_reading_every_column(answered):
    from assessment.excel.format import UNREAD_SHEETS
    from assessment.excel.reading import open_reader, read_sheet
    from assessment.excel.safety import check_workbook

    wb = workbook(pack(answered))
    ws = wb["Answers"]
    heads = {c.value: c.column for c in ws[1]}
    # A report column holding the sheet's last cells (and a header with spaces around it): rows are not lost.
    ws.cell(ws.max_row + 3, heads["Explanation"], "a note below the answers")
    ws.cell(1, heads["Level"], "  Level ")
    out = io.BytesIO()
    wb.save(out)
    checked = check_workbook(out.getvalue(), "p.xlsx", skip=UNREAD_SHEETS)
    reader = open_reader(checked)
    every = read_sheet(reader, checked, "Answers")
    some = read_sheet(reader, checked, "Answers", columns=excel_import.READ_COLUMNS)
    assert set(some.frame.columns) == (excel_import.READ_COLUMNS & set(every.frame.columns)) | {"row"}
    assert "Level" in some.frame.columns and "Explanation" not in some.frame.columns
    assert some.frame.equals(every.frame.select(some.frame.columns))
    assert some.letters == every.letters and some.header_row == every.header_row
    assert dry(answered, out.getvalue()).ok


def test_the_digest_of_a_frame_of_ids_is_the_digest_of_its_rows():
    from assessment.excel.format import manifest_digest

    ids = pl.DataFrame({"unit_id": ["U2", "U1", "U1", "é", ""], "question_id": ["Q1", "Q2", "Q1", None, "Q9"],
                        "base_event_id": ["3", "", "12", "x", None]})
    assert manifest_digest("pack", "C1", "", ids) == manifest_digest("pack", "C1", "", ids.iter_rows())
    assert manifest_digest("pack", "C1", "", ids) == manifest_digest("pack", "C1", "", ids.reverse())
    numbers = ids.with_columns(pl.Series("base_event_id", [3, None, 12, 7, 1]))
    assert manifest_digest("pack", "C1", "", numbers) == manifest_digest("pack", "C1", "", numbers.iter_rows())


# ---- round trips ----------------------------------------------------------------------------------------------

def test_exported_pack_imports_back_with_zero_changes(answered):
    data = pack(answered)
    before = fingerprint(answered)
    result = dry(answered, data)
    assert result.ok, [str(p) for p in result.problems]
    assert result.kind == "auditor-pack" and result.campaign_id == "C1"
    assert result.summary == {"new": 0, "changed": 0, "unchanged": 12, "conflict": 0, "units": 3, "rows": 12}
    done = commit(answered, data)
    assert done.ok and done.committed and done.written == 0
    assert fingerprint(answered) == before


def test_template_imports_back_with_zero_changes_even_for_a_submitted_unit(answered):
    for unit in ("U1", "U2", "U3"):
        data = template(answered, unit)
        before = fingerprint(answered)
        result = commit(answered, data)
        assert result.ok, [str(p) for p in result.problems]
        assert result.summary["unchanged"] == 4 and result.written == 0
        assert fingerprint(answered) == before


# ---- a filled template ----------------------------------------------------------------------------------------

def test_filled_template_changes_the_scores_as_hand_computed(org):
    data = edit(template(org), [
        ("GOV-01", "Level", 4), ("GOV-01", "Evidence", "Policy v3 approved"),
        ("GOV-01", "Evidence date", date(2026, 1, 1)),
        ("GOV-02", "Level", 3),  # no evidence: capped at 2
        ("TEST-01", "Level", "N/A"), ("TEST-01", "N/A reason", "no failover in scope"),
        ("TEST-02", "Level", 1), ("TEST-02", "Comment", "=SUM(1,2) is text"),
    ])
    result = dry(org, data)
    assert result.ok, [str(p) for p in result.problems]
    assert result.summary["new"] == 4
    done = commit(org, data)
    assert done.written == 4
    cur = current(org)
    assert cur["TEST-02"]["comment"] == "=SUM(1,2) is text" and cur["TEST-01"]["is_na"]
    assert cur["GOV-01"]["evidence_date"] == date(2026, 1, 1)
    workflow.submit(org, ADMIN, "C1", "U1", today=TODAY)
    with org.read() as c:
        qs = {r["question_id"]: r for r in score_store.question_scores(c, "C1", "U1").to_dicts()}
        ds = {r["domain_id"]: r["score"] for r in score_store.domain_scores(c, "C1", "U1").to_dicts()}
        unit = score_store.unit_scores(c, "C1").filter(pl.col("unit_id") == "U1").row(0, named=True)
    assert qs["GOV-01"]["score"] == 4 and qs["GOV-02"]["score"] == 2 and qs["GOV-02"]["status"] == "capped"
    assert qs["TEST-01"]["score"] is None and qs["TEST-02"]["score"] == 1
    assert ds == {"GOV": pytest.approx((4 * 1 + 2 * 3) / 4), "TEST": pytest.approx(1.0)}
    assert unit["score"] == pytest.approx((2.5 * 2 + 1.0 * 1) / 3)  # 2.0 against tier 1's target 4
    assert unit["gap"] == pytest.approx(2.0)


def test_dry_run_writes_nothing(org):
    data = edit(template(org), [("GOV-01", "Level", 2), ("GOV-02", "Level", 1)])
    before = fingerprint(org)
    result = dry(org, data)
    assert result.summary["new"] == 2
    assert fingerprint(org) == before


def test_reimporting_the_same_file_changes_nothing(org):
    data = edit(template(org), [("GOV-01", "Level", 2), ("TEST-01", "Level", "n/a"),
                                ("TEST-01", "N/A reason", "x")])
    assert commit(org, data).written == 2
    before = fingerprint(org)
    again = commit(org, data)
    assert again.ok and again.written == 0 and again.summary["unchanged"] == 4
    assert fingerprint(org) == before


def test_one_commit_covers_many_units_with_one_audit_entry(answered):
    data = pack(answered)
    data = edit(data, [("GOV-02", "Level", 5), ("GOV-02", "Evidence", "minutes"),
                       ("GOV-02", "Evidence date", date(2026, 6, 1))], unit="U2")
    data = edit(data, [("TEST-02", "Level", 0)], unit="U3")
    revisions = {u: workflow.assessment(answered, ADMIN, "C1", u)["revision"] for u in ("U2", "U3")}
    result = commit(answered, data, name="pack.xlsx")
    assert result.ok, [str(p) for p in result.problems]
    assert result.written == 2 and result.summary["changed"] == 0 and result.summary["new"] == 2
    assert current(answered, "U2")["GOV-02"]["level"] == 5 and current(answered, "U3")["TEST-02"]["level"] == 0
    assert all(workflow.assessment(answered, ADMIN, "C1", u)["revision"] == revisions[u] + 1 for u in revisions)
    with answered.read() as c:
        log = audit_store.query(c, action="excel.import")
        events = frame(c, "SELECT DISTINCT source FROM answer_events WHERE unit_id IN ('U2', 'U3')")
    assert log.height == 1
    after = log["after_json"][0]
    assert result.sha256 in after and '"file":"pack.xlsx"' in after and '"new":2' in after
    assert "excel" in events["source"].to_list()


def test_commit_is_all_or_nothing_when_one_unit_is_not_editable(answered):
    data = pack(answered)
    data = edit(data, [("GOV-02", "Level", 5)], unit="U2")   # a draft: fine on its own
    data = edit(data, [("TEST-02", "Level", 5)], unit="U1")  # submitted: read-only
    before = fingerprint(answered)
    result = commit(answered, data)
    assert not result.committed and result.written == 0
    assert any("U1 is submitted" in str(p) for p in result.problems)
    assert fingerprint(answered) == before


def test_commit_rolls_back_everything_if_the_transaction_fails(answered, monkeypatch):
    data = edit(pack(answered), [("GOV-02", "Level", 5)], unit="U2")
    data = edit(data, [("TEST-02", "Level", 3)], unit="U3")
    before = fingerprint(answered)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit_store, "append", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        commit(answered, data)
    assert fingerprint(answered) == before


def test_closed_campaign_is_reported(answered):
    data = edit(pack(answered), [("GOV-02", "Level", 5)], unit="U2")
    campaigns.set_status(answered, ADMIN, "C1", "closed")
    before = fingerprint(answered)
    result = commit(answered, data)
    assert any("campaign C1 is closed" in str(p) for p in result.problems)
    assert fingerprint(answered) == before


# ---- conflicts --------------------------------------------------------------------------------------------------

def test_conflicting_rows_are_reported_never_overwritten(org):
    save(org, "U1", [Answer("GOV-01", 2), Answer("TEST-02", 1)])
    data = edit(template(org), [("GOV-01", "Level", 4), ("GOV-01", "Evidence", "policy"),
                                ("GOV-01", "Evidence date", date(2026, 5, 1)), ("GOV-02", "Level", 3)])
    # Someone changes GOV-01 (also changed in the file) and TEST-02 (left as it was in the file).
    save(org, "U1", [Answer("GOV-01", 3, evidence="e", evidence_date=date(2026, 6, 1)), Answer("TEST-02", 2)])
    result = dry(org, data)
    assert result.ok
    actions = dict(zip(result.diff["question_id"], result.diff["action"]))
    assert actions == {"GOV-01": "conflict", "GOV-02": "new", "TEST-01": "unchanged", "TEST-02": "unchanged"}
    notes = dict(zip(result.diff["question_id"], result.diff["note"]))
    assert "changed by system" in notes["GOV-01"] and "kept the newer answer" in notes["TEST-02"]
    before = fingerprint(org)
    refused = commit(org, data)
    assert not refused.committed and any("conflict: U1/GOV-01" in str(p) for p in refused.problems)
    assert fingerprint(org) == before
    done = commit(org, data, exclude_conflicts=True)
    assert done.committed and done.written == 1 and done.excluded_conflicts == 1
    cur = current(org)
    assert cur["GOV-01"]["level"] == 3 and cur["GOV-02"]["level"] == 3 and cur["TEST-02"]["level"] == 2


def test_pack_rows_changed_since_the_export_are_conflicts(answered):
    data = edit(pack(answered), [("GOV-01", "Level", 5)], unit="U2")
    save(answered, "U2", [Answer("GOV-01", 1)])
    result = dry(answered, data)
    assert result.diff.filter(pl.col("action") == "conflict")["question_id"].to_list() == ["GOV-01"]


# ---- access -----------------------------------------------------------------------------------------------------

def test_department_heads_template_and_import_only_their_units(answered):
    data = edit(template(answered, "U2", ADMIN), [("GOV-02", "Level", 1)])
    with pytest.raises(PermissionDenied):
        template(answered, "U2", HEAD_U1)
    before = fingerprint(answered)
    result = commit(answered, data, HEAD_U1)
    assert any("may not import answers for unit U2" in str(p) for p in result.problems)
    assert fingerprint(answered) == before
    head_u2 = Actor("head.u2", "department_head", frozenset({"U2"}))
    own = template(answered, "U2", head_u2)
    assert commit(answered, edit(own, [("GOV-02", "Level", 1)]), head_u2).written == 1


def test_a_pack_naming_units_outside_the_head_scope_is_refused_whole(answered):
    data = edit(pack(answered), [("GOV-02", "Level", 2)], unit="U3")
    result = commit(answered, data, Actor("head.u3", "department_head", frozenset({"U3"})))
    units = sorted(str(p).split("unit ")[-1] for p in result.problems)
    assert units == ["U1", "U2"] and result.written == 0


def test_roles_without_import(answered):
    data = pack(answered)
    with pytest.raises(PermissionDenied):
        dry(answered, data, Actor("lea", "leadership"))
    with pytest.raises(PermissionDenied):
        dry(answered, data, Actor("aud", "auditor"))
    assert dry(answered, data, Actor("aud", "auditor", can_import=True)).ok


# ---- LibreOffice ------------------------------------------------------------------------------------------------

def _soffice(tmp_path, data: bytes, name: str) -> bytes:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        pytest.skip("LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui")
    src, out = tmp_path / "in" / name, tmp_path / "out"
    src.parent.mkdir()
    src.write_bytes(data)
    profile = (tmp_path / "lo-profile").as_uri()
    subprocess.run([exe, f"-env:UserInstallation={profile}", "--headless", "--norestore", "--convert-to", "xlsx",
                    "--outdir", str(out), str(src)], check=True, capture_output=True, timeout=180)
    return (out / name).read_bytes()


def test_template_saved_by_libreoffice_imports(org, tmp_path):
    filled = edit(template(org), [("GOV-01", "Level", 4), ("GOV-01", "Evidence", "=policy"),
                                  ("GOV-01", "Evidence date", date(2026, 1, 1)),
                                  ("TEST-01", "Level", "N/A"), ("TEST-01", "N/A reason", "none")])
    calc = _soffice(tmp_path, filled, "template.xlsx")
    assert calc != filled
    result = dry(org, calc, name="template.xlsx")
    assert result.ok, [str(p) for p in result.problems]
    assert dict(zip(result.diff["question_id"], result.diff["action"])) == {
        "GOV-01": "new", "GOV-02": "unchanged", "TEST-01": "new", "TEST-02": "unchanged"}
    assert commit(org, calc).written == 2
    cur = current(org)
    assert cur["GOV-01"]["evidence"] == "=policy" and cur["GOV-01"]["evidence_date"] == date(2026, 1, 1)
    assert commit(org, calc).written == 0


def test_pack_saved_by_libreoffice_imports_with_zero_changes(answered, tmp_path):
    calc = _soffice(tmp_path, pack(answered), "pack.xlsx")
    result = dry(answered, calc)
    assert result.ok, [str(p) for p in result.problems]
    assert result.summary["unchanged"] == 12


# ---- CLI --------------------------------------------------------------------------------------------------------

def test_cli_export_template_and_import(tmp_path, mini_q, capsys):
    path = tmp_path / "cli.duckdb"
    db = open_database(path)
    add_org(db, [("U1", "D1", 1), ("U2", "D2", 3)])
    campaigns.create(db, ADMIN, "C1", "Cycle 1", mini_q, date(2026, 6, 1), date(2026, 6, 30), date(2026, 7, 15),
                     status="open")
    db.close()
    base = ["--db", str(path)]
    assert cli_main([*base, "export", "--campaign", "C1", "--division", "D1", "-o", str(tmp_path / "p.xlsx")]) == 0
    assert "Answers 4" in capsys.readouterr().out
    assert cli_main([*base, "template", "--campaign", "C1", "--unit", "U1", "-o", str(tmp_path / "t.xlsx")]) == 0
    filled = edit((tmp_path / "t.xlsx").read_bytes(), [("GOV-01", "Level", 9), ("GOV-02", "Evidence date", "soon")])
    (tmp_path / "bad.xlsx").write_bytes(filled)
    capsys.readouterr()
    assert cli_main([*base, "import", str(tmp_path / "bad.xlsx"), "--dry-run", "--today", "2026-06-30"]) == 1
    err = capsys.readouterr().err
    assert "Answers, row 2, column 'Level' (E2): level 9 is out of range" in err
    assert "Answers, row 3, column 'Evidence date' (I3): 'soon' is not a date" in err
    good = edit((tmp_path / "t.xlsx").read_bytes(), [("GOV-01", "Level", 3), ("GOV-02", "Level", 2)])
    (tmp_path / "good.xlsx").write_bytes(good)
    assert cli_main([*base, "import", str(tmp_path / "good.xlsx"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run, nothing saved" in out and "2 new, 0 changed, 2 unchanged, 0 conflict(s)" in out
    assert cli_main([*base, "import", str(tmp_path / "good.xlsx")]) == 0
    assert "2 answer(s) saved" in capsys.readouterr().out
    assert cli_main([*base, "import", str(tmp_path / "good.xlsx")]) == 0
    assert "0 new, 0 changed, 4 unchanged" in capsys.readouterr().out
    (tmp_path / "notes.xlsx").write_text("a,b\n1,2\n")
    assert cli_main([*base, "import", str(tmp_path / "notes.xlsx"), "--dry-run"]) == 1
    assert "not an Excel .xlsx workbook (a text file (CSV?)" in capsys.readouterr().err


# ---- issue 13 item 8: length limits, the same as the page's -----------------------------------------------------

def test_an_evidence_cell_over_the_length_limit_is_refused_naming_the_cell(org):
    data = edit(template(org), [("GOV-01", "Level", 3), ("GOV-01", "Evidence", "x" * 30_000),
                                ("GOV-02", "Comment", "y" * 4_001), ("GOV-02", "Level", 1)])
    before = fingerprint(org)
    result = commit(org, data)
    problems = [str(p) for p in result.problems]
    assert not result.committed and fingerprint(org) == before
    assert any(p.startswith("Answers, row 2, column 'Evidence' (G2): the evidence is 30,000 characters long")
               for p in problems), problems
    assert any(p.startswith("Answers, row 3, column 'Comment' (J3): the comment is 4,001 characters long")
               for p in problems), problems


# ---- issue 13 item 12: importing answers needs the answer permission for each unit it changes --------------------

@pytest.mark.parametrize("actor", [Actor("mgr", "continuity_manager"), Actor("aud", "auditor", can_import=True)],
                         ids=["manager", "auditor with the import grant"])
def test_a_manager_or_auditor_may_check_a_file_but_not_change_answers(answered, actor):
    data = edit(pack(answered), [("GOV-02", "Level", 5)], unit="U2")
    data = edit(data, [("TEST-02", "Level", 2)], unit="U3")
    before = fingerprint(answered)
    result = commit(answered, data, actor)
    problems = [str(p) for p in result.problems]
    assert not result.committed and fingerprint(answered) == before
    for unit in ("U2", "U3"):
        assert any(f"may not answer for unit {unit}" in p for p in problems), problems
    assert not any("unit U1" in p for p in problems)  # U1's rows do not change: nothing to answer there
    # The same file without changes is a check they may run and commit (it writes nothing).
    assert commit(answered, pack(answered), actor).committed


# ---- the import writes through the page's write path ------------------------------------------------------------

def test_each_unit_of_an_import_is_audited_like_a_page_save_plus_one_import_entry(answered):
    data = edit(pack(answered), [("GOV-02", "Level", 5), ("GOV-02", "Evidence", "minutes"),
                                 ("GOV-02", "Evidence date", date(2026, 6, 1))], unit="U2")
    data = edit(data, [("TEST-02", "Level", 0), ("GOV-01", "Level", 1)], unit="U3")
    with answered.read() as c:
        first = frame(c, "SELECT coalesce(max(seq), 0) AS s FROM audit_log")["s"][0]
    assert commit(answered, data, name="pack.xlsx").written == 3
    with answered.read() as c:
        log = frame(c, "SELECT action, object_id, after_json FROM audit_log WHERE seq > ? ORDER BY seq", [first])
        sources = frame(c, "SELECT unit_id, question_id, source FROM answer_events WHERE event_id > "
                           "(SELECT max(event_id) - 3 FROM answer_events) ORDER BY unit_id, question_id")
    assert log.select("action", "object_id").rows() == [
        ("answers.save", "C1/U2"), ("answers.save", "C1/U3"), ("excel.import", "C1")]
    saved = [json.loads(a) for a in log["after_json"][:2]]
    assert [[r["question_id"] for r in s] for s in saved] == [["GOV-02"], ["GOV-01", "TEST-02"]]
    assert saved[0][0]["level"] == 5 and saved[0][0]["evidence"] == "minutes"
    summary = json.loads(log["after_json"][2])
    assert (summary["file"], summary["new"], summary["units"]) == ("pack.xlsx", 3, {"U2": 1, "U3": 2})
    assert sources.rows() == [("U2", "GOV-02", "excel"), ("U3", "GOV-01", "excel"), ("U3", "TEST-02", "excel")]


def test_files_carry_exactly_the_sheets_the_format_lists(answered):
    from assessment.excel import format as excel_format

    assert workbook(template(answered)).sheetnames == list(excel_format.TEMPLATE_SHEETS)
    assert workbook(pack(answered)).sheetnames == list(excel_format.PACK_SHEETS)
    assert workbook(pack(answered, actor=Actor("lea", "leadership"))).sheetnames == [
        s for s in excel_format.PACK_SHEETS if s != "Audit log"]
