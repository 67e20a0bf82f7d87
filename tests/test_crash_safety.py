"""SIGKILL a writer at random points; every time, the database must be fully before or fully after each change.

The worker (a subprocess) opens the database like the app, loads the demo organisation on the first run (one
big transaction, like an import), then loops over random operations: save a full set of answers, submit,
return for rework, re-score the open campaign, run a schema migration (a new table filled with rows and
indexed), and make an online backup. The test kills it with SIGKILL after a random delay (seeded), sometimes
before it has even finished opening, then reopens the file and checks:

- the demo is all there or not at all;
- every submitted/approved assessment has a full set of question, domain and unit scores, others have none;
- answer_events match the audit trail (demo rows + the rows of every answers.save entry), each assessment's
  status matches its last status entry in the audit trail, and the audit chain verifies;
- schema_migrations matches the tables present (a migration's table exists, fully filled and indexed, iff
  its version is recorded);
- every finished backup verifies against its manifest (half-written ones are never named as backups).

ITSCM_CRASH_ITERATIONS and ITSCM_CRASH_SEED run it longer or differently.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assessment import access, audit, backup
from assessment.storage import migrations
from assessment.storage.db import Database, _connect

ROOT = Path(__file__).resolve().parent.parent
ITERATIONS = int(os.environ.get("ITSCM_CRASH_ITERATIONS", "10"))
SEED = int(os.environ.get("ITSCM_CRASH_SEED", "20260630"))
BASE_VERSION = migrations.LATEST  # the app's schema; the test's extra migrations follow it
EXTRA_MIGRATIONS = 6
EXTRA_ROWS = 20_000

WORKER = r'''
import random, sys
from datetime import date
sys.path.insert(0, sys.argv[3])
from assessment import access, backup, catalog, demo, workflow
from assessment.catalog import campaign_questionnaire
from assessment.errors import EngineError
from assessment.model import Actor, Answer
from assessment.questionnaire import load_default
from assessment.storage import migrations
from assessment.storage.db import open_database

path, seed = sys.argv[1], int(sys.argv[2])
BASE, EXTRA, ROWS = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
rng = random.Random(seed)
base = list(migrations.MIGRATIONS[:BASE])
extra = [(n, f"crash test {n}", [
    f"CREATE TABLE extra_{n} (id BIGINT PRIMARY KEY, payload VARCHAR NOT NULL)",
    f"INSERT INTO extra_{n} SELECT range, 'row ' || range FROM range({ROWS})",
    f"CREATE INDEX extra_{n}_payload ON extra_{n} (payload)",
]) for n in range(BASE + 1, BASE + EXTRA + 1)]
migrations.LATEST = BASE + EXTRA  # accept files the earlier runs migrated further; apply them one by one
migrations.MIGRATIONS = base
SYSTEM = access.SYSTEM.with_source("crash-test")
REVIEWER = Actor("crash.reviewer", access.MANAGER, source="crash-test")  # separation of duties: not the answerer
TODAY = date(2026, 6, 30)

def log(op):
    print(op, flush=True)

q = load_default()
log("opening")
db = open_database(path)
log("opened")
if not catalog.organisation_exists(db):
    log("demo")
    demo.load(db, SYSTEM, q, TODAY, seed=3)
with db.read() as cur:
    cid = cur.execute("SELECT campaign_id FROM campaigns WHERE status = 'open'").fetchall()[0][0]
    units = [r[0] for r in cur.execute("SELECT unit_id FROM business_units ORDER BY 1").fetchall()]
qn = campaign_questionnaire(db, cid)
log("ready")

def status(unit):
    return workflow.assessment(db, SYSTEM, cid, unit)["status"]

while True:
    op = rng.choices(["save", "submit", "return", "rescore", "migrate", "backup"], [40, 25, 15, 8, 9, 3])[0]
    unit = rng.choice(units)
    try:
        if op == "save" and status(unit) in ("draft", "returned"):
            log(f"save {unit}")
            answers = []
            for x in qn.questions:
                if x.na_allowed and rng.random() < 0.1:
                    answers.append(Answer(x.id, is_na=True, na_reason="not in scope"))
                else:
                    lvl = rng.randint(0, 5)
                    ev = rng.random() < 0.5
                    answers.append(Answer(x.id, lvl, evidence="pack" if ev else "",
                                          evidence_date=date(2026, rng.randint(1, 6), 1) if ev else None))
            workflow.save_answers(db, SYSTEM, cid, unit, answers, today=TODAY)
        elif op == "submit" and status(unit) in ("draft", "returned"):
            log(f"submit {unit}")
            workflow.submit(db, SYSTEM, cid, unit, today=TODAY)
        elif op == "return" and status(unit) == "submitted":
            log(f"return {unit}")
            workflow.return_for_rework(db, REVIEWER, cid, unit, "needs more evidence")
        elif op == "rescore":
            log("rescore")
            workflow.rescore_campaign(db, SYSTEM, cid)
        elif op == "migrate" and len(migrations.MIGRATIONS) < BASE + EXTRA:
            have = migrations.current_version(db)
            migrations.MIGRATIONS = base + [m for m in extra if m[0] <= have + 1]
            log(f"migrate {have + 1}")
            migrations.migrate(db)
        elif op == "backup":
            log("backup")
            backup.create_backup(db, SYSTEM, keep=3)
        else:
            continue
        log("done")
    except EngineError as exc:  # e.g. submitting an incomplete assessment: refused, nothing written
        log(f"refused {type(exc).__name__}")
'''


def _status_actions() -> dict[str, str]:
    return {"assessment.submit": "submitted", "assessment.return": "returned", "assessment.approve": "approved"}


def check_consistency(path: Path, verified: set[str]) -> dict:
    """Reopen after a kill (read-write, like the app: the WAL is replayed) and check every invariant."""
    db = Database(_connect(path, read_only=False), path)
    try:
        with db.read() as cur:
            def one(sql, params=()):
                return cur.execute(sql, list(params)).fetchall()

            versions = {r[0] for r in one("SELECT version FROM schema_migrations")}
            tables = {r[0] for r in one("SELECT table_name FROM duckdb_tables()")}
            indexes = {r[0] for r in one("SELECT index_name FROM duckdb_indexes()")}
            # Migrations: recorded versions and the tables present agree, and each step is complete.
            assert {v for v, _, _ in migrations.MIGRATIONS} <= versions  # numbers may have gaps between branches
            for n in range(BASE_VERSION + 1, BASE_VERSION + EXTRA_MIGRATIONS + 1):
                assert (n in versions) == (f"extra_{n}" in tables), (n, versions, tables)
                if n in versions:
                    assert one(f"SELECT count(*) FROM extra_{n}")[0][0] == EXTRA_ROWS
                    assert f"extra_{n}_payload" in indexes
            assert versions <= set(range(1, BASE_VERSION + EXTRA_MIGRATIONS + 1))

            units = one("SELECT count(*) FROM business_units")[0][0]
            events = one("SELECT count(*) FROM answer_events")[0][0]
            demo_entries = one("SELECT after_json FROM audit_log WHERE action = 'demo.load'")
            if units == 0:  # killed before the demo committed: nothing of it may be there
                assert events == 0 and demo_entries == [] and one("SELECT count(*) FROM campaigns")[0][0] == 0
                assert one("SELECT count(*) FROM assessments")[0][0] == 0
                stats = {"demo": False, "submitted": 0, "events": 0, "versions": max(versions)}
            else:
                assert units == 16 and len(demo_entries) == 1
                demo_rows = json.loads(demo_entries[0][0])["answers"]
                saved = sum(len(json.loads(a)) for (a,) in one(
                    "SELECT after_json FROM audit_log WHERE action = 'answers.save'"))
                assert events == demo_rows + saved, "answer events and the audit trail disagree"

                # Status of every assessment = its last status entry in the audit trail (demo state otherwise).
                last = {}
                for oid, action in one("SELECT object_id, action FROM audit_log WHERE action IN "
                                       "('assessment.submit', 'assessment.return', 'assessment.approve') "
                                       "ORDER BY seq"):
                    last[oid] = _status_actions()[action]
                for cid, unit, status in one("SELECT campaign_id, unit_id, status FROM assessments"):
                    if f"{cid}/{unit}" in last:
                        assert status == last[f"{cid}/{unit}"], (cid, unit, status)

                # Scores: a full set for every submitted/approved assessment, none for the others.
                shape = {cid: (nq, nd) for cid, nq, nd in one("""
                    SELECT c.campaign_id,
                           (SELECT count(*) FROM q_questions q WHERE q.questionnaire_id = c.questionnaire_id
                              AND q.version = c.questionnaire_version),
                           (SELECT count(*) FROM q_domains d WHERE d.questionnaire_id = c.questionnaire_id
                              AND d.version = c.questionnaire_version)
                    FROM campaigns c""")}
                rows = one("""
                    SELECT a.campaign_id, a.unit_id, a.status,
                      (SELECT count(*) FROM question_scores s WHERE s.campaign_id = a.campaign_id
                         AND s.unit_id = a.unit_id),
                      (SELECT count(*) FROM domain_scores s WHERE s.campaign_id = a.campaign_id
                         AND s.unit_id = a.unit_id),
                      (SELECT count(*) FROM unit_scores s WHERE s.campaign_id = a.campaign_id
                         AND s.unit_id = a.unit_id)
                    FROM assessments a""")
                submitted = 0
                for cid, unit, status, nq, nd, nu in rows:
                    if status in ("submitted", "approved"):
                        submitted += 1
                        assert (nq, nd, nu) == (*shape[cid], 1), (cid, unit, status, nq, nd, nu)
                    else:
                        assert (nq, nd, nu) == (0, 0, 0), (cid, unit, status, nq, nd, nu)
                stats = {"demo": True, "submitted": submitted, "events": events, "versions": max(versions)}
        report = audit.verify(db, access.SYSTEM)
        assert report.ok, str(report)
    finally:
        db.close()

    # Finished backups all verify; a half-written one is never named like a backup, and is cleaned up by the
    # next backup (so at most the one being written when the worker was killed is left).
    assert len(list((path.parent / "backups").glob("*.partial"))) <= 1
    for b in backup.list_backups(path.parent / "backups"):
        if b.name not in verified:  # a finished backup never changes: check each once
            checked = backup.verify_backup(b, access.SYSTEM)
            assert checked.ok, str(checked)
            verified.add(b.name)
        stats["backups"] = stats.get("backups", 0) + 1
    return stats


def _wait_for(log: Path, prefix: str, proc: subprocess.Popen, timeout: float) -> bool:
    """Wait until the worker logs a line starting with prefix (True), or timeout (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log.exists() and any(ln.startswith(prefix) for ln in log.read_text().split("\n")):
            return True
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early ({proc.returncode}):\n{log.read_text()}")
        time.sleep(0.005)
    return False


# Where to aim each kill: wait until the worker starts this step, then kill within its typical duration.
TARGETS = {"opening": 0.15, "save": 0.04, "submit": 0.06, "return": 0.03, "rescore": 0.08, "migrate": 0.25,
           "backup": 0.4, "anywhere": 0.8}


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_sigkill_at_random_points_never_leaves_a_half_written_database(tmp_path, monkeypatch):
    monkeypatch.setattr(migrations, "LATEST", BASE_VERSION + EXTRA_MIGRATIONS)  # backups of migrated files
    rng = random.Random(SEED)
    worker = tmp_path / "crash_worker.py"
    worker.write_text(WORKER)
    path = tmp_path / "itscm.duckdb"
    killed_during: list[str] = []
    history, verified, checking = [], set(), 0.0
    for i in range(ITERATIONS):
        target = "demo" if i == 0 else rng.choice(sorted(TARGETS))
        log = tmp_path / f"worker-{i}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, str(worker), str(path), str(SEED + i), str(ROOT), str(BASE_VERSION),
                 str(EXTRA_MIGRATIONS), str(EXTRA_ROWS)], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
            try:
                if target == "demo":  # the first run loads the demo organisation: a big transaction, like an import
                    _wait_for(log, "demo", proc, 60)
                    time.sleep(rng.uniform(0.0, 0.5))
                elif target in ("opening", "anywhere"):  # opening: WAL replay, migrations, checks
                    _wait_for(log, target if target == "opening" else "ready", proc, 60)
                    time.sleep(rng.uniform(0.0, TARGETS[target]))
                else:
                    _wait_for(log, "ready", proc, 60)
                    _wait_for(log, target, proc, 4)  # a migration may never come (all applied): kill anyway
                    time.sleep(rng.uniform(0.0, TARGETS[target]))
                if proc.poll() is not None:
                    raise AssertionError(f"worker died on its own ({proc.returncode}):\n{log.read_text()}")
                os.kill(proc.pid, signal.SIGKILL)
            finally:
                proc.wait(timeout=30)
        lines = [ln for ln in log.read_text().split("\n") if ln]
        assert not any("Traceback" in ln for ln in lines), log.read_text()
        killed_during.append(lines[-1] if lines else "(starting)")
        started = time.monotonic()
        history.append(check_consistency(path, verified))
        checking += time.monotonic() - started
    print("\nkilled during:", killed_during)
    print("states:", history, f"checks took {checking:.1f} s")
    assert history[-1]["demo"], "the worker never got past loading the demo"
    assert any(not k.startswith(("done", "ready", "opening", "opened", "(starting)")) for k in killed_during), \
        "no kill landed inside an operation"
