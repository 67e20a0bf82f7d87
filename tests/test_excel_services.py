"""The service register workbook: export read back, template, dry-run diff, all-or-nothing commit through the
engine, every problem at once naming sheet/row/column, hostile and faulty files refused with nothing written."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import datetime

import openpyxl
import pytest

from assessment import access, clock, services
from assessment.excel import services as register_wb
from assessment.excel.safety import Limits
from assessment.model import Actor
from assessment.storage.db import frame

from .helpers.excel import member, rezip, sheet_member
from .helpers.records import ADMIN

T1 = datetime(2025, 3, 1, 12, 0)
TABLES = {"services": "service_id", "service_versions": "service_id, revision",
          "service_dependencies": "service_id, revision, kind, target_id", "audit_log": "seq"}


def fingerprint(db) -> dict[str, tuple[int, str]]:
    out = {}
    with db.read() as cur:
        for table, order in TABLES.items():
            df = frame(cur, f"SELECT * FROM {table} ORDER BY {order}")
            out[table] = (df.height, hashlib.sha256(df.write_csv().encode()).hexdigest())
    return out


def export(db, actor=ADMIN, **kw) -> bytes:
    return register_wb.register_bytes(db, actor, **kw)


def rows(data: bytes, sheet: str) -> list[dict]:
    ws = openpyxl.load_workbook(io.BytesIO(data))[sheet]
    values = list(ws.iter_rows(values_only=True))
    return [dict(zip(values[0], r)) for r in values[1:]]


def edit(data: bytes, sheet: str, changes: dict[tuple[int, str], object] | None = None,
         append: list[dict] | None = None) -> bytes:
    """Set cells by (sheet row, header) and append rows (header -> value) to one sheet, as a person would."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb[sheet]
    h = {c.value: c.column for c in ws[1]}
    for (row, header), value in (changes or {}).items():
        cell = ws.cell(row, h[header])
        cell.value = value
    for new in append or []:
        r = ws.max_row + 1
        for header, value in new.items():
            ws.cell(r, h[header]).value = value
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def row_of(data: bytes, sheet: str, service_id: str, target: str | None = None) -> int:
    for i, r in enumerate(rows(data, sheet), start=2):
        if r["Service ID"] == service_id and (target is None or r["Depends on"] == target):
            return i
    raise KeyError(service_id)


def texts(result) -> list[str]:
    return [str(p) for p in result.problems]


def refused(db, data: bytes, *expected: str) -> list[str]:
    before = fingerprint(db)
    result = register_wb.commit(db, ADMIN, data, "register.xlsx")
    problems = texts(result)
    assert not result.committed and result.written == 0, problems
    for text in expected:
        assert any(text in p for p in problems), (text, problems)
    assert fingerprint(db) == before
    return problems


# ---- export and template ------------------------------------------------------------------------------------

def test_export_reads_back_with_objectives_as_durations_and_dependencies(reg):
    data = export(reg)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == list(register_wb.SHEETS)
    assert wb["_meta"].sheet_state == "hidden"
    svc = {r["Service ID"]: r for r in rows(data, "Services")}
    assert set(svc) == {"CORE-DB", "PAY-GW"}
    core = svc["CORE-DB"]
    assert (core["MTPD"], core["RTO"], core["RPO"], core["Recovery tier"], core["Revision"]) == (
        "8 h", "1 h", "5 min", 1, 1)
    assert core["Holds data"] == "yes" and core["Approved on"] == datetime(2025, 1, 5)
    deps = {(r["Service ID"], r["Kind"], r["Depends on"]) for r in rows(data, "Dependencies")}
    assert deps == {("CORE-DB", "site", "DC1"), ("PAY-GW", "service", "CORE-DB"), ("PAY-GW", "supplier", "ACME")}
    assert [r["Supplier ID"] for r in rows(data, "Suppliers")] == ["ACME"]


def test_export_is_scoped_to_what_the_actor_may_read(reg):
    head = Actor("u3.head", access.HEAD, frozenset({"U3"}))
    assert rows(export(reg, head), "Services") == []


def test_user_text_is_never_a_formula_and_round_trips(reg):
    with clock.frozen(T1):
        services.update_service(reg, ADMIN, services.as_service({**services.get_service(reg, ADMIN, "CORE-DB"),
                                                                 "activity": "=HYPERLINK(\"http://x\")"}),
                                base_revision=1)
    data = export(reg)
    xml = member(data, sheet_member(data, "Services")).decode()
    assert "<f>" not in xml
    assert register_wb.analyse(reg, ADMIN, data, "r.xlsx").summary == {
        "added": 0, "changed": 0, "deactivated": 0, "unchanged": 2}


def test_template_has_the_headers_and_no_rows(reg):
    data = export(reg, template=True)
    ws = openpyxl.load_workbook(io.BytesIO(data))["Services"]
    assert [c.value for c in ws[1]] == [c.header for c in register_wb.SERVICE_COLS]
    assert ws.max_row == 1
    result = register_wb.analyse(reg, ADMIN, data, "t.xlsx")
    assert "Services: the Services sheet has no service rows: nothing to import" in texts(result)


# ---- dry run and commit -------------------------------------------------------------------------------------

NEW = {"Service ID": "CARD-AUTH", "Name": "Card authorisation", "Unit ID": "U2", "Owner": "amira.haddad",
       "Recovery tier": 1, "MTPD": "4h", "RTO": "PT2H", "RPO": "5m", "Holds data": "yes"}


def test_dry_run_diff_names_added_changed_field_by_field_and_deactivated_and_writes_nothing(reg):
    data = export(reg)
    data = edit(data, "Services", {(row_of(data, "Services", "PAY-GW"), "RTO"): "1h",
                                   (row_of(data, "Services", "PAY-GW"), "Name"): "Payment gateway (EU)"},
                append=[NEW])
    data = edit(data, "Dependencies", append=[{"Service ID": "CARD-AUTH", "Kind": "service",
                                               "Depends on": "CORE-DB", "Note": "ledger"}])
    before = fingerprint(reg)
    result = register_wb.analyse(reg, ADMIN, data, "r.xlsx")
    assert result.ok, texts(result)
    assert result.summary == {"added": 1, "changed": 1, "deactivated": 0, "unchanged": 1}
    diff = {r["service_id"]: (r["action"], r["fields"]) for r in result.diff.iter_rows(named=True)}
    assert diff["PAY-GW"] == ("changed", "name, rto_minutes")
    changes = {r["field"]: (r["before"], r["after"]) for r in result.changes.iter_rows(named=True)}
    assert changes == {"name": ("Payment gateway", "Payment gateway (EU)"), "rto_minutes": ("2 h", "1 h")}
    assert fingerprint(reg) == before


def test_commit_writes_each_change_as_a_new_version_through_the_engine(reg):
    data = export(reg)
    pay = row_of(data, "Services", "PAY-GW")
    data = edit(data, "Services", {(pay, "RTO"): "1h"}, append=[NEW])
    data = edit(data, "Dependencies", append=[{"Service ID": "CARD-AUTH", "Kind": "service",
                                               "Depends on": "CORE-DB"}])
    with clock.frozen(T1):
        result = register_wb.commit(reg, ADMIN, data, "r.xlsx")
    assert result.committed and result.written == 2, texts(result)
    pay_history = services.history(reg, ADMIN, "PAY-GW")
    assert pay_history["rto_minutes"].to_list() == [120, 60]  # the old version is kept
    assert pay_history["change"].to_list() == ["create", "update"]
    card = services.get_service(reg, ADMIN, "CARD-AUTH")
    assert (card["revision"], card["rto_minutes"], card["rpo_minutes"], card["mtpd_minutes"]) == (1, 120, 5, 240)
    assert [d["target_id"] for d in card["dependencies"]] == ["CORE-DB"]
    with reg.read() as cur:
        actions = frame(cur, "SELECT action, object_id FROM audit_log WHERE logged_at >= ? ORDER BY seq", [T1])
    assert actions.rows() == [("service.update", "PAY-GW"), ("service.create", "CARD-AUTH"),
                              ("services.import", "r.xlsx")]
    again = register_wb.commit(reg, ADMIN, export(reg), "again.xlsx")  # re-importing an export changes nothing
    assert again.committed and again.written == 0 and again.summary["unchanged"] == 3


def test_deactivation_and_dependency_removal(reg):
    data = export(reg)
    data = edit(data, "Dependencies", {(row_of(data, "Dependencies", "PAY-GW", "CORE-DB"), "Depends on"): None,
                                       (row_of(data, "Dependencies", "PAY-GW", "CORE-DB"), "Kind"): None,
                                       (row_of(data, "Dependencies", "PAY-GW", "CORE-DB"), "Service ID"): None,
                                       (row_of(data, "Dependencies", "PAY-GW", "CORE-DB"), "Note"): None})
    data = edit(data, "Services", {(row_of(data, "Services", "CORE-DB"), "Deactivate (reason)"): "moved to SaaS"})
    result = register_wb.commit(reg, ADMIN, data, "r.xlsx")
    assert result.committed, texts(result)
    assert result.summary == {"added": 0, "changed": 1, "deactivated": 1, "unchanged": 0}
    assert services.list_services(reg, ADMIN)["service_id"].to_list() == ["PAY-GW"]
    assert [d["target_id"] for d in services.get_service(reg, ADMIN, "PAY-GW")["dependencies"]] == ["ACME"]


def test_deactivating_a_service_others_still_depend_on_is_refused(reg):
    data = export(reg)
    data = edit(data, "Services", {(row_of(data, "Services", "CORE-DB"), "Deactivate (reason)"): "retired"})
    refused(reg, data, "depends on CORE-DB, which is not a known active service")


# ---- faulty workbooks: every problem at once, nothing written ----------------------------------------------

def test_every_register_rule_is_reported_at_once_with_sheet_row_and_column(reg):
    data = export(reg)
    core, pay = row_of(data, "Services", "CORE-DB"), row_of(data, "Services", "PAY-GW")
    data = edit(data, "Services", {(core, "RTO"): "10h", (pay, "RPO"): None, (pay, "Unit ID"): "NOPE",
                                   (pay, "MTPD"): "3 fortnights"},
                append=[{**NEW, "Service ID": "LOOP-A", "RTO": "30m", "MTPD": "10m"},
                        {**NEW, "Service ID": "LOOP-B"}])
    data = edit(data, "Dependencies", append=[
        {"Service ID": "LOOP-A", "Kind": "service", "Depends on": "LOOP-B"},
        {"Service ID": "LOOP-B", "Kind": "service", "Depends on": "LOOP-A"},
        {"Service ID": "LOOP-B", "Kind": "supplier", "Depends on": "GHOST"},
        {"Service ID": "LOOP-B", "Kind": "site", "Depends on": "DC9"}])
    problems = refused(reg, data)
    joined = "\n".join(problems)
    assert f"Services, row {core}, column 'RTO' (H{core}): the RTO (10 h) is longer than the MTPD (8 h)" in joined
    assert f"Services, row {pay}, column 'Unit ID' (C{pay}): unknown or inactive business unit NOPE" in joined
    assert f"Services, row {pay}, column 'MTPD' (G{pay}): cannot read '3 fortnights' as a duration" in joined \
        or f"Services, row {pay}, column 'MTPD' (G{pay}): cannot read 3 fortnights as a duration" in joined
    assert f"Services, row {pay}, column 'RPO' (I{pay}): the service holds data, so it needs an RPO" in joined
    # the inversion names the chain: PAY-GW (RTO 2 h) depends on CORE-DB, now 10 h
    assert "RTO inversion: PAY-GW (RTO 2 h) depends on CORE-DB (RTO 10 h)" in joined
    assert "dependency cycle: LOOP-A -> LOOP-B -> LOOP-A" in joined
    assert "depends on GHOST, which is not a known supplier" in joined
    assert "depends on DC9, which is not a known site" in joined
    assert "the RTO (30 min) is longer than the MTPD (10 min)" in joined


def test_stale_rows_are_conflicts_and_not_overwritten(reg):
    data = export(reg)
    with clock.frozen(T1):
        services.update_service(reg, ADMIN, services.as_service({**services.get_service(reg, ADMIN, "PAY-GW"),
                                                                 "name": "Gateway"}), base_revision=1)
    data = edit(data, "Services", {(row_of(data, "Services", "PAY-GW"), "RTO"): "90m"})
    refused(reg, data, "conflict: PAY-GW was changed by system at 2025-03-01 12:00 UTC after this file was exported "
                       "(revision 2, the file has 1)")


def test_a_head_may_not_import_services_of_another_unit(reg):
    head = Actor("u2.head", access.HEAD, frozenset({"U2"}))
    data = edit(export(reg), "Services", append=[{**NEW, "Unit ID": "U1"}])
    result = register_wb.commit(reg, head, data, "r.xlsx")
    assert "u2.head may not maintain the services of unit U1" in "\n".join(texts(result))
    assert not result.committed


def test_missing_columns_foreign_kind_and_unknown_sheets(reg):
    data = export(reg)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb["Services"].delete_cols(8)  # RTO
    wb["_meta"]["B1"] = "unit-template"
    wb.create_sheet("Notes")["A1"] = "hello"
    out = io.BytesIO()
    wb.save(out)
    problems = refused(reg, out.getvalue(), "Services, row 1, column 'RTO': missing column 'RTO'",
                       "_meta, column 'kind': this is not a service register workbook",
                       "the sheet 'Notes' is not part of a service register workbook")
    assert len(problems) >= 3


def test_formulas_are_refused_and_never_evaluated(reg):
    data = export(reg)
    data = edit(data, "Services", {(row_of(data, "Services", "CORE-DB"), "RTO"): "=B2"})
    refused(reg, data, "column 'RTO' (H", "the cell holds a formula")


# ---- hostile files ----------------------------------------------------------------------------------------

def test_a_file_over_the_size_limit_is_refused_before_parsing(reg):
    before = fingerprint(reg)
    result = register_wb.commit(reg, ADMIN, export(reg), "big.xlsx", limits=Limits(max_bytes=1000))
    assert "over the import limit" in texts(result)[0]
    assert fingerprint(reg) == before


@pytest.mark.parametrize("case, expected", [
    ("macro", "macros or active content"),
    ("bomb", "zip bomb"),
    ("dtd", "DOCTYPE"),
    ("not_zip", "not an Excel .xlsx workbook"),
    ("ole", "encrypted (password-protected)"),
])
def test_hostile_workbooks_are_refused(reg, case, expected):
    data = export(reg)
    if case == "macro":
        bad = rezip(data, add={"xl/vbaProject.bin": b"\0" * 100})
    elif case == "bomb":
        bad = rezip(data, add={"xl/media/big.bin": b"\0" * (50 * 1024 * 1024)})
    elif case == "dtd":
        target = sheet_member(data, "Services")
        xml = member(data, target)
        bad = rezip(data, replace={target: b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
                                           + xml.split(b"?>", 1)[1]})
    elif case == "not_zip":
        bad = b"Service ID,Name\nX,Y\n"
    else:
        bad = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 1000
    problems = refused(reg, bad)
    assert expected.lower() in problems[0].lower(), problems


def test_damaged_zip_is_refused(reg):
    data = bytearray(export(reg))
    data[len(data) // 2:len(data) // 2 + 200] = b"\xff" * 200
    problems = refused(reg, bytes(data))
    assert problems[0].startswith("(file): ")


def test_a_zip_without_a_workbook_is_refused(reg):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "hi")
    refused(reg, buf.getvalue(), "not an Excel .xlsx workbook")


GARBAGE = ["", " ", "=1+1", "'=x", "-5", "1e9", "9" * 30, "４h", "P1Y", "PT", "yes", "NO", "maybe", "2026-02-30",
           "2026-01-01", "0", "1.5", "\u202eRTL", "a" * 40_000, None, 3, -1, 2.5, "CORE-DB", "PAY-GW", "U1", "service",
           "supplier", "site", "ACME", "DC1", "x y", "../etc", "1h30m"]


@pytest.mark.parametrize("seed", range(12))
def test_random_cell_garbage_never_crashes_and_never_half_writes(reg, seed):
    import random

    rnd = random.Random(seed)
    data = export(reg)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    for name in ("Services", "Dependencies"):
        ws = wb[name]
        for _ in range(6):
            ws.cell(rnd.randint(2, 5), rnd.randint(1, ws.max_column)).value = rnd.choice(GARBAGE)
    out = io.BytesIO()
    wb.save(out)
    before = fingerprint(reg)
    result = register_wb.commit(reg, ADMIN, out.getvalue(), "fuzz.xlsx")
    if result.problems:
        assert not result.committed and fingerprint(reg) == before
        assert all(p.sheet in ("(file)", "Services", "Dependencies", "_meta") for p in result.problems)
    else:
        assert result.committed
        assert register_wb.analyse(reg, ADMIN, export(reg), "again.xlsx").ok  # what it wrote is a valid register


def test_rows_the_register_cannot_take(reg):
    with clock.frozen(T1):
        services.create_service(reg, ADMIN, services.service_input(
            service_id="OLD", name="Old service", unit_id="U2", owner="amira.haddad", recovery_tier=3, rto="1d",
            mtpd="2d", rpo="1d"))
        services.deactivate_service(reg, ADMIN, "OLD", base_revision=1, reason="retired")
    data = edit(export(reg), "Services", append=[
        {**NEW, "Service ID": "OLD"},                                   # a deactivated id
        {**NEW, "Service ID": "GONE", "Deactivate (reason)": "never existed"},
        {**NEW, "Service ID": "FRESH", "Revision": 3}])
    data = edit(data, "Dependencies", append=[{"Service ID": "ELSEWHERE", "Kind": "site", "Depends on": "DC1"}])
    problems = "\n".join(refused(reg, data))
    assert "Services, row 4, column 'Service ID' (A4): OLD was deactivated; its id cannot be used again" in problems
    assert "Services, row 5, column 'Deactivate (reason)' (P5): GONE is not in the register: nothing to " \
           "deactivate" in problems
    assert "Services, row 6, column 'Revision' (O6): FRESH is not in the register, so it has no revision" in problems
    assert "Dependencies, row 5, column 'Service ID' (A5): ELSEWHERE is not on the Services sheet" in problems
