"""Set-based SQL over the continuity records: the facts scoring reads (as of each unit's date) and the
recovery views (demonstrated against required recovery, untested services, incidents over RTO, per division,
exercise deadlines; the service review deadlines are among reports.deadlines' rows)."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from ..model import EXERCISE_TYPES, FACT_SCHEMAS, TOP_RECOVERY_TIER, RecordFacts, RecoveryTest
from ._sql import registered
from .db import frame
from .reports import _days_left
from .services import snapshot_sql


def facts(cur, units: pl.DataFrame) -> RecordFacts:
    """The records of `units` (unit_id, as_of) as of each unit's as_of date: its active services in the
    version valid at the end of that day, their exercise results (withdrawn exercises left out) and their
    incidents, both up to the latest as_of date (scoring applies each unit's own window)."""
    if units.height == 0:
        return RecordFacts.empty()
    points = units.select(pl.col("unit_id").cast(pl.String), pl.col("as_of").cast(pl.Date)).with_columns(
        (pl.col("as_of").cast(pl.Datetime("us")) + pl.duration(days=1) - pl.duration(microseconds=1)).alias("until"))
    with registered(cur, "_fact_units", points):
        # A version is valid from its recording until the next version of the service; joining on the unit
        # keeps the work proportional to the units' own services, however many as-of dates there are.
        services = frame(cur, """
            WITH v AS (SELECT sv.*, lead(sv.updated_at) OVER (PARTITION BY sv.service_id ORDER BY sv.revision)
                                    AS valid_to
                       FROM service_versions sv)
            SELECT fu.unit_id, v.service_id, v.name, v.recovery_tier, v.rto_minutes, v.rpo_minutes, v.holds_data,
                   v.approved_on
            FROM _fact_units fu JOIN v ON v.unit_id = fu.unit_id AND v.updated_at <= fu.until
                 AND (v.valid_to IS NULL OR v.valid_to > fu.until)
            WHERE v.active""")
    services = services.cast(FACT_SCHEMAS["services"])
    if services.height == 0:
        return RecordFacts(services, pl.DataFrame(schema=FACT_SCHEMAS["results"]),
                           pl.DataFrame(schema=FACT_SCHEMAS["incidents"]))
    last = units["as_of"].cast(pl.Date).max()
    with registered(cur, "_fact_services", services.select("service_id").unique()):
        results = frame(cur, """
            SELECT r.service_id, r.exercise_id, x.exercise_date, x.exercise_type, r.achieved_recovery_minutes,
                   r.achieved_data_loss_minutes, r.rto_minutes, r.rpo_minutes, r.recovery_met, r.data_met, r.passed
            FROM exercise_results r JOIN exercises x ON x.exercise_id = r.exercise_id
            JOIN _fact_services f ON f.service_id = r.service_id
            WHERE x.withdrawn_at IS NULL AND x.exercise_date <= ?""", [last])
        incidents = frame(cur, """
            SELECT s.service_id, s.incident_id, CAST(i.started_at AS DATE) AS started_on, s.outage_minutes,
                   s.rto_minutes, s.over_rto, i.postmortem_due, i.postmortem_done
            FROM incident_services s JOIN incidents i ON i.incident_id = s.incident_id
            JOIN _fact_services f ON f.service_id = s.service_id
            WHERE CAST(i.started_at AS DATE) <= ?""", [last])
    return RecordFacts(services, results.cast(FACT_SCHEMAS["results"]), incidents.cast(FACT_SCHEMAS["incidents"]))


def _scoped(where: str, current: bool = False) -> str:
    """Services valid at the first parameter (or, if `current`, the register as it stands now, from the current
    table and without that parameter), with unit and division, limited by a Scope on units u."""
    source = "SELECT * FROM services WHERE active" if current else snapshot_sql()
    return f"""
        SELECT snap.*, u.name AS unit, u.division_id, d.name AS division, u.tier AS unit_tier
        FROM ({source}) snap JOIN business_units u ON u.unit_id = snap.unit_id
        JOIN divisions d ON d.division_id = u.division_id WHERE u.active AND {where}"""


def demonstrated(cur, where: str, params: list, at: datetime) -> pl.DataFrame:
    """Per service valid at `at`: its RTO, the latest recovery time measured in an exercise up to that day
    (any type), when, in which exercise, and whether that result passed."""
    return frame(cur, f"""
        WITH s AS ({_scoped(where)}),
        m AS (SELECT r.service_id, r.exercise_id, x.exercise_date, x.exercise_type, r.achieved_recovery_minutes,
                     r.passed, row_number() OVER (PARTITION BY r.service_id
                                                  ORDER BY x.exercise_date DESC, r.exercise_id DESC) AS k
              FROM exercise_results r JOIN exercises x ON x.exercise_id = r.exercise_id
              WHERE x.withdrawn_at IS NULL AND r.achieved_recovery_minutes IS NOT NULL AND x.exercise_date <= ?
                AND r.service_id IN (SELECT service_id FROM s))
        SELECT s.service_id, s.name AS service, s.unit_id, s.unit, s.division_id, s.division, s.unit_tier,
               s.recovery_tier, s.owner, s.rto_minutes, m.achieved_recovery_minutes AS demonstrated_minutes,
               m.exercise_date AS demonstrated_on, m.exercise_id, m.exercise_type, m.passed
        FROM s LEFT JOIN m ON m.service_id = s.service_id AND m.k = 1
        ORDER BY s.service_id""", [at, *params, at.date()])


def untested(cur, where: str, params: list, at: datetime, since: date, tier: int = TOP_RECOVERY_TIER
             ) -> pl.DataFrame:
    """Services of `tier` valid at `at` without a passing exercise result between `since` and that day, with
    their latest passing and latest results of any date."""
    return frame(cur, f"""
        WITH s AS ({_scoped(where)}),
        r AS (SELECT r.service_id, x.exercise_date, r.passed FROM exercise_results r
              JOIN exercises x ON x.exercise_id = r.exercise_id
              WHERE x.withdrawn_at IS NULL AND x.exercise_date <= ? AND r.service_id IN (SELECT service_id FROM s))
        SELECT s.service_id, s.name AS service, s.unit_id, s.unit, s.division_id, s.division, s.unit_tier,
               s.recovery_tier, s.owner, s.rto_minutes,
               (SELECT max(r.exercise_date) FROM r WHERE r.service_id = s.service_id AND r.passed) AS last_passed_on,
               (SELECT max(r.exercise_date) FROM r WHERE r.service_id = s.service_id) AS last_tested_on
        FROM s WHERE s.recovery_tier = ? AND NOT EXISTS (
            SELECT 1 FROM r WHERE r.service_id = s.service_id AND r.passed AND r.exercise_date >= ?)
        ORDER BY s.division, s.unit, s.service_id""", [at, *params, at.date(), tier, since])


def over_rto(cur, where: str, params: list, since: date, until: date) -> pl.DataFrame:
    """Incident outages longer than the service's RTO (as judged when they started) in [since, until]."""
    return frame(cur, f"""
        SELECT i.incident_id, i.title, i.severity, i.started_at, i.ended_at, i.plan_invoked, i.postmortem_due,
               i.postmortem_done, i.report_url, i.ticket_url, s.service_id, sv.name AS service, s.unit_id,
               u.name AS unit, u.division_id, d.name AS division, u.tier AS unit_tier, s.outage_minutes,
               s.rto_minutes, s.outage_minutes - s.rto_minutes AS over_by_minutes
        FROM incident_services s JOIN incidents i ON i.incident_id = s.incident_id
        JOIN business_units u ON u.unit_id = s.unit_id JOIN divisions d ON d.division_id = u.division_id
        LEFT JOIN services sv ON sv.service_id = s.service_id
        WHERE s.over_rto AND CAST(i.started_at AS DATE) >= ? AND CAST(i.started_at AS DATE) <= ? AND {where}
        ORDER BY i.started_at DESC, i.incident_id, s.service_id""", [since, until, *params])


def by_division(cur, where: str, params: list, at: datetime, since: date, current: bool = False) -> pl.DataFrame:
    """Per division, over the services valid at `at` (`current`: `at` is now, so the current register is read):
    services, top-tier services, top-tier services without a passing result since `since`, services whose
    latest measured recovery was slower than their RTO, services never tested, and incidents over RTO since
    `since` (with those missing a post-mortem that is due)."""
    day = at.date()
    return frame(cur, f"""
        WITH s AS ({_scoped(where, current)}),
        r AS (SELECT r.service_id, x.exercise_date, r.passed, r.achieved_recovery_minutes,
                     row_number() OVER (PARTITION BY r.service_id ORDER BY
                                        CASE WHEN r.achieved_recovery_minutes IS NULL THEN 1 ELSE 0 END,
                                        x.exercise_date DESC, r.exercise_id DESC) AS k
              FROM exercise_results r JOIN exercises x ON x.exercise_id = r.exercise_id
              WHERE x.withdrawn_at IS NULL AND x.exercise_date <= ? AND r.service_id IN (SELECT service_id FROM s)),
        ok AS (SELECT DISTINCT service_id FROM r WHERE r.passed AND r.exercise_date >= ?),
        inc AS (SELECT u.division_id, i.incident_id,
                       max(CASE WHEN i.postmortem_done IS NULL AND i.postmortem_due <= ? THEN 1 ELSE 0 END) AS missing
                FROM incident_services x JOIN incidents i ON i.incident_id = x.incident_id
                JOIN business_units u ON u.unit_id = x.unit_id
                WHERE x.over_rto AND CAST(i.started_at AS DATE) >= ? AND CAST(i.started_at AS DATE) <= ? AND {where}
                GROUP BY u.division_id, i.incident_id),
        per AS (
          SELECT s.division_id, min(s.division) AS division, count(*) AS services,
                 count(CASE WHEN s.recovery_tier = ? THEN 1 END) AS top_tier_services,
                 count(CASE WHEN s.recovery_tier = ? AND ok.service_id IS NULL THEN 1 END) AS untested_top_tier,
                 count(CASE WHEN r.achieved_recovery_minutes > s.rto_minutes THEN 1 END) AS slower_than_rto,
                 count(CASE WHEN r.service_id IS NULL THEN 1 END) AS never_tested,
                 count(CASE WHEN s.rto_minutes IS NULL THEN 1 END) AS without_rto
          FROM s LEFT JOIN r ON r.service_id = s.service_id AND r.k = 1
          LEFT JOIN ok ON ok.service_id = s.service_id
          GROUP BY s.division_id)
        SELECT per.*, coalesce(ic.incidents, 0) AS incidents_over_rto,
               coalesce(ic.missing, 0) AS postmortems_overdue
        FROM per LEFT JOIN (SELECT division_id, count(*) AS incidents, CAST(sum(missing) AS BIGINT) AS missing FROM inc
                            GROUP BY division_id) ic ON ic.division_id = per.division_id
        ORDER BY per.untested_top_tier DESC, per.slower_than_rto DESC, per.division""",
        [*([] if current else [at]), *params, day, since, day, since, day, *params, TOP_RECOVERY_TIER,
         TOP_RECOVERY_TIER])


def exercise_deadlines(cur, where: str, params: list, schedule: tuple[RecoveryTest, ...], today: date
                       ) -> pl.DataFrame:
    """Deadline rows: when each current service is next due for an exercise under its recovery tier's test
    frequency (policy.recovery_testing), from its latest exercise of a counted type; never exercised: no
    due date (listed first, like a plan never reviewed)."""
    last = frame(cur, f"""
        SELECT s.service_id, s.name, s.recovery_tier, s.owner, u.unit_id, u.name AS unit, u.division_id,
               d.name AS division, u.tier, x.exercise_type, max(x.exercise_date) AS last_on
        FROM services s JOIN business_units u ON u.unit_id = s.unit_id
        JOIN divisions d ON d.division_id = u.division_id
        LEFT JOIN exercise_results r ON r.service_id = s.service_id
        LEFT JOIN exercises x ON x.exercise_id = r.exercise_id AND x.withdrawn_at IS NULL
        WHERE s.active AND u.active AND {where}
        GROUP BY s.service_id, s.name, s.recovery_tier, s.owner, u.unit_id, u.name, u.division_id, d.name, u.tier,
                 x.exercise_type""", params)
    plan = pl.DataFrame(
        [{"recovery_tier": t.tier, "every_months": t.every_months, "types": list(t.exercise_types),
          "what": " or ".join(EXERCISE_TYPES[x].lower() for x in t.exercise_types)} for t in schedule],
        schema={"recovery_tier": pl.Int64, "every_months": pl.Int64, "types": pl.List(pl.String),
                "what": pl.String})
    df = last.with_columns(pl.col("recovery_tier").cast(pl.Int64)).join(plan, on="recovery_tier")
    df = df.with_columns(pl.col("types").list.contains(pl.col("exercise_type").fill_null("")).alias("counts"))
    keys = ["service_id", "name", "recovery_tier", "owner", "unit_id", "unit", "division_id", "division", "tier",
            "every_months", "what"]
    per = df.group_by(keys).agg(pl.col("last_on").filter(pl.col("counts")).max().alias("since"))
    return per.with_columns(
        pl.lit("exercise due").alias("kind"),
        pl.col("since").cast(pl.Date),
        pl.col("since").cast(pl.Date).dt.offset_by(pl.format("{}mo", "every_months")).alias("due_on"),
        pl.format("{} {}: {} (recovery tier {}: every {} months)", "service_id", "name", "what", "recovery_tier",
                  "every_months").alias("item"),
    ).select("kind", "unit_id", "unit", "division_id", "division", "tier", "owner", "since", "due_on", "item"
             ).with_columns(_days_left(today))


def capped_answers(cur, campaign_id: str, where: str, params: list, status: str, limit: int) -> pl.DataFrame:
    """Scored answers of a campaign that a record rule capped (`status`), highest priority first."""
    return frame(cur, f"""
        SELECT q.unit_id, u.name AS unit, d.name AS division, q.question_id, q.level, q.score, q.priority,
               q.explanation
        FROM question_scores q JOIN business_units u ON u.unit_id = q.unit_id
        JOIN divisions d ON d.division_id = u.division_id
        WHERE q.campaign_id = ? AND q.status = ? AND {where}
        ORDER BY q.priority DESC NULLS LAST, u.name, q.question_id
        LIMIT ?""", [campaign_id, status, *params, limit])
