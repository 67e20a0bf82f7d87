"""Several processes saving answers to PostgreSQL at once, each to its own unit: how many saves fail.

`python -m tests.helpers.contention URL PROCESSES SECONDS [SAVES]` prints the figures (loopback server only);
tests/test_postgres.py runs a bounded version. Every process writes a different unit, so no two saves
compete for the same data: any failure is contention on something shared (the audit head).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from assessment import access, campaigns
from assessment.questionnaire import load_file
from assessment.storage.backends import open_url

ROOT = Path(__file__).resolve().parent.parent.parent
MINI = ROOT / "tests" / "fixtures" / "mini.yaml"


@dataclass(frozen=True)
class Contention:
    processes: int
    seconds: float
    committed: int
    stale: int
    failed: int
    failures: tuple[str, ...]

    @property
    def attempts(self) -> int:
        return self.committed + self.stale + self.failed

    @property
    def failure_rate(self) -> float:
        return self.failed / self.attempts if self.attempts else 0.0

    def __str__(self) -> str:
        return (f"{self.processes} processes, {self.seconds:.0f} s: {self.attempts} saves, {self.committed} "
                f"committed, {self.stale} stale, {self.failed} failed ({100 * self.failure_rate:.2f} %), "
                f"{self.attempts / self.seconds:.0f} saves/s")


def prepare(url: str, schema: str, units: int) -> None:
    import psycopg

    from tests.conftest import add_org

    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    db = open_url(url, schema=schema)
    try:
        add_org(db, [(f"U{i}", "D1", 1 + i % 3) for i in range(units)])
        campaigns.create(db, access.SYSTEM, "C1", "Cycle 1", load_file(MINI), date(2026, 6, 1), date(2026, 6, 30),
                         date(2026, 7, 15), status="open")
    finally:
        db.close()


def run(url: str, processes: int, seconds: float, saves: int = 100_000, schema: str | None = None) -> Contention:
    """Start the writers together, each on its own unit, for at most `seconds` or `saves` saves each."""
    import psycopg

    schema = schema or "c_" + uuid.uuid4().hex[:12]
    prepare(url, schema, processes)
    try:
        return _run(url, schema, processes, seconds, saves)
    finally:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute(f"DROP SCHEMA {schema} CASCADE")


def _run(url: str, schema: str, processes: int, seconds: float, saves: int) -> Contention:
    procs = [subprocess.Popen([sys.executable, "-m", "tests.pg_writer", url, schema, f"p{i}", str(saves), str(i),
                               str(seconds), f"U{i}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT) for i in range(processes)]
    results, longest = [], 0.0
    for p in procs:
        out, err = p.communicate(timeout=seconds + 300)
        if p.returncode != 0:
            raise RuntimeError(f"writer failed: {err[-2000:]}")
        results.append(json.loads(out))
        longest = max(longest, results[-1]["seconds"])
    return Contention(processes, longest, sum(len(r["done"]) for r in results),
                      sum(len(r["stale"]) for r in results), sum(len(r["failed"]) for r in results),
                      tuple(f for r in results for f in r["failed"]))


if __name__ == "__main__":
    result = run(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 100_000)
    print(result)
    for f in result.failures[:3]:
        print("  e.g.", f)
