"""Schema migrations: an old file is upgraded with its data intact, a newer one is refused, a failed
migration leaves the file as it was. The old file is tests/fixtures/schema_v1.duckdb (see make_schema_v1.py)."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import polars as pl
import pytest

from assessment import audit, campaigns, cli, workflow
from assessment.errors import DatabaseError
from assessment.model import Answer
from assessment.storage import backup as fp_store
from assessment.storage import migrations
from assessment.storage import scores as score_store
from assessment.storage.db import open_database

from .conftest import ADMIN, FIXTURES, add_org

V1 = FIXTURES / "schema_v1.duckdb"
V1_TABLES = {"schema_migrations", "questionnaires", "q_domains", "q_questions", "q_checklist",
             "q_question_checklist", "q_tiers", "divisions", "business_units", "campaigns", "assessments",
             "answer_events", "question_scores", "domain_scores", "unit_scores"}


def snapshot(path) -> dict:
    """Every table's row count and content hash, every sequence's next value, and the schema version."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        catalog = fp_store.current_catalog(con)
        return {"fingerprint": fp_store.fingerprint(con, catalog), "version": fp_store.schema_version(con, catalog)}
    finally:
        con.close()


@pytest.fixture
def v1(tmp_path):
    path = tmp_path / "old.duckdb"
    shutil.copyfile(V1, path)
    return path


def test_the_fixture_is_a_version_1_file():
    snap = snapshot(V1)
    tables = {t for t in snap["fingerprint"] if not t.startswith("sequence:")}
    assert snap["version"] == 1 and tables == V1_TABLES
    assert snap["fingerprint"]["answer_events"][0] == 11
    assert V1.stat().st_size < 1_000_000


def test_an_old_file_is_upgraded_on_open_with_its_data_intact(v1):
    before = snapshot(v1)["fingerprint"]
    db = open_database(v1)
    try:
        assert migrations.current_version(db) == migrations.LATEST
        with db.read() as cur:
            versions = [r[0] for r in cur.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()]
            catalog = fp_store.current_catalog(cur)
            after = fp_store.fingerprint(cur, catalog)
            assert cur.execute("SELECT seq, hash FROM audit_head").fetchall() == [(0, "genesis")]
        assert versions == [v for v, _, _ in migrations.MIGRATIONS]  # every step, in order (numbers may have gaps)
        for table, value in before.items():
            if table not in ("schema_migrations", "assessments"):
                assert after[table] == value, f"{table} changed during the upgrade"
        # Schema 9 adds each assessment's division and tier, taken from its scores or else its unit.
        old_cols = ("campaign_id, unit_id, status, revision, created_at, updated_at, submitted_by, submitted_at, "
                    "approved_by, approved_at, returned_by, returned_at, return_comment")
        with db.read() as cur:
            placed = cur.execute(f"SELECT {old_cols}, division_id, tier FROM assessments ORDER BY 1, 2").fetchall()
            units = dict((u, (d, t)) for u, d, t in cur.execute(
                "SELECT unit_id, division_id, tier FROM business_units").fetchall())
        con = duckdb.connect(str(V1), read_only=True)
        try:
            old = con.execute(f"SELECT {old_cols} FROM assessments ORDER BY 1, 2").fetchall()
        finally:
            con.close()
        assert [r[:-2] for r in placed] == old
        assert all(r[-2:] == units[r[1]] for r in placed)

        # The engine works on the upgraded data: old answers and scores read back, new writes continue.
        current = workflow.current_answers(db, ADMIN, "C1", "U1")
        assert dict(zip(current["question_id"], current["level"])) == {"GOV-01": 4, "GOV-02": 3}
        with db.read() as cur:
            old = score_store.unit_scores(cur, "C0").row(0, named=True)
        assert (old["unit_id"], old["policy"].split("@")[0]) == ("U1", "mini")
        assert workflow.assessment(db, ADMIN, "C0", "U1")["status"] == "approved"
        workflow.save_answers(db, ADMIN, "C1", "U1", [Answer("TEST-01", is_na=True, na_reason="none in scope"),
                                                     Answer("TEST-02", 2)], today=date(2026, 6, 30))
        hist = workflow.answer_history(db, ADMIN, "C1", "U1")
        assert hist["event_id"].n_unique() == hist.height and hist["event_id"].max() > 11  # ids never reused
        result = workflow.submit(db, ADMIN, "C1", "U1", today=date(2026, 6, 30))
        assert result["score"] is not None
        report = audit.verify(db, ADMIN)
        assert report.ok and report.entries == 2, str(report)
    finally:
        db.close()
    # Opening again applies nothing.
    db = open_database(v1)
    try:
        assert migrations.migrate(db) == []
    finally:
        db.close()


def _at_version(path, version: int) -> None:
    db = open_database(path)
    try:
        with db.read() as cur:
            cur.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', now())", [version])
    finally:
        db.close()


def test_a_newer_database_is_refused_and_left_alone(tmp_path, capsys):
    path = tmp_path / "future.duckdb"
    _at_version(path, migrations.LATEST + 1)
    before = snapshot(path)
    with pytest.raises(DatabaseError, match=rf"schema version {migrations.LATEST + 1}, newer than this app"):
        open_database(path)
    assert snapshot(path) == before
    assert cli.main(["--db", str(path), "campaigns"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "upgrade the app or restore a backup" in err


def _broken(version: int, statements: list[str]) -> tuple[int, str, list[str]]:
    return (version, "broken on purpose", statements)


BREAKAGES = {
    # a bad statement after DDL and data changes in the same migration
    "syntax error": ["CREATE TABLE extra (id INTEGER PRIMARY KEY)", "INSERT INTO extra VALUES (1)",
                     "UPDATE business_units SET name = 'changed'", "CREATE TABLOO nonsense"],
    "constraint violation": ["ALTER TABLE business_units ADD COLUMN cost_centre VARCHAR",
                             "UPDATE business_units SET cost_centre = 'CC-' || unit_id",
                             "DELETE FROM answer_events WHERE unit_id = 'U2'",
                             "INSERT INTO divisions VALUES ('D1', 'duplicate')"],
    "missing table": ["DROP TABLE unit_scores", "SELECT * FROM no_such_table"],
}


@pytest.mark.parametrize("kind", sorted(BREAKAGES))
def test_a_failed_migration_of_an_old_file_leaves_it_as_it_was(v1, monkeypatch, kind):
    """The v1 file, with migration 2 broken: the file keeps its tables, rows and version 1."""
    before = snapshot(v1)
    m2 = migrations.MIGRATIONS[1]
    monkeypatch.setattr(migrations, "MIGRATIONS", [migrations.MIGRATIONS[0],
                                                   _broken(2, m2[2] + BREAKAGES[kind])])
    with pytest.raises(DatabaseError) as err:
        open_database(v1)
    assert "rolled back and the file is at schema version 1" in str(err.value)
    assert snapshot(v1) == before


@pytest.mark.parametrize("kind", sorted(BREAKAGES))
def test_a_failed_migration_of_a_current_file_leaves_it_as_it_was(tmp_path, mini_q, monkeypatch, kind):
    path = tmp_path / "current.duckdb"
    db = open_database(path)
    add_org(db, [("U1", "D1", 1)])
    campaigns.create(db, ADMIN, "C1", "Cycle 1", mini_q, date(2026, 6, 1), date(2026, 6, 30), date(2026, 7, 15),
                     status="open")
    workflow.save_answers(db, ADMIN, "C1", "U1", [Answer("GOV-01", 2)], today=date(2026, 6, 30))
    db.close()
    before = snapshot(path)
    new = migrations.LATEST + 1
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, _broken(new, BREAKAGES[kind])])
    monkeypatch.setattr(migrations, "LATEST", new)
    with pytest.raises(DatabaseError, match=f"could not upgrade the database .* to schema version {new}"):
        open_database(path)
    assert snapshot(path) == before
    monkeypatch.undo()
    db = open_database(path)  # the current app still opens it
    try:
        assert workflow.current_answers(db, ADMIN, "C1", "U1")["level"].to_list() == [2]
    finally:
        db.close()


def test_when_a_later_step_fails_every_step_is_whole(v1, monkeypatch):
    """Upgrading 1 -> 4 with step 4 broken: steps are applied one transaction each, so the file ends at a
    complete earlier version (tables exactly those of the recorded migrations) and says which."""
    new = migrations.LATEST + 1
    monkeypatch.setattr(migrations, "MIGRATIONS",
                        [*migrations.MIGRATIONS, _broken(new, BREAKAGES["syntax error"])])
    monkeypatch.setattr(migrations, "LATEST", new)
    with pytest.raises(DatabaseError) as err:
        open_database(v1)
    snap = snapshot(v1)
    assert f"the file is at schema version {snap['version']}" in str(err.value)
    assert snap["version"] in (1, new - 1)
    tables = {t for t in snap["fingerprint"] if not t.startswith("sequence:")}
    assert tables == _tables_of_versions(snap["version"])
    assert snap["fingerprint"]["business_units"] == snapshot(V1)["fingerprint"]["business_units"]


def _tables_of_versions(version: int) -> set[str]:
    tables = {"schema_migrations"}
    for v, _, statements in migrations.MIGRATIONS:
        if v <= version:
            for sql in statements:
                words = sql.split()
                if words[:2] == ["CREATE", "TABLE"]:
                    tables.add(words[2].split("(")[0])
                elif words[:2] == ["DROP", "TABLE"]:
                    tables.discard(words[2])
                elif words[:2] == ["ALTER", "TABLE"] and words[3:5] == ["RENAME", "TO"]:
                    tables.discard(words[2])
                    tables.add(words[5])
    return tables


def test_the_upgraded_fixture_matches_a_fresh_schema(v1, tmp_path):
    """Same tables and columns as a database created by the current app."""
    def columns(path):
        con = duckdb.connect(str(path), read_only=True)
        try:
            return pl.DataFrame(con.execute(
                "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
                "ORDER BY table_name, column_name").fetchall(), orient="row").rows()
        finally:
            con.close()

    open_database(v1).close()
    fresh = tmp_path / "fresh.duckdb"
    open_database(fresh).close()
    assert columns(v1) == columns(fresh)


def test_copy_db_copies_every_table_the_migrations_make(tmp_path):
    """copy-db (storage/transfer.TABLES) must name every table: one it forgets is lost in a move to PostgreSQL."""
    from assessment.storage import transfer

    db = open_database(tmp_path / "all.duckdb")
    try:
        with db.read() as cur:
            tables = {r[0] for r in cur.execute("SELECT table_name FROM information_schema.tables "
                                                "WHERE table_schema = current_schema()").fetchall()}
    finally:
        db.close()
    assert set(transfer.TABLES) == tables - {"schema_migrations"}
