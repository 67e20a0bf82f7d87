"""SQL for the exercise and test log: exercises, the suppliers taking part, and a judged result per service."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from ._sql import fetch_row, next_id, update_fields
from .db import frame, insert_frame

EXERCISE_COLS = ["exercise_id", "exercise_date", "exercise_type", "title", "scenario", "participants", "objectives",
                 "objectives_met", "report_url", "recorded_at", "recorded_by"]
RESULT_COLS = ["exercise_id", "service_id", "service_revision", "unit_id", "achieved_recovery_minutes",
               "achieved_data_loss_minutes", "rto_minutes", "rpo_minutes", "recovery_met", "data_met", "passed",
               "findings"]
EXERCISE_SCHEMA = pl.Schema({"exercise_id": pl.String(), "exercise_date": pl.Date(), "exercise_type": pl.String(),
                             "title": pl.String(),
                   "scenario": pl.String(), "participants": pl.String(), "objectives": pl.String(),
                   "objectives_met": pl.Boolean(), "report_url": pl.String(), "recorded_at": pl.Datetime("us"),
                   "recorded_by": pl.String()})
PREFIX = "EX-"


def new_id(cur) -> str:
    return next_id(cur, "exercises", "exercise_id", PREFIX)


def insert(cur, exercises: pl.DataFrame, results: pl.DataFrame, suppliers: pl.DataFrame) -> int:
    """Bulk insert exercises (EXERCISE_COLS), their results (RESULT_COLS) and suppliers (exercise_id,
    supplier_id): one statement each."""
    insert_frame(cur, "exercise_suppliers", suppliers, ["exercise_id", "supplier_id"])
    insert_frame(cur, "exercise_results", results, RESULT_COLS)
    return insert_frame(cur, "exercises", exercises, EXERCISE_COLS)


def exercise(cur, exercise_id: str) -> dict | None:
    return fetch_row(cur, "SELECT * FROM exercises WHERE exercise_id = ?", [exercise_id])


def results(cur, exercise_id: str) -> pl.DataFrame:
    return frame(cur, f"SELECT {', '.join(RESULT_COLS)} FROM exercise_results WHERE exercise_id = ? "
                      "ORDER BY service_id", [exercise_id])


def supplier_ids(cur, exercise_id: str) -> list[str]:
    return frame(cur, "SELECT supplier_id FROM exercise_suppliers WHERE exercise_id = ? ORDER BY 1",
                 [exercise_id])["supplier_id"].to_list()


def withdraw(cur, exercise_id: str, at: datetime, by: str, reason: str) -> None:
    update_fields(cur, "exercises", "exercise_id", exercise_id, {"withdrawn_at", "withdrawn_by", "withdrawn_reason"},
                  {"withdrawn_at": at, "withdrawn_by": by, "withdrawn_reason": reason})


def listing(cur, where: str, params: list, since: date | None = None, until: date | None = None,
            include_withdrawn: bool = False) -> pl.DataFrame:
    """One row per exercise result of the units in scope (`where` filters business_units aliased u), with the
    exercise's fields and the unit's name and division."""
    cond, extra = [where], []
    if since is not None:
        cond.append("x.exercise_date >= ?")
        extra.append(since)
    if until is not None:
        cond.append("x.exercise_date <= ?")
        extra.append(until)
    if not include_withdrawn:
        cond.append("x.withdrawn_at IS NULL")
    return frame(cur, f"""
        SELECT x.exercise_id, x.exercise_date, x.exercise_type, x.title, x.scenario, x.participants,
               x.objectives, x.objectives_met, x.report_url,
               (SELECT string_agg(es.supplier_id, ', ' ORDER BY es.supplier_id) FROM exercise_suppliers es
                WHERE es.exercise_id = x.exercise_id) AS suppliers,
               r.service_id, sv.name AS service, r.unit_id, u.name AS unit, u.division_id, d.name AS division,
               r.achieved_recovery_minutes, r.achieved_data_loss_minutes, r.rto_minutes, r.rpo_minutes,
               r.recovery_met, r.data_met, r.passed, r.findings, x.recorded_at, x.recorded_by,
               x.withdrawn_at, x.withdrawn_reason
        FROM exercises x JOIN exercise_results r ON r.exercise_id = x.exercise_id
        JOIN business_units u ON u.unit_id = r.unit_id JOIN divisions d ON d.division_id = u.division_id
        LEFT JOIN services sv ON sv.service_id = r.service_id
        WHERE {' AND '.join(cond)}
        ORDER BY x.exercise_date DESC, x.exercise_id DESC, r.service_id""", [*params, *extra])
