"""Tampering with the audit log directly in DuckDB is detected, and the first broken entry is named."""

from __future__ import annotations

import pytest

from assessment import audit, catalog
from assessment.cli import main

from .conftest import ADMIN, add_org, duckdb_only


@pytest.fixture
def logged(db, tmp_path):
    add_org(db, [("U1", "D1", 1)])
    for i in range(6):  # six audited changes: entries 1..6
        catalog.record_plan_review(db, ADMIN, "U1", f"2026-0{i + 1}-01")
    assert audit.verify(db, ADMIN).entries == 6
    return db


def sql(db, statement, params=()):
    with db.read() as cur:
        cur.execute(statement, list(params))


def test_intact_chain(logged):
    report = audit.verify(logged, ADMIN)
    assert report.ok and report.head_seq == 6


def test_edited_entry_is_named(logged):
    sql(logged, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    report = audit.verify(logged, ADMIN)
    assert not report.ok and report.first_broken_seq == 3 and "edited" in report.problem


def test_edited_payload_is_named(logged):
    sql(logged, "UPDATE audit_log SET after_json = replace(after_json, '2026-04', '2026-09') WHERE seq = 4")
    assert audit.verify(logged, ADMIN).first_broken_seq == 4


def test_deleted_entry_is_named(logged):
    sql(logged, "DELETE FROM audit_log WHERE seq = 2")
    report = audit.verify(logged, ADMIN)
    assert report.first_broken_seq == 2 and "missing" in report.problem


def test_deleted_and_renumbered_entries_are_detected(logged):
    sql(logged, "DELETE FROM audit_log WHERE seq = 2")
    sql(logged, "UPDATE audit_log SET seq = seq - 1 WHERE seq > 2")
    report = audit.verify(logged, ADMIN)
    assert report.first_broken_seq == 2 and "link" in report.problem


def test_reordered_entries_are_detected(logged):
    sql(logged, "UPDATE audit_log SET seq = 100 WHERE seq = 3")
    sql(logged, "UPDATE audit_log SET seq = 3 WHERE seq = 4")
    sql(logged, "UPDATE audit_log SET seq = 4 WHERE seq = 100")
    assert audit.verify(logged, ADMIN).first_broken_seq == 3


def test_truncated_tail_is_detected_by_the_head(logged):
    sql(logged, "DELETE FROM audit_log WHERE seq >= 5")
    report = audit.verify(logged, ADMIN)
    assert not report.ok and report.first_broken_seq == 5


def test_truncation_with_forged_head_is_caught_by_an_exported_head(logged):
    _, exported_head = audit.head(logged)
    sql(logged, "DELETE FROM audit_log WHERE seq >= 5")
    sql(logged, "UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4)")
    assert audit.verify(logged, ADMIN).ok  # a consistent forgery of the tail...
    report = audit.verify(logged, ADMIN, expected_head=exported_head)
    assert not report.ok and "earlier export" in report.problem  # ...is caught by the head printed in an export


def test_cli_verify_names_entry_and_fails(logged, capsys):
    duckdb_only(logged)
    path = str(logged.path)
    sql(logged, "UPDATE audit_log SET action = 'nothing' WHERE seq = 5")
    logged.close()
    assert main(["--db", path, "audit", "verify"]) == 3
    assert "BROKEN at entry #5" in capsys.readouterr().err
