"""`itscm services …`, `itscm exercises` and `itscm recovery` on a DuckDB file: what they print, and a
register round trip through the workbook commands (dry run first, then the commit writes a new version)."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl
import pytest

from assessment import clock, exercises, services
from assessment.cli import main
from assessment.model import Exercise, ExerciseResult
from assessment.storage.db import open_database

from .conftest import add_org
from .helpers.records import ADMIN, core_db, pay_gw

T0 = datetime(2025, 1, 10, 9, 0)


@pytest.fixture
def dbfile(tmp_path, migrated_template):
    import shutil

    path = tmp_path / "cli.duckdb"
    shutil.copy(migrated_template, path)
    db = open_database(path)
    add_org(db, [("U1", "D1", 1), ("U2", "D1", 3)])
    with clock.frozen(T0):
        services.create_supplier(db, ADMIN, supplier_id="ACME", name="Acme Cloud")
        services.create_site(db, ADMIN, site_id="DC1", name="Primary data centre")
        services.create_service(db, ADMIN, core_db())
        services.create_service(db, ADMIN, pay_gw())
    with clock.frozen(datetime(2025, 1, 16, 9, 0)):
        exercises.record_exercise(db, ADMIN, Exercise(
            date(2025, 1, 15), "failover", "Gateway failover",
            (ExerciseResult("PAY-GW", achieved_recovery_minutes=360, findings="DNS cut-over was manual"),)))
    db.close()
    return str(path)


def test_recovery_prints_demonstrated_against_required(dbfile, capsys):
    with clock.frozen(datetime(2025, 1, 20, 9, 0)):
        assert main(["--db", dbfile, "recovery"]) == 0
    out = capsys.readouterr().out
    pay = next(line for line in out.splitlines() if line.startswith("| PAY-GW"))
    # RTO 2 h, demonstrated 6 h on 2025-01-15, 5 days ago, 4 h slower
    assert [c.strip() for c in pay.strip("|").split("|")] == [
        "PAY-GW", "U1", "1", "slower than RTO", "2 h", "6 h", "2025-01-15", "5", "4 h"]
    assert "| CORE-DB" in out and "never tested" in out
    assert "Top-tier services without a passing test in 12 months: 2" in out


def test_services_list_and_exercises(dbfile, capsys):
    assert main(["--db", dbfile, "services", "list", "--unit", "U1"]) == 0
    out = capsys.readouterr().out
    assert "| CORE-DB" in out and "| 8 h  | 1 h | 5 min |" in out
    assert main(["--db", dbfile, "exercises"]) == 0
    out = capsys.readouterr().out
    assert "| PAY-GW" in out and "6 h" in out and "DNS cut-over was manual" in out


def test_services_export_dry_run_and_import(dbfile, tmp_path, capsys):
    path = tmp_path / "register.xlsx"
    assert main(["--db", dbfile, "services", "export", "-o", str(path)]) == 0
    wb = openpyxl.load_workbook(path)
    ws = wb["Services"]
    h = {c.value: c.column for c in ws[1]}
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, h["Service ID"]).value == "CORE-DB")
    ws.cell(row, h["RTO"]).value = "45m"
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(buf.getvalue())
    capsys.readouterr()
    assert main(["--db", dbfile, "services", "import", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run, nothing saved: 0 added, 1 changed, 0 deactivated, 1 unchanged" in out
    assert "| rto_minutes | 1 h    | 45 min |" in out
    assert main(["--db", dbfile, "services", "import", str(path)]) == 0
    assert "1 service version(s) saved" in capsys.readouterr().out
    db = open_database(dbfile)
    try:
        assert services.get_service(db, ADMIN, "CORE-DB")["revision"] == 2
    finally:
        db.close()
    assert main(["--db", dbfile, "services", "import", str(path)]) == 1  # the file is now stale
    err = capsys.readouterr().err
    assert "conflict: CORE-DB was changed by system" in err and "nothing was saved" in err


def test_services_template_then_a_faulty_import_lists_every_problem(dbfile, tmp_path, capsys):
    path = tmp_path / "t.xlsx"
    assert main(["--db", dbfile, "services", "template", "-o", str(path)]) == 0
    wb = openpyxl.load_workbook(path)
    ws = wb["Services"]
    ws.append(["NEW-1", "New service", "U9", "someone", 1, "", "1h", "2h", "", "yes"])
    wb.save(path)
    assert main(["--db", dbfile, "services", "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Services, row 2, column 'Unit ID' (C2): unknown or inactive business unit U9" in err
    assert "Services, row 2, column 'RTO' (H2): the RTO (2 h) is longer than the MTPD (1 h)" in err
    assert "Services, row 2, column 'RPO' (I2): the service holds data, so it needs an RPO" in err


def test_an_unknown_unit_or_division_is_refused_not_read_as_an_empty_organisation(dbfile, tmp_path, capsys):
    out = tmp_path / "pack.xlsx"
    assert main(["--db", dbfile, "export", "--campaign", "C1", "--unit", "U1", "--unit", "U-TYPO", "-o",
                 str(out)]) == 1
    err = capsys.readouterr().err
    assert "unknown business unit 'U-TYPO'" in err and "'U1'" not in err and not out.exists()
    assert main(["--db", dbfile, "recovery", "--division", "D9"]) == 1
    assert "division: unknown division 'D9'" in capsys.readouterr().err
    assert main(["--db", dbfile, "services", "list", "--division", "D1", "--unit", "U1"]) == 0
    assert "PAY-GW" in capsys.readouterr().out
