"""Record rules: maturity answers checked against the continuity records (questionnaire policy.record_rules).

Pure and set-based (polars): for every scored unit and every rule, does the unit's record bear the rule out,
and which facts say so. scoring.py applies the caps after the evidence rule. The facts are read for each unit
as of its as_of date (model.RecordFacts); a fact dated after that date does not count.

The services in scope are the unit's active services in the version valid at the as_of date: all of them,
those of its highest (most critical) recovery tier, or those of the tiers a rule names. A unit without such
services is not judged by the rule, and the explanation says so.

For exercise_passed the latest result of a counted type within the window decides for each service: a
failover that failed after one that passed means the service's recovery is not demonstrated now.

All the rules are one lazy query, collected once by the in-memory engine: the rules of one check are judged
together, their rows keyed by the rule's index in policy.record_rules (the rule column).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import polars as pl

from . import durations
from .model import EXERCISE_TYPES, Questionnaire, RecordFacts, RecordRule

OUTCOME_SCHEMA = pl.Schema({"unit_id": pl.String, "question_id": pl.String, "rule": pl.Int64, "min_level": pl.Int64,
                  "cap_level": pl.Int64, "applies": pl.Boolean, "holds": pl.Boolean, "why": pl.String,
                  "note": pl.String})


@functools.cache
def _names(column: str, most: int = 5) -> pl.Expr:
    """ "A", "A and B", "A, B and C", "A, B, C, D, E and 3 more" from a list column."""
    ids = pl.col(column)
    n = ids.list.len()
    return (
        pl.when(n == 1).then(ids.list.first())
        .when(n <= most).then(pl.concat_str(ids.list.head(n - 1).list.join(", "), pl.lit(" and "), ids.list.last()))
        .otherwise(pl.concat_str(ids.list.head(most).list.join(", "), pl.lit(" and "),
                                 (n - most).cast(pl.String), pl.lit(" more")))
    )


def _verb(column: str, one: str, many: str) -> pl.Expr:
    return pl.when(pl.col(column).list.len() == 1).then(pl.lit(one)).otherwise(pl.lit(many))


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


def _in_scope(rule: RecordRule, services: pl.LazyFrame) -> pl.LazyFrame:
    if rule.services == "top_tier":
        return services.filter(pl.col("recovery_tier") == pl.col("recovery_tier").min().over("unit_id"))
    if rule.services == "all":
        return services
    return services.filter(pl.col("recovery_tier").is_in(list(rule.services)))


@functools.cache
def _minutes(column: str) -> pl.Expr:
    return durations.expr(pl.col(column))


def _cutoff(window_months: int | None) -> pl.Expr:
    """The first day that counts: the cutoff column of the rule's window (see outcomes), null without one."""
    return pl.col(f"_cutoff_{window_months}") if window_months else pl.lit(None, dtype=pl.Date)


def _not_applying(rule: RecordRule) -> str:
    if isinstance(rule.services, tuple):
        why_not = f"the unit has no service of recovery tier {', '.join(map(str, rule.services))}"
    else:
        why_not = "the unit has no services in the service register"
    return f"{rule.question_id}'s record rule does not apply: {why_not}"


Picked = list[tuple[int, RecordRule]]  # (index in policy.record_rules, rule) of one check


def _per_rule(picked: Picked, text: Callable[[RecordRule], str]) -> pl.Expr:
    """A text that differs by rule, on rows keyed by the rule column."""
    out = pl.lit(None, dtype=pl.String)
    for i, rule in reversed(picked):
        out = pl.when(pl.col("rule") == i).then(pl.lit(text(rule))).otherwise(out)
    return out


def outcomes(q: Questionnaire, units: pl.DataFrame, facts: RecordFacts) -> pl.DataFrame:
    """One row per unit (unit_id, as_of) x record rule of q: applies (the unit has services in scope), holds
    (the records bear the rule out), why (the requirement and the facts against it, when it does not hold)
    and note (the facts for it, or why it does not apply). Columns OUTCOME_SCHEMA."""
    rules = q.policy.record_rules
    if not rules or units.height == 0:
        return pl.DataFrame(schema=OUTCOME_SCHEMA)
    # One query for every rule, collected once: each eager step costs a fixed overhead far above its work
    # at a few hundred rows. The rules of one check are judged together, keyed by a rule column.
    windows = sorted({r.window_months for r in rules if r.window_months})
    units_lf = units.lazy().select("unit_id", pl.col("as_of").cast(pl.Date))
    services = facts.services.lazy().join(units_lf.with_columns(
        pl.col("as_of").dt.offset_by(f"-{w}mo").alias(f"_cutoff_{w}") for w in windows), on="unit_id")
    columns = [c for c in facts.services.columns if c != "unit_id"]
    judged = []
    for check, judge in _CHECKS.items():
        picked = [(i, r) for i, r in enumerate(rules) if r.check == check]
        if picked:
            scope = pl.concat([_in_scope(r, services).select(
                pl.lit(i, dtype=pl.Int64).alias("rule"), "unit_id", *columns, "as_of",
                _cutoff(r.window_months).alias("cutoff")) for i, r in picked])
            judged.append(judge(picked, scope, facts))
    table = pl.LazyFrame({
        "rule": range(len(rules)), "question_id": [r.question_id for r in rules],
        "min_level": [r.min_level for r in rules], "cap_level": [r.cap_level for r in rules],
        "requirement": [requirement(r) for r in rules], "not_applying": [_not_applying(r) for r in rules]},
        schema={"rule": pl.Int64, "question_id": pl.String, "min_level": pl.Int64, "cap_level": pl.Int64,
                "requirement": pl.String, "not_applying": pl.String})
    # Every unit x rule; a unit with nothing in scope has no judged row: not judged, and the note says why.
    against, applies = pl.col("against"), pl.col("applies").fill_null(False)
    out = units_lf.select("unit_id").join(table, how="cross").join(
        pl.concat(judged), on=["rule", "unit_id"], how="left").select(
        "unit_id", "question_id", "rule", "min_level", "cap_level", applies.alias("applies"),
        against.is_null().alias("holds"),
        pl.when(against.is_not_null()).then(pl.concat_str("requirement", pl.lit(", and "), against)).alias("why"),
        pl.when(~applies).then(pl.col("not_applying"))
        .when(against.is_null()).then(pl.concat_str(pl.lit("the records bear it out: "), "good")).alias("note"))
    # The streaming engine (polars' default) starts up slower than this whole plan runs at a few hundred units.
    return out.cast(OUTCOME_SCHEMA).collect(engine="in-memory")


def _judged(per_unit: pl.LazyFrame, against: pl.Expr, good: pl.Expr) -> pl.LazyFrame:
    """Per rule and unit: `against` (facts that fail the rule, null when none) and `good` (facts for it)."""
    return per_unit.select("rule", "unit_id", pl.lit(True).alias("applies"), against.alias("against"),
                           good.alias("good"))


def _join(parts: list[pl.Expr]) -> pl.Expr:
    """The non-null parts joined with "; ", or null when every part is null."""
    return pl.concat_str(parts, separator="; ", ignore_nulls=True).replace("", None)


@functools.cache
def _failed() -> pl.Expr:
    """Why a service's latest result does not pass (null when it passes)."""
    label = pl.col("exercise_type").replace_strict({k: v.lower() for k, v in EXERCISE_TYPES.items()},
                                                   default=pl.col("exercise_type"))
    fmt = _minutes
    why = (
        pl.when(pl.col("recovery_met") == False)  # noqa: E712 - polars comparison, not Python truthiness
        .then(pl.format("took {} against an RTO of {}", fmt("achieved_recovery_minutes"),
                        fmt("rto_minutes")))
        .when(pl.col("data_met") == False)  # noqa: E712
        .then(pl.format("lost {} of data against an RPO of {}", fmt("achieved_data_loss_minutes"),
                        fmt("rpo_minutes")))
        .when(pl.col("achieved_recovery_minutes").is_null()).then(pl.lit("recorded no recovery time"))
        .otherwise(pl.lit("could not be judged: the service had no RTO then"))
    )
    return pl.when(pl.col("passed").fill_null(False)).then(None).otherwise(
        pl.format("{}'s latest {} on {} {}", "service_id", label, "exercise_date", why))


def _exercises(picked: Picked, scope: pl.LazyFrame, facts: RecordFacts) -> pl.LazyFrame:
    counted = pl.any_horizontal([(pl.col("rule") == i) & pl.col("exercise_type").is_in(list(r.exercise_types))
                                 for i, r in picked])
    results = facts.results.lazy().join(scope.select("rule", "unit_id", "service_id", "as_of", "cutoff"),
                                        on="service_id")
    when = pl.col("exercise_date")
    latest = (results.filter(counted & (when <= pl.col("as_of")) & (when >= pl.col("cutoff")))
              .sort("exercise_date", "exercise_id").group_by("rule", "unit_id", "service_id").last())
    df = scope.select("rule", "unit_id", "service_id", "cutoff").join(
        latest.drop("cutoff", "as_of"), on=["rule", "unit_id", "service_id"], how="left")
    failed = _failed()
    # Sorted once by (failed, service_id), every list below comes out sorted: the failures by their text, the
    # ids (whose rows have no failure text) by id. Sorting within each group costs far more.
    df = df.with_columns(failed.alias("failed"), pl.col("exercise_id").is_null().alias("none")).sort(
        "failed", "service_id")
    per_unit = df.group_by("rule", "unit_id").agg(
        pl.col("service_id").filter(pl.col("none")).alias("none_ids"),
        pl.col("failed").filter(~pl.col("none") & pl.col("failed").is_not_null()).alias("fails"),
        pl.col("service_id").filter(pl.col("passed").fill_null(False)).alias("ok_ids"),
        pl.col("cutoff").first())
    kinds = _per_rule(picked, lambda r: _types_text(r.exercise_types))
    none = pl.when(pl.col("none_ids").list.len() > 0).then(pl.format(
        "{} {} no {} result since {}", _names("none_ids"), _verb("none_ids", "has", "have"),
        kinds, "cutoff"))
    fails = pl.when(pl.col("fails").list.len() > 0).then(pl.col("fails").list.join("; "))
    good = pl.format("the latest {} result since {} passed for {}", kinds, "cutoff", _names("ok_ids"))
    return _judged(per_unit, _join([none, fails]), good)


def _objectives(picked: Picked, scope: pl.LazyFrame, facts: RecordFacts) -> pl.LazyFrame:
    approved = pl.col("approved_on").is_not_null() & (pl.col("approved_on") <= pl.col("as_of"))
    stale = approved & pl.col("cutoff").is_not_null() & (pl.col("approved_on") < pl.col("cutoff"))
    df = scope.with_columns(
        pl.col("rto_minutes").is_null().alias("no_rto"),
        (pl.col("holds_data").fill_null(True) & pl.col("rpo_minutes").is_null()).alias("no_rpo"),
        (~approved).alias("unapproved"),
        pl.when(stale).then(pl.format("{}'s objectives were approved on {}, before {}", "service_id", "approved_on",
                                      "cutoff")).alias("stale"))
    # Sorted once by service_id, the id lists come out sorted (the stale texts still sort by their text).
    per_unit = df.sort("service_id").group_by("rule", "unit_id").agg(
        *[pl.col("service_id").filter(pl.col(c)).alias(c) for c in ("no_rto", "no_rpo", "unapproved")],
        pl.col("stale").drop_nulls().sort(),
        pl.col("service_id").filter(~pl.col("no_rto") & ~pl.col("no_rpo") & ~pl.col("unapproved")
                                    & pl.col("stale").is_null()).alias("ok_ids"))

    def group(col: str, one: str, many: str) -> pl.Expr:
        return pl.when(pl.col(col).list.len() > 0).then(pl.format("{} {}", _names(col), _verb(col, one, many)))

    against = _join([group("no_rto", "has no RTO", "have no RTO"), group("no_rpo", "holds data but has no RPO",
                                                                          "hold data but have no RPO"),
                     group("unapproved", "has objectives nobody approved", "have objectives nobody approved"),
                     pl.when(pl.col("stale").list.len() > 0).then(pl.col("stale").list.join("; "))])
    good = pl.format("{} {} approved objectives", _names("ok_ids"), _verb("ok_ids", "has", "have"))
    return _judged(per_unit, against, good)


def _postmortems(picked: Picked, scope: pl.LazyFrame, facts: RecordFacts) -> pl.LazyFrame:
    fmt = _minutes
    hits = facts.incidents.lazy().join(scope.select("rule", "unit_id", "service_id", "as_of", "cutoff"),
                                       on="service_id").filter(
        pl.col("over_rto").fill_null(False) & (pl.col("started_on") <= pl.col("as_of"))
        & (pl.col("started_on") >= pl.col("cutoff")))
    done = pl.col("postmortem_done").is_not_null() & (pl.col("postmortem_done") <= pl.col("as_of"))
    not_due = pl.col("postmortem_due").is_not_null() & (pl.col("postmortem_due") > pl.col("as_of"))
    per_incident = hits.sort("service_id").group_by("rule", "unit_id", "incident_id").agg(
        pl.col("started_on").first(), done.first().alias("done"), not_due.first().alias("not_due"),
        pl.col("postmortem_due").first(),
        pl.format("{} down {} against an RTO of {}", "service_id", fmt("outage_minutes"),
                  fmt("rto_minutes")).str.join(", ").alias("what"))
    per_incident = per_incident.with_columns(
        pl.when(~pl.col("done") & ~pl.col("not_due"))
        .then(pl.format("{} (started {}: {}) has no post-mortem", "incident_id", "started_on", "what"))
        .alias("missing"),
        pl.when(pl.col("done")).then(pl.col("incident_id")).alias("reviewed"),
        pl.when(~pl.col("done") & pl.col("not_due"))
        .then(pl.format("{}'s post-mortem is due on {}", "incident_id", "postmortem_due")).alias("pending"))
    per_unit = scope.group_by("rule", "unit_id").agg(pl.col("cutoff").first()).join(
        per_incident.sort("started_on", "incident_id").group_by("rule", "unit_id").agg(
            pl.col("missing").drop_nulls(), pl.col("reviewed").drop_nulls(), pl.col("pending").drop_nulls()),
        on=["rule", "unit_id"], how="left").with_columns(
        [pl.col(c).fill_null(pl.lit([], dtype=pl.List(pl.String))) for c in ("missing", "reviewed", "pending")])
    against = pl.when(pl.col("missing").list.len() > 0).then(pl.col("missing").list.join("; "))
    reviewed, pending = pl.col("reviewed"), pl.col("pending")
    good = _join([
        pl.when(reviewed.list.len() > 0).then(pl.format(
            "every incident over RTO since {} has its post-mortem ({})", "cutoff", _names("reviewed")))
        .when(pending.list.len() == 0).then(pl.format(
            "no incident went over RTO on the unit's services since {}", "cutoff")),
        pl.when(pending.list.len() > 0).then(pending.list.join("; "))])
    return _judged(per_unit, against, good)


_CHECKS = {"exercise_passed": _exercises, "objectives_approved": _objectives, "postmortem_done": _postmortems}
