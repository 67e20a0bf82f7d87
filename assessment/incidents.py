"""The incident and invocation log through the engine: record an incident with the services it hit, each
outage judged against the RTO and RPO in force when it started; update it (end, post-mortem) with
stale-write detection; read the log. Crisis handling itself stays in the ITSM tool the ticket links to."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import polars as pl

from . import access, audit, clock
from .errors import NotFound, PermissionDenied, StaleWrite, ValidationError
from .model import LINK_PREFIXES, SEVERITIES, Actor, AffectedService, Incident
from .reports import Filters, scope_for
from .service_checks import listed_services_problems
from .storage import Database
from .storage import incidents as incidents_sql
from .storage import services as services_sql


def judge(affected: pl.DataFrame) -> pl.DataFrame:
    """Outage against objectives (columns outage_minutes, data_loss_minutes, rto_minutes, rpo_minutes,
    holds_data): adds over_rto and over_rpo, null where either side is unknown (or no data is held)."""
    return affected.with_columns(
        (pl.col("outage_minutes") > pl.col("rto_minutes")).alias("over_rto"),
        pl.when(~pl.col("holds_data").fill_null(True)).then(None)
        .otherwise(pl.col("data_loss_minutes") > pl.col("rpo_minutes")).alias("over_rpo"))


def _problems(x: Incident, now: datetime) -> list[str]:
    problems = []
    if not x.title.strip():
        problems.append("title: an incident needs a title")
    if x.severity not in SEVERITIES:
        problems.append(f"severity: expected one of {', '.join(SEVERITIES)}, got {x.severity!r}")
    if x.started_at > now:
        problems.append(f"started_at: {x.started_at:%Y-%m-%d %H:%M} is in the future")
    if x.ended_at is not None and x.ended_at < x.started_at:
        problems.append(f"ended_at: {x.ended_at:%Y-%m-%d %H:%M} is before the start")
    if x.ended_at is not None and x.ended_at > now:
        problems.append(f"ended_at: {x.ended_at:%Y-%m-%d %H:%M} is in the future")
    start = x.started_at.date()
    if x.postmortem_due is not None and x.postmortem_due < start:
        problems.append(f"postmortem_due: {x.postmortem_due} is before the incident started")
    if x.postmortem_done is not None and (x.postmortem_done < start or x.postmortem_done > now.date()):
        problems.append(f"postmortem_done: {x.postmortem_done} must lie between the start of the incident and today")
    for name in ("report_url", "ticket_url"):
        value = getattr(x, name).strip()
        if value and not value.lower().startswith(LINK_PREFIXES):
            problems.append(f"{name}: expected an http(s) link or a file path")
    if not x.services:
        problems.append("services: name at least one affected service")
    duration = _minutes(x.started_at, x.ended_at)
    problems += listed_services_problems("services", x.services, ("outage_minutes", "data_loss_minutes"))
    for i, s in enumerate(x.services):
        if s.outage_minutes is not None and duration is not None and 0 <= duration < s.outage_minutes:
            problems.append(f"services[{i}].outage_minutes: {s.service_id}'s outage is longer than the incident")
    return problems


def _minutes(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else int((end - start).total_seconds() // 60)


def _rows(cur, incident_id: str, x: Incident, revision: int, actor: Actor, recorded: dict | None
          ) -> tuple[dict, pl.DataFrame]:
    """The incident row and its judged services, against the service versions valid when it started."""
    given = pl.DataFrame(
        [{"service_id": s.service_id.strip(), "outage_minutes": s.outage_minutes,
          "data_loss_minutes": s.data_loss_minutes} for s in x.services],
        schema={"service_id": pl.String, "outage_minutes": pl.Int64, "data_loss_minutes": pl.Int64})
    valid = services_sql.versions_at(cur, given.select("service_id", pl.lit(x.started_at).alias("at")))
    bad = given.join(valid, on="service_id", how="anti")["service_id"].to_list()
    if bad:
        raise ValidationError([f"services.service_id: {s} is not a service of the register on "
                               f"{x.started_at:%Y-%m-%d %H:%M}" for s in bad], f"incident {x.title!r}")
    duration = _minutes(x.started_at, x.ended_at)
    affected = judge(given.with_columns(pl.col("outage_minutes").fill_null(pl.lit(duration, dtype=pl.Int64))).join(
        valid.select("service_id", pl.col("revision").alias("service_revision"), "unit_id", "rto_minutes",
                     "rpo_minutes", "holds_data"), on="service_id")).with_columns(
        pl.lit(incident_id).alias("incident_id"))
    at = clock.now()
    row = {"incident_id": incident_id, "revision": revision, "title": x.title.strip(), "severity": x.severity,
           "started_at": x.started_at, "ended_at": x.ended_at, "plan_invoked": bool(x.plan_invoked),
           "postmortem_due": x.postmortem_due, "postmortem_done": x.postmortem_done,
           "report_url": x.report_url.strip() or None, "ticket_url": x.ticket_url.strip() or None,
           "recorded_at": recorded["recorded_at"] if recorded else at,
           "recorded_by": recorded["recorded_by"] if recorded else actor.username,
           "updated_at": at, "updated_by": actor.username}
    return row, affected


def _public(row: dict, affected: pl.DataFrame) -> dict:
    out = {k: v for k, v in row.items() if k not in ("recorded_at", "recorded_by", "updated_at", "updated_by")}
    out["services"] = affected.select(incidents_sql.SERVICE_COLS[1:]).to_dicts()
    return out


def record_incident(db: Database, actor: Actor, incident: Incident, *, now: datetime | None = None) -> str:
    """Record an incident or invocation; returns its id (INC-00001, ...)."""
    access.require(actor, "record_incidents")
    problems = _problems(incident, now or clock.now())
    if problems:
        raise ValidationError(problems, f"incident {incident.title!r}")

    def work(cur) -> str:
        incident_id = incidents_sql.new_id(cur)
        row, affected = _rows(cur, incident_id, incident, 1, actor, None)
        incidents_sql.insert(cur, pl.DataFrame([row], schema=incidents_sql.INCIDENT_SCHEMA), affected)
        audit.record(cur, actor, "incident.record", "incident", incident_id, after=_public(row, affected))
        return incident_id

    return db.transaction(work)


def update_incident(db: Database, actor: Actor, incident_id: str, incident: Incident, *, base_revision: int,
                    now: datetime | None = None) -> int:
    """Replace an incident's facts (its end, post-mortem, links, services); StaleWrite if someone changed it
    since `base_revision`. Returns the new revision."""
    access.require(actor, "record_incidents")
    problems = _problems(incident, now or clock.now())
    if problems:
        raise ValidationError(problems, f"incident {incident_id}")

    def work(cur) -> int:
        before = incidents_sql.incident(cur, incident_id)
        if before is None:
            raise NotFound(f"unknown incident {incident_id!r}")
        if before["revision"] != base_revision:
            raise StaleWrite(f"incident {incident_id} was changed by {before['updated_by']} at "
                             f"{before['updated_at']:%Y-%m-%d %H:%M} UTC (revision {before['revision']}, you started "
                             f"from {base_revision}). Your input is kept: review their change, then save again.",
                             [{"incident_id": incident_id, "by": before["updated_by"], "at": before["updated_at"],
                               "revision": before["revision"]}])
        old = incidents_sql.services(cur, incident_id)
        row, affected = _rows(cur, incident_id, incident, base_revision + 1, actor, before)
        incidents_sql.update(cur, row, affected)
        audit.record(cur, actor, "incident.update", "incident", incident_id, before=_public(before, old),
                     after=_public(row, affected))
        return row["revision"]

    return db.transaction(work)


def get_incident(db: Database, actor: Actor, incident_id: str) -> dict:
    """An incident with its revision and the affected services the actor may read."""
    readable = access.readable_units(actor)
    with db.read() as cur:
        row = incidents_sql.incident(cur, incident_id)
        affected = incidents_sql.services(cur, incident_id) if row else pl.DataFrame()
    if readable is not None and affected.height:
        affected = affected.filter(pl.col("unit_id").is_in(list(readable)))
    if row is None:
        raise NotFound(f"unknown incident {incident_id!r}")
    if affected.height == 0:
        raise PermissionDenied(f"{actor.username} may not read incident {incident_id}: it affects none of "
                               "their units")
    return {**row, "services": affected.to_dicts()}


def as_incident(row: dict) -> Incident:
    """A stored incident (get_incident) as the Incident an update starts from. An outage equal to the
    incident's duration was not given separately, so it follows a changed end time."""
    duration = _minutes(row["started_at"], row["ended_at"])
    services = tuple(AffectedService(s["service_id"], None if s["outage_minutes"] == duration else s["outage_minutes"],
                                     s["data_loss_minutes"]) for s in row["services"])
    return Incident(title=row["title"], severity=row["severity"], started_at=row["started_at"], services=services,
                    ended_at=row["ended_at"], plan_invoked=row["plan_invoked"], postmortem_due=row["postmortem_due"],
                    postmortem_done=row["postmortem_done"], report_url=row["report_url"] or "",
                    ticket_url=row["ticket_url"] or "")


def record_postmortem(db: Database, actor: Actor, incident_id: str, *, done_on: date, base_revision: int,
                      report_url: str | None = None) -> int:
    """Mark an incident's post-mortem done (and link its report); the other facts stay as they are."""
    access.require(actor, "record_incidents")
    current = as_incident(get_incident(db, actor, incident_id))
    changed = replace(current, postmortem_done=done_on,
                      report_url=current.report_url if report_url is None else report_url)
    return update_incident(db, actor, incident_id, changed, base_revision=base_revision)


def incident_log(db: Database, actor: Actor, filters: Filters | None = None, *, since=None,
                 until=None) -> pl.DataFrame:
    """One row per incident x affected service of the units the actor may read, newest first (see
    storage/incidents.listing for the columns)."""
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        return incidents_sql.listing(cur, where, params, since, until)
