"""The auditor pack's continuity-record sheets, read back: services with objectives, demonstrated against
required, untested top tier, RTO inversions, exercises and incidents over RTO, scoped like the rest of the pack."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl
import pytest

from assessment import clock, exercises, reports, services
from assessment.excel import export as excel_export
from assessment.excel.format import PACK_SHEETS, RECORD_SHEETS
from assessment.model import Dependency, Exercise, ExerciseResult

from .conftest import ADMIN
from .helpers.records import core_db, pay_gw

T0 = datetime(2026, 1, 10, 9, 0)
TODAY = date(2026, 6, 30)


@pytest.fixture
def packdb(org):
    with clock.frozen(T0):
        services.create_supplier(org, ADMIN, supplier_id="ACME", name="Acme Cloud")
        services.create_site(org, ADMIN, site_id="DC1", name="Primary data centre")
        services.create_service(org, ADMIN, core_db(rto_minutes=60))
        services.create_service(org, ADMIN, pay_gw())
        services.create_service(org, ADMIN, core_db(
            service_id="HR-APP", name="HR application", unit_id="U3", recovery_tier=3, rto_minutes=60,
            mtpd_minutes=2880, dependencies=(Dependency("service", "PAY-GW", "payroll", "payroll can wait"),)))
    with clock.frozen(datetime(2026, 3, 2, 9, 0)):
        exercises.record_exercise(org, ADMIN, Exercise(date(2026, 3, 1), "failover", "Gateway failover", (
            ExerciseResult("PAY-GW", achieved_recovery_minutes=360, findings="DNS cut-over was manual"),)))
    return org


def sheet(data: bytes, name: str) -> list[dict]:
    values = list(openpyxl.load_workbook(io.BytesIO(data))[name].iter_rows(values_only=True))
    return [dict(zip(values[0], r)) for r in values[1:]]


def pack(db, actor=ADMIN, filters=None) -> bytes:
    with clock.frozen(datetime(2026, 6, 30, 12, 0)):
        return excel_export.auditor_pack_bytes(db, actor, "C1", filters, today=TODAY)[0]


def test_record_sheets_read_back(packdb):
    data = pack(packdb)
    assert openpyxl.load_workbook(io.BytesIO(data)).sheetnames == [
        s for s in PACK_SHEETS if s not in ("_meta", "_ids")] + ["_meta", "_ids"]
    reg = {r["Service ID"]: r for r in sheet(data, "Service register")}
    assert set(reg) == {"CORE-DB", "PAY-GW", "HR-APP"}
    assert (reg["PAY-GW"]["MTPD"], reg["PAY-GW"]["RTO"], reg["PAY-GW"]["RPO"], reg["PAY-GW"]["Unit ID"]) == (
        "4 h", "2 h", "5 min", "U1")
    rec = {r["Service ID"]: r for r in sheet(data, "Recovery")}
    assert (rec["PAY-GW"]["Status"], rec["PAY-GW"]["Required (RTO)"], rec["PAY-GW"]["Demonstrated"],
            rec["PAY-GW"]["Proof age (days)"], rec["PAY-GW"]["Gap (minutes, + is slower)"]) == (
        "slower than RTO", "2 h", "6 h", 121, 240)  # 2026-03-01 to 2026-06-30; 360 - 120
    assert rec["CORE-DB"]["Status"] == "never tested"
    assert {r["Service ID"] for r in sheet(data, "Untested top tier")} == {"CORE-DB", "PAY-GW"}
    inv = sheet(data, "RTO inversions")
    assert [(r["Service ID"], r["Depends on"], r["Chain"], r["Accepted because"]) for r in inv] == [
        ("HR-APP", "PAY-GW", "HR-APP (RTO 1 h) depends on PAY-GW (RTO 2 h)", "payroll can wait")]
    ex = sheet(data, "Exercises")
    assert [(r["Service ID"], r["Achieved recovery"], r["RTO"], r["Passed"], r["Findings"]) for r in ex] == [
        ("PAY-GW", "6 h", "2 h", "no", "DNS cut-over was manual")]
    assert sheet(data, "Incidents over RTO") == []


def test_record_sheets_follow_the_pack_filter(packdb):
    d2 = pack(packdb, filters=reports.Filters(division_ids=("D2",)))
    assert [r["Service ID"] for r in sheet(d2, "Service register")] == ["HR-APP"]
    assert sheet(d2, "Exercises") == [] and sheet(d2, "Untested top tier") == []
    assert [r["Service ID"] for r in sheet(d2, "RTO inversions")] == ["HR-APP"]
    u1 = pack(packdb, filters=reports.Filters(unit_ids=("U1",)))
    assert sheet(u1, "RTO inversions") == []  # HR-APP's inversion is in U3
    for name in RECORD_SHEETS:
        assert {r.get("Unit ID") for r in sheet(u1, name)} <= {"U1"}, name
    assert [r["Service ID"] for r in sheet(u1, "Exercises")] == ["PAY-GW"]


def test_a_closed_cycle_shows_the_register_as_it_stood_at_its_close(packdb, mini_q):
    from assessment import campaigns

    campaigns.create(packdb, ADMIN, "C0", "Cycle 0", mini_q, date(2026, 1, 1), date(2026, 1, 31),
                     date(2026, 2, 15), status="closed")
    with clock.frozen(datetime(2026, 4, 1, 9, 0)):
        services.update_service(packdb, ADMIN, pay_gw(rto_minutes=60), base_revision=1)
    with clock.frozen(datetime(2026, 6, 30, 12, 0)):
        closed = excel_export.auditor_pack_bytes(packdb, ADMIN, "C0", today=TODAY)[0]
    rto = {r["Service ID"]: r["RTO"] for r in sheet(closed, "Service register")}
    assert rto["PAY-GW"] == "2 h"  # the RTO in force on 2026-02-15, not today's 1 h
    assert [r["Service ID"] for r in sheet(closed, "Exercises")] == []  # the failover came after the close
    assert {r["Service ID"]: r["RTO"] for r in sheet(pack(packdb), "Service register")}["PAY-GW"] == "1 h"



def test_the_exercises_sheet_covers_the_review_packs_twelve_calendar_months(packdb):
    """The window is the review pack's (recovery.window_start): from the same day a year before. Across a
    leap day that is 366 days, so an exercise on 2027-06-30 is on a sheet made on 2028-06-30 (365 days back
    would leave it out) and one on 2027-06-29 is not."""
    from assessment.excel import records_sheets

    with clock.frozen(datetime(2028, 6, 30, 9, 0)):
        for day, title in ((date(2027, 6, 30), "First day"), (date(2027, 6, 29), "Day before")):
            exercises.record_exercise(packdb, ADMIN, Exercise(day, "restore_test", title, (
                ExerciseResult("CORE-DB", achieved_recovery_minutes=30),)))
    tables = {name: df for name, _, df, _ in records_sheets.record_tables(
        packdb, ADMIN, None, datetime(2028, 6, 30, 12, 0), date(2028, 6, 30))}
    assert tables["Exercises"]["title"].to_list() == ["First day"]
