"""Shared fixtures: real DuckDB files in temp folders, the mini questionnaire, a small organisation."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from assessment import access, campaigns
from assessment.questionnaire import load_file
from assessment.storage import catalog
from assessment.storage.db import open_database

FIXTURES = Path(__file__).parent / "fixtures"
pytest_plugins = ["tests.helpers.apptest", "tests.helpers.records"]  # app_env, demo_template, empty_app_env; reg
# Pages started by AppTest and the browser test must not run scheduled backups in the background.
os.environ.setdefault("ITSCM_BACKUPS", "0")
# Audit checkpoints are signed with this key in tests (and their subprocesses), never with a file in the
# repository's data folder; the tests of the key file itself unset it.
os.environ.setdefault("ITSCM_AUDIT_KEY", "test-only audit checkpoint key, not a secret")
ADMIN = access.SYSTEM


@pytest.fixture
def mini_q():
    return load_file(FIXTURES / "mini.yaml")


PG_URL = os.environ.get("ITSCM_TEST_PG_URL")
BACKENDS = ["duckdb", *(["postgresql"] if PG_URL else [])]


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """A migrated, empty DuckDB file; copying it is much faster than migrating a new file per test."""
    path = tmp_path_factory.mktemp("template") / "template.duckdb"
    open_database(path).close()
    return path


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path, migrated_template):
    """A fresh, migrated database: a DuckDB file, and (when ITSCM_TEST_PG_URL is set) a PostgreSQL schema."""
    if request.param == "duckdb":
        shutil.copy(migrated_template, tmp_path / "test.duckdb")
        database = open_database(tmp_path / "test.duckdb")
        yield database
        database.close()
        return
    import psycopg

    from assessment.storage.backends import open_url

    schema = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    database = open_url(PG_URL, schema=schema)
    yield database
    database.close()
    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


def duckdb_only(db) -> None:
    if getattr(db, "dialect", "duckdb") != "duckdb":
        pytest.skip("exercises the embedded DuckDB file itself")


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
