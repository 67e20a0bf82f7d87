"""Set-based, explainable maturity scoring in polars: question, domain, unit, division, organisation."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from . import record_rules
from .errors import InvalidState
from .model import ANSWERED, CAPPED, CAPPED_RECORDS, CAPPED_STATUSES, MISSING, NA, Questionnaire, RecordFacts

ANSWER_SCHEMA = {
    "unit_id": pl.String, "question_id": pl.String, "level": pl.Int64, "is_na": pl.Boolean,
    "na_reason": pl.String, "evidence": pl.String, "evidence_url": pl.String, "evidence_date": pl.Date,
}


@dataclass(frozen=True)
class Scores:
    """Scores of a set of units in one campaign; every frame is ready to persist."""

    questions: pl.DataFrame
    domains: pl.DataFrame
    units: pl.DataFrame


def question_table(q: Questionnaire) -> pl.DataFrame:
    rows = [
        {"question_id": x.id, "domain_id": d.id, "weight": x.weight, "domain_weight": d.weight,
         "domain_pos": i, "question_pos": j, "na_allowed": x.na_allowed}
        for i, d in enumerate(q.domains) for j, x in enumerate(d.questions)
    ]
    return pl.DataFrame(rows)


def tier_table(q: Questionnaire) -> pl.DataFrame:
    return pl.DataFrame(
        [{"tier": t.tier, "target": float(t.target), "factor": float(t.factor)} for t in q.policy.tiers],
        schema={"tier": pl.Int64, "target": pl.Float64, "factor": pl.Float64},
    )


def score(q: Questionnaire, answers: pl.DataFrame, units: pl.DataFrame, *,
          records: RecordFacts | None = None) -> Scores:
    """Score units (columns unit_id, division_id, tier, as_of) from their current answers.

    Every unit gets a row for every question: unanswered questions are reported as missing
    rather than dropped, so a score always says what it was computed from. When the questionnaire has
    record rules, `records` holds the units' continuity records as of their as_of dates (see
    storage/recovery.facts); the rules then cap what the records do not bear out, after the evidence rule.
    """
    if q.policy.record_rules and records is None:
        raise ValueError(f"{q.policy_label} has record rules: pass the units' records (storage.recovery.facts)")
    answers = _conform(answers)
    units = units.select(
        pl.col("unit_id").cast(pl.String), pl.col("division_id").cast(pl.String),
        pl.col("tier").cast(pl.Int64), pl.col("as_of").cast(pl.Date),
    )
    unknown = units.join(tier_table(q), on="tier", how="anti")
    if unknown.height:
        raise InvalidState(f"tier(s) {sorted(set(unknown['tier']))} not defined by {q.policy_label}: give the unit a "
                           "tier the questionnaire's policy defines")
    questions = _question_scores(q, answers, units, records or RecordFacts.empty())
    domains = _domain_scores(questions)
    unit_scores = _unit_scores(q, domains, units)
    # One plan for the three frames, collected together on the in-memory engine: eager steps paid polars'
    # fixed cost per operation (about 37 collects for one unit), and polars 2's default streaming engine
    # is slower on frames this small.
    q_df, d_df, u_df = pl.collect_all(
        [questions.drop("domain_pos", "question_pos", "domain_weight", "factor", "division_id"),
         domains.drop("domain_pos", "factor"), unit_scores], engine="in-memory")
    return Scores(q_df, d_df, u_df)


def _conform(answers: pl.DataFrame) -> pl.DataFrame:
    cols = []
    for name, dtype in ANSWER_SCHEMA.items():
        if name in answers.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return answers.select(cols).with_columns(pl.col("is_na").fill_null(False))


def _question_scores(q: Questionnaire, answers: pl.DataFrame, units: pl.DataFrame,
                     records: RecordFacts) -> pl.LazyFrame:
    rule = q.policy.evidence_rule
    grid = units.lazy().join(question_table(q).lazy(), how="cross").join(tier_table(q).lazy(), on="tier",
                                                                          how="left")
    df = grid.join(answers.lazy(), on=["unit_id", "question_id"], how="left").with_columns(
        pl.col("is_na").fill_null(False)
    )
    cutoff = pl.col("as_of").dt.offset_by(f"-{rule.max_age_months}mo")
    has_evidence = (
        (pl.col("evidence").fill_null("").str.strip_chars() != "")
        | (pl.col("evidence_url").fill_null("").str.strip_chars() != "")
    )
    fresh = pl.col("evidence_date").is_not_null() & (pl.col("evidence_date") >= cutoff)
    needs = pl.col("level") >= rule.min_level
    status = (
        pl.when(pl.col("is_na")).then(pl.lit(NA))
        .when(pl.col("level").is_null()).then(pl.lit(MISSING))
        .when(needs & ~(has_evidence & fresh) & (pl.col("level") > rule.cap_level)).then(pl.lit(CAPPED))
        .otherwise(pl.lit(ANSWERED))
    )
    df = df.with_columns(status.alias("status"), has_evidence.alias("_has_ev"), cutoff.alias("_cutoff"))
    score_expr = (
        pl.when(pl.col("status") == CAPPED).then(pl.lit(float(rule.cap_level)))
        .when(pl.col("status") == ANSWERED).then(pl.col("level").cast(pl.Float64))
        .otherwise(pl.lit(None, dtype=pl.Float64))
    )
    df = df.with_columns(score_expr.alias("score"), _explanation(rule.min_level, rule.max_age_months,
                                                                 rule.cap_level).alias("explanation"))
    df = _apply_record_rules(q, df, units, records)
    gap = pl.col("target") - pl.col("score")
    df = df.with_columns(
        gap.alias("gap"),
        (gap.clip(lower_bound=0) * pl.col("weight") * pl.col("factor")).alias("priority"),
        pl.lit(q.policy_label).alias("policy"),
    )
    return df.select(
        "unit_id", "division_id", "question_id", "domain_id", "domain_pos", "question_pos", "level", "is_na",
        "score", "status", "explanation", "weight", "domain_weight", "target", "factor", "gap", "priority",
        "policy",
    ).sort("unit_id", "domain_pos", "question_pos")


def _apply_record_rules(q: Questionnaire, df: pl.LazyFrame, units: pl.DataFrame,
                        records: RecordFacts) -> pl.LazyFrame:
    """Cap what the records do not bear out (a cap never raises a score), and name the facts either way."""
    outcomes = record_rules.outcomes(q, units, records)
    if outcomes.height == 0:
        return df
    # Only the questions with record rules change: work on their rows (a few percent of the grid).
    ruled = pl.col("question_id").is_in(sorted({r.question_id for r in q.policy.record_rules}))
    rest, df = df.filter(~ruled), df.filter(ruled)
    triggered = pl.col("status").is_in([ANSWERED, CAPPED]) & (pl.col("level") >= pl.col("min_level"))
    failing = triggered & pl.col("applies") & ~pl.col("holds") & (pl.col("level") > pl.col("cap_level"))
    per_question = (
        outcomes.lazy().join(df.select("unit_id", "question_id", "level", "status"), on=["unit_id", "question_id"])
        .sort("rule")
        .group_by("unit_id", "question_id")
        .agg(pl.col("cap_level").filter(failing).min().alias("_rec_cap"),
             pl.col("why").filter(failing).str.join("; ").alias("_rec_why"),
             pl.col("note").filter(triggered & ~failing).str.join("; ").alias("_rec_note"))
    )
    df = df.join(per_question, on=["unit_id", "question_id"], how="left")
    cap = pl.col("_rec_cap")
    # A record rule that fails sets the score when it is as low as what the evidence rule left (on a tie the
    # records are named first); one that would cap higher is only reported.
    lowered = cap.is_not_null() & (cap.cast(pl.Float64) <= pl.col("score"))
    evidence_why = pl.col("explanation").str.replace(r"^Answered level \d+, capped at \d+: ", "")
    explanation = (
        pl.when(lowered & (pl.col("status") == CAPPED))
        .then(pl.format("Answered level {}, capped at {}: {}; the evidence rule applies as well: {}", "level",
                        cap, "_rec_why", evidence_why))
        .when(lowered)
        .then(pl.format("Answered level {}, capped at {}: {}", "level", cap, "_rec_why"))
        .when(cap.is_not_null())
        .then(pl.format("{}; the records do not bear it out either ({} at most): {}", "explanation", cap, "_rec_why"))
        .when(pl.col("_rec_note").fill_null("") != "")
        .then(pl.format("{}; {}", "explanation", "_rec_note"))
        .otherwise(pl.col("explanation"))
    )
    df = df.with_columns(
        pl.when(lowered).then(cap.cast(pl.Float64)).otherwise(pl.col("score")).alias("score"),
        pl.when(lowered).then(pl.lit(CAPPED_RECORDS)).otherwise(pl.col("status")).alias("status"),
        explanation.alias("explanation"),
    ).drop("_rec_cap", "_rec_why", "_rec_note")
    return pl.concat([rest, df], how="vertical_relaxed")


def _explanation(min_level: int, months: int, cap: int) -> pl.Expr:
    level = pl.col("level").cast(pl.String)
    why_capped = (
        pl.when(~pl.col("_has_ev")).then(pl.lit("no evidence was given"))
        .when(pl.col("evidence_date").is_null()).then(pl.lit("the evidence has no date"))
        .otherwise(pl.format("the evidence is dated {}, before {}", pl.col("evidence_date"), pl.col("_cutoff")))
    )
    return (
        pl.when(pl.col("status") == NA)
        .then(pl.format("Excluded as N/A: {}", pl.col("na_reason").fill_null("(no reason)")))
        .when(pl.col("status") == MISSING).then(pl.lit("Not answered: excluded from the score"))
        .when(pl.col("status") == CAPPED)
        .then(pl.format(
            f"Answered level {{}}, capped at {cap}: a level of {min_level} or more needs evidence dated "
            f"within {months} months, and {{}}", level, why_capped))
        .otherwise(pl.format("As answered: level {}", level))
    )


def _weighted_mean(value: str, weight: str) -> pl.Expr:
    w = pl.when(pl.col(value).is_not_null()).then(pl.col(weight)).otherwise(0.0)
    total = w.sum()
    return pl.when(total > 0).then((pl.col(value).fill_null(0.0) * w).sum() / total).otherwise(None)


def _domain_scores(questions: pl.LazyFrame) -> pl.LazyFrame:
    df = questions.group_by("unit_id", "domain_id").agg(
        _weighted_mean("score", "weight").alias("score"),
        pl.col("domain_weight").first().alias("weight"),
        pl.col("target").first(), pl.col("factor").first(), pl.col("domain_pos").first(),
        (pl.col("status").is_in([ANSWERED, *CAPPED_STATUSES])).sum().cast(pl.Int64).alias("answered"),
        (pl.col("status") == NA).sum().cast(pl.Int64).alias("na"),
        # Answers capped by the evidence rule, as every view labels it; those a record rule capped are counted
        # from the question scores (status capped_records).
        (pl.col("status") == CAPPED).sum().cast(pl.Int64).alias("capped"),
    )
    gap = pl.col("target") - pl.col("score")
    return df.with_columns(
        gap.alias("gap"), (gap.clip(lower_bound=0) * pl.col("weight") * pl.col("factor")).alias("priority"),
    ).sort("unit_id", "domain_pos")


def _unit_scores(q: Questionnaire, domains: pl.LazyFrame, units: pl.DataFrame) -> pl.LazyFrame:
    weakest = (
        domains.filter(pl.col("score").is_not_null())
        .sort("unit_id", "score", "domain_pos")
        .group_by("unit_id", maintain_order=True)
        .agg(pl.col("domain_id").first().alias("weakest_domain"), pl.col("score").first().alias("weakest_score"))
    )
    agg = domains.group_by("unit_id").agg(
        _weighted_mean("score", "weight").alias("score"),
        pl.col("answered").sum(), pl.col("na").sum(), pl.col("capped").sum(),
    )
    tiers = tier_table(q)
    by_tier = q.policy.rollup.unit_to_organisation == "tier_weighted_mean"
    df = (
        units.lazy().join(tiers.lazy(), on="tier", how="left").join(agg, on="unit_id", how="left")
        .join(weakest, on="unit_id", how="left")
        .with_columns(
            (pl.col("target") - pl.col("score")).alias("gap"),
            (pl.col("factor") if by_tier else pl.lit(1.0)).alias("rollup_weight"),
            pl.lit(q.policy_label).alias("policy"),
        )
    )
    bands = [(b.min, b.name) for b in q.bands]
    band = pl.lit(None, dtype=pl.String)
    for lo, name in bands:  # later bands win: each starts where the previous ends
        band = pl.when(pl.col("score") >= lo).then(pl.lit(name)).otherwise(band)
    return df.with_columns(band.alias("band")).select(
        "unit_id", "division_id", "tier", "score", "target", "gap", "rollup_weight", "weakest_domain",
        "weakest_score", "band", pl.col("answered").fill_null(0), pl.col("na").fill_null(0),
        pl.col("capped").fill_null(0), "policy", "as_of",
    ).sort("unit_id")
