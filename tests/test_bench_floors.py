"""The benchmark's scoring floor does the product's job, row for row: otherwise its ratio means nothing.

The floor (benchmarks/floors.scoring, plain SQL) and the product (workflow.rescore_campaign) score the same
closed cycle of a synthetic organisation; every persisted question, domain and unit row must agree.
"""

from __future__ import annotations

import polars as pl
import pytest

from assessment import workflow
from benchmarks import floors

from .conftest import ADMIN
from .helpers.bench import assert_same_rows, last_closed, synthetic_org

pytestmark = pytest.mark.slow


def _rows(db, table: str, campaign_id: str) -> pl.DataFrame:
    with db.read() as cur:
        df = cur.sql(f"SELECT * EXCLUDE (scored_at) FROM {table} WHERE campaign_id = ?", params=[campaign_id]).pl()
    keys = [c for c in ("unit_id", "question_id", "domain_id") if c in df.columns and
            (table.endswith("_q") or table == "question_scores" or c != "question_id")]
    return df.sort(keys)


def test_the_scoring_floor_produces_the_products_rows(tmp_path):
    db = synthetic_org(tmp_path / "bench.duckdb")
    try:
        closed = last_closed(db)
        floors.prepare(db)
        assert workflow.rescore_campaign(db, ADMIN, closed) > 0
        assert floors.scoring(db, closed) > 0
        for product, scratch in floors.SCORE_SCRATCH.items():
            assert_same_rows(_rows(db, scratch, closed), _rows(db, product, closed), product)
        with db.read() as cur:
            statuses = {r[0] for r in cur.execute("SELECT DISTINCT status FROM bench_floor_q").fetchall()}
        assert {"answered", "capped", "na"} <= statuses  # the comparison covers the caps and N/A
    finally:
        db.close()
