"""Set-based reads behind the Excel auditor pack and the offline templates (one query per sheet)."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from ._sql import latest_answers, weighted_mean
from .db import batches, frame
from .reports import Scope, placed_units

_CURRENT = latest_answers("campaign_id = ?")


def _campaign_units(scope: Scope) -> tuple[str, list]:
    """Units of a campaign (its assessments, active or not) within a scope; first parameter: campaign id."""
    where, params = scope.where("a")
    # The division and tier the cycle fixed for each unit (schema 9), not the unit's current ones.
    return (f"""(SELECT u.unit_id, u.name AS unit, a.division_id, d.name AS division, a.tier, u.head,
                        a.status AS assessment_status, a.submitted_at, a.approved_at
                 FROM assessments a JOIN business_units u ON u.unit_id = a.unit_id
                 JOIN divisions d ON d.division_id = a.division_id
                 WHERE a.campaign_id = ? AND {where})"""), params


def _campaign_questions() -> str:
    """Questions of the campaign's questionnaire version; one parameter: campaign id."""
    return """(SELECT q.question_id, q.domain_id, dm.name AS domain, q.text AS question, q.weight,
                      q.na_allowed, dm.position AS domain_pos, q.position AS question_pos
               FROM campaigns c
               JOIN q_questions q ON q.questionnaire_id = c.questionnaire_id AND q.version = c.questionnaire_version
               JOIN q_domains dm ON dm.questionnaire_id = q.questionnaire_id AND dm.version = q.version
                    AND dm.domain_id = q.domain_id
               WHERE c.campaign_id = ?)"""


def _answer_sql(campaign_id: str, scope: Scope, gaps: bool = False) -> tuple[str, list]:
    """One row per unit x question of a campaign: the current answer (if any) and its persisted score; with
    gaps, only the rows with a positive priority, ranked (priority, gap, unit, question) as the Gaps sheet."""
    units_sql, params = _campaign_units(scope)
    if gaps:  # polars' default order of the sheet before (nulls first, also when descending), unit_id last
        tail = """WHERE qs.priority > 0
        ORDER BY qs.priority DESC NULLS FIRST, qs.gap DESC NULLS FIRST, su.unit, qq.question_id, su.unit_id"""
    else:
        tail = "ORDER BY su.division, su.unit, su.unit_id, qq.domain_pos, qq.question_pos"
    return f"""
        WITH su AS {units_sql}, qq AS {_campaign_questions()}, cur AS ({_CURRENT})
        SELECT su.unit_id, su.unit, su.division_id, su.division, su.tier, su.assessment_status,
               qq.question_id, qq.domain_id, qq.domain, qq.question, qq.na_allowed,
               cur.event_id, cur.level, coalesce(cur.is_na, FALSE) AS is_na, cur.na_reason, cur.evidence,
               cur.evidence_url, cur.evidence_date, cur.comment, cur.answered_by, cur.answered_at,
               qs.score, qs.status AS score_status, qs.explanation, qs.target, qs.gap, qs.priority
        FROM su CROSS JOIN qq
        LEFT JOIN cur ON cur.unit_id = su.unit_id AND cur.question_id = qq.question_id
        LEFT JOIN question_scores qs ON qs.campaign_id = ? AND qs.unit_id = su.unit_id
             AND qs.question_id = qq.question_id
        {tail}""", [campaign_id, *params, campaign_id, campaign_id, campaign_id]


def answer_rows(cur, campaign_id: str, scope: Scope) -> pl.DataFrame:
    """One row per unit x question of a campaign: the current answer (if any) and its persisted score."""
    return frame(cur, *_answer_sql(campaign_id, scope))


def answer_batches(cur, campaign_id: str, scope: Scope, rows: int) -> Iterator[pl.DataFrame]:
    """answer_rows in frames of about `rows` rows, in the same order (the auditor pack streams them)."""
    return batches(cur, *_answer_sql(campaign_id, scope), rows=rows)


def gap_batches(cur, campaign_id: str, scope: Scope, rows: int) -> Iterator[pl.DataFrame]:
    """The answer rows with a positive priority, highest first, in frames of about `rows` rows."""
    return batches(cur, *_answer_sql(campaign_id, scope, gaps=True), rows=rows)


def domain_rows(cur, campaign_id: str, scope: Scope) -> pl.DataFrame:
    """One row per unit x domain: the persisted domain score with the unit's overall score beside it."""
    units_sql, params = _campaign_units(scope)
    return frame(cur, f"""
        WITH su AS {units_sql},
        dd AS (SELECT dm.domain_id, dm.name AS domain, dm.position FROM campaigns c
               JOIN q_domains dm ON dm.questionnaire_id = c.questionnaire_id AND dm.version = c.questionnaire_version
               WHERE c.campaign_id = ?)
        SELECT su.division, su.unit_id, su.unit, su.tier, su.assessment_status, dd.domain_id, dd.domain,
               ds.score, ds.target, ds.gap, ds.priority, ds.answered, ds.na, ds.capped,
               us.score AS unit_score, us.target AS unit_target, us.gap AS unit_gap, us.band AS unit_band,
               us.scored_at
        FROM su CROSS JOIN dd
        LEFT JOIN domain_scores ds ON ds.campaign_id = ? AND ds.unit_id = su.unit_id AND ds.domain_id = dd.domain_id
        LEFT JOIN unit_scores us ON us.campaign_id = ? AND us.unit_id = su.unit_id
        ORDER BY su.division, su.unit, su.unit_id, dd.position""",
        [campaign_id, *params, campaign_id, campaign_id, campaign_id])


def trend_rows(cur, scope: Scope) -> pl.DataFrame:
    """Score against target in every campaign for the organisation, each division and each unit (one query).

    The roll-up is _sql.weighted_mean, as in every report (active units in scope); written without a constant
    in GROUP BY so that it also runs on PostgreSQL.
    """
    units_sql, params = placed_units(scope)
    return frame(cur, f"""
        WITH su AS {units_sql},
        s AS (SELECT s.campaign_id, s.score, s.target, s.rollup_weight, su.unit_id, su.name, su.division
              FROM unit_scores s JOIN su ON su.unit_id = s.unit_id AND su.campaign_id = s.campaign_id),
        a AS (SELECT 0 AS rank, 'Organisation' AS level, 'Organisation' AS series, campaign_id, score, target,
                     rollup_weight FROM s
              UNION ALL SELECT 1, 'Division', division, campaign_id, score, target, rollup_weight FROM s
              UNION ALL SELECT 2, 'Unit', name || ' (' || unit_id || ')', campaign_id, score, target, rollup_weight
              FROM s)
        SELECT a.level, a.series, c.campaign_id, c.name AS campaign, c.opens_on,
          {weighted_mean("a.score", "a.rollup_weight")} AS score,
          {weighted_mean("a.target", "a.rollup_weight", over="a.score")} AS target,
          count(a.score) AS units
        FROM a JOIN campaigns c ON c.campaign_id = a.campaign_id
        GROUP BY a.rank, a.level, a.series, c.campaign_id, c.name, c.opens_on
        ORDER BY a.rank, a.series, c.opens_on""", params)
