"""Set-based SQL behind the leadership views: summaries, heatmaps, gaps, trends, changes, deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import cast

import polars as pl

from ..model import Summary
from ._sql import EDITABLE_PARAMS, EDITABLE_SQL, SCORED_PARAMS, SCORED_SQL, latest_answers, weighted_mean
from .db import frame
from .dialect import add_months

# The unit roll-up (see _sql.weighted_mean) over unit_scores aliased s.
SCORE = weighted_mean("s.score", "s.rollup_weight")
TARGET = weighted_mean("s.target", "s.rollup_weight", over="s.score")


@dataclass(frozen=True)
class Scope:
    """Which units a report covers: filters chosen by the user intersected with what they may read."""

    division_ids: tuple[str, ...] | None = None
    tiers: tuple[int, ...] | None = None
    unit_ids: tuple[str, ...] | None = None

    def where(self, alias: str = "u") -> tuple[str, list]:
        parts, params = ["1=1"], list[object]()
        for col, values in (("division_id", self.division_ids), ("tier", self.tiers), ("unit_id", self.unit_ids)):
            if values is not None:
                if not values:
                    parts.append("1=0")
                    continue
                parts.append(f"{alias}.{col} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        return " AND ".join(parts), params


def _scoped_units(scope: Scope) -> tuple[str, list]:
    """Today's active units (present-day lists: plan reviews, open deadlines)."""
    where, params = scope.where("u")
    return (f"(SELECT u.*, d.name AS division FROM business_units u "
            f"JOIN divisions d ON d.division_id = u.division_id WHERE u.active AND {where})"), params


# Each unit of each cycle with the division and tier fixed for it in that cycle (assessments), so a later
# reorganisation never rewrites a cycle. A closed cycle keeps every unit it assessed, deactivated or not; a
# cycle still running shows only active units.
PLACED = """(SELECT a.campaign_id, a.unit_id, u.name, a.division_id, d.name AS division, a.tier, u.head,
                    u.plan_last_reviewed, u.review_interval_months, u.active
             FROM assessments a JOIN business_units u ON u.unit_id = a.unit_id
             JOIN campaigns c ON c.campaign_id = a.campaign_id JOIN divisions d ON d.division_id = a.division_id
             WHERE c.status = 'closed' OR u.active)"""


def placed_units(scope: Scope) -> tuple[str, list]:
    """PLACED within a scope (judged on the cycle's placement): campaign_id, unit_id, name, division_id,
    division, tier, head, plan_last_reviewed, review_interval_months, active."""
    where, params = scope.where("p")
    return f"(SELECT p.* FROM {PLACED} p WHERE {where})", params


def _cycle_units(scope: Scope, campaign_id: str) -> tuple[str, list]:
    """The units a cycle's reports cover, placed as in that cycle: its assessed units and, while it is not
    closed, the active units it leaves out (reported as 'not in campaign')."""
    where, params = scope.where("x")
    return (f"""(SELECT x.* FROM (
                SELECT p.unit_id, p.name, p.division_id, p.division, p.tier, p.head, p.plan_last_reviewed,
                       p.review_interval_months, p.active FROM {PLACED} p WHERE p.campaign_id = ?
                UNION ALL
                SELECT u.unit_id, u.name, u.division_id, d.name, u.tier, u.head, u.plan_last_reviewed,
                       u.review_interval_months, u.active
                FROM business_units u JOIN divisions d ON d.division_id = u.division_id
                WHERE u.active
                  AND NOT EXISTS (SELECT 1 FROM assessments a WHERE a.campaign_id = ? AND a.unit_id = u.unit_id)
                  AND NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.campaign_id = ? AND c.status = 'closed')
             ) x WHERE {where})"""), [campaign_id, campaign_id, campaign_id, *params]


def summary(cur, campaign_id: str, scope: Scope, today: date) -> Summary:
    units_sql, params = _cycle_units(scope, campaign_id)
    due = add_months("su.plan_last_reviewed", "su.review_interval_months")
    row = frame(cur, f"""
        WITH su AS {units_sql}
        SELECT
          {SCORE} AS score, {TARGET} AS target,
          count(s.score) AS units_scored,
          count(CASE WHEN s.score >= s.target THEN 1 END) AS units_at_target,
          (SELECT count(*) FROM assessments a JOIN su ON su.unit_id = a.unit_id WHERE a.campaign_id = ?)
              AS expected,
          (SELECT count(*) FROM assessments a JOIN su ON su.unit_id = a.unit_id
             WHERE a.campaign_id = ? AND a.status IN {SCORED_SQL}) AS submitted,
          (SELECT count(*) FROM su WHERE su.active AND (su.plan_last_reviewed IS NULL OR {due} < ?))
              AS overdue_reviews,
          (SELECT count(*) FROM su) AS units
        FROM unit_scores s JOIN su ON su.unit_id = s.unit_id WHERE s.campaign_id = ?""",
        [*params, campaign_id, campaign_id, *SCORED_PARAMS, today, campaign_id]).row(0, named=True)
    row["gap"] = None if row["score"] is None else row["target"] - row["score"]
    return cast(Summary, row)


def division_summary(cur, campaign_id: str, scope: Scope) -> pl.DataFrame:
    units_sql, params = _cycle_units(scope, campaign_id)
    return frame(cur, f"""
        WITH su AS {units_sql}
        SELECT su.division_id, min(su.division) AS division, count(DISTINCT su.unit_id) AS units,
          count(s.score) AS units_scored,
          {SCORE} AS score, {TARGET} AS target,
          count(CASE WHEN s.score >= s.target THEN 1 END) AS units_at_target
        FROM su LEFT JOIN unit_scores s ON s.unit_id = su.unit_id AND s.campaign_id = ?
        GROUP BY su.division_id ORDER BY division""", [*params, campaign_id]).with_columns(
        (pl.col("target") - pl.col("score")).alias("gap"))


def unit_summary(cur, campaign_id: str, scope: Scope, limit: int | None = None,
                 order: str = "gap") -> pl.DataFrame:
    """Units with their score, target and assessment status; worst gap first."""
    units_sql, params = _cycle_units(scope, campaign_id)
    order_by = {"gap": "s.gap DESC NULLS LAST, su.name", "name": "su.division, su.name"}[order]
    lim = f"LIMIT {int(limit)}" if limit else ""
    return frame(cur, f"""
        WITH su AS {units_sql}
        SELECT su.unit_id, su.name AS unit, su.division_id, su.division, su.tier, su.head,
               coalesce(a.status, 'not in campaign') AS status, s.score, s.target, s.gap, s.band,
               s.weakest_domain, s.weakest_score, s.capped, s.na
        FROM su LEFT JOIN assessments a ON a.unit_id = su.unit_id AND a.campaign_id = ?
        LEFT JOIN unit_scores s ON s.unit_id = su.unit_id AND s.campaign_id = ?
        ORDER BY {order_by} {lim}""", [*params, campaign_id, campaign_id])


# A division's heatmap cell weights its units' domain scores like the division's own score (the unit's
# roll-up weight), so under a tier-weighted policy the cells and the division table agree: a leader reading
# "Payments: 3.25" in the table must not find 2.5 in every cell of the same row.
CELL_SCORE = weighted_mean("ds.score", "s.rollup_weight")
CELL_TARGET = weighted_mean("ds.target", "s.rollup_weight", over="ds.score")


def heatmap(cur, campaign_id: str, scope: Scope, by: str = "division", limit: int | None = 40) -> pl.DataFrame:
    """Domain score and gap per division (by="division", units weighted as in the division score; with a
    limit, only the divisions with the largest mean gap over their domains, the rows the heatmap puts on top)
    or per unit, the `limit` worst units (by="unit")."""
    units_sql, params = _cycle_units(scope, campaign_id)
    if by == "division":
        cells = f"""
            SELECT su.division_id AS row_id, min(su.division) AS row_label, ds.domain_id,
                   {CELL_SCORE} AS score, {CELL_TARGET} AS target,
                   {CELL_TARGET} - {CELL_SCORE} AS gap, count(ds.score) AS units
            FROM domain_scores ds JOIN su ON su.unit_id = ds.unit_id
            JOIN unit_scores s ON s.campaign_id = ds.campaign_id AND s.unit_id = ds.unit_id
            WHERE ds.campaign_id = ? GROUP BY su.division_id, ds.domain_id"""
        if limit is None:
            return frame(cur, f"WITH su AS {units_sql} {cells} ORDER BY row_label, ds.domain_id",
                         [*params, campaign_id])
        return frame(cur, f"""
            WITH su AS {units_sql}, cells AS ({cells}),
            worst AS (SELECT row_id FROM cells GROUP BY row_id
                      ORDER BY avg(gap) DESC NULLS LAST, min(row_label), row_id LIMIT {int(limit)})
            SELECT cells.* FROM cells JOIN worst w ON w.row_id = cells.row_id
            ORDER BY row_label, domain_id""", [*params, campaign_id])
    return frame(cur, f"""
        WITH su AS {units_sql},
        worst AS (SELECT s.unit_id FROM unit_scores s JOIN su ON su.unit_id = s.unit_id
                  WHERE s.campaign_id = ? ORDER BY s.gap DESC NULLS LAST, s.unit_id LIMIT {int(limit or 40)})
        SELECT su.unit_id AS row_id, su.name AS row_label, ds.domain_id, ds.score, ds.target, ds.gap,
               1 AS units
        FROM domain_scores ds JOIN worst w ON w.unit_id = ds.unit_id JOIN su ON su.unit_id = ds.unit_id
        WHERE ds.campaign_id = ? ORDER BY row_label, ds.domain_id""", [*params, campaign_id, campaign_id])


def top_gaps(cur, campaign_id: str, scope: Scope, limit: int = 20, level: str = "question") -> pl.DataFrame:
    units_sql, params = _cycle_units(scope, campaign_id)
    if level == "domain":
        return frame(cur, f"""
            WITH su AS {units_sql}
            SELECT su.unit_id, su.name AS unit, su.division, su.tier, ds.domain_id, ds.score, ds.target,
                   ds.gap, ds.priority
            FROM domain_scores ds JOIN su ON su.unit_id = ds.unit_id
            WHERE ds.campaign_id = ? AND ds.priority > 0
            ORDER BY ds.priority DESC, ds.gap DESC, su.name, ds.domain_id LIMIT {int(limit)}""",
            [*params, campaign_id])
    return frame(cur, f"""
        WITH su AS {units_sql}
        SELECT su.unit_id, su.name AS unit, su.division, su.tier, qs.question_id, qs.domain_id, qs.level,
               qs.score, qs.target, qs.gap, qs.priority, qs.status, qs.explanation
        FROM question_scores qs JOIN su ON su.unit_id = qs.unit_id
        WHERE qs.campaign_id = ? AND qs.priority > 0
        ORDER BY qs.priority DESC, qs.gap DESC, su.name, qs.question_id LIMIT {int(limit)}""",
        [*params, campaign_id])


def trends(cur, scope: Scope, by: str = "organisation") -> pl.DataFrame:
    """Score against target for every campaign, for the organisation, each division or each unit."""
    units_sql, params = placed_units(scope)
    group = {"organisation": "'Organisation'", "division": "su.division", "unit": "su.name"}[by]
    return frame(cur, f"""
        WITH su AS {units_sql}
        SELECT c.campaign_id, c.name AS campaign, c.opens_on, {group} AS series,
          {SCORE} AS score, {TARGET} AS target,
          count(s.score) AS units
        FROM unit_scores s JOIN su ON su.unit_id = s.unit_id AND su.campaign_id = s.campaign_id
        JOIN campaigns c ON c.campaign_id = s.campaign_id
        GROUP BY c.campaign_id, c.name, c.opens_on{"" if by == "organisation" else ", " + group}
        ORDER BY c.opens_on, series""", params)


def domain_trends(cur, unit_id: str) -> pl.DataFrame:
    return frame(cur, """
        SELECT c.campaign_id, c.name AS campaign, c.opens_on, ds.domain_id, ds.score, ds.target
        FROM domain_scores ds JOIN campaigns c ON c.campaign_id = ds.campaign_id
        WHERE ds.unit_id = ? ORDER BY c.opens_on, ds.domain_id""", [unit_id])


_CHANGES = """
    WITH su AS {units},
    cur AS (SELECT qs.* FROM question_scores qs JOIN su ON su.unit_id = qs.unit_id WHERE qs.campaign_id = ?),
    prev AS (SELECT qs.* FROM question_scores qs JOIN su ON su.unit_id = qs.unit_id WHERE qs.campaign_id = ?),
    confirmed AS (
      SELECT ca.unit_id, ca.question_id FROM carried_answers ca
      JOIN current_answers ce ON ce.campaign_id = ca.campaign_id AND ce.unit_id = ca.unit_id
                             AND ce.question_id = ca.question_id AND ce.event_id = ca.event_id
      WHERE ca.campaign_id = ? AND ca.confirmed_at IS NOT NULL),
    pairs AS (
      SELECT coalesce(cur.unit_id, prev.unit_id) AS unit_id, coalesce(cur.question_id, prev.question_id)
             AS question_id, coalesce(cur.domain_id, prev.domain_id) AS domain_id,
             prev.score AS previous_score, cur.score AS current_score,
             prev.level AS previous_level, cur.level AS current_level,
             CASE WHEN cur.unit_id IS NULL AND prev.unit_id IS NOT NULL AND NOT EXISTS (
                       SELECT 1 FROM unit_scores us WHERE us.campaign_id = ? AND us.unit_id = prev.unit_id)
                    THEN 'not re-assessed'
                  WHEN cur.unit_id IS NULL THEN 'removed'
                  WHEN prev.unit_id IS NULL THEN 'new'
                  WHEN cur.score > prev.score THEN 'improved'
                  WHEN cur.score < prev.score THEN 'regressed'
                  WHEN ok.unit_id IS NOT NULL THEN 'confirmed unchanged'
                  WHEN prev.score IS NULL OR cur.score IS NULL THEN 'new or n/a'
                  ELSE 'unchanged' END AS change
      FROM cur FULL OUTER JOIN prev ON prev.unit_id = cur.unit_id AND prev.question_id = cur.question_id
      LEFT JOIN confirmed ok ON ok.unit_id = cur.unit_id AND ok.question_id = cur.question_id)
"""
# Questions are matched across versions by id: one the current cycle's version lacks is 'removed', one the
# previous lacked is 'new', never a regression. A carried answer the head confirmed counts as 'confirmed
# unchanged' (apart from 'unchanged' answers given again) unless its score moved (stale evidence caps it).


def changes_by_unit(cur, campaign_id: str, previous_id: str, scope: Scope) -> pl.DataFrame:
    """Per unit: how many questions improved, regressed, stayed, or were not re-assessed."""
    units_sql, params = _cycle_units(scope, campaign_id)
    return frame(cur, _CHANGES.format(units=units_sql) + """
        SELECT p.unit_id, su.name AS unit, su.division, su.tier,
          count(CASE WHEN change = 'improved' THEN 1 END) AS improved,
          count(CASE WHEN change = 'regressed' THEN 1 END) AS regressed,
          count(CASE WHEN change = 'unchanged' THEN 1 END) AS unchanged,
          count(CASE WHEN change = 'confirmed unchanged' THEN 1 END) AS confirmed_unchanged,
          count(CASE WHEN change = 'not re-assessed' THEN 1 END) AS not_reassessed,
          count(CASE WHEN change = 'new' THEN 1 END) AS new,
          count(CASE WHEN change = 'removed' THEN 1 END) AS removed,
          count(CASE WHEN change = 'new or n/a' THEN 1 END) AS other,
          (SELECT s.score FROM unit_scores s WHERE s.campaign_id = ? AND s.unit_id = p.unit_id) AS current_score,
          (SELECT s.score FROM unit_scores s WHERE s.campaign_id = ? AND s.unit_id = p.unit_id) AS previous_score
        FROM pairs p JOIN su ON su.unit_id = p.unit_id
        GROUP BY p.unit_id, su.name, su.division, su.tier
        ORDER BY regressed DESC, not_reassessed DESC, su.name""",
        [*params, campaign_id, previous_id, campaign_id, campaign_id, campaign_id, previous_id])


def changes_detail(cur, campaign_id: str, previous_id: str, scope: Scope, limit: int = 500,
                   kinds: tuple[str, ...] = ("improved", "regressed", "not re-assessed", "confirmed unchanged",
                                             "new", "removed")) -> pl.DataFrame:
    units_sql, params = _cycle_units(scope, campaign_id)
    marks = ", ".join("?" for _ in kinds) or "NULL"
    return frame(cur, _CHANGES.format(units=units_sql) + f"""
        SELECT p.unit_id, su.name AS unit, su.division, p.question_id, p.domain_id, p.previous_level,
               p.current_level, p.previous_score, p.current_score, p.change
        FROM pairs p JOIN su ON su.unit_id = p.unit_id WHERE p.change IN ({marks})
        ORDER BY CASE p.change WHEN 'regressed' THEN 0 WHEN 'not re-assessed' THEN 1 ELSE 2 END,
                 su.name, p.question_id LIMIT {int(limit)}""",
        [*params, campaign_id, previous_id, campaign_id, campaign_id, *kinds])


def checklist_coverage(cur, campaign_id: str, scope: Scope) -> pl.DataFrame:
    """For each checklist item: share of scored units whose covering questions meet the target."""
    units_sql, params = _cycle_units(scope, campaign_id)
    return frame(cur, f"""
        WITH su AS {units_sql},
        c AS (SELECT questionnaire_id, questionnaire_version FROM campaigns WHERE campaign_id = ?),
        per_unit AS (
          SELECT qc.checklist_id, qs.unit_id,
                 sum(qs.score * qs.weight) / nullif(sum(CASE WHEN qs.score IS NOT NULL THEN qs.weight END), 0)
                     AS score, min(qs.target) AS target
          FROM question_scores qs JOIN su ON su.unit_id = qs.unit_id
          JOIN c ON TRUE
          JOIN q_question_checklist qc ON qc.questionnaire_id = c.questionnaire_id
               AND qc.version = c.questionnaire_version AND qc.question_id = qs.question_id
          WHERE qs.campaign_id = ? GROUP BY qc.checklist_id, qs.unit_id)
        SELECT cl.checklist_id, cl.text, cl.position, count(p.score) AS units,
               count(CASE WHEN p.score >= p.target THEN 1 END) AS units_at_target,
               {weighted_mean("p.score", "s.rollup_weight")} AS score,
               CAST(count(CASE WHEN p.score >= p.target THEN 1 END) AS DOUBLE PRECISION)
                   / nullif(count(p.score), 0) AS share_at_target
        FROM q_checklist cl JOIN c ON cl.questionnaire_id = c.questionnaire_id
             AND cl.version = c.questionnaire_version
        LEFT JOIN per_unit p ON p.checklist_id = cl.checklist_id
        LEFT JOIN unit_scores s ON s.campaign_id = ? AND s.unit_id = p.unit_id
        GROUP BY cl.checklist_id, cl.text, cl.position ORDER BY cl.position""",
        [*params, campaign_id, campaign_id, campaign_id])


def deadlines(cur, scope: Scope, today: date, evidence: tuple[str, int, int] | None = None) -> pl.DataFrame:
    """The deadline rows of today's active units in scope, most urgent first, in one statement: each unit's
    plan review, the self-assessments still editable in open cycles, each current service's review of its
    recovery objectives and, with `evidence` (campaign_id, min_level, max_age_months), the cycle's current
    answers whose evidence keeps a level >= min_level, due when that evidence gets too old.

    Columns: kind, unit_id, unit, division_id, division, tier, owner, since, due_on, item, days_left (from
    `today`; negative: overdue; null: no due date, a plan never reviewed).
    """
    units_sql, params = _scoped_units(scope)
    unit = "su.unit_id, su.name AS unit, su.division_id, su.division, su.tier"
    parts = [f"""
        SELECT 'plan review' AS kind, {unit}, su.head AS owner, su.plan_last_reviewed AS since,
               {add_months("su.plan_last_reviewed", "su.review_interval_months")} AS due_on,
               'Continuity plan review (every ' || CAST(su.review_interval_months AS VARCHAR) || ' months)'
                   AS item
        FROM su""", f"""
        SELECT 'assessment due', {unit}, su.head, c.opens_on, c.due_on,
               c.name || ': self-assessment (' || a.status || ')'
        FROM assessments a JOIN su ON su.unit_id = a.unit_id JOIN campaigns c ON c.campaign_id = a.campaign_id
        WHERE c.status = 'open' AND a.status IN {EDITABLE_SQL}""", f"""
        SELECT 'service review', {unit}, s.owner, s.approved_on, s.next_review,
               s.service_id || ' ' || s.name || ': review of the recovery objectives (recovery tier '
                   || CAST(s.recovery_tier AS VARCHAR) || ')'
        FROM services s JOIN su ON su.unit_id = s.unit_id WHERE s.active"""]
    extra = [*EDITABLE_PARAMS]
    if evidence is not None:
        campaign_id, min_level, max_age_months = evidence
        parts.append(f"""
        SELECT 'evidence expiry', {unit}, e.answered_by, e.evidence_date,
               {add_months("e.evidence_date", str(int(max_age_months)))},
               e.question_id || ': evidence for level ' || CAST(e.level AS VARCHAR)
        FROM ({latest_answers("campaign_id = ?")}) e JOIN su ON su.unit_id = e.unit_id
        WHERE e.level >= ? AND e.evidence_date IS NOT NULL""")
        extra += [campaign_id, min_level]
    return frame(cur, f"""
        WITH su AS {units_sql}
        SELECT x.*, x.due_on - CAST(? AS DATE) AS days_left
        FROM ({" UNION ALL ".join(parts)}) x ORDER BY days_left NULLS FIRST""", [*params, today, *extra])


def _days_left(today: date) -> pl.Expr:
    return (pl.col("due_on").cast(pl.Date) - pl.lit(today)).dt.total_days().alias("days_left")


def assessment_progress(cur, campaign_id: str, scope: Scope, limit: int | None = None) -> pl.DataFrame:
    """Per division: how many assessments the campaign expects and how many are in each workflow state; with a
    limit, the divisions with the most assessments still to come in (not submitted), those first."""
    units_sql, params = _cycle_units(scope, campaign_id)
    # Ordered outside the GROUP BY: PostgreSQL sorts by output names only when they stand alone.
    order = "division" if limit is None else f"expected - submitted DESC, division LIMIT {int(limit)}"
    return frame(cur, f"""
        WITH su AS {units_sql}
        SELECT * FROM (
          SELECT su.division_id, min(su.division) AS division, count(*) AS expected,
                 count(CASE WHEN a.status IN {SCORED_SQL} THEN 1 END) AS submitted,
                 count(CASE WHEN a.status = 'approved' THEN 1 END) AS approved,
                 count(CASE WHEN a.status = 'submitted' THEN 1 END) AS awaiting_review,
                 count(CASE WHEN a.status = 'returned' THEN 1 END) AS returned,
                 count(CASE WHEN a.status = 'draft' THEN 1 END) AS draft
          FROM assessments a JOIN su ON su.unit_id = a.unit_id
          WHERE a.campaign_id = ?
          GROUP BY su.division_id) p
        ORDER BY {order}""", [*params, *SCORED_PARAMS, campaign_id])
