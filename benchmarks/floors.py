"""Floors: the plainest way to get the same answer from the same stored rows, measured in the same run.

Benchmark code, not product code. Each floor is one plain DuckDB statement (a GROUP BY, a join, a top-N)
over exactly the rows the product step reads, with no scoping, no explanations, no Python post-processing
beyond fetching the result as a polars frame (as the product does). The product's time divided by its
floor says how much the product adds over what the database itself needs.

- scoring: the same job as the product's re-score, in plain SQL (every question row with the evidence cap,
  status and explanation text, domain and unit rows with targets, weakest domain and band, persisted into
  scratch copies of the score tables in one transaction); tests/test_bench_floors.py checks that its rows
  equal the product's, so the ratio measures only what the engine adds;
- queries: the same aggregate over the persisted score tables (the rows the product query reads);
- export: xlsxwriter in constant_memory mode writing the same cells (see excel.py);
- import: fastexcel reading the same sheet (see excel.py).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from assessment.storage import Database


def _frame(db: Database, sql: str, params: list) -> pl.DataFrame:
    with db.read() as cur:
        return cur.sql(sql, params=params).pl()


def _questionnaire(db: Database, campaign_id: str) -> tuple[str, str]:
    with db.read() as cur:
        return cur.execute("SELECT questionnaire_id, questionnaire_version FROM campaigns WHERE campaign_id = ?",
                           [campaign_id]).fetchall()[0]


def prepare(db: Database) -> None:
    with db.read() as cur:
        for source, scratch in SCORE_SCRATCH.items():
            cur.execute(f"CREATE TABLE IF NOT EXISTS {scratch} AS SELECT * FROM {source} LIMIT 0")


SCORE_SCRATCH = {"question_scores": "bench_floor_q", "domain_scores": "bench_floor_d",
                 "unit_scores": "bench_floor_u"}


def scoring(db: Database, campaign_id: str) -> int:
    """The product's re-score of a campaign in plain SQL, the same job row for row: every scored unit x every
    question (missing ones included) with the evidence rule's cap, status, explanation text, gap and priority;
    domain rows (weighted mean, answered / N/A / capped counts, gap, priority); unit rows (weighted mean,
    tier target, roll-up weight, weakest domain, band); the old rows of those units deleted and the three
    levels inserted, in one transaction (into scratch copies of the score tables). Questionnaire 1.0.0 has
    no record rules, so none are applied (the product applies none either)."""
    from assessment.catalog import campaign_questionnaire

    q = campaign_questionnaire(db, campaign_id)
    rule, label = q.policy.evidence_rule, q.policy_label
    factor = "t.factor" if q.policy.rollup.unit_to_organisation == "tier_weighted_mean" else "1.0"
    band = "NULL"
    for b in q.bands:  # later bands win, as in scoring._unit_scores
        band = f"CASE WHEN score >= {float(b.min)} THEN '{b.name}' ELSE {band} END"
    cap, low, months = int(rule.cap_level), int(rule.min_level), int(rule.max_age_months)
    qt, dt, ut = SCORE_SCRATCH.values()
    with db.read() as cur:
        cur.execute("BEGIN TRANSACTION")
        cur.execute("""CREATE OR REPLACE TEMP TABLE bench_units AS
            SELECT unit_id, division_id, tier, CAST(submitted_at AS DATE) AS as_of FROM assessments
            WHERE campaign_id = ? AND status IN ('submitted', 'approved')""", [campaign_id])
        for t in (qt, dt, ut):
            cur.execute(f"DELETE FROM {t} WHERE campaign_id = ? AND unit_id IN (SELECT unit_id FROM bench_units)",
                        [campaign_id])
        cur.execute(f"""CREATE OR REPLACE TEMP TABLE bench_q AS
            WITH g AS (
              SELECT u.unit_id, u.tier, u.as_of, CAST(u.as_of - INTERVAL {months} MONTH AS DATE) AS cutoff,
                     qq.question_id, qq.domain_id, qq.weight, d.weight AS domain_weight, d.position AS domain_pos,
                     qq.position AS question_pos, t.target, t.factor,
                     a.level, coalesce(a.is_na, false) AS is_na, a.na_reason, a.evidence_date,
                     (trim(coalesce(a.evidence, '')) <> '' OR trim(coalesce(a.evidence_url, '')) <> '') AS has_ev
              FROM bench_units u
              CROSS JOIN q_questions qq
              JOIN q_domains d ON d.questionnaire_id = qq.questionnaire_id AND d.version = qq.version
                              AND d.domain_id = qq.domain_id
              JOIN q_tiers t ON t.questionnaire_id = qq.questionnaire_id AND t.version = qq.version AND t.tier = u.tier
              LEFT JOIN current_answers a ON a.campaign_id = ? AND a.unit_id = u.unit_id
                                         AND a.question_id = qq.question_id
              WHERE qq.questionnaire_id = ? AND qq.version = ?),
            s AS (
              SELECT *, CASE WHEN is_na THEN 'na' WHEN level IS NULL THEN 'missing'
                             WHEN level >= {low} AND NOT (has_ev AND evidence_date IS NOT NULL
                                  AND evidence_date >= cutoff) AND level > {cap} THEN 'capped'
                             ELSE 'answered' END AS status FROM g)
            SELECT *, CASE status WHEN 'capped' THEN {float(cap)} WHEN 'answered' THEN CAST(level AS DOUBLE) END
                          AS score,
                   CASE status
                     WHEN 'na' THEN 'Excluded as N/A: ' || coalesce(na_reason, '(no reason)')
                     WHEN 'missing' THEN 'Not answered: excluded from the score'
                     WHEN 'capped' THEN 'Answered level ' || level || ', capped at {cap}: a level of {low} or more '
                          || 'needs evidence dated within {months} months, and '
                          || CASE WHEN NOT has_ev THEN 'no evidence was given'
                                  WHEN evidence_date IS NULL THEN 'the evidence has no date'
                                  ELSE 'the evidence is dated ' || evidence_date || ', before ' || cutoff END
                     ELSE 'As answered: level ' || level END AS explanation
            FROM s""", [campaign_id, q.id, q.version])
        cur.execute(f"""INSERT INTO {qt} SELECT ?, unit_id, question_id, domain_id, level, is_na, score, status,
                explanation, weight, target, target - score,
                CASE WHEN score IS NOT NULL THEN greatest(target - score, 0) * weight * factor END, ?, now()
                FROM bench_q ORDER BY unit_id, domain_pos, question_pos""", [campaign_id, label])
        cur.execute("""CREATE OR REPLACE TEMP TABLE bench_d AS
            SELECT unit_id, domain_id, any_value(domain_pos) AS domain_pos,
                   sum(score * weight) / nullif(sum(CASE WHEN score IS NOT NULL THEN weight END), 0) AS score,
                   any_value(domain_weight) AS weight, any_value(target) AS target, any_value(factor) AS factor,
                   count(CASE WHEN status IN ('answered', 'capped', 'capped_records') THEN 1 END) AS answered,
                   count(CASE WHEN status = 'na' THEN 1 END) AS na,
                   count(CASE WHEN status = 'capped' THEN 1 END) AS capped
            FROM bench_q GROUP BY unit_id, domain_id""")
        cur.execute(f"""INSERT INTO {dt} SELECT ?, unit_id, domain_id, score, weight, target, target - score,
                CASE WHEN score IS NOT NULL THEN greatest(target - score, 0) * weight * factor END, answered, na,
                capped, now()
                FROM bench_d ORDER BY unit_id, domain_pos""", [campaign_id])
        n = cur.execute(f"""INSERT INTO {ut}
            WITH agg AS (
              SELECT unit_id, sum(score * weight) / nullif(sum(CASE WHEN score IS NOT NULL THEN weight END), 0)
                         AS score, sum(answered) AS answered, sum(na) AS na, sum(capped) AS capped,
                     arg_min(domain_id, (score, domain_pos)) FILTER (WHERE score IS NOT NULL) AS weakest_domain,
                     min(score) AS weakest_score
              FROM bench_d GROUP BY unit_id)
            SELECT ?, u.unit_id, u.division_id, u.tier, score, t.target, t.target - score, {factor},
                   weakest_domain, weakest_score, {band}, coalesce(answered, 0), coalesce(na, 0),
                   coalesce(capped, 0), ?, now()
            FROM bench_units u JOIN q_tiers t ON t.questionnaire_id = ? AND t.version = ? AND t.tier = u.tier
            LEFT JOIN agg ON agg.unit_id = u.unit_id ORDER BY u.unit_id""",
                        [campaign_id, label, q.id, q.version]).fetchall()
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
