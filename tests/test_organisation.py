"""The organisation register: single operations, the workbook import (300 units in one commit, a round trip
that changes nothing, a dozen faults reported at once with nothing written), role checks, and history that
survives a reorganisation (a closed cycle's reports are the same before and after a unit moves)."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import polars as pl
import pytest

from assessment import access, audit, auth, campaigns, organisation, passwords, reports, users, workflow
from assessment.cli import main
from assessment.errors import InvalidState, PermissionDenied, ValidationError
from assessment.excel import export as excel_export
from assessment.excel import organisation as org_book
from assessment.model import Actor, Answer
from assessment.storage import organisation as org_sql

from .conftest import ADMIN, add_org
from .helpers.excel import fingerprint

MANAGER = Actor("continuity.manager", access.MANAGER)
HEAD = Actor("head-u1", access.HEAD, frozenset({"U1"}))
TODAY = date(2026, 6, 30)


def _pack_answers(db, pack, campaign_id: str) -> list[dict]:
    """The answer rows the pack streams into its Answers sheet (storage.exports.answer_batches)."""
    from assessment.storage import exports as exports_sql

    with db.read() as cur:
        return [r for b in exports_sql.answer_batches(cur, campaign_id, pack.scope, 10_000) for r in b.to_dicts()]


def _answers(level: int) -> list[Answer]:
    return [Answer(qid, level, evidence="report", evidence_date=date(2026, 6, 1))
            for qid in ("GOV-01", "GOV-02", "TEST-01", "TEST-02")]


def _book(divisions=(), units=(), people=(), drop: dict[str, str] | None = None, extra_sheet: bool = False,
          formula: str | None = None) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in (("Divisions", divisions), ("Units", units), ("People", people)):
        ws = wb.create_sheet(name)
        cols = [c for c in org_book.COLUMNS[name] if (drop or {}).get(name) != c]
        ws.append(cols)
        for r in rows:
            ws.append([v for c, v in zip(org_book.COLUMNS[name], r, strict=False) if (drop or {}).get(name) != c])
    if formula:
        wb["Units"][formula] = "=1+1"
    if extra_sheet:
        wb.create_sheet("Notes")["A1"] = "hello"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _org(n_units: int, n_people: int) -> bytes:
    divisions = [(f"D{d}", f"Division {d}") for d in range(10)]
    units = [(f"U{i:03}", f"Unit {i}", f"D{i % 10}", str(i % 3 + 1), f"head{i:03}", f"2026-01-{i % 28 + 1:02}", "12",
              "yes") for i in range(n_units)]
    people = [(f"head{i:03}", f"Head {i}", f"head{i}@example.org", access.HEAD) for i in range(n_units)]
    people += [(f"lead{i:03}", f"Leader {i}", "", access.LEADERSHIP) for i in range(n_people - n_units)]
    return _book(divisions, units, people)


# --------------------------------------------------------------------------------------------- the import


def test_an_organisation_of_300_units_imports_in_one_commit_and_the_round_trip_changes_nothing(db):
    data = _org(300, 320)
    dry = org_book.analyse(db, ADMIN, data, "org.xlsx")
    assert dry.problems == []
    assert dry.counts() == {"division added": 10, "person added": 320, "unit added": 300}
    assert fingerprint(db)["audit_log"][0] == 0  # the dry run wrote nothing
    done = org_book.commit(db, ADMIN, data, "org.xlsx")
    assert done.committed and done.problems == []
    assert audit.head(db)[0] == 1  # one transaction, one audit entry
    entry = audit.entries(db, ADMIN).row(0, named=True)
    assert entry["action"] == "organisation.import" and "head007" in entry["after_json"]
    divisions, units, people = organisation.register(db, ADMIN)
    assert (divisions.height, units.height, people.height) == (10, 300, 320)
    u7 = units.filter(pl.col("unit_id") == "U007").row(0, named=True)
    assert (u7["division_id"], u7["tier"], u7["head_usernames"], u7["head"], u7["plan_last_reviewed"]) == (
        "D7", 2, "head007", "Head 7", date(2026, 1, 8))
    # Every new account has a one-time password that signs in, shown once.
    assert len(done.passwords) == 320
    with db.read() as cur:
        stored = cur.execute("SELECT password_hash FROM users WHERE username = 'head007'").fetchall()[0][0]
    assert passwords.verify(stored, done.passwords["head007"]) and passwords.needs_rehash(stored)
    assert auth.login(db, "head007", done.passwords["head007"])  # the head signs in; the hash is upgraded
    with db.read() as cur:
        assert not passwords.needs_rehash(
            cur.execute("SELECT password_hash FROM users WHERE username = 'head007'").fetchall()[0][0])

    before = fingerprint(db)
    exported = org_book.export_bytes(db, ADMIN)
    again = org_book.commit(db, ADMIN, exported, "export.xlsx")
    assert again.problems == [] and again.diff.height == 0 and again.passwords == {}
    assert fingerprint(db) == before


def test_the_csv_round_trip_changes_nothing(db, tmp_path):
    org_book.commit(db, ADMIN, _org(12, 14), "org.xlsx")
    organisation.save_unit(db, ADMIN, organisation.UnitSpec("U001", "=cmd|' /C calc'!A0", "D1", 2, ("head001",)))
    folder = tmp_path / "csv"
    org_book.export_csv(db, ADMIN, folder)
    assert "'=cmd" in (folder / "units.csv").read_text()  # no formula leaves in a CSV either
    result = org_book.commit(db, ADMIN, folder, "csv")
    assert result.problems == [] and result.diff.height == 0


def test_the_dry_run_shows_units_and_people_added_changed_field_by_field_and_deactivated(db):
    org_book.commit(db, ADMIN, _org(3, 4), "org.xlsx")
    data = _book([("D1", "Division 1 renamed")],
                 [("U000", "Unit 0", "D2", "3", "head000", "", "6", "yes"),
                  ("U001", "Unit 1", "D1", "2", "head001", "2026-01-02", "12", "no"),
                  ("U009", "New unit", "D1", "1", "new.head", "", "12", "yes")],
                 [("new.head", "New Head", "new@example.org", access.HEAD)])
    diff = org_book.analyse(db, MANAGER, data, "changes.xlsx").diff
    rows = {(r["object"], r["id"], r["action"], r["field"], r["before"], r["after"])
            for r in diff.iter_rows(named=True)}
    assert rows == {
        ("division", "D1", "changed", "name", "Division 1", "Division 1 renamed"),
        ("unit", "U000", "changed", "division_id", "D0", "D2"),
        ("unit", "U000", "changed", "tier", "1", "3"),
        ("unit", "U000", "changed", "plan_last_reviewed", "2026-01-01", ""),
        ("unit", "U000", "changed", "review_interval_months", "12", "6"),
        ("unit", "U001", "deactivated", "active", "yes", "no"),
        ("unit", "U009", "added", None, None, None),
        ("person", "new.head", "added", None, None, None),
    }
    done = org_book.commit(db, MANAGER, data, "changes.xlsx")
    assert done.committed and list(done.passwords) == ["new.head"]
    units = organisation.register(db, ADMIN)[1]
    assert units.filter(pl.col("unit_id") == "U001")["active"].to_list() == [False]


def test_a_workbook_with_a_dozen_faults_lists_them_all_and_writes_nothing(db):
    org_book.commit(db, ADMIN, _org(2, 3), "org.xlsx")
    data = _book(
        [("D1", "One"), ("D1", "Again"), ("bad id!", "x")],
        [("U000", "Unit 0", "D1", "9", "head000", "2026-02-30", "12", "yes"),           # tier, date
         ("U000", "Dup", "DX", "1", "lead000", "", "0", "maybe"),                       # dup, division, head role,
         ("U005", "", "D1", "1", "ghost", "", "12", "yes")],                            # interval, active, name, user
        [("head000", "Head 0", "not-an-email", access.HEAD), ("x", "X", "", "wizard")],  # email, username, role
        formula="J5", extra_sheet=True)
    before = fingerprint(db)
    result = org_book.commit(db, ADMIN, data, "faults.xlsx")
    assert not result.committed
    found = {(p.sheet, p.row, p.column, p.cell) for p in result.problems}
    assert found >= {
        ("Divisions", 3, "division_id", "A3"),       # duplicate division
        ("Divisions", 4, "division_id", "A4"),       # malformed id
        ("Units", 2, "tier", "D2"),                  # a tier the policy lacks
        ("Units", 2, "plan_last_reviewed", "F2"),    # malformed date
        ("Units", 3, "unit_id", "A3"),               # duplicate unit
        ("Units", 3, "division_id", "C3"),           # unknown division
        ("Units", 3, "head_usernames", "E3"),        # not a department head
        ("Units", 3, "review_interval_months", "G3"),
        ("Units", 3, "active", "H3"),
        ("Units", 4, "name", "B4"),
        ("Units", 4, "head_usernames", "E4"),        # unknown user
        ("People", 2, "email", "C2"),
        ("People", 3, "username", "A3"),
        ("People", 3, "role", "D3"),                 # unknown role
        ("Units", 5, None, "J5"),                    # a formula
        ("Notes", None, None, None),                 # a sheet nobody reads
    }
    messages = " | ".join(str(p) for p in result.problems)
    assert "the policy defines tiers 1, 2, 3 only, got '9'" in messages
    assert "lead000 is not a department head" in messages
    assert "unknown role 'wizard'" in messages
    assert fingerprint(db) == before


def test_a_missing_column_and_a_missing_sheet_are_reported(db):
    data = _book([("D1", "One")], [], [], drop={"People": "email"})
    problems = {(p.sheet, p.column, p.message) for p in org_book.analyse(db, ADMIN, data, "x.xlsx").problems}
    assert ("People", "email", "this required column is missing") in problems
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb.remove(wb["Units"])
    out = io.BytesIO()
    wb.save(out)
    assert any(p.sheet == "Units" and "missing" in p.message
               for p in org_book.analyse(db, ADMIN, out.getvalue(), "x.xlsx").problems)


def test_oversized_files_are_refused_before_parsing(db):
    from assessment.excel.safety import Limits

    result = org_book.analyse(db, ADMIN, _org(3, 3), "big.xlsx", limits=Limits(max_bytes=1000))
    assert len(result.problems) == 1 and "over the import limit" in result.problems[0].message


def test_with_single_sign_on_new_heads_get_no_password(db, tmp_path, monkeypatch):
    mapping = tmp_path / "sso.yaml"
    mapping.write_text("groups_claim: groups\nrules: {}\n")
    monkeypatch.setenv("ITSCM_SSO_MAPPING", str(mapping))
    done = org_book.commit(db, ADMIN, _org(2, 2), "org.xlsx")
    assert done.committed and done.passwords == {} and sorted(done.sso_only) == ["head000", "head001"]
    with db.read() as cur:
        assert cur.execute("SELECT count(*) FROM users WHERE password_hash IS NOT NULL").fetchall()[0][0] == 0


# ------------------------------------------------------------------------------------------------ roles


def test_a_department_head_can_do_none_of_this_and_a_continuity_manager_can(db):
    add_org(db, [("U1", "D1", 1)])
    data = _org(2, 2)
    for call in (lambda: org_book.analyse(db, HEAD, data, "x.xlsx"), lambda: org_book.commit(db, HEAD, data, "x"),
                 lambda: org_book.export_bytes(db, HEAD), lambda: org_book.template_bytes(db, HEAD),
                 lambda: organisation.save_division(db, HEAD, "D9", "Nine"),
                 lambda: organisation.set_active(db, HEAD, "U1", False),
                 lambda: organisation.save_unit(db, HEAD, organisation.UnitSpec("U1", "x", "D1", 1))):
        with pytest.raises(PermissionDenied):
            call()
    assert org_book.commit(db, MANAGER, data, "x.xlsx").committed


def test_a_continuity_manager_cannot_create_or_change_other_roles_through_the_import(db):
    data = _book([("D1", "One")], [("U1", "Unit", "D1", "1", "h1", "", "12", "yes")],
                 [("h1", "Head", "", access.HEAD), ("boss", "Boss", "", access.ADMIN)])
    result = org_book.commit(db, MANAGER, data, "x.xlsx")
    assert not result.committed
    assert [(p.sheet, p.row, p.column) for p in result.problems] == [("People", 3, "role")]
    assert org_book.commit(db, ADMIN, data, "x.xlsx").committed


# ------------------------------------------------------------------------------------- single operations


def test_units_are_created_moved_and_deactivated_with_every_problem_reported(db):
    organisation.save_division(db, MANAGER, "D1", "One")
    organisation.save_division(db, MANAGER, "D2", "Two")
    with pytest.raises(ValidationError) as err:
        organisation.save_unit(db, MANAGER, organisation.UnitSpec("U1", "", "D9", 7, ("nobody",)), create=True)
    assert [p.split(":")[0] for p in err.value.problems] == ["division_id", "head_usernames", "name", "tier"]
    changed = organisation.save_unit(db, MANAGER, organisation.UnitSpec("U1", "Unit", "D1", 2), create=True)
    assert changed["tier"] == (None, 2)
    with pytest.raises(InvalidState):
        organisation.save_unit(db, MANAGER, organisation.UnitSpec("U1", "Unit", "D1", 2), create=True)
    assert organisation.save_unit(db, MANAGER, organisation.UnitSpec("U1", "Unit", "D2", 2)) == {
        "division_id": ("D1", "D2")}
    assert organisation.set_active(db, MANAGER, "U1", False) == {"active": (True, False)}
    entries = audit.entries(db, ADMIN)
    assert set(entries["action"]) >= {"division.create", "unit.create", "unit.update", "unit.deactivate"}


def test_a_unit_with_answers_is_never_deleted(org):
    workflow.save_answers(org, ADMIN, "C1", "U1", _answers(3)[:1], today=TODAY)
    with pytest.raises(InvalidState, match="never deleted"):
        organisation.delete_unit(org, ADMIN, "U1")
    organisation.save_unit(org, ADMIN, organisation.UnitSpec("U9", "Mistake", "D1", 1), create=True)
    organisation.delete_unit(org, ADMIN, "U9")
    assert "U9" not in organisation.register(org, ADMIN)[1]["unit_id"].to_list()


# ---------------------------------------------------------------------------- history survives reorganisations


def _cycle_reports(db, campaign_id: str) -> dict:
    d1 = reports.Filters(division_ids=("D1",))
    pack = excel_export.gather(db, ADMIN, campaign_id, today=TODAY)
    return {
        "summary": reports.summary(db, ADMIN, campaign_id, today=TODAY),
        "divisions": reports.divisions(db, ADMIN, campaign_id).to_dicts(),
        "units": reports.units(db, ADMIN, campaign_id).to_dicts(),
        "d1 units": reports.units(db, ADMIN, campaign_id, d1).to_dicts(),
        "heatmap": reports.heatmap(db, ADMIN, campaign_id).to_dicts(),
        "unit heatmap": reports.heatmap(db, ADMIN, campaign_id, by="unit").to_dicts(),
        "progress": reports.assessment_progress(db, ADMIN, campaign_id).to_dicts(),
        "trends": reports.trends(db, ADMIN, by="division").filter(pl.col("campaign_id") == campaign_id).to_dicts(),
        "pack answers": _pack_answers(db, pack, campaign_id), "pack scores": pack.domains.to_dicts(),
        "pack trends": pack.trends.filter(pl.col("campaign_id") == campaign_id).to_dicts(),
    }


def test_a_closed_cycle_reports_the_same_after_a_unit_moves_and_changes_tier(org, mini_q):
    users.create(org, ADMIN, "head-u2", "head-U2", access.HEAD, None, ["U2"])
    for unit, level in (("U1", 4), ("U2", 1), ("U3", 3)):
        workflow.save_answers(org, ADMIN, "C1", unit, _answers(level), today=TODAY)
        workflow.submit(org, ADMIN, "C1", unit, today=TODAY)
    campaigns.set_status(org, ADMIN, "C1", "closed")
    campaigns.create(org, ADMIN, "C2", "Cycle 2", mini_q, date(2026, 12, 1), date(2026, 12, 20), date(2027, 1, 10),
                     status="open")
    workflow.save_answers(org, ADMIN, "C2", "U2", _answers(2), today=date(2026, 12, 5))
    workflow.submit(org, ADMIN, "C2", "U2", today=date(2026, 12, 5))
    before = _cycle_reports(org, "C1")
    assert before["summary"]["units"] == 3
    assert {r["division_id"]: r["units"] for r in before["divisions"]} == {"D1": 2, "D2": 1}

    # U2 moves from D1 to D2 and from tier 3 to tier 1 (same head); U3 is deactivated.
    organisation.save_unit(org, MANAGER, organisation.UnitSpec("U2", "Unit U2", "D2", 1, ("head-u2",),
                                                               date(2026, 1, 1), 12))
    moved = org_book.commit(org, MANAGER, _book(units=[("U3", "Unit U3", "D2", "2", "", "2026-01-01", "12", "no")]),
                            "deactivate.xlsx")  # the workbook's path, as the page and CLI take it
    assert moved.committed and set(moved.diff["action"]) == {"deactivated"}

    after = _cycle_reports(org, "C1")
    for key in before:
        assert after[key] == before[key], key
    # The open cycle shows the new structure: U2 in D2 at tier 1 (re-scored against tier 1's target 4), no U3.
    c2 = reports.units(org, ADMIN, "C2")
    assert c2.select("unit_id", "division_id", "tier").sort("unit_id").rows() == [("U1", "D1", 1), ("U2", "D2", 1)]
    assert c2.filter(pl.col("unit_id") == "U2")["target"].to_list() == [4.0]
    assert {r["division_id"]: r["units"] for r in reports.divisions(org, ADMIN, "C2").to_dicts()} == {"D1": 1,
                                                                                                     "D2": 1}
    # A deactivated unit leaves future cycles and stays in history.
    campaigns.create(org, ADMIN, "C3", "Cycle 3", mini_q, date(2027, 6, 1), date(2027, 6, 30), date(2027, 7, 15))
    assert sorted(campaigns.assessments(org, ADMIN, "C3")["unit_id"]) == ["U1", "U2"]
    assert "U3" in [r["unit_id"] for r in after["units"]]
    trends = reports.trends(org, ADMIN, by="unit")
    assert "Unit U3" in trends.filter(pl.col("campaign_id") == "C1")["series"].to_list()


def test_deactivating_takes_a_unit_out_of_planned_cycles_where_it_has_no_answers(org, mini_q):
    campaigns.create(org, ADMIN, "C2", "Cycle 2", mini_q, date(2026, 12, 1), date(2026, 12, 20), date(2027, 1, 10))
    organisation.set_active(org, MANAGER, "U3", False)
    assert sorted(campaigns.assessments(org, ADMIN, "C2")["unit_id"]) == ["U1", "U2"]
    assert "U3" in campaigns.assessments(org, ADMIN, "C1")["unit_id"].to_list()  # open: it keeps its answers
    assert "U3" not in reports.units(org, ADMIN, "C1")["unit_id"].to_list()  # ... but leaves the open reports


# ------------------------------------------------------------------------------------------------------ CLI


def test_cli_template_import_export(tmp_path, capsys):
    path = str(tmp_path / "cli.duckdb")
    (tmp_path / "org.xlsx").write_bytes(_org(3, 3))
    assert main(["--db", path, "org", "template", "-o", str(tmp_path / "t.xlsx")]) == 0
    assert main(["--db", path, "org", "import", str(tmp_path / "org.xlsx"), "--dry-run"]) == 0
    assert "unit added: 3" in capsys.readouterr().out
    assert main(["--db", path, "org", "import", str(tmp_path / "org.xlsx")]) == 0
    out = capsys.readouterr().out
    assert "One-time passwords" in out and "head001\t" in out
    assert main(["--db", path, "org", "export", "-o", str(tmp_path / "back.xlsx")]) == 0
    assert main(["--db", path, "org", "import", str(tmp_path / "back.xlsx")]) == 0
    assert "no changes" in capsys.readouterr().out
    (tmp_path / "bad.xlsx").write_bytes(_book([("D1", "x")], [("U1", "U", "D1", "7", "", "", "12", "yes")]))
    assert main(["--db", path, "org", "import", str(tmp_path / "bad.xlsx")]) == 1
    assert "Units, row 2, column 'tier' (D2)" in capsys.readouterr().err
    assert main(["--db", path, "org", "import", str(tmp_path / "missing.xlsx")]) == 2


def test_the_policy_tiers_follow_the_newest_cycle(org):
    with org.read() as cur:
        assert org_sql.policy_tiers(cur, None) == [1, 2, 3]


def test_csv_cells_are_quoted_exactly_like_workbook_cells():
    from assessment.excel.safety import FORMULA_TRIGGERS, literal_text, literal_text_expr

    values = [f"{t}x" for t in FORMULA_TRIGGERS] + ["'q", "plain", "", None]
    got = pl.DataFrame({"a": values}).select(literal_text_expr(pl.all()))["a"].to_list()
    assert got == [literal_text(v) for v in values]
