"""current_answers (schema 13) is always the newest event of each key in the append-only history.

Every kind of write is followed by the same check: the table equals what the history gives with a GROUP BY,
row for row and value for value, on both backends. A write that forgot the table, or kept an older event,
fails here before any report shows a stale answer.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime

import polars as pl
import pytest

from assessment import carry, catalog, workflow
from assessment.errors import DatabaseError, StaleWrite, ValidationError
from assessment.model import Answer
from assessment.storage import answers as answers_sql
from assessment.storage.db import open_database

from .conftest import ADMIN

TODAY = date(2026, 6, 30)
DERIVED = """
    SELECT e.* FROM answer_events e JOIN (SELECT max(event_id) AS event_id FROM answer_events
    GROUP BY campaign_id, unit_id, question_id) m ON m.event_id = e.event_id"""


def table(db) -> pl.DataFrame:
    with db.read() as cur:
        return cur.sql("SELECT * FROM current_answers ORDER BY campaign_id, unit_id, question_id").pl()


def derived(db) -> pl.DataFrame:
    with db.read() as cur:
        return cur.sql(DERIVED + " ORDER BY e.campaign_id, e.unit_id, e.question_id").pl()


def assert_consistent(db) -> pl.DataFrame:
    kept, truth = table(db), derived(db)
    assert kept.columns == truth.columns
    assert kept.to_dicts() == truth.to_dicts()
    return kept


def save(db, answers, unit="U1", **kw):
    return workflow.save_answers(db, ADMIN, "C1", unit, answers, today=TODAY, **kw)


def test_page_saves_keep_the_newest_event_of_each_question(org):
    save(org, [Answer("GOV-01", 2, evidence="draft"), Answer("GOV-02", 1)])
    save(org, [Answer("GOV-01", 4, evidence="policy v3", evidence_date=date(2026, 1, 1))])
    save(org, [Answer("GOV-01", 4, evidence="policy v3", evidence_date=date(2026, 1, 1))])  # unchanged: no event
    save(org, [Answer("TEST-01", is_na=True, na_reason="no failover in scope")], unit="U2")
    kept = assert_consistent(org)
    assert kept.height == 3
    gov01 = kept.filter((pl.col("unit_id") == "U1") & (pl.col("question_id") == "GOV-01")).row(0, named=True)
    assert (gov01["level"], gov01["evidence"], gov01["evidence_date"]) == (4, "policy v3", date(2026, 1, 1))
    with org.read() as cur:
        assert cur.execute("SELECT count(*) FROM answer_events").fetchall()[0][0] == 4


def test_a_save_updating_one_answer_and_adding_another_keeps_both_current(org):
    save(org, [Answer("GOV-01", 2, evidence="draft", comment="first"), Answer("GOV-02", 1)])
    # GOV-01 has a current row (updated in place, its comment and level cleared), TEST-02 has none (inserted).
    save(org, [Answer("GOV-01", None, evidence="draft"), Answer("TEST-02", 3, evidence="runbook",
                                                                evidence_date=date(2026, 2, 1))])
    kept = assert_consistent(org)
    rows = {r["question_id"]: r for r in kept.iter_rows(named=True)}
    assert (rows["GOV-01"]["level"], rows["GOV-01"]["comment"], rows["GOV-01"]["evidence"]) == (None, None, "draft")
    assert (rows["TEST-02"]["level"], rows["TEST-02"]["evidence_date"]) == (3, date(2026, 2, 1))
    assert rows["GOV-02"]["level"] == 1
    assert rows["GOV-01"]["event_id"] > rows["GOV-02"]["event_id"]


def test_one_row_and_a_few_rows_are_updated_in_place_alike(org):
    """A save of one known answer updates it by its key; a save of a few updates them with one VALUES list."""
    save(org, [Answer("GOV-01", 2, evidence="draft", comment="a"), Answer("GOV-02", 1, comment="b"),
               Answer("TEST-01", 3, evidence="runbook", evidence_date=date(2026, 3, 1))])
    save(org, [Answer("GOV-01", 4, evidence="policy", evidence_date=date(2026, 4, 1)),
               Answer("GOV-02", None)])                                       # two rows: the VALUES update
    save(org, [Answer("TEST-01", is_na=True, na_reason="out of scope")])    # one row: the keyed update
    kept = assert_consistent(org)
    rows = {r["question_id"]: r for r in kept.iter_rows(named=True)}
    assert (rows["GOV-01"]["level"], rows["GOV-01"]["comment"], rows["GOV-01"]["evidence_date"]) == \
        (4, None, date(2026, 4, 1))
    assert (rows["GOV-02"]["level"], rows["GOV-02"]["comment"]) == (None, None)
    assert (rows["TEST-01"]["level"], rows["TEST-01"]["is_na"], rows["TEST-01"]["na_reason"],
            rows["TEST-01"]["evidence"]) == (None, True, "out of scope", None)
    assert kept.height == 3


def test_a_refused_save_changes_neither_the_history_nor_the_current_answers(org):
    first = save(org, [Answer("GOV-01", 2)])
    before = table(org)
    with pytest.raises(ValidationError):
        save(org, [Answer("GOV-01", 9)])
    with pytest.raises(StaleWrite):
        save(org, [Answer("GOV-01", 3)], base_events={"GOV-01": None})
    assert table(org).to_dicts() == before.to_dicts() and first.saved == 1
    assert_consistent(org)


def _events(rows: list[tuple[str, str, int]], at: datetime) -> pl.DataFrame:
    return pl.DataFrame([{"campaign_id": "C1", "unit_id": u, "question_id": q, "level": lvl, "is_na": False,
                          "na_reason": None, "evidence": f"e{i}", "evidence_url": None, "evidence_date": None,
                          "comment": None, "answered_by": "loader", "answered_at": at, "source": "test"}
                         for i, (u, q, lvl) in enumerate(rows)],
                        schema=answers_sql.EVENT_SCHEMA)


@pytest.mark.parametrize("copies", [1, 2, 40])  # 6 rows as VALUES; 12 and 240 with repeats, as a frame
def test_an_append_with_several_events_per_key_keeps_the_last_one(org, copies):
    save(org, [Answer("GOV-01", 1)], unit="U3")
    rows = [(u, q, i % 6) for i in range(copies) for u in ("U1", "U2", "U3") for q in ("GOV-01", "GOV-02")]
    org.transaction(lambda cur: answers_sql.append_events(cur, _events(rows, datetime(2026, 6, 20, 9))))
    kept = assert_consistent(org)
    assert kept.height == 6
    assert set(kept["level"].to_list()) == {(copies - 1) % 6}


def test_carried_answers_and_a_bulk_load_keep_it_current(org, mini_q):
    from assessment import campaigns

    save(org, [Answer(q.id, 3, evidence="kept") for q in mini_q.questions])
    workflow.submit(org, ADMIN, "C1", "U1", today=TODAY)
    campaigns.set_status(org, ADMIN, "C1", "closed")
    made = campaigns.create(org, ADMIN, "C2", "Cycle 2", mini_q, date(2026, 12, 1), date(2026, 12, 31),
                            date(2027, 1, 15), status="open", previous="C1", carry_forward=True)
    assert made["carried"]
    kept = assert_consistent(org)
    assert kept.filter(pl.col("campaign_id") == "C2")["source"].unique().to_list() == [carry.CARRIED_SOURCE]


def test_the_migration_derives_the_table_from_an_existing_history(tmp_path, migrated_template):
    path = tmp_path / "old.duckdb"
    shutil.copy(migrated_template, path)
    db = open_database(path)
    rows = [("U1", "GOV-01", 1), ("U1", "GOV-01", 4), ("U2", "GOV-02", 2)]
    db.transaction(lambda cur: answers_sql.append_events(cur, _events(rows, datetime(2026, 6, 20, 9))))
    with db.read() as cur:  # back to schema 12: the history without the table
        cur.execute("DROP TABLE current_answers")
        cur.execute("DELETE FROM schema_migrations WHERE version = 13")
    db.close()
    db = open_database(path)
    try:
        kept = assert_consistent(db)
        assert sorted(zip(kept["unit_id"], kept["level"])) == [("U1", 4), ("U2", 2)]
    finally:
        db.close()


def test_a_save_without_an_audit_head_is_refused_and_writes_nothing(org):
    save(org, [Answer("GOV-01", 2, evidence="draft")])
    before = assert_consistent(org)
    with org.read() as cur:
        cur.execute("DELETE FROM audit_head")
    # The save reads the head with its context; a missing head is a damaged database, not a fresh chain.
    with pytest.raises(DatabaseError, match="no head row"):
        save(org, [Answer("GOV-01", 3, evidence="draft")])
    with pytest.raises(DatabaseError, match="no head row"):  # a write that does not read the head with its context
        catalog.record_plan_review(org, ADMIN, "U1", "2026-06-01")
    assert assert_consistent(org).equals(before)
