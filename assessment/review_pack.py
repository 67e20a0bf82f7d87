"""The management-review pack of a cycle: the ISO 22301 9.3.2 review inputs, gathered through the engine."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

import polars as pl

from . import access, actions, campaigns, clock, exercises, incidents, parallel, recovery, reports
from .catalog import campaign_questionnaire
from .model import EXERCISE_TYPES, SEVERITIES, Actor
from .reports import Filters
from .services import cycle_as_of
from .storage import Database

TOP_N = 10             # rows of every top-N list: readable at 5,000 units
DIVISIONS_SHOWN = 15   # divisions in a chart or table, worst first; the rest are summed up in one line
TREND_DIVISIONS = 4    # worst divisions drawn beside the organisation in the trend chart
WINDOW_MONTHS = 12     # exercises and incidents reviewed: the 12 months to the cycle's as-of date
EXERCISE_DUE = "exercise due"  # the deadline kind of reports.deadlines that carries the exercise schedule


@dataclass(frozen=True)
class Headline:
    """The one page of headline figures (counts are within the actor's scope; None: not known)."""

    score: float | None
    target: float | None
    previous_score: float | None
    previous_campaign: str | None
    units: int
    units_scored: int
    units_at_target: int
    divisions_below_target: int
    submitted: int
    expected: int
    overdue_plan_reviews: int
    services: int
    top_tier_services: int
    untested_top_tier: int
    slower_than_rto: int
    never_tested: int
    without_rto: int
    inversions: int
    exercises_held: int
    exercises_planned: int | None   # services due a test under the schedule; None: the cycle has none
    exercises_done: int | None      # of those, tested within their interval
    incidents: int
    incidents_over_rto: int
    postmortems_overdue: int
    deadlines_missed: int
    actions_overdue: int | None     # None: no action register


@dataclass(frozen=True)
class ActionFigures:
    """What the action register says for the review period (provided by assessment.actions when installed)."""

    opened: int
    closed: int
    open: int
    overdue: int
    by_division: pl.DataFrame   # division, open, overdue, closed
    overdue_list: pl.DataFrame  # title, unit, owner, due_on, days_overdue (top N)


@dataclass(frozen=True)
class Decision:
    """One decision the figures ask management for: the topic, what to decide, and the figure behind it."""

    topic: str
    text: str
    figure: int


@dataclass(frozen=True)
class ReviewPack:
    """Everything the PDF and the review sheets of the auditor pack show, read once."""

    campaign: dict
    questionnaire: str
    generated_at: datetime
    generated_by: str
    scope: str
    as_of: date
    since: date
    headline: Headline
    divisions: pl.DataFrame          # worst gap first: division, units, units_scored, score, target, gap,
    #                                  units_at_target, previous_score
    divisions_total: int
    trends: pl.DataFrame             # campaign_id, campaign, opens_on, series, score, target
    gaps: pl.DataFrame               # top question gaps: unit, division, tier, question_id, question, score,
    #                                  target, gap, priority
    recovery_divisions: pl.DataFrame  # recovery.by_division, worst first
    recovery_status: pl.DataFrame    # per division (worst first): division, one count per recovery.STATUSES
    recovery_worst: pl.DataFrame     # top N services slower than RTO or never tested
    exercise_plan: pl.DataFrame      # per division: planned, done, overdue, never (empty without a schedule)
    exercise_types: pl.DataFrame     # exercise type, held, objectives met, results, passed
    incident_status: pl.DataFrame    # postmortem_status, incidents
    incident_list: pl.DataFrame      # top N: over RTO first, then newest
    deadline_kinds: pl.DataFrame     # kind, missed (overdue or never reviewed)
    deadline_divisions: pl.DataFrame  # division, missed (top N)
    deadline_units: pl.DataFrame     # reports.most_urgent_units over the missed deadlines (top N)
    actions: ActionFigures | None
    decisions: tuple[Decision, ...]


def actions_provider(db: Database, actor: Actor, filters: Filters | None, since: date,
                     until: date) -> ActionFigures | None:
    """What the action register says for the period: opened and closed in it, open and overdue at its end
    (actions.overdue_expr, the one overdue rule), by division worst first, and the most overdue actions."""
    df = actions.list_actions(db, actor, filters, today=until)
    created = pl.col("created_at").dt.date()
    in_period = df.filter(created <= until)
    is_open = pl.col("status").is_in(list(actions.OPEN_STATUSES))
    closed = pl.col("closed_on").is_not_null() & pl.col("closed_on").is_between(since, until)
    per = in_period.group_by("division").agg(
        is_open.sum().cast(pl.Int64).alias("open"), pl.col("overdue").sum().cast(pl.Int64).alias("overdue"),
        closed.sum().cast(pl.Int64).alias("closed")).sort(["overdue", "open", "division"],
                                                           descending=[True, True, False])
    late = in_period.filter(pl.col("overdue")).with_columns(
        (pl.lit(until) - pl.col("due_on")).dt.total_days().cast(pl.Int64).alias("days_overdue")).sort(
        ["days_overdue", "title"], descending=[True, False]).head(TOP_N)
    return ActionFigures(
        opened=df.filter(created.is_between(since, until)).height, closed=in_period.filter(closed).height,
        open=in_period.filter(is_open).height, overdue=in_period.filter(pl.col("overdue")).height,
        by_division=per, overdue_list=late.select("title", "unit", "owner", "due_on", "days_overdue"))


def gather(db: Database, actor: Actor, campaign_id: str, filters: Filters | None = None) -> ReviewPack:
    """Read the review pack of a campaign as of the cycle's close (now while it is open), within the actor's scope."""
    access.require(actor, "review_pack")
    camp = campaigns.get(db, actor, campaign_id)
    at = cycle_as_of(db, campaign_id)
    as_of = at.date()
    since = recovery.window_start(as_of, WINDOW_MONTHS)
    previous_id = campaigns.previous_of(db, campaign_id)
    # Independent reads, side by side (each is mostly a query's fixed cost).
    (summary, previous, divisions, rec_div, demonstrated, deadlines, log, incident_rows, over, acts, q,
     org_trends, division_trends, top_gaps) = parallel.run(
        lambda: reports.summary(db, actor, campaign_id, filters, today=as_of),
        lambda: reports.summary(db, actor, previous_id, filters, today=as_of) if previous_id else None,
        lambda: _divisions(db, actor, campaign_id, previous_id, filters),
        lambda: recovery.by_division(db, actor, filters, at=at, window_months=WINDOW_MONTHS),
        lambda: recovery.demonstrated(db, actor, filters, at=at),
        lambda: reports.deadlines(db, actor, campaign_id, filters, today=as_of),
        lambda: exercises.exercise_log(db, actor, filters, since=since, until=as_of),
        lambda: incidents.incident_log(db, actor, filters, since=since, until=as_of),
        lambda: recovery.incidents_over_rto(db, actor, filters, since=since, until=as_of, today=as_of),
        lambda: actions_provider(db, actor, filters, since, as_of),
        lambda: campaign_questionnaire(db, campaign_id),
        lambda: reports.trends(db, actor, filters),
        lambda: reports.trends(db, actor, filters, by="division"),
        lambda: reports.top_gaps(db, actor, campaign_id, filters, limit=TOP_N))
    plan = _exercise_plan(deadlines)
    missed = deadlines.filter(pl.col("bucket").is_in(list(reports.URGENT)) & (pl.col("kind") != EXERCISE_DUE))
    per_incident = _incidents(incident_rows, over, as_of)
    headline = Headline(
        score=summary["score"], target=summary["target"],
        previous_score=previous["score"] if previous else None, previous_campaign=previous_id,
        units=summary["units"], units_scored=summary["units_scored"], units_at_target=summary["units_at_target"],
        divisions_below_target=divisions.filter(pl.col("gap") > 0).height,
        submitted=summary["submitted"], expected=summary["expected"],
        overdue_plan_reviews=summary["overdue_reviews"], **_recovery_totals(rec_div),
        exercises_held=log["exercise_id"].n_unique(),
        exercises_planned=int(plan["planned"].sum()) if plan.height else None,
        exercises_done=int(plan["done"].sum()) if plan.height else None,
        incidents=per_incident.height, incidents_over_rto=over["incident_id"].n_unique(),
        postmortems_overdue=per_incident.filter(pl.col("postmortem_status") == "overdue").height,
        deadlines_missed=missed.height, actions_overdue=acts.overdue if acts else None)
    pack = ReviewPack(
        campaign=camp, questionnaire=q.policy_label, generated_at=clock.now(), generated_by=actor.username,
        scope=_scope_text(filters, actor), as_of=as_of, since=since, headline=headline,
        divisions=divisions.head(DIVISIONS_SHOWN), divisions_total=divisions.height,
        trends=_trends(camp, org_trends, division_trends, divisions),
        gaps=_gaps(top_gaps, q),
        recovery_divisions=rec_div.head(DIVISIONS_SHOWN),
        recovery_status=_status_counts(demonstrated).head(DIVISIONS_SHOWN),
        recovery_worst=demonstrated.filter(pl.col("status").is_in(["slower than RTO", "never tested"]))
        .head(TOP_N).select("service_id", "service", "unit", "division", "recovery_tier", "rto_minutes",
                            "demonstrated_minutes", "demonstrated_on", "status"),
        exercise_plan=plan.head(DIVISIONS_SHOWN), exercise_types=_exercise_types(log),
        incident_status=per_incident.group_by("postmortem_status").agg(pl.len().alias("incidents"))
        .sort("postmortem_status"),
        incident_list=per_incident.sort(["over_rto", "started_at"], descending=True).head(TOP_N),
        deadline_kinds=missed.group_by("kind").agg(pl.len().alias("missed")).sort(["missed", "kind"],
                                                                                   descending=[True, False]),
        deadline_divisions=missed.group_by("division").agg(pl.len().alias("missed"))
        .sort(["missed", "division"], descending=[True, False]).head(TOP_N),
        deadline_units=reports.most_urgent_units(missed, limit=TOP_N),
        actions=acts, decisions=())
    return _with_decisions(pack)


def _divisions(db: Database, actor: Actor, campaign_id: str, previous_id: str | None,
               filters: Filters | None) -> pl.DataFrame:
    df = reports.divisions(db, actor, campaign_id, filters)
    if previous_id:
        prev = reports.divisions(db, actor, previous_id, filters).select(
            "division_id", pl.col("score").alias("previous_score"))
        df = df.join(prev, on="division_id", how="left")
    else:
        df = df.with_columns(pl.lit(None, pl.Float64).alias("previous_score"))
    return df.sort(["gap", "division"], descending=[True, False], nulls_last=True)


def _trends(camp: dict, org: pl.DataFrame, by_division: pl.DataFrame, divisions: pl.DataFrame) -> pl.DataFrame:
    """The organisation and its worst divisions, over the cycles up to this one (reports.trends of both)."""
    cols = ["campaign_id", "campaign", "opens_on", "series", "score", "target"]
    worst = divisions.filter(pl.col("gap") > 0).head(TREND_DIVISIONS)["division"].to_list()
    by_div = by_division.filter(pl.col("series").is_in(worst))
    both = pl.concat([org.select(cols), by_div.select(cols)], how="vertical_relaxed")
    return both.filter(pl.col("opens_on") <= camp["opens_on"]).sort("opens_on", "series")


def _gaps(gaps: pl.DataFrame, q) -> pl.DataFrame:
    """reports.top_gaps with each question's text."""
    texts = {x.id: x.text for x in q.questions}
    return gaps.with_columns(pl.col("question_id").replace_strict(texts, default="").alias("question")).select(
        "unit", "division", "tier", "question_id", "question", "score", "target", "gap", "priority")


def _recovery_totals(rec_div: pl.DataFrame) -> dict[str, int]:
    keys = ("services", "top_tier_services", "untested_top_tier", "slower_than_rto", "never_tested", "without_rto",
            "inversions")
    totals = rec_div.select(pl.col(k).sum() for k in keys).row(0, named=True) if rec_div.height else {}
    return {k: int(totals.get(k) or 0) for k in keys}


def _status_counts(demonstrated: pl.DataFrame) -> pl.DataFrame:
    """Services per division and recovery status, divisions with the most services slower than RTO first."""
    counts = [(pl.col("status") == s).sum().alias(s) for s in recovery.STATUSES]
    return demonstrated.group_by("division").agg(counts).sort(
        [*recovery.STATUSES[:2], "division"], descending=[True, True, False])


def _exercise_plan(deadlines: pl.DataFrame) -> pl.DataFrame:
    """Per division, from the schedule's "exercise due" deadlines: services planned (due a test under their
    recovery tier's frequency), done (their latest counted test is within the interval), overdue, never."""
    due = deadlines.filter(pl.col("kind") == EXERCISE_DUE)
    return due.group_by("division").agg(
        pl.len().alias("planned"), (pl.col("days_left") >= 0).sum().alias("done"),
        (pl.col("days_left") < 0).sum().alias("overdue"), pl.col("days_left").is_null().sum().alias("never"),
    ).with_columns((pl.col("planned") - pl.col("done")).alias("_missing")).sort(
        ["_missing", "division"], descending=[True, False]).drop("_missing")


def _exercise_types(log: pl.DataFrame) -> pl.DataFrame:
    per_type = log.group_by("exercise_type").agg(
        pl.col("exercise_id").n_unique().alias("held"),
        pl.col("exercise_id").filter(pl.col("objectives_met")).n_unique().alias("objectives met"),
        pl.len().alias("results"), pl.col("passed").fill_null(False).sum().alias("passed"))
    names = pl.DataFrame({"exercise_type": list(EXERCISE_TYPES), "type": list(EXERCISE_TYPES.values())})
    return names.join(per_type, on="exercise_type", how="left").fill_null(0).drop("exercise_type")


def _incidents(rows: pl.DataFrame, over: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """One row per incident: title, severity, started_at, services hit, whether any went over its RTO, and where
    its post-mortem stands (recovery.postmortem_status)."""
    over_ids = over["incident_id"].unique().to_list()
    per = rows.group_by("incident_id").agg(
        pl.col("title").first(), pl.col("severity").first(), pl.col("started_at").first(),
        pl.col("postmortem_due").first(), pl.col("postmortem_done").first(),
        pl.col("service_id").sort().str.join(", ").alias("services"))
    return per.with_columns(
        pl.col("incident_id").is_in(over_ids).alias("over_rto"),
        pl.col("severity").replace_strict(SEVERITIES, default=pl.col("severity")).alias("severity"),
        recovery.postmortem_status(as_of)).select(
        "incident_id", "title", "severity", "started_at", "services", "over_rto", "postmortem_status")


def _with_decisions(p: ReviewPack) -> ReviewPack:
    return replace(p, decisions=decisions(p))


def decisions(p: ReviewPack) -> tuple[Decision, ...]:
    """What the figures ask management to decide (ISO 22301 9.3.3: improvement, changes, resources); only the
    decisions a figure calls for, most pressing first."""
    h = p.headline
    n_below = h.divisions_below_target
    named = ", ".join(p.divisions.filter(pl.col("gap") > 0)["division"].head(3).to_list())  # worst first
    found: list[Decision] = []

    def add(topic: str, figure: int | None, text: str) -> None:
        if figure:
            found.append(Decision(topic, text, int(figure)))

    add("Recovery capability", h.slower_than_rto,
        f"{h.slower_than_rto} service(s) recovered slower than their RTO in their latest test: fund the "
        "remediation, or approve a revised RTO with the business owner.")
    add("Exercise programme", h.untested_top_tier,
        f"{h.untested_top_tier} tier-1 service(s) have no passing test in the last {WINDOW_MONTHS} months: "
        "schedule the tests, or accept the risk formally.")
    add("Lessons learned", h.postmortems_overdue,
        f"{h.postmortems_overdue} incident post-mortem(s) are overdue: set an owner and a new date.")
    add("Recovery objectives", h.inversions,
        f"{h.inversions} service(s) depend on a service with a longer RTO without a formal acceptance: "
        "accept each one or change the objectives.")
    add("Maturity targets", n_below,
        f"{n_below} division(s) are below their maturity target (worst: {named}): approve improvement plans "
        "and their resources.")
    if h.exercises_planned is not None:
        add("Exercise programme", h.exercises_planned - (h.exercises_done or 0),
            f"{h.exercises_planned - (h.exercises_done or 0)} of {h.exercises_planned} service test(s) the "
            "schedule plans are overdue or never held: confirm the exercise plan and its resources.")
    add("Plan maintenance", h.deadlines_missed,
        f"{h.deadlines_missed} review deadline(s) were missed (plans, services, assessments, evidence): "
        "hold the owners to new dates.")
    add("Business impact analysis", h.without_rto,
        f"{h.without_rto} service(s) have no RTO: have their owners set and approve recovery objectives.")
    if h.actions_overdue is not None:
        add("Corrective actions", h.actions_overdue,
            f"{h.actions_overdue} improvement action(s) are overdue: re-plan them or accept the risk.")
    add("Participation", h.expected - h.submitted,
        f"{h.expected - h.submitted} of {h.expected} unit(s) have not submitted their self-assessment: follow up "
        "with their heads.")
    return tuple(found)


def _scope_text(filters: Filters | None, actor: Actor) -> str:
    parts = []
    if filters and filters.division_ids:
        parts.append("divisions " + ", ".join(filters.division_ids))
    if filters and filters.tiers:
        parts.append("tiers " + ", ".join(map(str, filters.tiers)))
    if filters and filters.unit_ids:
        parts.append(f"{len(filters.unit_ids)} selected unit(s)")
    return "; ".join(parts) or "the whole organisation"


def pack_filename(campaign_id: str, at: datetime) -> str:
    return f"itscm-management-review-{campaign_id}-{at:%Y%m%d-%H%M}.pdf"
