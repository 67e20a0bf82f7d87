"""The management-review pack's content as extra sheets of the auditor pack (the PDF's figures, typed cells)."""

from __future__ import annotations

from typing import Any

import polars as pl

from ..review_pack import ReviewPack
from .export import Col

SUMMARY_SHEET = "Review summary"

DIVISION_COLS = [
    Col("Division", "division", width=26), Col("Units", "units", "int", 7), Col("Scored", "units_scored", "int", 7),
    Col("Score", "score", "float", 8), Col("Target", "target", "float", 8), Col("Gap", "gap", "float", 8),
    Col("At target", "units_at_target", "int", 8), Col("Previous score", "previous_score", "float", 9),
    Col("Services", "services", "int", 8), Col("Tier-1 untested", "untested_top_tier", "int", 9),
    Col("Slower than RTO", "slower_than_rto", "int", 9), Col("Incidents over RTO", "incidents_over_rto", "int", 9),
    Col("Tests planned", "planned", "int", 8), Col("Tests done in time", "done", "int", 9),
    Col("Deadlines missed", "missed", "int", 9),
]
RECOVERY_COLS = [
    Col("Service ID", "service_id", width=14), Col("Service", "service", width=30), Col("Unit", "unit", width=24),
    Col("Division", "division", width=22), Col("Recovery tier", "recovery_tier", "int", 8),
    Col("RTO (minutes)", "rto_minutes", "int", 9), Col("Demonstrated (minutes)", "demonstrated_minutes", "int", 12),
    Col("Tested on", "demonstrated_on", "date", 12), Col("Status", "status", width=16),
]
INCIDENT_COLS = [
    Col("Incident ID", "incident_id", width=12), Col("Title", "title", width=36), Col("Severity", "severity", width=10),
    Col("Started at (UTC)", "started_at", "datetime", 17), Col("Services", "services", width=24),
    Col("Over RTO", "over_rto", "bool", 9), Col("Post-mortem", "postmortem_status", width=14),
]


def divisions_frame(p: ReviewPack) -> pl.DataFrame:
    """The divisions the pack shows, with their recovery, exercise-plan and missed-deadline figures."""
    rec = p.recovery_divisions.select("division", "services", "untested_top_tier", "slower_than_rto",
                                      "incidents_over_rto")
    plan = p.exercise_plan.select("division", "planned", "done") if p.exercise_plan.height else None
    df = p.divisions.join(rec, on="division", how="left")
    if plan is not None:
        df = df.join(plan, on="division", how="left")
    else:
        df = df.with_columns(pl.lit(None, pl.Int64).alias("planned"), pl.lit(None, pl.Int64).alias("done"))
    return df.join(p.deadline_divisions, on="division", how="left")


def summary_rows(p: ReviewPack) -> list[tuple[str, Any]]:
    """The headline figures and the decisions required, as (key, value) rows."""
    h, c = p.headline, p.campaign
    rows: list[tuple[str, Any]] = [
        ("Campaign", f"{c['campaign_id']} - {c['name']} ({c['status']})"), ("Scope", p.scope),
        ("Figures as of", p.as_of), ("Exercises and incidents since", p.since),
        ("Organisation score", h.score), ("Organisation target", h.target),
        ("Previous cycle", h.previous_campaign), ("Previous cycle's score", h.previous_score),
        ("Units scored", h.units_scored), ("Units at target", h.units_at_target),
        ("Divisions below target", h.divisions_below_target), ("Assessments submitted", h.submitted),
        ("Assessments expected", h.expected), ("Services", h.services), ("Tier-1 services", h.top_tier_services),
        ("Tier-1 services without a passing test", h.untested_top_tier),
        ("Services slower than their RTO", h.slower_than_rto), ("Services without an RTO", h.without_rto),
        ("Unaccepted RTO inversions", h.inversions), ("Exercises held", h.exercises_held),
        ("Service tests planned", h.exercises_planned), ("Service tests done in time", h.exercises_done),
        ("Incidents", h.incidents), ("Incidents over RTO", h.incidents_over_rto),
        ("Post-mortems overdue", h.postmortems_overdue), ("Review deadlines missed", h.deadlines_missed),
        ("Plan reviews overdue", h.overdue_plan_reviews),
        ("Actions overdue", "no action register" if h.actions_overdue is None else h.actions_overdue),
    ]
    rows += [(f"Decision {i}: {d.topic}", d.text) for i, d in enumerate(p.decisions, start=1)]
    return rows


def tables(p: ReviewPack) -> list[tuple[str, list[Col], pl.DataFrame, dict]]:
    """(sheet, columns, rows, write_table options) of the review's table sheets."""
    return [
        ("Review divisions", DIVISION_COLS, divisions_frame(p), {"freeze_cols": 1, "gap_cols": ("Gap",)}),
        ("Review recovery", RECOVERY_COLS, p.recovery_worst, {"freeze_cols": 1}),
        ("Review incidents", INCIDENT_COLS, p.incident_list, {"freeze_cols": 1}),
    ]
