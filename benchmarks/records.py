"""Synthetic continuity records for the benchmark organisation: per unit SERVICES_PER_UNIT services (one
version each, recorded before the first cycle), each depending on one supplier and one service of its unit
(the first on a shared platform service), and EXERCISES_PER_UNIT exercises over the last year that test every
service of the unit. At L (5,000 units): 50,000 services, 100,000 dependencies, 200,000 exercise results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import polars as pl

from assessment.storage import exercises as exercises_sql
from assessment.storage import services as services_sql

SERVICES_PER_UNIT = 10
EXERCISES_PER_UNIT = 4
SUPPLIERS = 50
BY = "benchmark"


@dataclass(frozen=True)
class Records:
    suppliers: pl.DataFrame
    services: pl.DataFrame       # storage SERVICE_COLS
    dependencies: pl.DataFrame   # storage DEPENDENCY_COLS
    exercises: pl.DataFrame      # storage EXERCISE_COLS
    results: pl.DataFrame        # storage RESULT_COLS

    @property
    def counts(self) -> dict[str, int]:
        return {"services": self.services.height, "dependencies": self.dependencies.height,
                "exercises": self.exercises.height, "exercise_results": self.results.height}


def generate(unit_ids: list[str], today: date, seed: int, since: date) -> Records:
    """Deterministic for the same units, dates and seed; `since` is before the first cycle opens."""
    rng = np.random.default_rng(seed + 14)
    n_units, k = len(unit_ids), SERVICES_PER_UNIT
    n = n_units * k
    unit_col = np.repeat(np.array(unit_ids, dtype=object), k)
    slot = np.tile(np.arange(k), n_units)
    tier = np.minimum(1 + slot // 3, 4)                              # slots 0-2 tier 1, ... 9 tier 4
    rto = np.choose(tier - 1, [60, 240, 1440, 4320])
    recorded = datetime.combine(since, time(9))
    services = pl.DataFrame({
        "service_id": [f"{u}-S{s:02d}" for u, s in zip(unit_col, slot)], "revision": 1,
        "name": [f"Service {s} of {u}" for u, s in zip(unit_col, slot)], "unit_id": unit_col.tolist(),
        "owner": "continuity.manager", "recovery_tier": tier, "activity": None, "mtpd_minutes": rto * 4,
        "rto_minutes": rto, "rpo_minutes": np.where(tier == 1, 5, 60), "holds_data": True,
        "min_service_level": None, "approved_by": "Benchmark", "approved_on": since,
        "next_review": since + timedelta(days=365 * 6), "active": True, "updated_at": recorded, "updated_by": BY,
    }, schema_overrides=services_sql.SERVICE_SCHEMA).select(services_sql.SERVICE_COLS)
    ids = services["service_id"].to_numpy()
    # Each service depends on the previous slot's service of its unit (a chain, no cycle) and on a supplier;
    # slot 0 has no previous service and depends on a second supplier instead: two dependencies per service.
    prev = np.where(slot == 0, None, np.roll(ids, 1))
    service_deps = pl.DataFrame({"service_id": ids[slot > 0], "target_id": prev[slot > 0]}).with_columns(
        kind=pl.lit("service"))
    supplier = rng.integers(0, SUPPLIERS, size=n)
    supplier_deps = pl.DataFrame({"service_id": ids, "target_id": [f"SUP{s:03d}" for s in supplier]}).with_columns(
        kind=pl.lit("supplier"))
    second = pl.DataFrame({"service_id": ids[slot == 0],
                           "target_id": [f"SUP{(s + 1) % SUPPLIERS:03d}" for s in supplier[slot == 0]]}
                          ).with_columns(kind=pl.lit("supplier"))
    deps = pl.concat([service_deps, supplier_deps, second], how="diagonal").with_columns(
        revision=pl.lit(1, pl.Int64), note=pl.lit(None, pl.String), accepted_inversion=pl.lit(None, pl.String)
    ).select(services_sql.DEPENDENCY_COLS).unique(["service_id", "kind", "target_id"], maintain_order=True)
    # Exercises: EXERCISES_PER_UNIT per unit, spread over the last year, each testing all of the unit's services.
    m = n_units * EXERCISES_PER_UNIT
    days_back = rng.integers(1, 365, size=m)
    ex_dates = [today - timedelta(days=int(d)) for d in days_back]
    ex_ids = [f"EX-{i + 1:07d}" for i in range(m)]
    ex_unit = np.repeat(np.arange(n_units), EXERCISES_PER_UNIT)
    exercises = pl.DataFrame({
        "exercise_id": ex_ids, "exercise_date": ex_dates,
        "exercise_type": np.where(np.arange(m) % 2 == 0, "failover", "restore_test"),
        "title": "Benchmark exercise", "scenario": None, "participants": None, "objectives": None,
        "objectives_met": True, "report_url": None,
        "recorded_at": [datetime.combine(d, time(18)) for d in ex_dates], "recorded_by": BY,
    }, schema_overrides={"exercise_date": pl.Date}).select(exercises_sql.EXERCISE_COLS)
    per = np.repeat(np.arange(m), k)                                  # exercise of each result
    svc = ex_unit[per] * k + np.tile(np.arange(k), m)                 # service index of each result
    achieved = (rto[svc] * rng.uniform(0.3, 1.6, size=m * k)).astype(np.int64)
    rpo = services["rpo_minutes"].to_numpy()[svc]
    loss = (rpo * rng.uniform(0, 1.3, size=m * k)).astype(np.int64)
    results = pl.DataFrame({
        "exercise_id": np.array(ex_ids, dtype=object)[per].tolist(), "service_id": ids[svc].tolist(),
        "service_revision": 1, "unit_id": unit_col[svc].tolist(), "achieved_recovery_minutes": achieved,
        "achieved_data_loss_minutes": loss, "rto_minutes": rto[svc], "rpo_minutes": rpo,
        "recovery_met": achieved <= rto[svc], "data_met": loss <= rpo,
        "passed": (achieved <= rto[svc]) & (loss <= rpo), "findings": None,
    }, schema_overrides={"findings": pl.String}).select(exercises_sql.RESULT_COLS)
    suppliers = pl.DataFrame({"supplier_id": [f"SUP{i:03d}" for i in range(SUPPLIERS)],
                              "name": [f"Supplier {i}" for i in range(SUPPLIERS)], "updated_at": recorded,
                              "updated_by": BY})
    return Records(suppliers, services, deps, exercises, results)


def insert(cur, r: Records) -> None:
    """Bulk insert (one statement per table), the way the demo loads its records."""
    services_sql.insert_register(cur, "supplier", r.suppliers)
    services_sql.insert_current(cur, r.services)
    services_sql.append_versions(cur, r.services, "create")
    services_sql.insert_dependencies(cur, r.dependencies)
    exercises_sql.insert(cur, r.exercises, r.results, pl.DataFrame(schema={"exercise_id": pl.String,
                                                                         "supplier_id": pl.String}))
