"""Tampering with the audit log directly in DuckDB is detected, and the first broken entry is named."""

from __future__ import annotations

import stat

import pytest

from assessment import audit, catalog, checkpoints
from assessment.cli import main
from assessment.errors import SettingsError
from assessment.storage import audit as audit_sql
from assessment.storage.db import open_database

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


# --- completeness: keyed checkpoints (issue 13 item 5) -------------------------------------------------------

def rechain(db, from_seq: int) -> None:
    """What an attacker who can write the database does: recompute every hash from from_seq on, and the head."""
    with db.read() as cur:
        rows = audit_sql.read_chain(cur)
        prev = audit_sql.GENESIS if from_seq == 1 else next(r[10] for r in rows if r[0] == from_seq - 1)
        for seq, at, who, source, action, otype, oid, before, after, _, _ in rows:
            if seq < from_seq:
                continue
            h = audit_sql.entry_hash(prev, seq, at.isoformat(), who, source, action, otype, oid, before, after)
            cur.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", [prev, h, seq])
            prev = h
        cur.execute("UPDATE audit_head SET seq = (SELECT max(seq) FROM audit_log), hash = ?", [prev])


def review(db, n: int, start: int = 0) -> None:
    for i in range(n):
        catalog.record_plan_review(db, ADMIN, "U1", f"20{26 + (start + i) // 300}-0{1 + (start + i) % 9}-01")


@pytest.fixture
def checkpointed(logged):
    """Entries 1..6, a checkpoint at #7 (its own entry), entries 8..10, a checkpoint at #11, entries 12..13."""
    first = audit.checkpoint(logged, ADMIN)
    review(logged, 3)
    second = audit.checkpoint(logged, ADMIN)
    review(logged, 2)
    assert (first.seq, second.seq) == (7, 11) and audit.verify(logged, ADMIN).ok
    return logged


def test_a_wiped_log_is_caught_by_its_checkpoint(checkpointed):
    sql(checkpointed, "DELETE FROM audit_log")
    sql(checkpointed, "UPDATE audit_head SET seq = 0, hash = 'genesis'")
    report = audit.verify(checkpointed, ADMIN)
    assert not report.ok and report.first_broken_seq == 1
    assert report.problem.startswith("the log is empty but checkpoint #11 of ")
    assert report.problem.endswith("exists: the log was wiped")


def test_a_cut_tail_with_a_forged_head_is_caught_by_its_checkpoint(checkpointed):
    sql(checkpointed, "DELETE FROM audit_log WHERE seq >= 9")
    sql(checkpointed, "UPDATE audit_head SET seq = 8, hash = (SELECT hash FROM audit_log WHERE seq = 8)")
    report = audit.verify(checkpointed, ADMIN)
    day = audit.latest_checkpoint(checkpointed).created_at.date().isoformat()
    assert not report.ok and report.first_broken_seq == 9
    assert report.problem == (f"the log ends at #8, but a checkpoint from {day} covers #11: entries #9 to #11 "
                              "were removed")


def test_an_edited_and_rechained_log_is_caught_by_its_checkpoint(checkpointed):
    sql(checkpointed, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 9")
    rechain(checkpointed, 9)
    report = audit.verify(checkpointed, ADMIN)
    assert not report.ok and report.first_broken_seq == 8
    assert report.problem.startswith("entries re-chained after #7: the checkpoint #11 of ")
    assert "does not match the log" in report.problem


def test_a_forged_checkpoint_is_named(checkpointed):
    rechain_target = audit.latest_checkpoint(checkpointed)
    sql(checkpointed, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 9")
    rechain(checkpointed, 9)
    with checkpointed.read() as cur:  # the attacker also "fixes" the checkpoint, without the key
        new_head = audit_sql.head(cur)[1]
    sql(checkpointed, "UPDATE audit_checkpoints SET head_hash = ? WHERE seq = ?", [new_head, rechain_target.seq])
    report = audit.verify(checkpointed, ADMIN)
    assert not report.ok and report.first_broken_seq == 11 and "is forged: its HMAC does not match" in report.problem


def test_deleting_the_checkpoints_too_is_noticed_once_one_was_due(logged):
    review(logged, checkpoints.EVERY)  # entries 7..106: the storage layer signs #100 on its own
    with logged.read() as cur:
        assert [c.seq for c in audit_sql.stored_checkpoints(cur)] == [0, checkpoints.EVERY]
    sql(logged, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 50")
    rechain(logged, 50)
    assert "re-chained after #0" in audit.verify(logged, ADMIN).problem
    sql(logged, "DELETE FROM audit_checkpoints WHERE mac IS NOT NULL")
    report = audit.verify(logged, ADMIN)
    assert not report.ok and report.problem == (
        "checkpoints are missing: there is none after #0 although the log runs to #106 and one is signed every "
        "100 entries (checkpoints were deleted)")


def test_an_exported_checkpoint_catches_what_the_database_alone_cannot(checkpointed):
    exported = checkpoints.parse(audit.latest_checkpoint(checkpointed).text())  # e.g. from an auditor pack
    sql(checkpointed, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 9")
    rechain(checkpointed, 9)
    sql(checkpointed, "DELETE FROM audit_checkpoints WHERE mac IS NOT NULL")  # short log: no checkpoint was due yet
    assert audit.verify(checkpointed, ADMIN).ok
    report = audit.verify(checkpointed, ADMIN, external=[exported])
    assert not report.ok and report.problem.startswith("entries re-chained after #0: the checkpoint #11 of ")


def test_every_append_path_signs_periodic_checkpoints(db):
    """Sign-in events (appended by the storage function directly) count toward the periodic checkpoint too."""
    from assessment import auth

    for i in range(checkpoints.EVERY + 5):
        with pytest.raises(auth.LoginFailed):
            auth.login(db, f"nobody{i}", "a wrong guess")
    with db.read() as cur:
        assert [(c.seq, c.signed) for c in audit_sql.stored_checkpoints(cur)] == [(0, False), (100, True)]
    report = audit.verify(db, ADMIN)
    assert report.ok and report.checkpoints_checked == 1 and report.latest_checkpoint.seq == 100


def test_expected_head_names_what_is_wrong(logged, capsys):
    _, exported_head = audit.head(logged)
    sql(logged, "DELETE FROM audit_log WHERE seq >= 5")
    sql(logged, "UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4)")
    report = audit.verify(logged, ADMIN, expected_head=exported_head)
    assert "#None" not in str(report)
    assert str(report).startswith(f"audit chain BROKEN: the head {exported_head[:16]} from an earlier export is not "
                                  "in the chain, which now ends at #4")


def test_a_checkpoint_signed_with_another_key_is_reported(checkpointed, monkeypatch):
    monkeypatch.setenv("ITSCM_AUDIT_KEY", "another installation's key, 32+ characters long")
    report = audit.verify(checkpointed, ADMIN)
    assert not report.ok and "was signed with another key (id " in report.problem


def test_the_key_file_is_made_owner_only_on_first_use(tmp_path, monkeypatch):
    monkeypatch.delenv("ITSCM_AUDIT_KEY")
    monkeypatch.setenv("ITSCM_DATA_DIR", str(tmp_path))
    assert checkpoints.load_key(create=False) is None  # verifying never creates it
    key = checkpoints.load_key(create=True)
    path = tmp_path / "audit.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and key.source == str(path)
    assert checkpoints.load_key(create=True).key_id == key.key_id  # reused, not replaced
    path.chmod(0o644)
    with pytest.raises(SettingsError, match="readable by other users .*chmod 600"):
        checkpoints.load_key(create=False)
    path.chmod(0o600)
    path.write_text("not a key")
    with pytest.raises(SettingsError, match="is damaged"):
        checkpoints.load_key(create=False)
    monkeypatch.setenv("ITSCM_AUDIT_KEY", "too short")
    with pytest.raises(SettingsError, match="ITSCM_AUDIT_KEY=\\(hidden\\) is not usable: expected at least 32"):
        checkpoints.load_key(create=True)


def test_checkpoint_text_round_trips_and_rejects_garbage(checkpointed):
    cp = audit.latest_checkpoint(checkpointed)
    assert checkpoints.parse(cp.text()) == cp
    with pytest.raises(ValueError, match="not a checkpoint"):
        checkpoints.parse("seq=11 head=abc")


def test_cli_verify_takes_an_exported_checkpoint(checkpointed, capsys):
    duckdb_only(checkpointed)
    path = str(checkpointed.path)
    checkpointed.close()
    assert main(["--db", path, "audit", "checkpoint"]) == 0  # signs #14 over its own entry and prints it
    text = capsys.readouterr().out.splitlines()[-1]
    assert checkpoints.parse(text).seq == 14
    checkpointed = open_database(path)
    sql(checkpointed, "DELETE FROM audit_log WHERE seq >= 9")
    sql(checkpointed, "DELETE FROM audit_checkpoints WHERE mac IS NOT NULL")
    sql(checkpointed, "UPDATE audit_head SET seq = 8, hash = (SELECT hash FROM audit_log WHERE seq = 8)")
    checkpointed.close()
    assert main(["--db", path, "audit", "verify"]) == 0  # the database alone cannot tell
    capsys.readouterr()
    assert main(["--db", path, "audit", "verify", "--checkpoint", text]) == 3
    assert "BROKEN at entry #9: the log ends at #8, but a checkpoint from" in capsys.readouterr().err
    assert main(["--db", path, "audit", "verify", "--checkpoint", "garbage"]) == 1
    assert "not a checkpoint" in capsys.readouterr().err


def test_the_auditor_pack_carries_the_latest_checkpoint(org, tmp_path):
    from openpyxl import load_workbook

    from assessment.excel import export as excel_export

    cp = audit.checkpoint(org, ADMIN)
    path = tmp_path / "pack.xlsx"
    excel_export.auditor_pack(org, ADMIN, "C1", path)
    about = {r[0].value: r[1].value for r in load_workbook(path)["About"].iter_rows(min_row=3) if r[0].value}
    (label,) = [k for k in about if k.startswith("Latest audit checkpoint")]
    assert checkpoints.parse(about[label]) == cp
