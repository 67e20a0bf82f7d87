"""The main leadership queries timed on DuckDB and on PostgreSQL over the same synthetic organisation.

    python -m benchmarks.backends --pg-url postgresql://user@host/db [--sizes S,M] [--reps 7]

The organisation is generated and loaded into a DuckDB file, copied into a fresh PostgreSQL schema with
`itscm copy-db`'s verified copy, and each query is timed alternately on both (median reported).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from assessment import access, reports, transfer
from assessment.questionnaire import load_default
from assessment.storage.backends import open_url
from assessment.storage.db import open_database

from . import synth

ADMIN = access.SYSTEM


def queries(campaign: str, previous: str) -> dict:
    return {
        "KPI summary": lambda db: reports.summary(db, ADMIN, campaign),
        "Heatmap, division x domain": lambda db: reports.heatmap(db, ADMIN, campaign),
        "Top 20 gaps": lambda db: reports.top_gaps(db, ADMIN, campaign),
        "Trends, organisation": lambda db: reports.trends(db, ADMIN),
        "Changes since previous cycle": lambda db: reports.changes(db, ADMIN, campaign, previous_id=previous),
        "Review deadlines": lambda db: reports.deadlines(db, ADMIN, campaign),
    }


def _median(fn, db, reps: int) -> float:
    fn(db)  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn(db)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(pg_url: str, sizes: list[str], reps: int) -> str:
    import psycopg

    q = load_default()
    lines = ["| Query | " + " | ".join(f"{s} DuckDB | {s} PostgreSQL" for s in sizes) + " |",
             "|---|" + "---|---|" * len(sizes)]
    rows: dict[str, list[str]] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            duck = open_database(Path(tmp) / "bench.duckdb")
            org = synth.generate(q, size, date.today())
            synth.load(duck, q, org)
            schema = "bench_" + uuid.uuid4().hex[:12]
            with psycopg.connect(pg_url, autocommit=True) as con:
                con.execute(f"CREATE SCHEMA {schema}")
            pg = open_url(pg_url, schema=schema)
            try:
                assert all(c.ok for c in transfer.copy_database(duck, pg, ADMIN))
                camps = reports.trends(duck, ADMIN)["campaign_id"].unique(maintain_order=True).to_list()
                for name, fn in queries(camps[-1], camps[-2]).items():
                    d, p = _median(fn, duck, reps), _median(fn, pg, reps)
                    rows.setdefault(name, []).append(f"{d * 1000:.1f} ms | {p * 1000:.1f} ms")
            finally:
                pg.close()
                duck.close()
                with psycopg.connect(pg_url, autocommit=True) as con:
                    con.execute(f"DROP SCHEMA {schema} CASCADE")
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows.items()]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg-url", required=True)
    ap.add_argument("--sizes", default="S,M")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "backends.md"))
    args = ap.parse_args()
    table = run(args.pg_url, args.sizes.split(","), args.reps)
    print(table)
    Path(args.out).write_text("# Leadership queries on both backends (median)\n\n" + table + "\n")


if __name__ == "__main__":
    main()
