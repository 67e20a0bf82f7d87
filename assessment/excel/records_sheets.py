"""The auditor pack's continuity-record sheets: services with their objectives, recovery demonstrated against
required, untested top-tier services, RTO inversions, exercises and incidents over RTO, as the register stood
for the cycle (services.cycle_as_of) and within the pack's filter and the actor's access."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from .. import durations, exercises, parallel, recovery, services
from ..model import RECOVERY_TIERS, Actor
from ..reports import Filters
from ..storage import Database
from .export import Col
from .format import RECORD_SHEETS

SHEETS = RECORD_SHEETS

_WHERE = [Col("Division", "division", width=20), Col("Unit ID", "unit_id", width=12), Col("Unit", "unit", width=24)]
SERVICE_COLS = [
    Col("Service ID", "service_id", width=14), Col("Service", "name", width=28), *_WHERE,
    Col("Recovery tier", "recovery_tier", "int", 8), Col("Tier name", "tier_name", width=14),
    Col("Owner", "owner", width=16), Col("Business activity", "activity", width=26),
    Col("MTPD", "mtpd", width=9), Col("RTO", "rto", width=9), Col("RPO", "rpo", width=9),
    Col("Holds data", "holds_data", "bool", 8), Col("Minimum service level", "min_service_level", width=20),
    Col("Approved by", "approved_by", width=18), Col("Approved on", "approved_on", "date", 12),
    Col("Next review", "next_review", "date", 12), Col("Revision", "revision", "int", 8),
]
RECOVERY_COLS = [
    Col("Status", "status", width=16), Col("Service ID", "service_id", width=14), Col("Service", "service", width=28),
    *_WHERE, Col("Recovery tier", "recovery_tier", "int", 8), Col("Required (RTO)", "rto", width=10),
    Col("Demonstrated", "demonstrated", width=12), Col("Demonstrated on", "demonstrated_on", "date", 12),
    Col("Proof age (days)", "proof_age_days", "int", 9), Col("Exercise ID", "exercise_id", width=11),
    Col("Exercise type", "exercise_type", width=14), Col("Gap (minutes, + is slower)", "gap_minutes", "int", 11),
]
UNTESTED_COLS = [
    Col("Service ID", "service_id", width=14), Col("Service", "service", width=28), *_WHERE,
    Col("Owner", "owner", width=16), Col("RTO", "rto", width=9), Col("Last passed on", "last_passed_on", "date", 12),
    Col("Last tested on", "last_tested_on", "date", 12),
]
INVERSION_COLS = [
    Col("Service ID", "service_id", width=14), *_WHERE, Col("Its RTO", "service_rto_text", width=9),
    Col("Depends on", "depends_on", width=14), Col("Dependency's RTO", "depends_on_rto_text", width=10),
    Col("Chain", "chain", width=70), Col("Accepted because", "accepted_inversion", width=40),
]
EXERCISE_COLS = [
    Col("Exercise ID", "exercise_id", width=11), Col("Date", "exercise_date", "date", 12),
    Col("Type", "exercise_type", width=14), Col("Title", "title", width=28), Col("Service ID", "service_id", width=14),
    *_WHERE, Col("Achieved recovery", "achieved", width=11), Col("RTO", "rto", width=9),
    Col("Achieved data loss", "data_loss", width=11), Col("RPO", "rpo", width=9),
    Col("Passed", "passed", "bool", 7), Col("Objectives met", "objectives_met", "bool", 9),
    Col("Findings", "findings", width=40), Col("Suppliers", "suppliers", width=18),
    Col("Report", "report_url", width=30),
]
INCIDENT_COLS = [
    Col("Incident ID", "incident_id", width=11), Col("Title", "title", width=28), Col("Severity", "severity", width=9),
    Col("Started (UTC)", "started_at", "datetime", 17), Col("Ended (UTC)", "ended_at", "datetime", 17),
    Col("Service ID", "service_id", width=14), *_WHERE, Col("Outage", "outage", width=9), Col("RTO", "rto", width=9),
    Col("Over by (minutes)", "over_by_minutes", "int", 9), Col("Plan invoked", "plan_invoked", "bool", 8),
    Col("Post-mortem due", "postmortem_due", "date", 12), Col("Post-mortem done", "postmortem_done", "date", 12),
    Col("Post-mortem", "postmortem_status", width=13), Col("Ticket", "ticket_url", width=30),
]


def _text(minutes: str, alias: str) -> pl.Expr:
    return durations.expr(pl.col(minutes)).alias(alias)


def record_tables(db: Database, actor: Actor, filters: Filters | None, at: datetime, today: date
                  ) -> list[tuple[str, list[Col], pl.DataFrame, dict]]:
    """(sheet, columns, rows, write_table options) of each record sheet, the register as it stood at `at`."""
    tiers = pl.DataFrame({"recovery_tier": list(RECOVERY_TIERS), "tier_name": list(RECOVERY_TIERS.values())},
                         schema={"recovery_tier": pl.Int64, "tier_name": pl.String})
    # The review pack's window (the 12 calendar months to the same day), so both sheets read the same rows once.
    since = recovery.window_start(today, 12)
    register, demo, untested, inv, log, over = parallel.run(
        lambda: services.list_services(db, actor, filters, at=at),
        lambda: recovery.demonstrated(db, actor, filters, at=at),
        lambda: recovery.untested_top_tier(db, actor, filters, at=at),
        lambda: recovery.inversions(db, actor, filters, at=at),
        lambda: exercises.exercise_log(db, actor, filters, since=since, until=today),
        lambda: recovery.incidents_over_rto(db, actor, filters, since=since, until=today, today=today))
    register = register.join(tiers, on="recovery_tier", how="left").with_columns(
        _text("mtpd_minutes", "mtpd"), _text("rto_minutes", "rto"), _text("rpo_minutes", "rpo"))
    demo = demo.with_columns(_text("rto_minutes", "rto"), _text("demonstrated_minutes", "demonstrated"))
    untested = untested.with_columns(_text("rto_minutes", "rto"))
    inv = inv.with_columns(_text("service_rto", "service_rto_text"), _text("depends_on_rto", "depends_on_rto_text"))
    log = log.with_columns(
        _text("achieved_recovery_minutes", "achieved"), _text("rto_minutes", "rto"),
        _text("achieved_data_loss_minutes", "data_loss"), _text("rpo_minutes", "rpo"))
    over = over.with_columns(_text("outage_minutes", "outage"), _text("rto_minutes", "rto"))
    frames = (register, demo, untested, inv, log, over)
    cols = (SERVICE_COLS, RECOVERY_COLS, UNTESTED_COLS, INVERSION_COLS, EXERCISE_COLS, INCIDENT_COLS)
    return [(name, c, df, {"freeze_cols": 1}) for name, c, df in zip(SHEETS, cols, frames)]
