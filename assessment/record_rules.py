"""Record rules: maturity answers checked against the continuity records (questionnaire policy.record_rules).

Pure and set-based (polars): for every scored unit and every rule, does the unit's record bear the rule out,
and which facts say so. scoring.py applies the caps after the evidence rule. The facts are read for each unit
as of its as_of date (model.RecordFacts); a fact dated after that date does not count.

The services in scope are the unit's active services in the version valid at the as_of date: all of them,
those of its highest (most critical) recovery tier, or those of the tiers a rule names. A unit without such
services is not judged by the rule, and the explanation says so.

For exercise_passed the latest result of a counted type within the window decides for each service: a
failover that failed after one that passed means the service's recovery is not demonstrated now.
"""

from __future__ import annotations

import polars as pl

from . import durations
from .model import EXERCISE_TYPES, Questionnaire, RecordFacts, RecordRule

OUTCOME_SCHEMA = pl.Schema({"unit_id": pl.String, "question_id": pl.String, "rule": pl.Int64, "min_level": pl.Int64,
                  "cap_level": pl.Int64, "applies": pl.Boolean, "holds": pl.Boolean, "why": pl.String,
                  "note": pl.String})


def _names(ids: pl.Expr, most: int = 5) -> pl.Expr:
    """ "A", "A and B", "A, B and C", "A, B, C, D, E and 3 more" from a list column."""
    n = ids.list.len()
    return (
        pl.when(n == 1).then(ids.list.first())
        .when(n <= most).then(pl.concat_str(ids.list.head(n - 1).list.join(", "), pl.lit(" and "), ids.list.last()))
        .otherwise(pl.concat_str(ids.list.head(most).list.join(", "), pl.lit(" and "),
                                 (n - most).cast(pl.String), pl.lit(" more")))
    )


def _verb(ids: pl.Expr, one: str, many: str) -> pl.Expr:
    return pl.when(ids.list.len() == 1).then(pl.lit(one)).otherwise(pl.lit(many))


def _types_text(types: tuple[str, ...]) -> str:
    labels = [EXERCISE_TYPES[t].lower() for t in types]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


def _scope_text(rule: RecordRule) -> str:
    if rule.services == "top_tier":
        return "every service of the unit's highest recovery tier"
    if rule.services == "all":
        return "every service of the unit"
    tiers = [str(t) for t in rule.services]
    return "every service of recovery tier " + (tiers[0] if len(tiers) == 1 else ", ".join(tiers[:-1]) + " or "
                                                + tiers[-1])


def requirement(rule: RecordRule) -> str:
    """What the rule asks, in words: the first half of every explanation it writes."""
    within = f" within {rule.window_months} months" if rule.window_months else ""
    head = f"a level of {rule.min_level} or more needs"
    if rule.check == "exercise_passed":
        return f"{head} the latest {_types_text(rule.exercise_types)} result{within} to pass for {_scope_text(rule)}"
    if rule.check == "objectives_approved":
        return f"{head} an approved RTO (and an RPO where data is held){within} for {_scope_text(rule)}"
    return f"{head} a post-mortem of every incident over RTO{within} on {_scope_text(rule)}"


def _in_scope(rule: RecordRule, services: pl.DataFrame) -> pl.DataFrame:
    if rule.services == "top_tier":
        return services.filter(pl.col("recovery_tier") == pl.col("recovery_tier").min().over("unit_id"))
    if rule.services == "all":
        return services
    return services.filter(pl.col("recovery_tier").is_in(list(rule.services)))


def outcomes(q: Questionnaire, units: pl.DataFrame, facts: RecordFacts) -> pl.DataFrame:
    """One row per unit (unit_id, as_of) x record rule of q: applies (the unit has services in scope), holds
    (the records bear the rule out), why (the requirement and the facts against it, when it does not hold)
    and note (the facts for it, or why it does not apply). Columns OUTCOME_SCHEMA."""
    rules = q.policy.record_rules
    if not rules or units.height == 0:
        return pl.DataFrame(schema=OUTCOME_SCHEMA)
    units = units.select("unit_id", pl.col("as_of").cast(pl.Date))
    services = facts.services.join(units, on="unit_id")
    frames = []
    for i, rule in enumerate(rules):
        scope = _in_scope(rule, services)
        cutoff = (pl.col("as_of").dt.offset_by(f"-{rule.window_months}mo") if rule.window_months
                  else pl.lit(None, dtype=pl.Date))
        scope = scope.with_columns(cutoff.alias("cutoff"))
        judged = {"exercise_passed": _exercises, "objectives_approved": _objectives,
                  "postmortem_done": _postmortems}[rule.check](rule, scope, facts)
        # Units with nothing in scope: not judged, and the note says why.
        if isinstance(rule.services, tuple):
            why_not = f"the unit has no service of recovery tier {', '.join(map(str, rule.services))}"
        else:
            why_not = "the unit has no services in the service register"
        empty = units.join(scope.select("unit_id").unique(), on="unit_id", how="anti").select(
            "unit_id", pl.lit(False).alias("applies"), pl.lit(True).alias("holds"),
            pl.lit(None, dtype=pl.String).alias("why"),
            pl.lit(f"{rule.question_id}'s record rule does not apply: {why_not}").alias("note"))
        frames.append(pl.concat([judged.select(empty.columns), empty], how="vertical_relaxed").with_columns(
            pl.lit(rule.question_id).alias("question_id"), pl.lit(i, dtype=pl.Int64).alias("rule"),
            pl.lit(rule.min_level, dtype=pl.Int64).alias("min_level"),
            pl.lit(rule.cap_level, dtype=pl.Int64).alias("cap_level")))
    return pl.concat(frames, how="vertical_relaxed").select(list(OUTCOME_SCHEMA)).cast(OUTCOME_SCHEMA)


def _finish(rule: RecordRule, per_unit: pl.DataFrame, against: pl.Expr, good: pl.Expr) -> pl.DataFrame:
    """From per-unit `against` (facts that fail the rule, null when none) and `good` (facts for it)."""
    return per_unit.select(
        "unit_id", pl.lit(True).alias("applies"), against.is_null().alias("holds"),
        pl.when(against.is_not_null()).then(pl.concat_str(pl.lit(requirement(rule) + ", and "), against))
        .alias("why"),
        pl.when(against.is_null()).then(pl.concat_str(pl.lit("the records bear it out: "), good)).alias("note"))


def _join(parts: list[pl.Expr]) -> pl.Expr:
    """The non-null parts joined with "; ", or null when every part is null."""
    return pl.concat_str(parts, separator="; ", ignore_nulls=True).replace("", None)


def _exercises(rule: RecordRule, scope: pl.DataFrame, facts: RecordFacts) -> pl.DataFrame:
    types = list(rule.exercise_types)
    results = facts.results.filter(pl.col("exercise_type").is_in(types)).join(
        scope.select("unit_id", "service_id", "as_of", "cutoff"), on="service_id")
    when = pl.col("exercise_date")
    latest = (results.filter((when <= pl.col("as_of")) & (when >= pl.col("cutoff")))
              .sort("exercise_date", "exercise_id").group_by("unit_id", "service_id").last())
    df = scope.select("unit_id", "service_id", "cutoff").join(
        latest.drop("cutoff", "as_of"), on=["unit_id", "service_id"], how="left")
    label = pl.col("exercise_type").replace_strict({k: v.lower() for k, v in EXERCISE_TYPES.items()},
                                                   default=pl.col("exercise_type"))
    latest_was = pl.format("{}'s latest {} on {}", "service_id", label, "exercise_date")
    fmt = durations.expr
    failed = (
        pl.when(pl.col("passed").fill_null(False)).then(None)
        .when(pl.col("recovery_met") == False)  # noqa: E712 - polars comparison, not Python truthiness
        .then(pl.format("{} took {} against an RTO of {}", latest_was, fmt(pl.col("achieved_recovery_minutes")),
                        fmt(pl.col("rto_minutes"))))
        .when(pl.col("data_met") == False)  # noqa: E712
        .then(pl.format("{} lost {} of data against an RPO of {}", latest_was,
                        fmt(pl.col("achieved_data_loss_minutes")), fmt(pl.col("rpo_minutes"))))
        .when(pl.col("achieved_recovery_minutes").is_null()).then(pl.format("{} recorded no recovery time", latest_was))
        .otherwise(pl.format("{} could not be judged: the service had no RTO then", latest_was))
    )
    df = df.with_columns(failed.alias("failed"), pl.col("exercise_id").is_null().alias("none"))
    per_unit = df.group_by("unit_id").agg(
        pl.col("service_id").filter(pl.col("none")).sort().alias("none_ids"),
        pl.col("failed").filter(~pl.col("none") & pl.col("failed").is_not_null()).sort().alias("fails"),
        pl.col("service_id").filter(pl.col("passed").fill_null(False)).sort().alias("ok_ids"),
        pl.col("cutoff").first())
    kinds = _types_text(rule.exercise_types)
    none = pl.when(pl.col("none_ids").list.len() > 0).then(pl.format(
        "{} {} no {} result since {}", _names(pl.col("none_ids")), _verb(pl.col("none_ids"), "has", "have"),
        pl.lit(kinds), "cutoff"))
    fails = pl.when(pl.col("fails").list.len() > 0).then(pl.col("fails").list.join("; "))
    good = pl.format("the latest {} result since {} passed for {}", pl.lit(kinds), "cutoff", _names(pl.col("ok_ids")))
    return _finish(rule, per_unit, _join([none, fails]), good)


def _objectives(rule: RecordRule, scope: pl.DataFrame, facts: RecordFacts) -> pl.DataFrame:
    approved = pl.col("approved_on").is_not_null() & (pl.col("approved_on") <= pl.col("as_of"))
    stale = approved & pl.col("cutoff").is_not_null() & (pl.col("approved_on") < pl.col("cutoff"))
    df = scope.with_columns(
        pl.col("rto_minutes").is_null().alias("no_rto"),
        (pl.col("holds_data").fill_null(True) & pl.col("rpo_minutes").is_null()).alias("no_rpo"),
        (~approved).alias("unapproved"),
        pl.when(stale).then(pl.format("{}'s objectives were approved on {}, before {}", "service_id", "approved_on",
                                      "cutoff")).alias("stale"))
    per_unit = df.group_by("unit_id").agg(
        *[pl.col("service_id").filter(pl.col(c)).sort().alias(c) for c in ("no_rto", "no_rpo", "unapproved")],
        pl.col("stale").drop_nulls().sort(),
        pl.col("service_id").filter(~pl.col("no_rto") & ~pl.col("no_rpo") & ~pl.col("unapproved")
                                    & pl.col("stale").is_null()).sort().alias("ok_ids"))

    def group(col: str, one: str, many: str) -> pl.Expr:
        ids = pl.col(col)
        return pl.when(ids.list.len() > 0).then(pl.format("{} {}", _names(ids), _verb(ids, one, many)))

    against = _join([group("no_rto", "has no RTO", "have no RTO"), group("no_rpo", "holds data but has no RPO",
                                                                          "hold data but have no RPO"),
                     group("unapproved", "has objectives nobody approved", "have objectives nobody approved"),
                     pl.when(pl.col("stale").list.len() > 0).then(pl.col("stale").list.join("; "))])
    good = pl.format("{} {} approved objectives", _names(pl.col("ok_ids")), _verb(pl.col("ok_ids"), "has", "have"))
    return _finish(rule, per_unit, against, good)


def _postmortems(rule: RecordRule, scope: pl.DataFrame, facts: RecordFacts) -> pl.DataFrame:
    fmt = durations.expr
    hits = facts.incidents.join(scope.select("unit_id", "service_id", "as_of", "cutoff"), on="service_id").filter(
        pl.col("over_rto").fill_null(False) & (pl.col("started_on") <= pl.col("as_of"))
        & (pl.col("started_on") >= pl.col("cutoff")))
    done = pl.col("postmortem_done").is_not_null() & (pl.col("postmortem_done") <= pl.col("as_of"))
    not_due = pl.col("postmortem_due").is_not_null() & (pl.col("postmortem_due") > pl.col("as_of"))
    per_incident = hits.sort("service_id").group_by("unit_id", "incident_id").agg(
        pl.col("started_on").first(), done.first().alias("done"), not_due.first().alias("not_due"),
        pl.col("postmortem_due").first(),
        pl.format("{} down {} against an RTO of {}", "service_id", fmt(pl.col("outage_minutes")),
                  fmt(pl.col("rto_minutes"))).str.join(", ").alias("what"))
    per_incident = per_incident.with_columns(
        pl.when(~pl.col("done") & ~pl.col("not_due"))
        .then(pl.format("{} (started {}: {}) has no post-mortem", "incident_id", "started_on", "what"))
        .alias("missing"),
        pl.when(pl.col("done")).then(pl.col("incident_id")).alias("reviewed"),
        pl.when(~pl.col("done") & pl.col("not_due"))
        .then(pl.format("{}'s post-mortem is due on {}", "incident_id", "postmortem_due")).alias("pending"))
    per_unit = scope.group_by("unit_id").agg(pl.col("cutoff").first()).join(
        per_incident.sort("started_on", "incident_id").group_by("unit_id").agg(
            pl.col("missing").drop_nulls(), pl.col("reviewed").drop_nulls(), pl.col("pending").drop_nulls()),
        on="unit_id", how="left").with_columns(
        [pl.col(c).fill_null(pl.lit([], dtype=pl.List(pl.String))) for c in ("missing", "reviewed", "pending")])
    against = pl.when(pl.col("missing").list.len() > 0).then(pl.col("missing").list.join("; "))
    reviewed, pending = pl.col("reviewed"), pl.col("pending")
    good = _join([
        pl.when(reviewed.list.len() > 0).then(pl.format(
            "every incident over RTO since {} has its post-mortem ({})", "cutoff", _names(reviewed)))
        .when(pending.list.len() == 0).then(pl.format(
            "no incident went over RTO on the unit's services since {}", "cutoff")),
        pl.when(pending.list.len() > 0).then(pending.list.join("; "))])
    return _finish(rule, per_unit, against, good)

