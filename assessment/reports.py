"""Leadership and deadline reports, restricted to the units the acting user may read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from . import access, clock
from .campaigns import previous_of
from .catalog import campaign_questionnaire
from .errors import ValidationError
from .model import Actor, Summary
from .reuse import reused
from .storage import Database
from .storage import catalog as catalog_sql
from .storage import recovery as recovery_sql
from .storage import reports as reports_sql
from .storage.reports import Scope


@dataclass(frozen=True)
class Filters:
    """What the user asked to see; intersected with what they may read before any query runs."""

    division_ids: tuple[str, ...] | None = None
    tiers: tuple[int, ...] | None = None
    unit_ids: tuple[str, ...] | None = None


def check_filters(db: Database, actor: Actor, filters: Filters | None) -> None:
    """Refuse division and unit ids this database does not hold: typed on a command line, a typo would
    otherwise read as an organisation with nothing to report. (A unit the actor may not read stays simply out
    of scope, as everywhere.)"""
    access.require(actor, "read")
    if filters is None or not (filters.division_ids or filters.unit_ids):
        return
    with db.read() as cur:
        divisions = set(catalog_sql.divisions(cur)["division_id"].to_list()) if filters.division_ids else set()
        units = set(catalog_sql.units(cur, list(filters.unit_ids), include_inactive=True)["unit_id"].to_list()) \
            if filters.unit_ids else set()
    problems = [f"division: unknown division {d!r}" for d in filters.division_ids or () if d not in divisions]
    problems += [f"unit: unknown business unit {u!r}" for u in filters.unit_ids or () if u not in units]
    if problems:
        raise ValidationError(problems, "filters")


def scope_for(actor: Actor, filters: Filters | None = None) -> Scope:
    f = filters or Filters()
    allowed = access.readable_units(actor)
    units = f.unit_ids
    if allowed is not None:
        units = tuple(u for u in (units if units is not None else allowed) if u in set(allowed))
    return Scope(f.division_ids, f.tiers, units)


def summary(db: Database, actor: Actor, campaign_id: str, filters: Filters | None = None,
            today: date | None = None) -> Summary:
    with db.read() as cur:
        return reports_sql.summary(cur, campaign_id, scope_for(actor, filters), today or clock.today())


def divisions(db: Database, actor: Actor, campaign_id: str, filters: Filters | None = None) -> pl.DataFrame:
    with db.read() as cur:
        return reports_sql.division_summary(cur, campaign_id, scope_for(actor, filters))


def units(db: Database, actor: Actor, campaign_id: str, filters: Filters | None = None,
          limit: int | None = None, order: str = "gap") -> pl.DataFrame:
    with db.read() as cur:
        return reports_sql.unit_summary(cur, campaign_id, scope_for(actor, filters), limit, order)


def heatmap(db: Database, actor: Actor, campaign_id: str, filters: Filters | None = None,
            by: str = "division", limit: int | None = None) -> pl.DataFrame:
    """Division x domain cells (every division, or the `limit` furthest below target), or the cells of the
    `limit` (default 40) units furthest below target (by="unit")."""
    with db.read() as cur:
        return reports_sql.heatmap(cur, campaign_id, scope_for(actor, filters), by,
                                  limit if limit is not None or by == "division" else 40)


def top_gaps(db: Database, actor: Actor, campaign_id: str, filters: Filters | None = None,
             limit: int = 20, level: str = "question") -> pl.DataFrame:
    with db.read() as cur:
        return reports_sql.top_gaps(cur, campaign_id, scope_for(actor, filters), limit, level)


def trends(db: Database, actor: Actor, filters: Filters | None = None, by: str = "organisation") -> pl.DataFrame:
    with db.read() as cur:
        return reports_sql.trends(cur, scope_for(actor, filters), by)


def domain_trends(db: Database, actor: Actor, unit_id: str) -> pl.DataFrame:
    access.require(actor, "read", unit_id)
    with db.read() as cur:
        return reports_sql.domain_trends(cur, unit_id)


def changes(db: Database, actor: Actor, campaign_id: str, filters: Filters | None = None,
            previous_id: str | None = None) -> tuple[str | None, pl.DataFrame]:
    """(previous campaign, per-unit counts of improved/regressed/unchanged/not re-assessed questions)."""
    previous_id = previous_id or previous_of(db, campaign_id)
    if previous_id is None:
        return None, pl.DataFrame()
    with db.read() as cur:
        return previous_id, reports_sql.changes_by_unit(cur, campaign_id, previous_id, scope_for(actor, filters))


def change_details(db: Database, actor: Actor, campaign_id: str, previous_id: str,
                   filters: Filters | None = None, limit: int = 500) -> pl.DataFrame:
    with db.read() as cur:
        return reports_sql.changes_detail(cur, campaign_id, previous_id, scope_for(actor, filters), limit)


def checklist_coverage(db: Database, actor: Actor, campaign_id: str, filters: Filters | None = None) -> pl.DataFrame:
    with db.read() as cur:
        return reports_sql.checklist_coverage(cur, campaign_id, scope_for(actor, filters))


@reused
def deadlines(db: Database, actor: Actor, campaign_id: str | None, filters: Filters | None = None,
              today: date | None = None, horizon_days: int | None = None) -> pl.DataFrame:
    """Plan reviews, open assessments, service objective reviews, and (with a campaign) expiring evidence and
    exercises due under each recovery tier's test frequency, each with days left (negative = overdue) and its
    urgency bucket, most urgent first (a plan never reviewed, with no due date, before all)."""
    today = today or clock.today()
    scope = scope_for(actor, filters)
    policy = campaign_questionnaire(db, campaign_id).policy if campaign_id else None
    rule = policy.evidence_rule if policy is not None else None
    evidence = (campaign_id, rule.min_level, rule.max_age_months) if campaign_id and rule is not None else None
    with db.read() as cur:
        frames = [reports_sql.deadlines(cur, scope, today, evidence)]
        if policy is not None and policy.recovery_testing:
            where, params = scope.where("u")
            frames.append(recovery_sql.exercise_deadlines(cur, where, params, policy.recovery_testing, today))
    frames = [f.with_columns(pl.col("since").cast(pl.Date), pl.col("due_on").cast(pl.Date),
                             pl.col("days_left").cast(pl.Int64)) for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema={"kind": pl.String, "unit_id": pl.String, "unit": pl.String,
                                    "division_id": pl.String, "division": pl.String, "tier": pl.Int64,
                                    "owner": pl.String, "since": pl.Date, "due_on": pl.Date, "item": pl.String,
                                    "days_left": pl.Int64, "bucket": pl.String})
    # The rows come most urgent first; exercise deadlines are merged in, keeping that order among equals.
    df = frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed").sort(
        "days_left", nulls_last=False, maintain_order=True)
    df = df.with_columns(bucket_expr())
    if horizon_days is not None:
        df = df.filter(pl.col("days_left").is_null() | (pl.col("days_left") <= horizon_days))
    return df


# Urgency of a deadline by its days left (negative: overdue; no date: a plan never reviewed), most urgent
# first. The one home of these thresholds: reports, the deadline page, the unit page and exports use them.
NEVER_REVIEWED, OVERDUE, LATER = "never reviewed", "overdue", "later"
DUE_WITHIN: tuple[tuple[int, str], ...] = ((30, "due in 30 days"), (60, "due in 60 days"), (90, "due in 90 days"))
BUCKETS: tuple[str, ...] = (NEVER_REVIEWED, OVERDUE, *(name for _, name in DUE_WITHIN), LATER)
URGENT: tuple[str, ...] = (NEVER_REVIEWED, OVERDUE)


def bucket_expr() -> pl.Expr:
    """The urgency bucket of `days_left` (see BUCKETS)."""
    d = pl.col("days_left")
    expr = pl.when(d.is_null()).then(pl.lit(NEVER_REVIEWED)).when(d < 0).then(pl.lit(OVERDUE))
    for days, name in DUE_WITHIN:
        expr = expr.when(d <= days).then(pl.lit(name))
    return expr.otherwise(pl.lit(LATER)).alias("bucket")


def bucket_counts(deadlines: pl.DataFrame) -> dict[str, int]:
    """How many deadlines (a frame from `deadlines`) fall in each bucket; every bucket is present."""
    counts = dict(deadlines.group_by("bucket").len().iter_rows()) if deadlines.height else {}
    return {b: int(counts.get(b, 0)) for b in BUCKETS}


def buckets_by(deadlines: pl.DataFrame, by: str) -> pl.DataFrame:
    """Deadlines counted per `by` (division or unit) and bucket: by, bucket, count."""
    return deadlines.group_by(by, "bucket").agg(pl.len().alias("count"))


def most_urgent_units(deadlines: pl.DataFrame, limit: int = 15) -> pl.DataFrame:
    """The units with the most urgent deadlines: overdue (or never reviewed) first, then due soonest.

    Columns: unit, overdue, one count per DUE_WITHIN bucket ("30 days", ...), total, most urgent (the
    fewest days left, negative when overdue).
    """
    return (
        deadlines.group_by("unit").agg(
            pl.col("bucket").is_in(list(URGENT)).sum().alias("overdue"),
            *[(pl.col("bucket") == name).sum().alias(f"{days} days") for days, name in DUE_WITHIN],
            pl.len().alias("total"), pl.col("days_left").min().alias("most urgent"))
        .sort(["overdue", f"{DUE_WITHIN[0][0]} days", "most urgent"], descending=[True, True, False], nulls_last=True)
        .head(limit)
    )


def assessment_progress(db: Database, actor: Actor, campaign_id: str, filters: Filters | None = None,
                        limit: int | None = None) -> pl.DataFrame:
    """Per division: assessments expected, submitted (incl. approved), approved, awaiting review, returned, draft
    (by name; with a limit, the `limit` divisions with the most assessments not yet submitted, those first)."""
    with db.read() as cur:
        return reports_sql.assessment_progress(cur, campaign_id, scope_for(actor, filters), limit)
