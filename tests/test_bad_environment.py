"""A hostile environment gives a clear error (what happened, what to do), never a stack trace.

Covered: missing data folder, a file where the data folder should be, a read-only data folder (root ignores
permission bits, so the os.access branch is tested with a patched check and the real chmod case only runs
as a normal user), a full disk (simulated with RLIMIT_FSIZE in a subprocess: writes past the limit fail
with EFBIG, like ENOSPC), a damaged or foreign database file, a folder where the file should be, and a
database file held by another process (the CLI fails fast with DatabaseLocked's message).
"""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from assessment import bootstrap, folders
from assessment.errors import DatabaseError, DatabaseLocked
from assessment.settings import load as load_settings
from assessment.storage.db import open_database

from .helpers.environment import assert_clean_failure, file_size_limit, held_by_another_process, run_cli

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

def settings_for(tmp_path: Path, data_dir: Path):
    return replace(load_settings(), data_dir=data_dir, database_url=str(data_dir / "itscm.duckdb"),
                   demo_on_first_start=False)


# --- data folder ----------------------------------------------------------------------------------

def test_a_missing_data_folder_is_created_at_startup(tmp_path):
    data = tmp_path / "not" / "yet" / "data"
    started = bootstrap.start(settings_for(tmp_path, data))
    try:
        assert (data / "itscm.duckdb").is_file()
    finally:
        started.db.close()


def test_opening_a_database_in_a_missing_folder_says_what_to_do(tmp_path):
    with pytest.raises(DatabaseError, match="does not exist; create it or set ITSCM_DATA_DIR"):
        open_database(tmp_path / "missing" / "itscm.duckdb")


def test_a_file_where_the_data_folder_should_be(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    with pytest.raises(DatabaseError, match="cannot create the data folder .*ITSCM_DATA_DIR"):
        bootstrap.start(settings_for(tmp_path, blocker / "sub"))
    with pytest.raises(DatabaseError, match="is not a folder"):
        open_database(blocker / "itscm.duckdb")


def test_a_read_only_data_folder_is_reported(tmp_path, monkeypatch):
    """Root ignores permission bits: the os.access check is what protects a root-run CI; patch it."""
    data = tmp_path / "data"
    data.mkdir()
    real_access = os.access
    monkeypatch.setattr(folders.os, "access", lambda p, mode: False if Path(p) == data else real_access(p, mode))
    with pytest.raises(DatabaseError, match="read-only for this user.*ITSCM_DATA_DIR"):
        bootstrap.start(settings_for(tmp_path, data))


@pytest.mark.skipif(IS_ROOT or not hasattr(os, "geteuid"), reason="root ignores permission bits")
def test_a_really_read_only_data_folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    try:
        with pytest.raises(DatabaseError, match="read-only|permission"):
            bootstrap.start(settings_for(tmp_path, data))
        with pytest.raises(DatabaseError, match="permission denied"):
            open_database(data / "itscm.duckdb")
    finally:
        data.chmod(0o700)


def test_a_folder_where_the_database_file_should_be(tmp_path):
    (tmp_path / "itscm.duckdb").mkdir()
    with pytest.raises(DatabaseError, match="is a folder, not a database file"):
        open_database(tmp_path / "itscm.duckdb")


# --- damaged files --------------------------------------------------------------------------------

def _real_database(path: Path) -> bytes:
    db = open_database(path)
    with db.read() as cur:
        cur.execute("CREATE TABLE filler AS SELECT range AS i, repeat('x', 50) AS s FROM range(20000)")
    db.close()
    return path.read_bytes()


DAMAGE = {
    "random bytes": lambda good: random.Random(6).randbytes(50_000),
    "empty file": lambda good: b"",
    "text file": lambda good: b"id,level\nGOV-01,3\n" * 100,
    "damaged header": lambda good: random.Random(7).randbytes(4096) + good[4096:],
    "truncated": lambda good: good[: len(good) // 3],
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_database_file_gives_a_clear_error(tmp_path, kind):
    good = _real_database(tmp_path / "good.duckdb")
    bad = tmp_path / "itscm.duckdb"
    bad.write_bytes(DAMAGE[kind](good))
    with pytest.raises(DatabaseError) as err:
        db = open_database(bad)  # a truncated file may still open: its damage shows on the first full read
        try:
            with db.read() as cur:
                cur.execute("SELECT sum(i), max(s) FROM filler").fetchall()
        finally:
            db.close()
    text = str(err.value)
    assert str(bad) in text and "restore the latest backup" in text, text
    assert not isinstance(err.value, DatabaseLocked)
    if kind != "truncated":  # startup (what the app runs) gives the same error; app.py shows it, not a trace
        with pytest.raises(DatabaseError, match="restore the latest backup"):
            bootstrap.start(settings_for(tmp_path, tmp_path))


def test_the_cli_reports_a_damaged_file_without_a_traceback(tmp_path):
    bad = tmp_path / "itscm.duckdb"
    bad.write_bytes(random.Random(8).randbytes(30_000))
    result = run_cli("--db", str(bad), "campaigns")
    assert_clean_failure(result, "not a readable database file", "restore")
    assert result.returncode == 1


# --- full disk ------------------------------------------------------------------------------------

@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")
def test_a_full_disk_gives_a_clear_error_and_keeps_the_database_consistent(tmp_path):
    path = tmp_path / "itscm.duckdb"
    result = run_cli("--db", str(path), "init", "--demo", "--today", "2026-06-30",
                     preexec=file_size_limit(300_000))
    assert_clean_failure(result, "could not write", "Free disk space")
    # With space again, the database opens and holds either the whole demo or none of it.
    db = open_database(path)
    try:
        with db.read() as cur:
            units = cur.execute("SELECT count(*) FROM business_units").fetchall()[0][0]
            events = cur.execute("SELECT count(*) FROM answer_events").fetchall()[0][0]
        assert (units, events) == (0, 0) or (units == 16 and events > 0)
    finally:
        db.close()
    ok = run_cli("--db", str(path), "init", "--demo", "--today", "2026-06-30")
    assert ok.returncode == 0, ok.stderr


# --- the file is held by another process -----------------------------------------------------------

def test_a_cli_command_fails_fast_while_another_process_holds_the_file(tmp_path):
    path = tmp_path / "itscm.duckdb"
    open_database(path).close()
    with held_by_another_process(path) as holder:
        started = time.monotonic()
        result = run_cli("--db", str(path), "campaigns")
        elapsed = time.monotonic() - started
        assert_clean_failure(result, "in use by another process", f"process id {holder.pid}",
                             "stop the app", "then try again")
        assert result.returncode == 1
        assert elapsed < 15  # no waiting for the lock: the time is Python start-up
        with pytest.raises(DatabaseLocked, match="Only one process may open it"):
            open_database(path)
        with pytest.raises(DatabaseLocked):
            open_database(path, read_only=True)  # not even read-only while the app holds it
    open_database(path).close()  # free again once the other process is gone


def test_a_database_open_in_this_process_with_other_settings(tmp_path):
    path = tmp_path / "itscm.duckdb"
    db = open_database(path)
    try:
        with pytest.raises(DatabaseError, match="already open in this process"):
            open_database(path, read_only=True)
    finally:
        db.close()


def test_bootstrap_errors_are_database_errors_the_app_can_show(tmp_path):
    """app.py catches DatabaseError from get_db() -> bootstrap.start and shows st.error."""
    path = tmp_path / "itscm.duckdb"
    open_database(path).close()
    with held_by_another_process(path):
        with pytest.raises(DatabaseLocked, match="in use by another process"):
            bootstrap.start(settings_for(tmp_path, tmp_path))
    assert isinstance(DatabaseLocked("x"), DatabaseError)
    assert not issubclass(DatabaseError, duckdb.Error)
