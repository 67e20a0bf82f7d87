"""Recovery views over the continuity records, restricted to the units the actor may read: demonstrated
against required recovery per service, untested top-tier services, RTO inversions, incidents over RTO, a
per-division summary for large organisations, and how a unit's answers fare against its records."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from . import access, clock, record_rules
from .catalog import campaign_questionnaire
from .errors import NotFound
from .model import CAPPED_RECORDS, TOP_RECOVERY_TIER, Actor, RecordFacts
from .reports import Filters, scope_for
from .reuse import reused
from .service_checks import rto_inversions
from .storage import Database
from .storage import catalog as catalog_sql
from .storage import recovery as recovery_sql
from .storage import services as services_sql

# How a service stands, worst first (the order of the recovery view).
STATUSES = ("slower than RTO", "never tested", "no RTO", "within RTO")


def _at(at: datetime | None) -> datetime:
    return at or clock.now()


def window_start(day: date, months: int) -> date:
    """The first day of the `months` calendar months before `day`: every review window (exercises, incidents
    over RTO, the review pack's period) starts here."""
    return pl.select(pl.lit(day).dt.offset_by(f"-{months}mo")).item()


@reused
def demonstrated(db: Database, actor: Actor, filters: Filters | None = None, *, at: datetime | None = None,
                 limit: int | None = None) -> pl.DataFrame:
    """Per service: required (rto_minutes) against demonstrated recovery: the latest recovery time measured in
    an exercise (demonstrated_minutes, demonstrated_on, exercise_id, exercise_type, passed), the age of that
    proof (proof_age_days), the gap (gap_minutes = demonstrated - RTO, positive when slower) and status (one of
    STATUSES). Worst first; `limit` keeps the top N. The register as it stood at `at` (default now)."""
    at = _at(at)
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        df = recovery_sql.demonstrated(cur, where, params, at)
    status = (pl.when(pl.col("rto_minutes").is_null()).then(pl.lit("no RTO"))
              .when(pl.col("demonstrated_minutes").is_null()).then(pl.lit("never tested"))
              .when(pl.col("demonstrated_minutes") > pl.col("rto_minutes")).then(pl.lit("slower than RTO"))
              .otherwise(pl.lit("within RTO")))
    df = df.with_columns(
        (pl.lit(at.date()) - pl.col("demonstrated_on").cast(pl.Date)).dt.total_days().alias("proof_age_days"),
        (pl.col("demonstrated_minutes") - pl.col("rto_minutes")).alias("gap_minutes"),
        status.alias("status"),
    ).with_columns(pl.col("status").replace_strict({s: i for i, s in enumerate(STATUSES)}).alias("_rank"))
    df = df.sort(["_rank", "gap_minutes", "recovery_tier", "service_id"], descending=[False, True, False, False],
                 nulls_last=True).drop("_rank")
    return df.head(limit) if limit else df


def untested_top_tier(db: Database, actor: Actor, filters: Filters | None = None, *, at: datetime | None = None,
                      window_months: int = 12) -> pl.DataFrame:
    """Tier-1 services without a passing exercise result in the `window_months` before `at`, with when they
    last passed (last_passed_on) and were last tested at all (last_tested_on)."""
    at = _at(at)
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        return recovery_sql.untested(cur, where, params, at, window_start(at.date(), window_months),
                                     TOP_RECOVERY_TIER)


@reused
def inversions(db: Database, actor: Actor, filters: Filters | None = None, *,
               at: datetime | None = None) -> pl.DataFrame:
    """RTO inversions in the register at `at`: service_id, service_rto, depends_on, depends_on_rto, path,
    chain (in words), accepted_inversion (the reason when formally accepted), unit_id, unit, division_id,
    division. The whole register is walked (a chain may cross units); the rows are those of readable units."""
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        # at=None reads the current tables: the register as it stands now, without the history walk.
        register, edges = services_sql.rto_graph(cur, at)
        shown = services_sql.placements(cur, where, params, at)
    return rto_inversions(register, edges).drop("row").join(shown, on="service_id")


@reused
def incidents_over_rto(db: Database, actor: Actor, filters: Filters | None = None, *, since: date | None = None,
                       until: date | None = None, today: date | None = None) -> pl.DataFrame:
    """Outages longer than the service's RTO (default: the last 12 months), one row per incident x service, with
    over_by_minutes and postmortem_status: done, overdue (due date passed), due (a due date ahead), or not
    scheduled (no due date, not done)."""
    today = today or clock.today()
    until = until or today
    since = since or window_start(until, 12)
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        df = recovery_sql.over_rto(cur, where, params, since, until)
    return df.with_columns(postmortem_status(today))


def postmortem_status(today: date) -> pl.Expr:
    """Where an incident's post-mortem stands on `today` (columns postmortem_done, postmortem_due): done,
    overdue (due date passed), due (a due date ahead), or not scheduled (no due date, not done)."""
    return (pl.when(pl.col("postmortem_done").is_not_null()).then(pl.lit("done"))
            .when(pl.col("postmortem_due").is_null()).then(pl.lit("not scheduled"))
            .when(pl.col("postmortem_due") < today).then(pl.lit("overdue"))
            .otherwise(pl.lit("due")).alias("postmortem_status"))


def by_division(db: Database, actor: Actor, filters: Filters | None = None, *, at: datetime | None = None,
                window_months: int = 12) -> pl.DataFrame:
    """The recovery view per division (for thousands of units: divisions first, then drill down with
    Filters(division_ids=...) and a limit): services, top_tier_services, untested_top_tier, slower_than_rto,
    never_tested, without_rto, incidents_over_rto, postmortems_overdue, inversions (unaccepted ones)."""
    when = _at(at)
    where, params = scope_for(actor, filters).where("u")
    since = window_start(when.date(), window_months)
    with db.read() as cur:
        df = recovery_sql.by_division(cur, where, params, when, since, current=at is None)
    inv = inversions(db, actor, filters, at=at).filter(
        pl.col("accepted_inversion").is_null()).group_by("division_id").agg(pl.len().cast(pl.Int64).alias("inversions"))
    return df.join(inv, on="division_id", how="left").with_columns(pl.col("inversions").fill_null(0))


def unit_records(db: Database, actor: Actor, unit_id: str, *, as_of: date | None = None) -> RecordFacts:
    """The facts the record rules read for one unit as of a date (default today): what the self-assessment
    form shows beside the questions that have record rules."""
    access.require(actor, "read", unit_id)
    units = pl.DataFrame({"unit_id": [unit_id], "as_of": [as_of or clock.today()]})
    with db.read() as cur:
        return recovery_sql.facts(cur, units)


def record_checks(db: Database, actor: Actor, campaign_id: str, unit_id: str, *,
                  as_of: date | None = None) -> pl.DataFrame:
    """How the unit's records stand against each record rule of the campaign's questionnaire, as of a date
    (default today): question_id, check, requirement, min_level, cap_level, applies, holds, why, note."""
    access.require(actor, "read", unit_id)
    q = campaign_questionnaire(db, campaign_id)
    as_of = as_of or clock.today()
    units = pl.DataFrame({"unit_id": [unit_id], "as_of": [as_of]})
    with db.read() as cur:
        if catalog_sql.unit(cur, unit_id) is None:
            raise NotFound(f"unknown business unit {unit_id!r}")
        facts = recovery_sql.facts(cur, units)
    out = record_rules.outcomes(q, units, facts)
    rules = pl.DataFrame({"rule": list(range(len(q.policy.record_rules))),
                          "check": [r.check for r in q.policy.record_rules],
                          "requirement": [record_rules.requirement(r) for r in q.policy.record_rules]},
                         schema={"rule": pl.Int64, "check": pl.String, "requirement": pl.String})
    return out.join(rules, on="rule").select("question_id", "check", "requirement", "min_level", "cap_level",
                                             "applies", "holds", "why", "note").sort("question_id")



def capped_answers(db: Database, actor: Actor, campaign_id: str, filters: Filters | None = None, *,
                   limit: int = 200) -> pl.DataFrame:
    """Scored answers of a campaign that the continuity records capped, with the facts their explanation names:
    unit_id, unit, division, question_id, level, score, priority, explanation (highest priority first)."""
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        return recovery_sql.capped_answers(cur, campaign_id, where, params, CAPPED_RECORDS, limit)
