"""Floors: the plainest way to get the same answer from the same stored rows, measured in the same run.

Benchmark code, not product code. Each floor is one plain DuckDB statement (a GROUP BY, a join, a top-N)
over exactly the rows the product step reads, with no scoping, no explanations, no Python post-processing
beyond fetching the result as a polars frame (as the product does). The product's time divided by its
floor says how much the product adds over what the database itself needs.

- scoring: current answer per unit x question (arg_max over answer_events of the campaign), joined to
  q_questions, weighted mean per unit x domain, written with INSERT ... SELECT into a scratch table in one
  transaction (the product scores every question, explains it, rolls up to domain and unit and persists
  all three levels: that is what the ratio measures);
- queries: the same aggregate over the persisted score tables (the rows the product query reads);
- export: xlsxwriter in constant_memory mode writing the same cells (see excel.py);
- import: fastexcel reading the same sheet (see excel.py).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from assessment.storage import Database

SCRATCH = "bench_floor_scores"


def _frame(db: Database, sql: str, params: list) -> pl.DataFrame:
    with db.read() as cur:
        return cur.sql(sql, params=params).pl()


def _questionnaire(db: Database, campaign_id: str) -> tuple[str, str]:
    with db.read() as cur:
        return cur.execute("SELECT questionnaire_id, questionnaire_version FROM campaigns WHERE campaign_id = ?",
                           [campaign_id]).fetchall()[0]


def prepare(db: Database) -> None:
    with db.read() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {SCRATCH} (campaign_id VARCHAR, unit_id VARCHAR, "
                    "domain_id VARCHAR, score DOUBLE, answered BIGINT)")


def scoring(db: Database, campaign_id: str) -> int:
    """Weighted mean per unit x domain of the current answers, persisted (one transaction)."""
    qid, version = _questionnaire(db, campaign_id)
    with db.read() as cur:
        cur.execute("BEGIN TRANSACTION")
        cur.execute(f"DELETE FROM {SCRATCH} WHERE campaign_id = ?", [campaign_id])
        n = cur.execute(f"""
            INSERT INTO {SCRATCH}
            WITH cur AS (
              SELECT unit_id, question_id, arg_max(level, event_id) AS level, arg_max(is_na, event_id) AS is_na
              FROM answer_events WHERE campaign_id = ? GROUP BY unit_id, question_id)
            SELECT ?, cur.unit_id, q.domain_id,
                   sum(cur.level * q.weight) / nullif(sum(CASE WHEN cur.level IS NOT NULL THEN q.weight END), 0),
                   count(cur.level)
            FROM cur JOIN q_questions q ON q.question_id = cur.question_id
                 AND q.questionnaire_id = ? AND q.version = ?
            WHERE NOT cur.is_na
            GROUP BY cur.unit_id, q.domain_id""", [campaign_id, campaign_id, qid, version]).fetchall()
        cur.execute("COMMIT")
    return int(n[0][0]) if n else 0


def summary(db: Database, campaign_id: str, today: date) -> pl.DataFrame:
    return _frame(db, """
        SELECT sum(score * rollup_weight) / sum(CASE WHEN score IS NOT NULL THEN rollup_weight END) AS score,
               sum(target * rollup_weight) / sum(CASE WHEN score IS NOT NULL THEN rollup_weight END) AS target,
               count(score) AS units_scored, count(CASE WHEN score >= target THEN 1 END) AS units_at_target,
               (SELECT count(*) FROM assessments WHERE campaign_id = ?) AS expected,
               (SELECT count(*) FROM assessments WHERE campaign_id = ? AND status IN ('submitted', 'approved'))
                   AS submitted,
               (SELECT count(*) FROM business_units WHERE plan_last_reviewed IS NULL
                   OR plan_last_reviewed + INTERVAL 1 MONTH * review_interval_months < ?) AS overdue
        FROM unit_scores WHERE campaign_id = ?""", [campaign_id, campaign_id, today, campaign_id])


def heatmap_division(db: Database, campaign_id: str) -> pl.DataFrame:
    return _frame(db, """
        SELECT u.division_id, ds.domain_id, avg(ds.score) AS score, avg(ds.target) AS target,
               avg(ds.gap) AS gap, count(ds.score) AS units
        FROM domain_scores ds JOIN business_units u ON u.unit_id = ds.unit_id
        WHERE ds.campaign_id = ? GROUP BY u.division_id, ds.domain_id""", [campaign_id])


def heatmap_unit(db: Database, campaign_id: str, limit: int = 40) -> pl.DataFrame:
    return _frame(db, f"""
        SELECT ds.unit_id, ds.domain_id, ds.score, ds.target, ds.gap
        FROM domain_scores ds JOIN (
            SELECT unit_id FROM unit_scores WHERE campaign_id = ? ORDER BY gap DESC NULLS LAST, unit_id
            LIMIT {int(limit)}) w ON w.unit_id = ds.unit_id
        WHERE ds.campaign_id = ?""", [campaign_id, campaign_id])


def top_gaps(db: Database, campaign_id: str, limit: int = 20) -> pl.DataFrame:
    return _frame(db, f"""
        SELECT qs.unit_id, u.name, qs.question_id, qs.score, qs.target, qs.gap, qs.priority
        FROM question_scores qs JOIN business_units u ON u.unit_id = qs.unit_id
        WHERE qs.campaign_id = ? AND qs.priority > 0
        ORDER BY qs.priority DESC, qs.gap DESC LIMIT {int(limit)}""", [campaign_id])


def trends(db: Database, by_division: bool = False) -> pl.DataFrame:
    group = "s.campaign_id, s.division_id" if by_division else "s.campaign_id"
    return _frame(db, f"""
        SELECT {group}, sum(s.score * s.rollup_weight) / sum(CASE WHEN s.score IS NOT NULL THEN s.rollup_weight END)
                   AS score, count(s.score) AS units
        FROM unit_scores s GROUP BY {group}""", [])


def changes(db: Database, campaign_id: str, previous_id: str) -> pl.DataFrame:
    return _frame(db, """
        SELECT coalesce(c.unit_id, p.unit_id) AS unit_id,
               count(CASE WHEN c.score > p.score THEN 1 END) AS improved,
               count(CASE WHEN c.score < p.score THEN 1 END) AS regressed,
               count(CASE WHEN c.score = p.score THEN 1 END) AS unchanged,
               count(CASE WHEN c.unit_id IS NULL THEN 1 END) AS not_reassessed
        FROM (SELECT unit_id, question_id, score FROM question_scores WHERE campaign_id = ?) c
        FULL OUTER JOIN (SELECT unit_id, question_id, score FROM question_scores WHERE campaign_id = ?) p
             ON p.unit_id = c.unit_id AND p.question_id = c.question_id
        GROUP BY 1""", [campaign_id, previous_id])


def changes_detail(db: Database, campaign_id: str, previous_id: str, limit: int = 500) -> pl.DataFrame:
    return _frame(db, f"""
        SELECT unit_id, question_id, p_score, c_score,
               CASE WHEN c_score < p_score THEN 'regressed' WHEN c_unit IS NULL THEN 'not re-assessed'
                    ELSE 'improved' END AS change
        FROM (SELECT coalesce(c.unit_id, p.unit_id) AS unit_id, coalesce(c.question_id, p.question_id) AS question_id,
                     c.unit_id AS c_unit, p.score AS p_score, c.score AS c_score
              FROM (SELECT unit_id, question_id, score FROM question_scores WHERE campaign_id = ?) c
              FULL OUTER JOIN (SELECT unit_id, question_id, score FROM question_scores WHERE campaign_id = ?) p
                   ON p.unit_id = c.unit_id AND p.question_id = c.question_id)
        WHERE c_score > p_score OR c_score < p_score OR c_unit IS NULL
        ORDER BY CASE WHEN c_score < p_score THEN 0 WHEN c_unit IS NULL THEN 1 ELSE 2 END, unit_id, question_id
        LIMIT {int(limit)}""", [campaign_id, previous_id])


def deadlines(db: Database, campaign_id: str, min_level: int, max_age_months: int) -> pl.DataFrame:
    return _frame(db, f"""
        SELECT unit_id, plan_last_reviewed AS since,
               CAST(plan_last_reviewed + INTERVAL 1 MONTH * review_interval_months AS DATE) AS due_on
        FROM business_units
        UNION ALL
        SELECT a.unit_id, c.opens_on, c.due_on FROM assessments a JOIN campaigns c ON c.campaign_id = a.campaign_id
        WHERE c.status = 'open' AND a.status IN ('draft', 'returned')
        UNION ALL
        SELECT unit_id, evidence_date, CAST(evidence_date + INTERVAL {int(max_age_months)} MONTH AS DATE)
        FROM (SELECT unit_id, question_id, arg_max(level, event_id) AS level,
                     arg_max(evidence_date, event_id) AS evidence_date
              FROM answer_events WHERE campaign_id = ? GROUP BY unit_id, question_id)
        WHERE level >= ? AND evidence_date IS NOT NULL""", [campaign_id, min_level])


def deadlines_with_actions(db: Database, campaign_id: str, min_level: int, max_age_months: int,
                           today) -> pl.DataFrame:
    """The review deadlines floor, then the open actions and risk acceptances with their unit, division and
    days left, most urgent first (what actions.due_for returns, in one plain query)."""
    actions = _frame(db, """
        SELECT a.unit_id, u.name AS unit, u.division_id, d.name AS division, u.tier, a.owner,
               CAST(a.created_at AS DATE) AS since,
               CASE WHEN a.status = 'risk_accepted' THEN a.risk_expires_on ELSE a.due_on END AS due_on,
               a.action_id || ': ' || a.title AS item,
               (CASE WHEN a.status = 'risk_accepted' THEN a.risk_expires_on ELSE a.due_on END) - CAST(? AS DATE)
                   AS days_left, a.action_id, a.status, a.priority
        FROM actions a JOIN business_units u ON u.unit_id = a.unit_id JOIN divisions d ON d.division_id = u.division_id
        WHERE a.status IN ('open', 'in_progress', 'done', 'risk_accepted')
        ORDER BY days_left, a.action_id""", [today])
    return deadlines(db, campaign_id, min_level, max_age_months), actions


def checklist_coverage(db: Database, campaign_id: str) -> pl.DataFrame:
    qid, version = _questionnaire(db, campaign_id)
    return _frame(db, """
        SELECT checklist_id, count(score) AS units, count(CASE WHEN score >= target THEN 1 END) AS at_target
        FROM (SELECT qc.checklist_id, qs.unit_id,
                     sum(qs.score * qs.weight) / nullif(sum(CASE WHEN qs.score IS NOT NULL THEN qs.weight END), 0)
                         AS score, min(qs.target) AS target
              FROM question_scores qs JOIN q_question_checklist qc ON qc.question_id = qs.question_id
                   AND qc.questionnaire_id = ? AND qc.version = ?
              WHERE qs.campaign_id = ? GROUP BY qc.checklist_id, qs.unit_id)
        GROUP BY checklist_id""", [qid, version, campaign_id])


def recovery(db: Database) -> pl.DataFrame:
    """The recovery view's rows: per current active service, its RTO and its latest exercise result (a plain
    window over exercise_results joined to services, units and divisions)."""
    return _frame(db, """
        WITH m AS (SELECT r.service_id, r.exercise_id, x.exercise_date, x.exercise_type,
                          r.achieved_recovery_minutes, r.passed,
                          row_number() OVER (PARTITION BY r.service_id ORDER BY x.exercise_date DESC) AS k
                   FROM exercise_results r JOIN exercises x ON x.exercise_id = r.exercise_id)
        SELECT s.service_id, s.name, s.unit_id, u.name AS unit, d.name AS division, s.recovery_tier,
               s.rto_minutes, m.achieved_recovery_minutes, m.exercise_date, m.exercise_type, m.passed,
               m.achieved_recovery_minutes - s.rto_minutes AS gap
        FROM services s JOIN business_units u ON u.unit_id = s.unit_id
        JOIN divisions d ON d.division_id = u.division_id
        LEFT JOIN m ON m.service_id = s.service_id AND m.k = 1
        WHERE s.active ORDER BY gap DESC NULLS LAST""", [])
def standards(db: Database, campaign_id: str, refs: pl.DataFrame) -> pl.DataFrame:
    """Per cited clause, clause group and standard (refs: key_id, question_id): the weighted mean of each unit's
    scores on its questions, then count, min, median, max and the count at or above level 3."""
    with db.read() as cur:
        cur.register("bench_refs", refs)
        try:
            return cur.sql("""
                SELECT key_id, count(*) AS units, min(score), median(score), max(score),
                       count(CASE WHEN score >= 3 THEN 1 END) AS at_or_above
                FROM (SELECT r.key_id, qs.unit_id, sum(qs.score * qs.weight)
                             / nullif(sum(CASE WHEN qs.score IS NOT NULL THEN qs.weight END), 0) AS score
                      FROM question_scores qs JOIN bench_refs r ON r.question_id = qs.question_id
                      WHERE qs.campaign_id = ? GROUP BY r.key_id, qs.unit_id)
                WHERE score IS NOT NULL GROUP BY key_id""", params=[campaign_id]).pl()
        finally:
            cur.unregister("bench_refs")
