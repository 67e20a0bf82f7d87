"""Many writers against one Database (one connection, a cursor per call): nothing lost, refusals reported.

The threaded test mixes three kinds of save (all with a unique comment token, so each one is traceable):
- private: each thread writes its own unit (one writer per unit: every save must succeed);
- shared: every thread writes the other questions of one shared unit, last writer wins;
- based: every thread edits the same question of the shared unit with base_events (optimistic
  concurrency): a save succeeds only if nobody saved that question since it was read.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date

import polars as pl
import pytest

from assessment import access, audit, campaigns, workflow
from assessment.errors import DatabaseError, InvalidState, StaleWrite
from assessment.model import Actor, Answer
from assessment.storage import db as db_module
from assessment.storage.db import open_database

from .conftest import ADMIN, add_org

THREADS = 8
SAVES_PER_THREAD = 40  # 320 saves in all
TODAY = date(2026, 6, 30)
PRIVATE_QUESTIONS = ["GOV-01", "GOV-02", "TEST-01", "TEST-02"]
SHARED_UNIT, BASED_QUESTION, SHARED_QUESTIONS = "US", "GOV-01", ["GOV-02", "TEST-02"]


@dataclass
class Attempt:
    thread: int
    kind: str
    unit: str
    question: str
    token: str
    base: int | None = None
    outcome: str = ""
    saved: int = 0
    message: str = ""
    conflicts: list | None = None


def _writer(db, t: int, attempts: list[Attempt], errors: list[BaseException], start: threading.Barrier) -> None:
    rng = random.Random(1000 + t)
    actor = Actor(f"writer{t}", access.ADMIN, source="test")
    start.wait()
    try:
        for i in range(SAVES_PER_THREAD):
            token = f"w{t}-{i}"
            roll = rng.random()
            if roll < 0.4:
                a = Attempt(t, "private", f"U{t}", rng.choice(PRIVATE_QUESTIONS), token)
            elif roll < 0.65:
                a = Attempt(t, "shared", SHARED_UNIT, rng.choice(SHARED_QUESTIONS), token)
            else:
                a = Attempt(t, "based", SHARED_UNIT, BASED_QUESTION, token)
                cur = workflow.current_answers(db, actor, "C1", SHARED_UNIT)
                a.base = cur.filter(pl.col("question_id") == BASED_QUESTION)["event_id"][0]
                if rng.random() < 0.5:  # think time between reading the page and saving it
                    threading.Event().wait(rng.uniform(0, 0.01))
            answer = Answer(a.question, rng.randint(0, 2), comment=token)
            try:
                r = workflow.save_answers(db, actor, "C1", a.unit, [answer], today=TODAY,
                                          base_events={a.question: a.base} if a.kind == "based" else None)
                a.outcome, a.saved = "ok", r.saved
            except StaleWrite as exc:
                a.outcome, a.message, a.conflicts = "stale", str(exc), exc.conflicts
            except DatabaseError as exc:  # conflicts still unresolved after the storage layer's retries
                a.outcome, a.message = "db_error", str(exc)
            attempts.append(a)
    except BaseException as exc:  # noqa: BLE001 - reported by the main thread
        errors.append(exc)


def _reader(db, stop: threading.Event, seen: list[int], errors: list[BaseException]) -> None:
    """Reads run beside the writers on their own cursors: counts only grow, results are never empty."""
    try:
        while not stop.is_set():
            with db.read() as cur:
                n = cur.execute("SELECT count(*) FROM answer_events").fetchall()[0][0]
            assert n >= (seen[-1] if seen else 0), "a read went backwards"
            seen.append(n)
            assert workflow.current_answers(db, ADMIN, "C1", SHARED_UNIT).height >= 1
            stop.wait(0.005)
    except BaseException as exc:  # noqa: BLE001
        errors.append(exc)


@pytest.fixture
def busy_db(tmp_path, mini_q):
    db = open_database(tmp_path / "busy.duckdb")
    add_org(db, [(f"U{t}", "D1", 1) for t in range(THREADS)] + [(SHARED_UNIT, "D2", 2)])
    campaigns.create(db, ADMIN, "C1", "Cycle 1", mini_q, date(2026, 6, 1), date(2026, 6, 30),
                     date(2026, 7, 15), status="open")
    workflow.save_answers(db, ADMIN, "C1", SHARED_UNIT, [Answer(BASED_QUESTION, 1, comment="seed")], today=TODAY)
    yield db
    db.close()


def test_many_writers_lose_nothing_and_every_refusal_is_reported(busy_db):
    db = busy_db
    attempts: list[Attempt] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS + 1)
    stop, seen = threading.Event(), []
    writers = [threading.Thread(target=_writer, args=(db, t, attempts, errors, start)) for t in range(THREADS)]
    reader = threading.Thread(target=_reader, args=(db, stop, seen, errors))
    for th in writers:
        th.start()
    reader.start()
    start.wait()
    for th in writers:
        th.join(timeout=120)
    stop.set()
    reader.join(timeout=30)
    assert not errors, errors
    assert len(attempts) == THREADS * SAVES_PER_THREAD
    outcomes = Counter((a.kind, a.outcome) for a in attempts)
    print("\noutcomes:", dict(outcomes), "reads:", len(seen))

    # Every save ended in exactly one reported way.
    assert {a.outcome for a in attempts} <= {"ok", "stale", "db_error"}
    assert all(a.outcome == "ok" for a in attempts if a.kind != "based"), \
        [a for a in attempts if a.kind != "based" and a.outcome != "ok"]
    assert outcomes[("based", "ok")] > 0 and outcomes[("based", "stale")] > 0, outcomes

    with db.read() as cur:
        events = cur.sql("SELECT * FROM answer_events WHERE comment IS DISTINCT FROM 'seed'").pl()
        audit_rows = cur.sql("SELECT seq, actor, after_json FROM audit_log WHERE action = 'answers.save' "
                             "ORDER BY seq").pl()
        revisions = dict(cur.execute("SELECT unit_id, revision FROM assessments").fetchall())

    # Every committed change is present, exactly once, as it was sent; refused ones left nothing behind.
    ok = [a for a in attempts if a.outcome == "ok"]
    assert events.height == sum(a.saved for a in ok) == len(ok)
    by_token = {r["comment"]: r for r in events.to_dicts()}
    for a in ok:
        row = by_token[a.token]
        assert (row["unit_id"], row["question_id"], row["answered_by"]) == (a.unit, a.question, f"writer{a.thread}")
    for a in attempts:
        if a.outcome != "ok":
            assert a.token not in by_token

    # Refusals say who changed what and when; the conflicting change is a committed one.
    for a in attempts:
        if a.outcome == "stale":
            c = a.conflicts[0]
            assert c["question_id"] == BASED_QUESTION
            assert f"by {c['by']} at " in a.message and "UTC" in a.message and "Your input is kept" in a.message
            assert c["by"] in {f"writer{t}" for t in range(THREADS)} | {"system"}
        elif a.outcome == "db_error":
            assert "try again" in a.message

    # Optimistic concurrency: successful based saves form one chain, each built on the previous one.
    ev_id = {r["comment"]: r["event_id"] for r in events.to_dicts()}
    seed_id = workflow.answer_history(db, ADMIN, "C1", SHARED_UNIT).filter(pl.col("comment") == "seed")["event_id"][0]
    chain = sorted((ev_id[a.token], a.base) for a in ok if a.kind == "based")
    prev = seed_id
    for event_id, base in chain:
        assert base == prev, "two saves succeeded from the same version: an update was lost"
        prev = event_id

    # The current answer of every question is the last committed change (commit order from the audit log).
    last_committed: dict[tuple[str, str], str] = {}
    for row in audit_rows.to_dicts():
        for change in json.loads(row["after_json"]):
            if change["comment"] == "seed":
                continue
            unit = next(a.unit for a in ok if a.token == change["comment"])
            last_committed[(unit, change["question_id"])] = change["comment"]
    current = workflow.current_answers(db, ADMIN, "C1", SHARED_UNIT)
    for t in range(THREADS):
        current = pl.concat([current, workflow.current_answers(db, ADMIN, "C1", f"U{t}")])
    now = {(r["unit_id"], r["question_id"]): r["comment"] for r in current.to_dicts()}
    assert {k: v for k, v in now.items() if v != "seed"} == last_committed
    # ... and each thread's own unit shows that thread's last save of each question.
    for t in range(THREADS):
        mine = [a for a in ok if a.kind == "private" and a.thread == t]
        for q in {a.question for a in mine}:
            assert now[(f"U{t}", q)] == [a.token for a in mine if a.question == q][-1]

    # One audit entry and one revision per committed save; the chain is intact.
    assert audit_rows.height == len(ok) + 1  # + the seed answer
    for unit in [SHARED_UNIT, *(f"U{t}" for t in range(THREADS))]:
        assert revisions[unit] == sum(1 for a in ok if a.unit == unit) + (unit == SHARED_UNIT)
    report = audit.verify(db, ADMIN)
    assert report.ok, str(report)


# --- the retry loop itself, with conflicts forced deterministically -------------------------------

@pytest.fixture
def keyed(tmp_path, monkeypatch):
    monkeypatch.setattr(db_module, "BACKOFF", 0.0)
    db = open_database(tmp_path / "keyed.duckdb")
    with db.read() as cur:
        cur.execute("CREATE TABLE k (id INTEGER PRIMARY KEY, v INTEGER)")
        cur.execute("INSERT INTO k VALUES (1, 0)")
    yield db
    db.close()


def _next_id(cur) -> int:
    return cur.execute("SELECT max(id) + 1 FROM k").fetchall()[0][0]


def test_conflict_on_update_is_retried(keyed):
    calls = []

    def work(cur):
        calls.append(1)
        cur.execute("SELECT v FROM k").fetchall()  # the snapshot this attempt works on
        if len(calls) == 1:  # someone else updates the same row and commits meanwhile
            keyed.cursor().execute("UPDATE k SET v = v + 10 WHERE id = 1")
        cur.execute("UPDATE k SET v = v + 1 WHERE id = 1")  # DuckDB: TransactionException: Conflict on update
        return "done"

    assert keyed.transaction(work) == "done" and len(calls) == 2
    with keyed.read() as cur:
        assert cur.execute("SELECT v FROM k").fetchall() == [(11,)]


def test_duplicate_key_at_commit_is_retried(keyed):
    """Two uncommitted inserts of one key: DuckDB fails the second COMMIT (not the INSERT)."""
    calls = []

    def work(cur):
        calls.append(1)
        new = _next_id(cur)
        cur.execute("INSERT INTO k VALUES (?, 0)", [new])
        if len(calls) == 1:
            other = keyed.cursor()
            other.execute("BEGIN")
            other.execute("INSERT INTO k VALUES (?, 1)", [new])
            other.execute("COMMIT")
        return new

    assert keyed.transaction(work) == 3 and len(calls) == 2


def test_duplicate_key_committed_by_an_overlapping_transaction_is_retried(keyed):
    """DuckDB raises ConstraintException (not TransactionException) for a key committed after our snapshot."""
    calls = []
    other = db_module.Database(keyed._con.cursor(), keyed.path)  # a second handle on the same file

    def work(cur):
        calls.append(1)
        new = _next_id(cur)
        if len(calls) == 1:
            other.transaction(lambda c: c.execute("INSERT INTO k VALUES (?, 1)", [new]))
        cur.execute("INSERT INTO k VALUES (?, 0)", [new])
        return new

    try:
        assert keyed.transaction(work) == 3 and len(calls) == 2
    finally:
        other.close()


def test_a_genuine_duplicate_fails_at_once(keyed):
    calls = []

    def work(cur):
        calls.append(1)
        cur.execute("INSERT INTO k VALUES (1, 5)")

    with pytest.raises(db_module.duckdb.ConstraintException):
        keyed.transaction(work)
    assert len(calls) == 1


def test_endless_conflicts_end_in_a_database_error(keyed):
    calls = []

    def work(cur):
        calls.append(1)
        cur.execute("SELECT v FROM k").fetchall()
        keyed.cursor().execute("UPDATE k SET v = v + 10 WHERE id = 1")
        cur.execute("UPDATE k SET v = v + 1 WHERE id = 1")

    with pytest.raises(DatabaseError, match="try again"):
        keyed.transaction(work)
    assert len(calls) == db_module.RETRIES
    with keyed.read() as cur:  # none of the failed attempts left anything behind
        assert cur.execute("SELECT v FROM k").fetchall() == [(10 * db_module.RETRIES,)]


def test_writers_queue_instead_of_failing(keyed):
    """Forty writers incrementing one row through transaction(): all succeed, none lost."""
    failures = []

    def bump(_):
        try:
            keyed.transaction(lambda cur: cur.execute("UPDATE k SET v = v + 1 WHERE id = 1"))
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=bump, args=(i,)) for i in range(40)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures
    with keyed.read() as cur:
        assert cur.execute("SELECT v FROM k").fetchall() == [(40,)]


def test_a_submission_racing_with_saves_scores_exactly_the_answers_before_it(busy_db):
    """Saves and a submit of one unit at the same time: each save lands wholly before the submission (and is in
    its scores) or is refused because the assessment is locked; none is lost or half-scored."""
    db, unit = busy_db, "U0"
    full = ["GOV-01", "GOV-02", "TEST-01", "TEST-02"]
    workflow.save_answers(db, ADMIN, "C1", unit, [Answer(q, 1) for q in full], today=TODAY)
    results, errors, start = [], [], threading.Barrier(5)

    def saver(t):
        rng = random.Random(t)
        start.wait()
        try:
            for i in range(30):
                answers = [Answer(q, rng.randint(0, 2), comment=f"s{t}-{i}") for q in full]
                try:
                    results.append(("ok", workflow.save_answers(db, ADMIN, "C1", unit, answers, today=TODAY).saved))
                except InvalidState as exc:
                    results.append(("locked", str(exc)))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def submitter():
        start.wait()
        threading.Event().wait(0.05)
        try:
            workflow.submit(db, ADMIN, "C1", unit, today=TODAY)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=saver, args=(t,)) for t in range(4)] + [threading.Thread(target=submitter)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    assert workflow.assessment(db, ADMIN, "C1", unit)["status"] == "submitted"
    assert {kind for kind, _ in results} == {"ok", "locked"}, results
    assert all("read-only until returned" in msg for kind, msg in results if kind == "locked")
    with db.read() as cur:
        events = cur.execute("SELECT count(*) FROM answer_events WHERE unit_id = ?", [unit]).fetchall()[0][0]
        scored = dict(cur.execute("SELECT question_id, level FROM question_scores WHERE unit_id = ?",
                                  [unit]).fetchall())
    assert events == len(full) + sum(n for kind, n in results if kind == "ok")
    current = workflow.current_answers(db, ADMIN, "C1", unit)
    assert scored == dict(zip(current["question_id"], current["level"]))
    assert audit.verify(db, ADMIN).ok
