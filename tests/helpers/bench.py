"""The synthetic organisation and the row comparison shared by the tests that check a benchmark floor does
the product's job."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from assessment.questionnaire import load_default
from assessment.storage.db import Database, open_database
from benchmarks import synth

TODAY = date(2026, 11, 20)


def synthetic_org(path: Path) -> Database:
    """A database at `path` holding the benchmark's S organisation, generated as of TODAY."""
    q = load_default()
    db = open_database(path)
    synth.load(db, q, synth.generate(q, "S", TODAY))
    return db


def last_closed(db: Database) -> str:
    """The newest closed cycle: the one the scoring floors score."""
    with db.read() as cur:
        return cur.execute("SELECT campaign_id FROM campaigns WHERE status = 'closed' ORDER BY opens_on DESC "
                           "LIMIT 1").fetchall()[0][0]


def assert_same_rows(mine: pl.DataFrame, theirs: pl.DataFrame, label: str) -> None:
    """The same rows in the same order, column for column; floats equal to 1e-9 and nulls in the same places."""
    assert mine.columns == theirs.columns, label
    assert mine.height == theirs.height > 0, label
    for col in theirs.columns:
        a, b = mine[col], theirs[col]
        if b.dtype.is_float():
            assert ((a - b).abs().fill_null(0) < 1e-9).all() and a.is_null().equals(b.is_null()), (label, col)
        else:
            assert a.cast(pl.String).to_list() == b.cast(pl.String).to_list(), (label, col)
