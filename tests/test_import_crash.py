"""SIGKILL at random moments of an Excel import: the database is either fully before or fully after."""

from __future__ import annotations

import io
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from assessment import audit
from assessment.excel import template as excel_template
from assessment.model import Answer
from assessment.storage.db import open_database

from .conftest import ADMIN, duckdb_only
from .helpers.excel import TODAY, edit, save

ROOT = Path(__file__).resolve().parent.parent
LEVELS = {"GOV-01": 3, "GOV-02": 4, "TEST-01": 1, "TEST-02": 5}


def _count(path: Path) -> tuple[int, int]:
    db = open_database(path)
    try:
        with db.read() as cur:
            events = cur.execute("SELECT count(*) FROM answer_events").fetchall()[0][0]
            imports = cur.execute("SELECT count(*) FROM audit_log WHERE action = 'excel.import'").fetchall()[0][0]
        assert audit.verify(db, ADMIN).ok
        return events, imports
    finally:
        db.close()


def test_kill_during_import_leaves_before_or_after(org, tmp_path):
    duckdb_only(org)
    save(org, "U1", [Answer("GOV-01", 1)])
    buf = io.BytesIO()
    excel_template.unit_template(org, ADMIN, "C1", "U1", buf, today=TODAY)
    xlsx = tmp_path / "filled.xlsx"
    xlsx.write_bytes(edit(buf.getvalue(), [(q, "Level", v) for q, v in LEVELS.items()]))
    org.close()
    pristine = tmp_path / "pristine.duckdb"
    shutil.copy(org.path, pristine)
    before, _ = _count(pristine)
    rng = random.Random(6)
    outcomes = set()
    for i in range(8):
        path = tmp_path / f"run{i}.duckdb"
        shutil.copy(pristine, path)
        proc = subprocess.Popen([sys.executable, "-m", "tests.import_killer", str(path), str(xlsx)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 3.0))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        events, imports = _count(path)
        if events == before:
            assert imports == 0, "an import was audited without its answers"
            outcomes.add("before")
        else:
            assert (events, imports) == (before + len(LEVELS), 1), "partial import"
            outcomes.add("after")
    assert outcomes  # each run ended in one of the two consistent states
