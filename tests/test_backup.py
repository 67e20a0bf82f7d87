"""Online backups, retention, scheduling, restore (only with the app stopped) and verification."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from assessment import access, audit, backup, campaigns, checkpoints, cli, workflow
from assessment.errors import DatabaseError, DatabaseLocked, PermissionDenied, SettingsError
from assessment.model import Actor, Answer
from assessment.storage import backup as store
from assessment.storage import migrations
from assessment.storage.db import open_database

from .conftest import ADMIN, add_org
from .helpers.environment import ROOT, assert_clean_failure, file_size_limit, held_by_another_process, run_cli

TODAY = date(2026, 6, 30)
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def org(tmp_path, mini_q):
    """The shared org fixture also runs on PostgreSQL; backups here are of the DuckDB file."""
    db = open_database(tmp_path / "itscm.duckdb")
    add_org(db, [("U1", "D1", 1), ("U2", "D1", 3), ("U3", "D2", 2)])
    campaigns.create(db, ADMIN, "C1", "Cycle 1", mini_q, date(2026, 6, 1), date(2026, 6, 30),
                     date(2026, 7, 15), status="open")
    yield db
    db.close()


def save(db, unit, level, **kw):
    return workflow.save_answers(db, ADMIN, "C1", unit, [Answer("GOV-01", level, **kw)], today=TODAY)


def file_fingerprint(path: Path) -> store.Fingerprint:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return store.fingerprint(con, store.current_catalog(con))
    finally:
        con.close()


def test_online_backup_matches_the_database_and_is_recorded(org):
    save(org, "U1", 2)
    info = backup.create_backup(org, ADMIN)
    assert info.path.parent == org.path.parent / "backups"
    assert backup.NAME.match(info.path.name) and info.path.with_suffix(".json").is_file()
    assert info.schema_version == migrations.LATEST
    assert info.rows["answer_events"] == 1 and info.rows["business_units"] == 3
    # The manifest holds the source's counts and hashes; the file matches them and the live database.
    manifest = json.loads(info.path.with_suffix(".json").read_text())
    assert manifest["tables"]["answer_events"]["rows"] == 1
    with org.read() as cur:
        live = store.fingerprint(cur, store.current_catalog(cur))
    copy = file_fingerprint(info.path)
    assert copy == info.fingerprint
    assert {k: v for k, v in live.items() if not k.startswith("audit")} == \
        {k: v for k, v in copy.items() if not k.startswith("audit")}  # + the backup.create audit entry
    entries = audit.entries(org, ADMIN, action="backup.create")
    assert entries.height == 1 and entries["object_id"][0] == info.path.name
    assert backup.verify_backup(info.path, ADMIN).ok


def test_backup_while_writers_keep_writing_is_a_consistent_snapshot(org):
    stop, errors, saved = threading.Event(), [], []

    def writer(unit):
        rng = random.Random(unit)
        try:
            while not stop.is_set():
                saved.append(save(org, unit, rng.randint(0, 2), comment=str(rng.random())).saved)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(u,)) for u in ("U1", "U2", "U3")]
    for th in threads:
        th.start()
    try:
        infos = [backup.create_backup(org, ADMIN, keep=10, now=T0 + timedelta(minutes=i)) for i in range(3)]
    finally:
        stop.set()
        for th in threads:
            th.join()
    assert not errors and sum(saved) > 0
    for info in infos:
        assert backup.verify_backup(info.path, ADMIN).ok
        copy = open_database(_copy(info.path))
        try:
            with copy.read() as cur:
                events = cur.execute("SELECT count(*) FROM answer_events").fetchall()[0][0]
                logged = sum(len(json.loads(a)) for (a,) in cur.execute(
                    "SELECT after_json FROM audit_log WHERE action = 'answers.save'").fetchall())
            assert events == logged  # every save in the copy is whole: its events and its audit entry
            assert audit.verify(copy, ADMIN).ok
        finally:
            copy.close()


def _copy(path: Path) -> Path:
    target = path.parent.parent / f"copy-{path.name}"
    shutil.copyfile(path, target)
    return target


def test_only_the_newest_backups_are_kept(org, monkeypatch):
    monkeypatch.setenv("ITSCM_BACKUP_KEEP", "3")
    made = [backup.create_backup(org, ADMIN, now=T0 + timedelta(hours=i)) for i in range(5)]
    left = backup.list_backups(org.path.parent / "backups")
    assert left == [m.path for m in reversed(made[2:])]
    assert made[-1].pruned == [made[1].path]
    assert not made[0].path.with_suffix(".json").exists()
    assert sorted(p.name for p in left[0].parent.iterdir()) == sorted(
        [p.name for p in left] + [p.with_suffix(".json").name for p in left])
    monkeypatch.setenv("ITSCM_BACKUP_KEEP", "none")
    with pytest.raises(SettingsError, match="ITSCM_BACKUP_KEEP='none' is not usable: expected a whole number"):
        backup.create_backup(org, ADMIN)
    monkeypatch.delenv("ITSCM_BACKUP_KEEP")
    assert backup.keep_setting() == 7


def test_maybe_backup_runs_when_the_newest_is_older_than_the_interval(org):
    first = backup.maybe_backup(org, 24, now=T0)
    assert first is not None
    assert backup.maybe_backup(org, 24, now=T0 + timedelta(hours=23)) is None
    second = backup.maybe_backup(org, 24, now=T0 + timedelta(hours=25))
    assert second is not None and second.path != first.path
    assert audit.entries(org, ADMIN, action="backup.create")["actor"].to_list() == ["system", "system"]


def test_the_scheduler_thread_backs_up_and_stops(org):
    scheduler = backup.start_scheduler(org, interval_hours=24, check_every_seconds=0.05)
    try:
        for _ in range(250):
            if backup.list_backups(org.path.parent / "backups"):
                break
            threading.Event().wait(0.02)
        threading.Event().wait(0.2)  # several more rounds: the backup is fresh, nothing more is made
    finally:
        scheduler.stop()
    assert not scheduler.thread.is_alive()
    assert len(backup.list_backups(org.path.parent / "backups")) == 1


def test_only_administrators_back_up_and_restore(org, tmp_path):
    manager = Actor("mgr", access.MANAGER)
    with pytest.raises(PermissionDenied):
        backup.create_backup(org, manager)
    info = backup.create_backup(org, ADMIN)
    with pytest.raises(PermissionDenied):
        backup.verify_backup(info.path, manager)
    with pytest.raises(PermissionDenied):
        backup.restore(info.path, tmp_path / "new.duckdb", manager)


def test_restore_brings_back_the_backup_exactly(org):
    save(org, "U1", 2)
    info = backup.create_backup(org, ADMIN)
    save(org, "U1", 4, evidence="new", evidence_date=date(2026, 6, 1))  # after the backup: will be undone
    path = org.path
    org.close()
    with pytest.raises(DatabaseError, match="already exists: pass --force"):
        backup.restore(info.path, path, ADMIN)
    report = backup.restore(info.path, path, ADMIN, force=True)
    assert report.verification.ok and report.previous is not None and report.previous.is_file()
    assert file_fingerprint(path) == info.fingerprint
    assert not Path(str(path) + ".wal").exists()
    db = open_database(path)
    try:
        assert workflow.current_answers(db, ADMIN, "C1", "U1")["level"].to_list() == [2]
        save(db, "U1", 3)  # new writes continue after the restored ids
        hist = workflow.answer_history(db, ADMIN, "C1", "U1")
        assert hist["event_id"].n_unique() == hist.height == 2
        assert audit.verify(db, ADMIN).ok
    finally:
        db.close()
    kept = open_database(report.previous)  # the replaced database is intact, with the later change
    try:
        assert workflow.current_answers(kept, ADMIN, "C1", "U1")["level"].to_list() == [4]
    finally:
        kept.close()


def test_restore_into_a_new_file(org, tmp_path):
    info = backup.create_backup(org, ADMIN)
    target = tmp_path / "fresh" / "itscm.duckdb"
    target.parent.mkdir()
    report = backup.restore(info.path, target, ADMIN)
    assert report.previous is None and file_fingerprint(target) == info.fingerprint


def test_restore_refuses_while_another_process_holds_the_database(org, capsys):
    info = backup.create_backup(org, ADMIN)
    path = org.path
    org.close()
    before = path.read_bytes()
    with held_by_another_process(path) as holder:
        with pytest.raises(DatabaseLocked, match="in use by another process"):
            backup.restore(info.path, path, ADMIN, force=True)
        result = run_cli("--db", str(path), "restore", str(info.path), "--force")
        assert_clean_failure(result, "in use by another process", f"process id {holder.pid}")
        assert cli.main(["--db", str(path), "backup"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "in use by another process" in err
        assert "do this from inside it (the Admin page)" in err
    assert path.read_bytes() == before
    assert not list(path.parent.glob("*.restoring*")) and not list(path.parent.glob("*before-restore*"))


def test_restore_refuses_while_this_process_has_the_database_open(org):
    info = backup.create_backup(org, ADMIN)
    with pytest.raises(DatabaseLocked, match="open in this process"):
        backup.restore(info.path, org.path, ADMIN, force=True)


def test_restore_replaces_a_damaged_database(org):
    info = backup.create_backup(org, ADMIN)
    path = org.path
    org.close()
    path.write_bytes(random.Random(3).randbytes(40_000))
    with pytest.raises(DatabaseError, match="not a readable database file"):
        open_database(path)
    report = backup.restore(info.path, path, ADMIN, force=True)
    assert report.previous.read_bytes()[:100] == random.Random(3).randbytes(40_000)[:100]
    open_database(path).close()
    assert file_fingerprint(path) == info.fingerprint


def test_a_tampered_backup_fails_verification_and_is_not_restored(org, tmp_path):
    save(org, "U1", 2)
    info = backup.create_backup(org, ADMIN)
    con = duckdb.connect(str(info.path))
    con.execute("UPDATE answer_events SET level = 5")
    con.close()
    report = backup.verify_backup(info.path, ADMIN)
    assert not report.ok
    assert any(p.startswith("answer_events: same 1 rows but different content") for p in report.problems)
    with pytest.raises(DatabaseError, match="failed verification, nothing was restored"):
        backup.restore(info.path, tmp_path / "new.duckdb", ADMIN)
    assert not (tmp_path / "new.duckdb").exists()

    damaged = tmp_path / "damaged.duckdb"
    damaged.write_bytes(random.Random(4).randbytes(20_000))
    with pytest.raises(DatabaseError, match=f"the backup {damaged} cannot be opened: it is damaged or not a DuckDB"):
        backup.verify_backup(damaged, ADMIN)
    with pytest.raises(DatabaseError, match="no backup file"):
        backup.verify_backup(tmp_path / "missing.duckdb", ADMIN)


def test_a_backup_with_an_edited_audit_trail_fails_verification(org):
    info = backup.create_backup(org, ADMIN)
    con = duckdb.connect(str(info.path))
    con.execute("UPDATE audit_log SET actor = 'someone else'")
    con.close()
    report = backup.verify_backup(info.path, ADMIN)
    assert not report.ok and any("audit chain BROKEN" in p for p in report.problems)


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")
def test_a_full_disk_during_a_backup_leaves_no_half_backup(org):
    with org.read() as cur:
        cur.execute("CREATE TABLE filler AS SELECT range AS i, repeat('x', 100) AS s FROM range(20000)")
    path = org.path
    org.close()
    result = run_cli("--db", str(path), "backup", preexec=file_size_limit(400_000))
    assert_clean_failure(result, "the backup failed and nothing was kept", "free space")
    assert list((path.parent / "backups").iterdir()) == []
    db = open_database(path)
    try:
        assert audit.verify(db, ADMIN).ok and audit.entries(db, ADMIN, action="backup.create").height == 0
    finally:
        db.close()


def test_postgresql_deployments_are_backed_up_with_their_own_tools(org):
    class Pg:
        dialect = "postgresql"

    with pytest.raises(DatabaseError, match="pg_dump"):
        backup.create_backup(Pg(), ADMIN)


def test_a_backup_folder_that_cannot_be_created(org, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatabaseError, match="cannot create the backup folder"):
        backup.create_backup(org, ADMIN, directory=blocker / "backups")


def test_cli_backup_verify_and_restore(tmp_path, org, capsys):
    save(org, "U1", 1)
    path = org.path
    org.close()
    out = tmp_path / "elsewhere"
    assert cli.main(["--db", str(path), "backup", "-o", str(out), "--keep", "2"]) == 0
    assert "row counts and content hashes match" in capsys.readouterr().out
    (made,) = backup.list_backups(out)
    assert cli.main(["verify-backup", str(made)]) == 0
    assert "OK" in capsys.readouterr().out
    assert cli.main(["--db", str(path), "restore", str(made)]) == 1
    assert "pass --force" in capsys.readouterr().err
    assert cli.main(["--db", str(path), "restore", str(made), "--force"]) == 0
    assert "matches the backup" in capsys.readouterr().out
    con = duckdb.connect(str(made))
    con.execute("DELETE FROM divisions")
    con.close()
    assert cli.main(["verify-backup", str(made)]) == 3
    assert "divisions: 2 rows in the manifest" in capsys.readouterr().err


# --- recovery messages (issue 13 items 15 and 16) ------------------------------------------------------------

def _cli_refuses(path: Path, backup_file: Path, *phrases: str) -> None:
    """verify-backup and restore --force both refuse it with a message naming the file, never a traceback."""
    result = run_cli("verify-backup", str(backup_file))
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr
    before = path.read_bytes()
    result = run_cli("--db", str(path), "restore", str(backup_file), "--force")
    assert_clean_failure(result, f"the backup {backup_file} failed verification, nothing was restored", *phrases)
    assert path.read_bytes() == before


@pytest.fixture
def closed(org):
    """A backup of a database big enough that its data lies in blocks read only after opening, then closed."""
    with org.read() as cur:
        cur.execute("CREATE TABLE filler AS SELECT range AS i, repeat('x', 100) AS s FROM range(60000)")
    info = backup.create_backup(org, ADMIN)
    org.close()
    return org.path, info.path


def test_a_bit_flipped_backup_is_named_as_damaged(closed):
    path, made = closed
    data = bytearray(made.read_bytes())
    second_block = 3 * 4096 + 256 * 1024  # after DuckDB's three header pages and the first 256 KiB block
    for i in range(second_block, second_block + 4096):  # table data, found damaged only when it is read
        data[i] ^= 0xFF
    made.write_bytes(bytes(data))
    with pytest.raises(DatabaseError, match=f"the backup {made} is damaged: reading it failed") as err:
        backup.verify_backup(made, ADMIN)
    assert "Use another backup" in str(err.value)
    result = run_cli("--db", str(path), "restore", str(made), "--force")
    assert_clean_failure(result, f"the backup {made} is damaged", "Use another backup")


def test_a_backup_whose_audit_table_was_dropped_is_refused(closed):
    path, made = closed
    con = duckdb.connect(str(made))
    con.execute("DROP TABLE audit_log")
    con.close()
    report = backup.verify_backup(made, ADMIN)
    assert not report.ok and report.problems[0] == (
        f"{made.name} lacks the table(s) audit_log that every database of this product has at schema version "
        f"{migrations.LATEST}: it was altered after it was made; use another backup")
    _cli_refuses(path, made, "lacks the table(s) audit_log")


def test_a_corrupt_manifest_is_named(closed):
    path, made = closed
    made.with_suffix(".json").write_text("{not json", encoding="utf-8")
    _cli_refuses(path, made, f"the manifest {made.with_suffix('.json')} is not valid JSON (line 1, column 2")
    made.with_suffix(".json").write_text('{"tables": [1, 2]}', encoding="utf-8")
    _cli_refuses(path, made, "is not a manifest of this product's backups")


def test_a_backup_without_its_manifest_is_not_restored_even_with_force(closed):
    path, made = closed
    made.with_suffix(".json").unlink()
    _cli_refuses(path, made, f"no manifest {made.with_suffix('.json').name} next to {made.name}")


def test_a_foreign_database_is_not_restored_even_with_force(closed, tmp_path):
    path, made = closed
    foreign = tmp_path / "foreign" / made.name
    foreign.parent.mkdir()
    duckdb.connect(str(foreign)).close()  # an empty DuckDB file, with a copied manifest beside it
    shutil.copy(made.with_suffix(".json"), foreign.with_suffix(".json"))
    _cli_refuses(path, foreign, f"{foreign.name} holds no schema_migrations table: it is not a database of this "
                 "product")
    other = tmp_path / "foreign" / "other-app.duckdb"  # another application's database with its own tables
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE schema_migrations (version INTEGER, name VARCHAR, applied_at TIMESTAMP)")
    con.execute("INSERT INTO schema_migrations VALUES (5, 'theirs', now())")
    con.close()
    _cli_refuses(path, other, "lacks the table(s)", "no manifest other-app.json")


def test_the_manifest_carries_the_audit_head_and_a_checkpoint_the_backup_matches(org):
    info = backup.create_backup(org, ADMIN)
    manifest = json.loads(info.path.with_suffix(".json").read_text())
    cp = checkpoints.parse(manifest["audit_checkpoint"])
    assert manifest["product"] == backup.PRODUCT and cp.seq == manifest["audit_head"]["seq"]
    assert backup.verify_backup(info.path, ADMIN).ok
    # The backup's log cut back and re-chained to match its own stored checkpoints: the manifest still knows.
    con = duckdb.connect(str(info.path))
    con.execute("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)")
    con.execute("DELETE FROM audit_checkpoints WHERE mac IS NOT NULL")
    con.execute("UPDATE audit_head SET seq = seq - 1, hash = (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1)")
    con.close()
    report = backup.verify_backup(info.path, ADMIN)
    assert not report.ok and any(f"covers #{cp.seq}" in p for p in report.problems)


KILL_AT_RENAME = r"""
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from assessment import access, backup
from assessment.storage.db import open_database

real = os.replace
def replace(src, dst):
    if str(src).endswith(".duckdb.partial"):  # the manifest is written; the backup is not renamed yet
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
os.replace = replace
backup.create_backup(open_database(Path(sys.argv[1])), access.SYSTEM)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_a_kill_between_manifest_and_rename_leaves_nothing_after_the_next_backup(org):
    path, folder = org.path, org.path.parent / "backups"
    org.close()
    killed = subprocess.run([sys.executable, "-c", KILL_AT_RENAME, str(path), str(ROOT)], capture_output=True,
                            text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    orphans = sorted(p.name for p in folder.iterdir())
    assert len(orphans) == 2 and orphans[0].endswith(".duckdb.partial") and orphans[1].endswith(".json")
    db = open_database(path)
    try:
        made = backup.create_backup(db, ADMIN)
    finally:
        db.close()
    assert sorted(p.name for p in folder.iterdir()) == [made.path.name, made.path.with_suffix(".json").name]
    assert backup.list_backups(folder) == [made.path]
