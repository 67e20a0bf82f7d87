"""The benchmark's scoring floor does the product's job, row for row: otherwise its ratio means nothing.

The floor (benchmarks/floors.scoring, plain SQL) and the product (workflow.rescore_campaign) score the same
closed cycle of a synthetic organisation; every persisted question, domain and unit row must agree.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from assessment import workflow
from assessment.questionnaire import load_default
from assessment.storage.db import open_database
from benchmarks import floors, synth

from .conftest import ADMIN

pytestmark = pytest.mark.slow


def _rows(db, table: str, campaign_id: str) -> pl.DataFrame:
    with db.read() as cur:
        df = cur.sql(f"SELECT * EXCLUDE (scored_at) FROM {table} WHERE campaign_id = ?", params=[campaign_id]).pl()
    keys = [c for c in ("unit_id", "question_id", "domain_id") if c in df.columns and
            (table.endswith("_q") or table == "question_scores" or c != "question_id")]
    return df.sort(keys)


def test_the_scoring_floor_produces_the_products_rows(tmp_path):
    q = load_default()
    db = open_database(tmp_path / "bench.duckdb")
    try:
        synth.load(db, q, synth.generate(q, "S", date(2026, 11, 20)))
        with db.read() as cur:
            closed = cur.execute("SELECT campaign_id FROM campaigns WHERE status = 'closed' ORDER BY opens_on DESC "
                                 "LIMIT 1").fetchall()[0][0]
        floors.prepare(db)
        assert workflow.rescore_campaign(db, ADMIN, closed) > 0
        assert floors.scoring(db, closed) > 0
        for product, scratch in floors.SCORE_SCRATCH.items():
            mine, theirs = _rows(db, scratch, closed), _rows(db, product, closed)
            assert mine.height == theirs.height > 0, product
            for col in theirs.columns:
                a, b = mine[col], theirs[col]
                if a.dtype.is_float():
                    assert ((a - b).abs().fill_null(0) < 1e-9).all() and a.is_null().equals(b.is_null()), (product, col)
                else:
                    assert a.cast(pl.String).to_list() == b.cast(pl.String).to_list(), (product, col)
        with db.read() as cur:
            statuses = {r[0] for r in cur.execute("SELECT DISTINCT status FROM bench_floor_q").fetchall()}
        assert {"answered", "capped", "na"} <= statuses  # the comparison covers the caps and N/A
    finally:
        db.close()
