"""Shared fixtures: real DuckDB files in temp folders, the mini questionnaire, a small organisation."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from assessment import access, campaigns
from assessment.questionnaire import load_file
from assessment.storage import catalog
from assessment.storage.db import open_database

FIXTURES = Path(__file__).parent / "fixtures"
ADMIN = access.SYSTEM


@pytest.fixture
def mini_q():
    return load_file(FIXTURES / "mini.yaml")


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "test.duckdb")
    yield database
    database.close()


def add_org(db, units: list[tuple[str, str, int]]) -> None:
    """units: (unit_id, division_id, tier)."""
    divs = sorted({d for _, d, _ in units})

    def work(cur):
        catalog.insert_divisions(cur, pl.DataFrame({"division_id": divs, "name": [f"Division {d}" for d in divs]}))
        catalog.insert_units(cur, pl.DataFrame([
            {"unit_id": u, "division_id": d, "name": f"Unit {u}", "tier": t, "head": f"head-{u}",
             "plan_last_reviewed": date(2026, 1, 1), "review_interval_months": 12, "active": True}
            for u, d, t in units]))

    db.transaction(work)


@pytest.fixture
def org(db, mini_q):
    """Three units in two divisions and one open campaign on the mini questionnaire."""
    add_org(db, [("U1", "D1", 1), ("U2", "D1", 3), ("U3", "D2", 2)])
    campaigns.create(db, ADMIN, "C1", "Cycle 1", mini_q, date(2026, 6, 1), date(2026, 6, 30),
                     date(2026, 7, 15), status="open")
    return db
