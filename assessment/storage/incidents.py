"""SQL for the incident and invocation log: incidents and the outage of each service they hit."""

from __future__ import annotations

from datetime import date

import polars as pl

from ._sql import fetch_row, next_id, update_fields
from .db import frame, insert_frame

INCIDENT_COLS = ["incident_id", "revision", "title", "severity", "started_at", "ended_at", "plan_invoked",
                 "postmortem_due", "postmortem_done", "report_url", "ticket_url", "recorded_at", "recorded_by",
                 "updated_at", "updated_by"]
SERVICE_COLS = ["incident_id", "service_id", "service_revision", "unit_id", "outage_minutes", "data_loss_minutes",
                "rto_minutes", "rpo_minutes", "over_rto", "over_rpo"]
INCIDENT_SCHEMA = pl.Schema({"incident_id": pl.String(), "revision": pl.Int64(), "title": pl.String(),
                   "severity": pl.String(),
                   "started_at": pl.Datetime("us"), "ended_at": pl.Datetime("us"), "plan_invoked": pl.Boolean(),
                   "postmortem_due": pl.Date(), "postmortem_done": pl.Date(), "report_url": pl.String(),
                   "ticket_url": pl.String(), "recorded_at": pl.Datetime("us"), "recorded_by": pl.String(),
                   "updated_at": pl.Datetime("us"), "updated_by": pl.String()})
PREFIX = "INC-"


def new_id(cur) -> str:
    return next_id(cur, "incidents", "incident_id", PREFIX)


def insert(cur, incidents: pl.DataFrame, services: pl.DataFrame) -> int:
    insert_frame(cur, "incident_services", services, SERVICE_COLS)
    return insert_frame(cur, "incidents", incidents, INCIDENT_COLS)


def incident(cur, incident_id: str) -> dict | None:
    return fetch_row(cur, "SELECT * FROM incidents WHERE incident_id = ?", [incident_id])


def services(cur, incident_id: str) -> pl.DataFrame:
    return frame(cur, f"SELECT {', '.join(SERVICE_COLS)} FROM incident_services WHERE incident_id = ? "
                      "ORDER BY service_id", [incident_id])


def update(cur, row: dict, affected: pl.DataFrame) -> None:
    """Replace an incident's fields and its affected services (judged again by the caller)."""
    fields = {k: row[k] for k in INCIDENT_COLS if k not in ("incident_id", "recorded_at", "recorded_by")}
    update_fields(cur, "incidents", "incident_id", row["incident_id"], set(fields), fields)
    cur.execute("DELETE FROM incident_services WHERE incident_id = ?", [row["incident_id"]])
    insert_frame(cur, "incident_services", affected, SERVICE_COLS)


def listing(cur, where: str, params: list, since: date | None = None, until: date | None = None) -> pl.DataFrame:
    """One row per incident x affected service of the units in scope (`where` filters business_units u)."""
    cond, extra = [where], []
    if since is not None:
        cond.append("CAST(i.started_at AS DATE) >= ?")
        extra.append(since)
    if until is not None:
        cond.append("CAST(i.started_at AS DATE) <= ?")
        extra.append(until)
    return frame(cur, f"""
        SELECT i.incident_id, i.revision, i.title, i.severity, i.started_at, i.ended_at, i.plan_invoked,
               i.postmortem_due, i.postmortem_done, i.report_url, i.ticket_url,
               s.service_id, sv.name AS service, s.unit_id, u.name AS unit, u.division_id, d.name AS division,
               s.outage_minutes, s.data_loss_minutes, s.rto_minutes, s.rpo_minutes, s.over_rto, s.over_rpo
        FROM incidents i JOIN incident_services s ON s.incident_id = i.incident_id
        JOIN business_units u ON u.unit_id = s.unit_id JOIN divisions d ON d.division_id = u.division_id
        LEFT JOIN services sv ON sv.service_id = s.service_id
        WHERE {' AND '.join(cond)}
        ORDER BY i.started_at DESC, i.incident_id DESC, s.service_id""", [*params, *extra])
