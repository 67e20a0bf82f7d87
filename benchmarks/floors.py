"""Floors: the plainest way to get the same answer from the same stored rows, measured in the same run.

Benchmark code, not product code. Each floor is plain DuckDB SQL (one statement; the scoring floors a few in
one read, set-based, no per-row Python) over exactly the rows the product step reads, with the scope of an
administrator (everything), no Python post-processing beyond fetching the result as a polars frame (as the
product does); a questionnaire's constants (rule parameters, tiers, questions) may be rendered into the SQL
text or passed as parameters. The product's time divided by its floor says how much the product adds over
what the database itself needs.

- scoring: the same job as the product's re-score, in plain SQL (every question row with the evidence cap,
  status and explanation text, domain and unit rows with targets, weakest domain and band, persisted into
  scratch copies of the score tables in one transaction); tests/test_bench_floors.py checks that its rows
  equal the product's, so the ratio measures only what the engine adds;
- scoring_records: the same job as the "scoring with record rules" step (questionnaire 1.1.0 given as q, the
  cycle's submitted units as of their submission days, nothing persisted), in plain SQL: the evidence rule
  and every record rule of q's policy judged against the services, exercise results and incidents as of each
  unit's day, the caps, status capped_records and the explanation and note texts word for word, then the
  domain and unit rows, fetched as the product's three frames; tests/test_bench_record_floor.py checks them;
- queries: the product's very frame from the persisted score tables, in one plain statement: the cycle's
  units placed as in that cycle, names, weights, ordering, days left and urgency bucket included (summary,
  heatmaps, top gaps, trends, changes, deadlines, checklist, recovery, the standards view's figures), which
  tests/test_bench_query_floors.py checks;
- export: xlsxwriter in constant_memory mode writing the same cells (see excel.py);
- import: fastexcel reading the same sheet (see excel.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from assessment.durations import DAY, HOUR, WEEK
from assessment.model import EXERCISE_TYPES, EvidenceRule, Questionnaire, RecordRule
from assessment.storage import Database


def _frame(db: Database, sql: str, params: list | dict) -> pl.DataFrame:
    with db.read() as cur:
        return cur.sql(sql, params=params).pl()


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
    label = q.policy_label
    qt, dt, ut = SCORE_SCRATCH.values()
    with db.read() as cur:
        cur.execute("BEGIN TRANSACTION")
        cur.execute(f"CREATE OR REPLACE TEMP TABLE bench_units AS {SCORED_UNITS}", {"cycle": campaign_id})
        for t in (qt, dt, ut):
            cur.execute(f"DELETE FROM {t} WHERE campaign_id = ? AND unit_id IN (SELECT unit_id FROM bench_units)",
                        [campaign_id])
        cur.execute(f"CREATE OR REPLACE TEMP TABLE bench_q AS "
                    f"{_graded('bench_units', STORED_QUESTIONS, STORED_TIERS, q.policy.evidence_rule)}",
                    {"cycle": campaign_id, "qid": q.id, "version": q.version})
        cur.execute(f"""INSERT INTO {qt} SELECT ?, unit_id, question_id, domain_id, level, is_na, score, status,
                explanation, weight, target, target - score,
                CASE WHEN score IS NOT NULL THEN greatest(target - score, 0) * weight * factor END, ?, now()
                FROM bench_q ORDER BY unit_id, domain_pos, question_pos""", [campaign_id, label])
        cur.execute(f"CREATE OR REPLACE TEMP TABLE bench_d AS {_DOMAIN_ROWS.format(questions='bench_q')}")
        cur.execute(f"""INSERT INTO {dt} SELECT ?, unit_id, domain_id, score, weight, target, target - score,
                CASE WHEN score IS NOT NULL THEN greatest(target - score, 0) * weight * factor END, answered, na,
                capped, now()
                FROM bench_d ORDER BY unit_id, domain_pos""", [campaign_id])
        n = cur.execute(f"""INSERT INTO {ut}
            WITH {_unit_agg('bench_d')}
            SELECT ?, u.unit_id, u.division_id, u.tier, score, t.target, t.target - score, {_rollup(q)},
                   weakest_domain, weakest_score, {_band(q)}, coalesce(answered, 0), coalesce(na, 0),
                   coalesce(capped, 0), ?, now()
            FROM bench_units u JOIN q_tiers t ON t.questionnaire_id = ? AND t.version = ? AND t.tier = u.tier
            LEFT JOIN agg ON agg.unit_id = u.unit_id ORDER BY u.unit_id""",
                        [campaign_id, label, q.id, q.version]).fetchall()
        cur.execute("COMMIT")
    return int(n[0][0]) if n else 0


# The units a re-score covers: the cycle's submitted and approved assessments, placed as in it, scored as of the
# day they were submitted.
SCORED_UNITS = """SELECT unit_id, division_id, tier, CAST(submitted_at AS DATE) AS as_of FROM assessments
    WHERE campaign_id = $cycle AND status IN ('submitted', 'approved')"""
# The questions and tiers of a stored questionnaire ($qid, $version), in the shape _graded reads.
STORED_QUESTIONS = """(SELECT qq.question_id, qq.domain_id, qq.weight, d.weight AS domain_weight,
                             d.position AS domain_pos, qq.position AS question_pos
                      FROM q_questions qq JOIN q_domains d ON d.questionnaire_id = qq.questionnaire_id
                           AND d.version = qq.version AND d.domain_id = qq.domain_id
                      WHERE qq.questionnaire_id = $qid AND qq.version = $version)"""
STORED_TIERS = "(SELECT tier, target, factor FROM q_tiers WHERE questionnaire_id = $qid AND version = $version)"


def _graded(units: str, questions: str, tiers: str, rule: EvidenceRule) -> str:
    """One SELECT: every unit of the table `units` (unit_id, tier, as_of) x every question of `questions`
    (question_id, domain_id, weight, domain_weight, domain_pos, question_pos), its tier's target and factor
    (`tiers`), the current answer in cycle $cycle and the evidence rule's status, score and explanation.
    evidence_why is the capped explanation's reason, kept apart so that a record cap can quote it."""
    cap, low, months = int(rule.cap_level), int(rule.min_level), int(rule.max_age_months)
    return f"""
        WITH g AS (
          SELECT u.unit_id, u.tier, u.as_of, CAST(u.as_of - INTERVAL {months} MONTH AS DATE) AS cutoff,
                 qq.question_id, qq.domain_id, qq.weight, qq.domain_weight, qq.domain_pos, qq.question_pos,
                 t.target, t.factor, a.level, coalesce(a.is_na, false) AS is_na, a.na_reason, a.evidence_date,
                 (trim(coalesce(a.evidence, '')) <> '' OR trim(coalesce(a.evidence_url, '')) <> '') AS has_ev
          FROM {units} u CROSS JOIN {questions} qq JOIN {tiers} t ON t.tier = u.tier
          LEFT JOIN current_answers a ON a.campaign_id = $cycle AND a.unit_id = u.unit_id
                                     AND a.question_id = qq.question_id),
        s AS (
          SELECT *, CASE WHEN is_na THEN 'na' WHEN level IS NULL THEN 'missing'
                         WHEN level >= {low} AND NOT (has_ev AND evidence_date IS NOT NULL
                              AND evidence_date >= cutoff) AND level > {cap} THEN 'capped'
                         ELSE 'answered' END AS status FROM g),
        e AS (
          SELECT *, CASE status WHEN 'capped' THEN {float(cap)} WHEN 'answered' THEN CAST(level AS DOUBLE) END
                        AS score,
                 CASE WHEN status = 'capped' THEN 'a level of {low} or more needs evidence dated within {months} '
                      || 'months, and ' || CASE WHEN NOT has_ev THEN 'no evidence was given'
                                                WHEN evidence_date IS NULL THEN 'the evidence has no date'
                                                ELSE 'the evidence is dated ' || evidence_date || ', before '
                                                     || cutoff END END AS evidence_why
          FROM s)
        SELECT *, CASE status
                    WHEN 'na' THEN 'Excluded as N/A: ' || coalesce(na_reason, '(no reason)')
                    WHEN 'missing' THEN 'Not answered: excluded from the score'
                    WHEN 'capped' THEN 'Answered level ' || level || ', capped at {cap}: ' || evidence_why
                    ELSE 'As answered: level ' || level END AS explanation
        FROM e"""


# Domain rows from question rows {questions} (the weighted mean over the scored ones; a record cap counts as
# answered, and only the evidence rule's caps as capped, as the product labels them).
_DOMAIN_ROWS = """
    SELECT unit_id, domain_id, any_value(domain_pos) AS domain_pos,
           sum(score * weight) / nullif(sum(CASE WHEN score IS NOT NULL THEN weight END), 0) AS score,
           any_value(domain_weight) AS weight, any_value(target) AS target, any_value(factor) AS factor,
           count(CASE WHEN status IN ('answered', 'capped', 'capped_records') THEN 1 END) AS answered,
           count(CASE WHEN status = 'na' THEN 1 END) AS na,
           count(CASE WHEN status = 'capped' THEN 1 END) AS capped
    FROM {questions} GROUP BY unit_id, domain_id"""


def _unit_agg(domains: str) -> str:
    """The CTE agg: per unit of the domain rows `domains`, the weighted mean, the counts and the weakest domain
    (lowest score, then first in the questionnaire)."""
    return f"""agg AS (
              SELECT unit_id, sum(score * weight) / nullif(sum(CASE WHEN score IS NOT NULL THEN weight END), 0)
                         AS score, sum(answered) AS answered, sum(na) AS na, sum(capped) AS capped,
                     arg_min(domain_id, (score, domain_pos)) FILTER (WHERE score IS NOT NULL) AS weakest_domain,
                     min(score) AS weakest_score
              FROM {domains} GROUP BY unit_id)"""


def _rollup(q: Questionnaire) -> str:
    return "t.factor" if q.policy.rollup.unit_to_organisation == "tier_weighted_mean" else "CAST(1.0 AS DOUBLE)"


def _band(q: Questionnaire) -> str:
    band = "NULL"
    for b in q.bands:  # later bands win, as in scoring._unit_scores
        band = f"CASE WHEN score >= {float(b.min)} THEN '{b.name}' ELSE {band} END"
    return band


@dataclass(frozen=True)
class ScoreRows:
    """The question, domain and unit rows of a scoring floor, with the columns of scoring.Scores."""

    questions: pl.DataFrame
    domains: pl.DataFrame
    units: pl.DataFrame


def scoring_records(db: Database, campaign_id: str, q: Questionnaire) -> ScoreRows:
    """The benchmark's "scoring with record rules" step in plain SQL, the same job row for row: the cycle's
    submitted and approved units scored with `q` (not the cycle's own questionnaire) as of their submission
    days, as scoring.score(q, current, units, records=storage.recovery.facts(...)) does: the evidence rule,
    then every record rule of q's policy judged against the records as of each unit's day (services in the
    version valid at the end of that day, active; results of non-withdrawn exercises; incidents over RTO),
    the caps, status capped_records and the explanations and notes word for word; then the domain and unit
    rows. Nothing is persisted (the step persists nothing).

    A few statements in one read, into temp tables: the units, q's rules, each rule's services in scope, the
    rules' outcomes, the question rows with the caps, the domain rows; then the three frames fetched. q's
    questions, tiers and record rules are passed as list parameters (a few dozen constants), so the SQL text
    is the same for any questionnaire; every row is computed by DuckDB."""
    params = _questionnaire_params(q)
    label = _literal(q.policy_label)
    graded = _graded("bench_rec_units", "bench_rec_questions", "bench_rec_tiers", q.policy.evidence_rule)
    with db.read() as cur:
        cur.execute(f"""CREATE OR REPLACE TEMP TABLE bench_rec_units AS
            SELECT *, CAST(as_of AS TIMESTAMP) + INTERVAL 1 DAY - INTERVAL 1 MICROSECOND AS until
            FROM ({SCORED_UNITS})""", {"cycle": campaign_id})
        # Tables, not inline lists, so that the planner knows their sizes (DuckDB refuses unused parameters).
        for name, sql, prefix in (("questions", QUESTIONS_PARAM, "q_"), ("tiers", TIERS_PARAM, "t_"),
                                  ("rules", RULES_PARAM, "r_")):
            cur.execute(f"CREATE OR REPLACE TEMP TABLE bench_rec_{name} AS {sql}",
                        {k: v for k, v in params.items() if k.startswith(prefix)})
        cur.execute(f"CREATE OR REPLACE TEMP TABLE bench_rec_scope AS {RECORD_SCOPE}")
        cur.execute(f"CREATE OR REPLACE TEMP TABLE bench_rec_outcomes AS {RECORD_OUTCOMES}")
        cur.execute(f"CREATE OR REPLACE TEMP TABLE bench_rec_q AS {RECORD_CAPS.format(graded=graded)}",
                    {"cycle": campaign_id})
        cur.execute(f"CREATE OR REPLACE TEMP TABLE bench_rec_d AS {_DOMAIN_ROWS.format(questions='bench_rec_q')}")
        questions = cur.sql(f"""
            SELECT unit_id, question_id, domain_id, CAST(level AS BIGINT) AS level, is_na, score, status,
                   explanation, weight, target, gap, priority, {label} AS policy
            FROM bench_rec_q ORDER BY unit_id, domain_pos, question_pos""").pl()
        domains = cur.sql("""
            SELECT unit_id, domain_id, score, weight, target, answered, na, capped, target - score AS gap,
                   CASE WHEN score IS NOT NULL THEN greatest(target - score, 0) * weight * factor END AS priority
            FROM bench_rec_d ORDER BY unit_id, domain_pos""").pl()
        units = cur.sql(f"""
            WITH {_unit_agg('bench_rec_d')}
            SELECT u.unit_id, u.division_id, CAST(u.tier AS BIGINT) AS tier, score, t.target,
                   t.target - score AS gap, {_rollup(q)} AS rollup_weight, weakest_domain, weakest_score,
                   {_band(q)} AS band, CAST(coalesce(answered, 0) AS BIGINT) AS answered,
                   CAST(coalesce(na, 0) AS BIGINT) AS na, CAST(coalesce(capped, 0) AS BIGINT) AS capped,
                   {label} AS policy, u.as_of
            FROM bench_rec_units u LEFT JOIN bench_rec_tiers t ON t.tier = u.tier
            LEFT JOIN agg ON agg.unit_id = u.unit_id ORDER BY u.unit_id""").pl()
    return ScoreRows(questions, domains, units)


# A questionnaire's questions and tiers from list parameters, in the shape _graded reads.
QUESTIONS_PARAM = """SELECT unnest(CAST($q_id AS VARCHAR[])) AS question_id,
                     unnest(CAST($q_domain AS VARCHAR[])) AS domain_id,
                     unnest(CAST($q_weight AS DOUBLE[])) AS weight,
                     unnest(CAST($q_domain_weight AS DOUBLE[])) AS domain_weight,
                     unnest(CAST($q_domain_pos AS BIGINT[])) AS domain_pos,
                     unnest(CAST($q_pos AS BIGINT[])) AS question_pos"""
TIERS_PARAM = """SELECT unnest(CAST($t_tier AS BIGINT[])) AS tier, unnest(CAST($t_target AS DOUBLE[])) AS target,
                        unnest(CAST($t_factor AS DOUBLE[])) AS factor"""


def _questionnaire_params(q: Questionnaire) -> dict[str, list]:
    """The list parameters of QUESTIONS_PARAM, TIERS_PARAM and RULES_PARAM from q: one entry per question, tier
    or record rule, each rule with its texts (requirement, not-applying note) in words."""
    grid = [(x, d, i, j) for i, d in enumerate(q.domains) for j, x in enumerate(d.questions)]
    rules = q.policy.record_rules
    return {
        "q_id": [x.id for x, *_ in grid], "q_domain": [d.id for _, d, *_ in grid],
        "q_weight": [float(x.weight) for x, *_ in grid], "q_domain_weight": [float(d.weight) for _, d, *_ in grid],
        "q_domain_pos": [i for *_, i, _ in grid], "q_pos": [j for *_, j in grid],
        "t_tier": [int(t.tier) for t in q.policy.tiers], "t_target": [float(t.target) for t in q.policy.tiers],
        "t_factor": [float(t.factor) for t in q.policy.tiers],
        "r_rule": list(range(len(rules))), "r_question": [r.question_id for r in rules],
        "r_check": [r.check for r in rules],
        "r_scope": [r.services if isinstance(r.services, str) else "tiers" for r in rules],
        "r_tiers": [[int(t) for t in r.services] if isinstance(r.services, tuple) else [] for r in rules],
        # A window of 0 is no window, as in record_rules.outcomes.
        "r_months": [int(r.window_months) if r.window_months else None for r in rules],
        "r_types": [list(r.exercise_types) for r in rules],
        "r_kinds": [_types_text(r.exercise_types) if r.exercise_types else "" for r in rules],
        "r_min": [int(r.min_level) for r in rules], "r_cap": [int(r.cap_level) for r in rules],
        "r_requirement": [_requirement(r) + ", and " for r in rules],
        "r_not_applies": [f"{r.question_id}'s record rule does not apply: {_why_not(r)}" for r in rules],
    }


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _or_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _types_text(types: tuple[str, ...]) -> str:
    return _or_list([EXERCISE_TYPES[t].lower() for t in types])


def _requirement(rule: RecordRule) -> str:
    """What the rule asks, the first half of every explanation it writes (record_rules.requirement's words)."""
    within = f" within {rule.window_months} months" if rule.window_months else ""
    head = f"a level of {rule.min_level} or more needs"
    if rule.services == "top_tier":
        scope = "every service of the unit's highest recovery tier"
    elif rule.services == "all":
        scope = "every service of the unit"
    else:
        scope = "every service of recovery tier " + _or_list([str(t) for t in rule.services])
    if rule.check == "exercise_passed":
        return f"{head} the latest {_types_text(rule.exercise_types)} result{within} to pass for {scope}"
    if rule.check == "objectives_approved":
        return f"{head} an approved RTO (and an RPO where data is held){within} for {scope}"
    return f"{head} a post-mortem of every incident over RTO{within} on {scope}"


def _why_not(rule: RecordRule) -> str:
    if isinstance(rule.services, tuple):
        return f"the unit has no service of recovery tier {', '.join(map(str, rule.services))}"
    return "the unit has no services in the service register"


def _minutes(m: str) -> str:
    """durations.format of the BIGINT column `m`: "1 d 4 h", "0 min", NULL for NULL (a zero part is NULL, which
    concat_ws leaves out). Stored minutes are never negative (the product refuses negative durations), so
    DuckDB's truncating // and % give polars' floor division and modulo."""
    parts = [f"nullif({m} // {WEEK}, 0) || ' w'", f"nullif({m} % {WEEK} // {DAY}, 0) || ' d'",
             f"nullif({m} % {DAY} // {HOUR}, 0) || ' h'", f"nullif({m} % {HOUR}, 0) || ' min'"]
    return f"CASE {m} WHEN 0 THEN '0 min' ELSE nullif(concat_ws(' ', {', '.join(parts)}), '') END"


def _names(ids: str, most: int = 5) -> str:
    """ "A", "A and B", "A, B and C", "A, B, C, D, E and 3 more" from the list column `ids` (NULL when empty):
    up to `most` - 1 names or the first `most` joined by commas, " and ", then the last or how many more."""
    n = f"len({ids})"
    return (f"CASE WHEN {n} > 0 THEN concat_ws(' and ', nullif(array_to_string({ids}[1:least({n} - 1, {most})], "
            f"', '), ''), CASE WHEN {n} <= {most} THEN {ids}[-1] ELSE ({n} - {most}) || ' more' END) END")


def _verb(ids: str, one: str, many: str) -> str:
    return f"CASE WHEN len({ids}) = 1 THEN {_literal(one)} ELSE {_literal(many)} END"


def _group(ids: str, one: str, many: str) -> str:
    """ "A and B have no RTO" for a non-empty list column, else NULL."""
    return f"CASE WHEN len({ids}) > 0 THEN {_names(ids)} || ' ' || {_verb(ids, one, many)} END"


def _label(col: str) -> str:
    """An exercise type's label in lower case ("failover/switchover"), the type itself when unknown."""
    whens = " ".join(f"WHEN {_literal(k)} THEN {_literal(v.lower())}" for k, v in EXERCISE_TYPES.items())
    return f"CASE {col} {whens} ELSE {col} END"


# q's record rules from the r_* list parameters (_questionnaire_params), one row each.
RULES_PARAM = """
    SELECT unnest(CAST($r_rule AS BIGINT[])) AS rule, unnest(CAST($r_question AS VARCHAR[])) AS question_id,
           unnest(CAST($r_check AS VARCHAR[])) AS kind, unnest(CAST($r_scope AS VARCHAR[])) AS scope,
           unnest(CAST($r_tiers AS BIGINT[][])) AS tiers, unnest(CAST($r_months AS BIGINT[])) AS months,
           unnest(CAST($r_types AS VARCHAR[][])) AS types, unnest(CAST($r_kinds AS VARCHAR[])) AS kinds,
           unnest(CAST($r_min AS BIGINT[])) AS min_level, unnest(CAST($r_cap AS BIGINT[])) AS cap_level,
           unnest(CAST($r_requirement AS VARCHAR[])) AS requirement,
           unnest(CAST($r_not_applies AS VARCHAR[])) AS not_applies"""

# Per rule (bench_rec_rules) and scored unit (bench_rec_units), the unit's services in the rule's scope: all of
# them, those of its highest recovery tier, or those of the tiers the rule names, with the rule's cutoff.
RECORD_SCOPE = """
    WITH u AS (SELECT * FROM bench_rec_units),
    -- Each unit's active services in the version valid at the end of its day (a version is valid from its
    -- recording until the next version of the service), as storage.recovery.facts reads them.
    v AS (SELECT sv.*, lead(sv.updated_at) OVER (PARTITION BY sv.service_id ORDER BY sv.revision) AS valid_to
          FROM service_versions sv),
    svc AS (SELECT u.unit_id, u.as_of, v.service_id, v.recovery_tier, v.rto_minutes, v.rpo_minutes, v.holds_data,
                   v.approved_on, min(v.recovery_tier) OVER (PARTITION BY u.unit_id) AS top_tier
            FROM u JOIN v ON v.unit_id = u.unit_id AND v.updated_at <= u.until
                 AND (v.valid_to IS NULL OR v.valid_to > u.until)
            WHERE v.active)
    -- No window, no cutoff: a comparison with it is NULL, as in polars, and drops the row.
    SELECT r.rule, r.kind, r.types, r.kinds, s.unit_id, s.as_of,
           CAST(s.as_of - r.months * INTERVAL 1 MONTH AS DATE) AS cutoff, s.service_id, s.rto_minutes,
           s.rpo_minutes, s.holds_data, s.approved_on
    FROM bench_rec_rules r JOIN svc s ON CASE r.scope WHEN 'top_tier' THEN s.recovery_tier = s.top_tier
                                                      WHEN 'all' THEN true
                                                      ELSE list_contains(r.tiers, s.recovery_tier) END"""

# record_rules.outcomes: one row per rule and scored unit (rule, unit_id, question_id, min_level, cap_level,
# applies, holds, why, note). Each check judges the services in scope (bench_rec_scope) into `against`, the facts
# that fail the rule (NULL when none), and `good`, the facts for it; a unit with nothing in scope is not judged.
RECORD_OUTCOMES = f"""
    WITH u AS (SELECT * FROM bench_rec_units), sc AS (SELECT * FROM bench_rec_scope),
    r AS (SELECT * FROM bench_rec_rules),
    -- exercise_passed: per service in scope, its latest result of a counted type in [cutoff, as_of] decides.
    xl AS (SELECT sc.rule, sc.unit_id, sc.service_id, x.exercise_id, x.exercise_date, x.exercise_type, r.passed,
                  r.recovery_met, r.data_met, r.achieved_recovery_minutes AS achieved,
                  r.achieved_data_loss_minutes AS loss, r.rto_minutes AS rto, r.rpo_minutes AS rpo
           FROM sc JOIN exercise_results r ON r.service_id = sc.service_id
           JOIN exercises x ON x.exercise_id = r.exercise_id
           WHERE sc.kind = 'exercise_passed' AND x.withdrawn_at IS NULL AND list_contains(sc.types, x.exercise_type)
             AND x.exercise_date <= sc.as_of AND x.exercise_date >= sc.cutoff
           QUALIFY row_number() OVER (PARTITION BY sc.rule, sc.unit_id, sc.service_id
                                      ORDER BY x.exercise_date DESC, x.exercise_id DESC) = 1),
    xj AS (SELECT sc.rule, sc.unit_id, sc.service_id, sc.cutoff, sc.kinds, l.exercise_id IS NULL AS none,
                  coalesce(l.passed, false) AS ok, l.exercise_type, l.exercise_date,
                  CASE WHEN coalesce(l.passed, false) THEN NULL WHEN l.recovery_met = false THEN 'took'
                       WHEN l.data_met = false THEN 'lost' WHEN l.achieved IS NULL THEN 'untimed'
                       ELSE 'unjudged' END AS how,
                  CASE WHEN l.recovery_met = false THEN l.achieved ELSE l.loss END AS m1,
                  CASE WHEN l.recovery_met = false THEN l.rto ELSE l.rpo END AS m2
           FROM sc LEFT JOIN xl l ON l.rule = sc.rule AND l.unit_id = sc.unit_id AND l.service_id = sc.service_id
           WHERE sc.kind = 'exercise_passed'),
    -- The text only for the results that failed (a CASE evaluates a branch on its rows only).
    xf AS (SELECT *, CASE WHEN how IS NOT NULL THEN service_id || '''s latest ' || {_label("exercise_type")} || ' on '
                              || exercise_date || CASE how
                    WHEN 'took' THEN ' took ' || {_minutes('m1')} || ' against an RTO of ' || {_minutes('m2')}
                    WHEN 'lost' THEN ' lost ' || {_minutes('m1')} || ' of data against an RPO of ' || {_minutes('m2')}
                    WHEN 'untimed' THEN ' recorded no recovery time'
                    WHEN 'unjudged' THEN ' could not be judged: the service had no RTO then' END END AS failed
           FROM xj),
    xp AS (SELECT rule, unit_id, any_value(cutoff) AS cutoff, any_value(kinds) AS kinds,
                  list(service_id ORDER BY service_id) FILTER (WHERE none) AS none_ids,
                  list(failed ORDER BY failed) FILTER (WHERE NOT none AND failed IS NOT NULL) AS fails,
                  list(service_id ORDER BY service_id) FILTER (WHERE ok) AS ok_ids
           FROM xf GROUP BY rule, unit_id),
    xd AS (SELECT rule, unit_id,
                  nullif(concat_ws('; ', CASE WHEN len(none_ids) > 0 THEN {_names('none_ids')} || ' '
                                              || {_verb('none_ids', 'has', 'have')} || ' no ' || kinds
                                              || ' result since ' || cutoff END,
                                   CASE WHEN len(fails) > 0 THEN array_to_string(fails, '; ') END), '') AS against,
                  'the latest ' || kinds || ' result since ' || cutoff || ' passed for ' || {_names('ok_ids')} AS good
           FROM xp),
    -- objectives_approved: an RTO, an RPO if the service holds data, objectives approved by the unit's day
    -- (not before the cutoff when there is one).
    oj AS (SELECT rule, unit_id, service_id, rto_minutes IS NULL AS no_rto,
                  coalesce(holds_data, true) AND rpo_minutes IS NULL AS no_rpo,
                  approved_on IS NOT NULL AND approved_on <= as_of AS approved, cutoff, approved_on
           FROM sc WHERE kind = 'objectives_approved'),
    os AS (SELECT *, NOT approved AS unapproved,
                  CASE WHEN approved AND cutoff IS NOT NULL AND approved_on < cutoff THEN service_id
                       || '''s objectives were approved on ' || approved_on || ', before ' || cutoff END AS stale
           FROM oj),
    op AS (SELECT rule, unit_id, list(service_id ORDER BY service_id) FILTER (WHERE no_rto) AS no_rto,
                  list(service_id ORDER BY service_id) FILTER (WHERE no_rpo) AS no_rpo,
                  list(service_id ORDER BY service_id) FILTER (WHERE unapproved) AS unapproved,
                  list(stale ORDER BY stale) FILTER (WHERE stale IS NOT NULL) AS stale,
                  list(service_id ORDER BY service_id)
                      FILTER (WHERE NOT no_rto AND NOT no_rpo AND NOT unapproved AND stale IS NULL) AS ok_ids
           FROM os GROUP BY rule, unit_id),
    od AS (SELECT rule, unit_id,
                  nullif(concat_ws('; ', {_group('no_rto', 'has no RTO', 'have no RTO')},
                                   {_group('no_rpo', 'holds data but has no RPO', 'hold data but have no RPO')},
                                   {_group('unapproved', 'has objectives nobody approved',
                                           'have objectives nobody approved')},
                                   CASE WHEN len(stale) > 0 THEN array_to_string(stale, '; ') END), '') AS against,
                  {_names('ok_ids')} || ' ' || {_verb('ok_ids', 'has', 'have')} || ' approved objectives' AS good
           FROM op),
    -- postmortem_done: every incident over RTO on a service in scope, started in [cutoff, as_of], has its
    -- post-mortem by the unit's day (or it is not due yet); incidents listed by start, then id.
    ph AS (SELECT sc.rule, sc.unit_id, s.incident_id, CAST(i.started_at AS DATE) AS started_on, i.postmortem_due,
                  i.postmortem_done IS NOT NULL AND i.postmortem_done <= sc.as_of AS done,
                  i.postmortem_due IS NOT NULL AND i.postmortem_due > sc.as_of AS not_due, s.service_id,
                  s.outage_minutes AS m1, s.rto_minutes AS m2
           FROM sc JOIN incident_services s ON s.service_id = sc.service_id
           JOIN incidents i ON i.incident_id = s.incident_id
           WHERE sc.kind = 'postmortem_done' AND coalesce(s.over_rto, false)
             AND CAST(i.started_at AS DATE) <= sc.as_of AND CAST(i.started_at AS DATE) >= sc.cutoff),
    pi AS (SELECT rule, unit_id, incident_id, any_value(started_on) AS started_on, any_value(postmortem_due) AS due,
                  bool_or(done) AS done, bool_or(not_due) AS not_due,
                  coalesce(string_agg(service_id || ' down ' || {_minutes('m1')} || ' against an RTO of '
                                      || {_minutes('m2')}, ', ' ORDER BY service_id), '') AS what
           FROM ph GROUP BY rule, unit_id, incident_id),
    pl AS (SELECT rule, unit_id,
                  list(incident_id || ' (started ' || started_on || ': ' || what || ') has no post-mortem'
                       ORDER BY started_on, incident_id) FILTER (WHERE NOT done AND NOT not_due) AS missing,
                  list(incident_id ORDER BY started_on, incident_id) FILTER (WHERE done) AS reviewed,
                  list(incident_id || '''s post-mortem is due on ' || due ORDER BY started_on, incident_id)
                      FILTER (WHERE NOT done AND not_due) AS pending
           FROM pi GROUP BY rule, unit_id),
    pd AS (SELECT p.rule, p.unit_id, CASE WHEN len(l.missing) > 0 THEN array_to_string(l.missing, '; ') END AS against,
                  nullif(concat_ws('; ',
                      CASE WHEN len(l.reviewed) > 0 THEN 'every incident over RTO since ' || p.cutoff
                                || ' has its post-mortem (' || {_names('l.reviewed')} || ')'
                           WHEN coalesce(len(l.pending), 0) = 0
                           THEN 'no incident went over RTO on the unit''s services since ' || p.cutoff END,
                      CASE WHEN len(l.pending) > 0 THEN array_to_string(l.pending, '; ') END), '') AS good
           FROM (SELECT rule, unit_id, any_value(cutoff) AS cutoff FROM sc WHERE kind = 'postmortem_done'
                 GROUP BY rule, unit_id) p
           LEFT JOIN pl l ON l.rule = p.rule AND l.unit_id = p.unit_id),
    o AS (
      SELECT j.rule, j.unit_id, r.question_id, r.min_level, r.cap_level, true AS applies, j.against IS NULL AS holds,
             CASE WHEN j.against IS NOT NULL THEN r.requirement || j.against END AS why,
             CASE WHEN j.against IS NULL THEN 'the records bear it out: ' || j.good END AS note
      FROM (SELECT * FROM xd UNION ALL SELECT * FROM od UNION ALL SELECT * FROM pd) j JOIN r ON r.rule = j.rule
      UNION ALL
      SELECT r.rule, u.unit_id, r.question_id, r.min_level, r.cap_level, false, true, NULL, r.not_applies
      FROM r CROSS JOIN u WHERE NOT EXISTS (SELECT 1 FROM sc WHERE sc.rule = r.rule AND sc.unit_id = u.unit_id))
    SELECT * FROM o"""

# scoring._apply_record_rules over the evidence-graded grid {graded} (a _graded SELECT): the question rows with
# the record caps, gap and priority, and the grid's positions, weights and factor for the domain and unit rows.
RECORD_CAPS = """
    WITH e AS ({graded}),
    -- Per unit x question, the lowest cap of the rules that fail an answer they are triggered by
    -- (status answered or capped, level at least min_level, above cap_level), their reasons in rule order,
    -- and the notes of the rules triggered but not failing.
    o AS (SELECT o.*, e.status IN ('answered', 'capped') AND e.level >= o.min_level AS triggered,
                 e.level > o.cap_level AS above
          FROM bench_rec_outcomes o JOIN e ON e.unit_id = o.unit_id AND e.question_id = o.question_id),
    f AS (SELECT *, triggered AND applies AND NOT holds AND above AS failing FROM o),
    rec AS (SELECT unit_id, question_id, min(cap_level) FILTER (WHERE failing) AS rec_cap,
                   string_agg(why, '; ' ORDER BY rule) FILTER (WHERE failing) AS rec_why,
                   string_agg(note, '; ' ORDER BY rule) FILTER (WHERE triggered AND NOT failing) AS rec_note
            FROM f GROUP BY unit_id, question_id),
    x AS (SELECT e.*, r.rec_cap, r.rec_why, r.rec_note, coalesce(r.rec_cap <= e.score, false) AS lowered
          FROM e LEFT JOIN rec r ON r.unit_id = e.unit_id AND r.question_id = e.question_id),
    -- A failing rule sets the score when it is as low as what the evidence rule left (the records are then
    -- named first); one that would cap higher is only reported. Gap and priority follow the final score.
    c AS (
      SELECT unit_id, question_id, domain_id, level, is_na,
             CASE WHEN lowered THEN CAST(rec_cap AS DOUBLE) ELSE score END AS score,
             CASE WHEN lowered THEN 'capped_records' ELSE status END AS status,
             CASE WHEN lowered AND status = 'capped'
                  THEN 'Answered level ' || level || ', capped at ' || rec_cap || ': ' || rec_why
                       || '; the evidence rule applies as well: ' || evidence_why
                  WHEN lowered THEN 'Answered level ' || level || ', capped at ' || rec_cap || ': ' || rec_why
                  WHEN rec_cap IS NOT NULL THEN explanation || '; the records do not bear it out either ('
                       || rec_cap || ' at most): ' || rec_why
                  WHEN coalesce(rec_note, '') <> '' THEN explanation || '; ' || rec_note
                  ELSE explanation END AS explanation,
             weight, target, domain_weight, factor, domain_pos, question_pos
      FROM x)
    SELECT *, target - score AS gap,
           CASE WHEN score IS NOT NULL THEN greatest(target - score, 0) * weight * factor END AS priority
    FROM c"""


# The units a cycle's reports cover, placed as in that cycle (the product's rule, spelled plainly): its assessed
# units (a closed cycle keeps its deactivated ones) and, while it is not closed, the active units it left out.
CYCLE_UNITS = """
    su AS (
      SELECT a.unit_id, u.name, a.division_id, d.name AS division, a.tier, u.plan_last_reviewed,
             u.review_interval_months, u.active
      FROM assessments a JOIN business_units u ON u.unit_id = a.unit_id
      JOIN campaigns c ON c.campaign_id = a.campaign_id JOIN divisions d ON d.division_id = a.division_id
      WHERE a.campaign_id = $cycle AND (c.status = 'closed' OR u.active)
      UNION ALL
      SELECT u.unit_id, u.name, u.division_id, d.name, u.tier, u.plan_last_reviewed, u.review_interval_months,
             u.active
      FROM business_units u JOIN divisions d ON d.division_id = u.division_id
      WHERE u.active AND (SELECT status FROM campaigns WHERE campaign_id = $cycle) <> 'closed'
        AND u.unit_id NOT IN (SELECT unit_id FROM assessments WHERE campaign_id = $cycle))"""


def summary(db: Database, campaign_id: str, today: date) -> pl.DataFrame:
    """The cycle's headline row: roll-up score and target of its scored units, their gap, units scored and at
    target, assessments expected and submitted, plans overdue for review, units covered."""
    score = "sum(CASE WHEN s.score IS NOT NULL THEN s.score * s.rollup_weight END)"
    target = "sum(CASE WHEN s.score IS NOT NULL THEN s.target * s.rollup_weight END)"
    weight = "nullif(sum(CASE WHEN s.score IS NOT NULL THEN s.rollup_weight END), 0)"
    return _frame(db, f"""
        WITH {CYCLE_UNITS}
        SELECT {score} / {weight} AS score, {target} / {weight} AS target, ({target} - {score}) / {weight} AS gap,
               count(s.score) AS units_scored, count(CASE WHEN s.score >= s.target THEN 1 END) AS units_at_target,
               (SELECT count(*) FROM assessments a JOIN su ON su.unit_id = a.unit_id WHERE a.campaign_id = $cycle)
                   AS expected,
               (SELECT count(*) FROM assessments a JOIN su ON su.unit_id = a.unit_id
                WHERE a.campaign_id = $cycle AND a.status IN ('submitted', 'approved')) AS submitted,
               (SELECT count(*) FROM su WHERE su.active AND (su.plan_last_reviewed IS NULL OR CAST(
                    su.plan_last_reviewed + INTERVAL 1 MONTH * su.review_interval_months AS DATE) < $today))
                   AS overdue_reviews,
               (SELECT count(*) FROM su) AS units
        FROM unit_scores s JOIN su ON su.unit_id = s.unit_id WHERE s.campaign_id = $cycle""",
        {"cycle": campaign_id, "today": today})


# A heatmap cell: the domain scores of its units, weighted by each unit's roll-up weight, over the scored ones.
CELL = """sum(CASE WHEN ds.score IS NOT NULL THEN ds.score * s.rollup_weight END)
            / nullif(sum(CASE WHEN ds.score IS NOT NULL THEN s.rollup_weight END), 0)"""
CELL_TARGET = CELL.replace("ds.score *", "ds.target *")


def heatmap_division(db: Database, campaign_id: str) -> pl.DataFrame:
    """Division x domain cells of the cycle's units (placed as in the cycle), named, by division and domain."""
    return _frame(db, f"""
        WITH {CYCLE_UNITS}
        SELECT su.division_id AS row_id, min(su.division) AS row_label, ds.domain_id, {CELL} AS score,
               {CELL_TARGET} AS target, {CELL_TARGET} - {CELL} AS gap, count(ds.score) AS units
        FROM domain_scores ds JOIN su ON su.unit_id = ds.unit_id
        JOIN unit_scores s ON s.campaign_id = ds.campaign_id AND s.unit_id = ds.unit_id
        WHERE ds.campaign_id = $cycle
        GROUP BY su.division_id, ds.domain_id ORDER BY row_label, ds.domain_id""", {"cycle": campaign_id})


def heatmap_unit(db: Database, campaign_id: str, limit: int = 40) -> pl.DataFrame:
    """The domain cells of the `limit` units furthest below target, named, by unit name and domain."""
    return _frame(db, f"""
        WITH {CYCLE_UNITS},
        worst AS (SELECT s.unit_id FROM unit_scores s JOIN su ON su.unit_id = s.unit_id
                  WHERE s.campaign_id = $cycle ORDER BY s.gap DESC NULLS LAST, s.unit_id LIMIT {int(limit)})
        SELECT su.unit_id AS row_id, su.name AS row_label, ds.domain_id, ds.score, ds.target, ds.gap, 1 AS units
        FROM domain_scores ds JOIN worst w ON w.unit_id = ds.unit_id JOIN su ON su.unit_id = ds.unit_id
        WHERE ds.campaign_id = $cycle ORDER BY row_label, ds.domain_id""", {"cycle": campaign_id})


def top_gaps(db: Database, campaign_id: str, limit: int = 20) -> pl.DataFrame:
    """The `limit` question scores of highest priority (then largest gap, unit name, question), with the unit's
    name, division and tier, the level, status and explanation."""
    return _frame(db, f"""
        WITH {CYCLE_UNITS}
        SELECT su.unit_id, su.name AS unit, su.division, su.tier, qs.question_id, qs.domain_id, qs.level,
               qs.score, qs.target, qs.gap, qs.priority, qs.status, qs.explanation
        FROM question_scores qs JOIN su ON su.unit_id = qs.unit_id
        WHERE qs.campaign_id = $cycle AND qs.priority > 0
        ORDER BY qs.priority DESC, qs.gap DESC, su.name, qs.question_id LIMIT {int(limit)}""",
        {"cycle": campaign_id})


# The same rules as the product, spelled plainly (the floor must do the same job; tests/test_bench_query_floors.py
# checks its rows equal the product's).
WMEAN = "sum({v} * {w}) / nullif(sum(CASE WHEN {k} IS NOT NULL THEN {w} END), 0)"
SCORE = WMEAN.format(v="s.score", w="s.rollup_weight", k="s.score")
TARGET = ("sum(CASE WHEN s.score IS NOT NULL THEN s.target * s.rollup_weight END) "
          "/ nullif(sum(CASE WHEN s.score IS NOT NULL THEN s.rollup_weight END), 0)")


def trends(db: Database, by_division: bool = False) -> pl.DataFrame:
    """Per cycle (and division, as placed in that cycle): the roll-up score and target of the scored units,
    with the cycle's name and opening date; a closed cycle keeps its deactivated units; oldest cycle first."""
    series = "d.name" if by_division else "'Organisation'"
    divisions = "JOIN divisions d ON d.division_id = a.division_id" if by_division else ""
    return _frame(db, f"""
        SELECT c.campaign_id, c.name AS campaign, c.opens_on, {series} AS series, {SCORE} AS score,
               {TARGET} AS target, count(s.score) AS units
        FROM unit_scores s JOIN campaigns c ON c.campaign_id = s.campaign_id
        JOIN assessments a ON a.campaign_id = s.campaign_id AND a.unit_id = s.unit_id
        JOIN business_units u ON u.unit_id = s.unit_id {divisions}
        WHERE c.status = 'closed' OR u.active
        GROUP BY c.campaign_id, c.name, c.opens_on{", d.name" if by_division else ""}
        ORDER BY c.opens_on, series""", [])


def _pairs(previous: str) -> str:
    """The cycle's units as placed in it (assessed ones; while it is open, also the active units it left out),
    and every question scored in the cycle or the previous one (`previous`: a SQL expression) with its change."""
    return f"""
        WITH placed AS (
          SELECT a.unit_id, u.name, d.name AS division, a.tier
          FROM assessments a JOIN business_units u ON u.unit_id = a.unit_id
          JOIN campaigns c ON c.campaign_id = a.campaign_id JOIN divisions d ON d.division_id = a.division_id
          WHERE a.campaign_id = $cycle AND (c.status = 'closed' OR u.active)
          UNION ALL
          SELECT u.unit_id, u.name, d.name, u.tier
          FROM business_units u JOIN divisions d ON d.division_id = u.division_id
          WHERE u.active AND (SELECT status FROM campaigns WHERE campaign_id = $cycle) <> 'closed'
            AND u.unit_id NOT IN (SELECT unit_id FROM assessments WHERE campaign_id = $cycle)),
        pairs AS (
          SELECT coalesce(c.unit_id, p.unit_id) AS unit_id, coalesce(c.question_id, p.question_id) AS question_id,
                 coalesce(c.domain_id, p.domain_id) AS domain_id, p.level AS previous_level,
                 c.level AS current_level, p.score AS previous_score, c.score AS current_score,
                 CASE WHEN c.unit_id IS NULL AND us.unit_id IS NULL THEN 'not re-assessed'
                      WHEN c.unit_id IS NULL THEN 'removed'
                      WHEN p.unit_id IS NULL THEN 'new'
                      WHEN c.score > p.score THEN 'improved'
                      WHEN c.score < p.score THEN 'regressed'
                      WHEN ok.unit_id IS NOT NULL THEN 'confirmed unchanged'
                      WHEN p.score IS NULL OR c.score IS NULL THEN 'new or n/a'
                      ELSE 'unchanged' END AS change
          FROM (SELECT * FROM question_scores WHERE campaign_id = $cycle) c
          FULL OUTER JOIN (SELECT * FROM question_scores WHERE campaign_id = {previous}) p
               ON p.unit_id = c.unit_id AND p.question_id = c.question_id
          LEFT JOIN unit_scores us ON us.campaign_id = $cycle AND us.unit_id = p.unit_id
          LEFT JOIN (SELECT ca.unit_id, ca.question_id FROM carried_answers ca JOIN current_answers ce
                       ON ce.campaign_id = ca.campaign_id AND ce.unit_id = ca.unit_id
                      AND ce.question_id = ca.question_id AND ce.event_id = ca.event_id
                     WHERE ca.campaign_id = $cycle AND ca.confirmed_at IS NOT NULL) ok
               ON ok.unit_id = c.unit_id AND ok.question_id = c.question_id)"""


# The previous cycle of $cycle, found as campaigns.previous_of does: the one it names, else the one opened last
# before it.
PREVIOUS = """coalesce((SELECT previous_campaign_id FROM campaigns WHERE campaign_id = $cycle),
                       (SELECT c2.campaign_id FROM campaigns c1 JOIN campaigns c2 ON c2.opens_on < c1.opens_on
                        WHERE c1.campaign_id = $cycle ORDER BY c2.opens_on DESC LIMIT 1))"""


def changes(db: Database, campaign_id: str) -> pl.DataFrame:
    """Per unit of the cycle: its name, division and tier as placed, how many questions improved, regressed,
    stayed (confirmed or not), were not re-assessed, are new or removed, and its current and previous
    score; most regressions first (the previous cycle found as the product finds it)."""
    with db.read() as cur:
        return cur.sql(_pairs(PREVIOUS) + f"""
            SELECT x.unit_id, x.name AS unit, x.division, x.tier,
                   count(CASE WHEN change = 'improved' THEN 1 END) AS improved,
                   count(CASE WHEN change = 'regressed' THEN 1 END) AS regressed,
                   count(CASE WHEN change = 'unchanged' THEN 1 END) AS unchanged,
                   count(CASE WHEN change = 'confirmed unchanged' THEN 1 END) AS confirmed_unchanged,
                   count(CASE WHEN change = 'not re-assessed' THEN 1 END) AS not_reassessed,
                   count(CASE WHEN change = 'new' THEN 1 END) AS new,
                   count(CASE WHEN change = 'removed' THEN 1 END) AS removed,
                   count(CASE WHEN change = 'new or n/a' THEN 1 END) AS other,
                   any_value(cs.score) AS current_score, any_value(ps.score) AS previous_score
            FROM pairs JOIN placed x ON x.unit_id = pairs.unit_id
            LEFT JOIN unit_scores cs ON cs.campaign_id = $cycle AND cs.unit_id = x.unit_id
            LEFT JOIN unit_scores ps ON ps.campaign_id = {PREVIOUS} AND ps.unit_id = x.unit_id
            GROUP BY x.unit_id, x.name, x.division, x.tier
            ORDER BY regressed DESC, not_reassessed DESC, x.name""", params={"cycle": campaign_id}).pl()


def changes_detail(db: Database, campaign_id: str, previous_id: str, limit: int = 500) -> pl.DataFrame:
    """The questions that changed (all but 'unchanged' and 'new or n/a'), with unit, division, levels and
    scores: regressions first, then those not re-assessed, then the rest, by unit name and question."""
    with db.read() as cur:
        return cur.sql(_pairs("$previous") + f"""
            SELECT pairs.unit_id, x.name AS unit, x.division, pairs.question_id, pairs.domain_id, previous_level,
                   current_level, previous_score, current_score, change
            FROM pairs JOIN placed x ON x.unit_id = pairs.unit_id
            WHERE change NOT IN ('unchanged', 'new or n/a')
            ORDER BY CASE change WHEN 'regressed' THEN 0 WHEN 'not re-assessed' THEN 1 ELSE 2 END, x.name,
                     pairs.question_id
            LIMIT {int(limit)}""", params={"cycle": campaign_id, "previous": previous_id}).pl()


def _bucket(days: str) -> str:
    from assessment.reports import DUE_WITHIN, LATER, NEVER_REVIEWED, OVERDUE

    within = " ".join(f"WHEN {days} <= {d} THEN '{name}'" for d, name in DUE_WITHIN)
    return (f"CASE WHEN {days} IS NULL THEN '{NEVER_REVIEWED}' WHEN {days} < 0 THEN '{OVERDUE}' {within} "
            f"ELSE '{LATER}' END")


def deadlines(db: Database, campaign_id: str, min_level: int, max_age_months: int, today: date) -> pl.DataFrame:
    """Every review deadline of the active units with unit, division, tier, owner, what is due, days left and
    urgency bucket, most urgent first: plan reviews, open self-assessments, service objective reviews and
    expiring evidence of the cycle's current answers (the cycle's policy has no recovery_testing schedule)."""
    with db.read() as cur:
        return cur.sql(f"""
            WITH su AS (SELECT u.*, d.name AS division FROM business_units u
                        JOIN divisions d ON d.division_id = u.division_id WHERE u.active),
            due AS (
              SELECT 'plan review' AS kind, unit_id, name AS unit, division_id, division, tier, head AS owner,
                     plan_last_reviewed AS since,
                     CAST(plan_last_reviewed + INTERVAL 1 MONTH * review_interval_months AS DATE) AS due_on,
                     'Continuity plan review (every ' || review_interval_months || ' months)' AS item
              FROM su
              UNION ALL
              SELECT 'assessment due', su.unit_id, su.name, su.division_id, su.division, su.tier, su.head,
                     c.opens_on, c.due_on, c.name || ': self-assessment (' || a.status || ')'
              FROM assessments a JOIN su ON su.unit_id = a.unit_id JOIN campaigns c ON c.campaign_id = a.campaign_id
              WHERE c.status = 'open' AND a.status IN ('draft', 'returned')
              UNION ALL
              SELECT 'service review', su.unit_id, su.name, su.division_id, su.division, su.tier, s.owner,
                     s.approved_on, s.next_review, s.service_id || ' ' || s.name
                     || ': review of the recovery objectives (recovery tier ' || s.recovery_tier || ')'
              FROM services s JOIN su ON su.unit_id = s.unit_id WHERE s.active
              UNION ALL
              SELECT 'evidence expiry', su.unit_id, su.name, su.division_id, su.division, su.tier, e.answered_by,
                     e.evidence_date, CAST(e.evidence_date + INTERVAL {int(max_age_months)} MONTH AS DATE),
                     e.question_id || ': evidence for level ' || e.level
              FROM current_answers e JOIN su ON su.unit_id = e.unit_id
              WHERE e.campaign_id = $cycle AND e.level >= $min_level AND e.evidence_date IS NOT NULL)
            SELECT *, due_on - $today AS days_left, {_bucket("(due_on - $today)")} AS bucket
            FROM due ORDER BY days_left NULLS FIRST""",
            params={"cycle": campaign_id, "min_level": min_level, "today": today}).pl()


def deadlines_with_actions(db: Database, campaign_id: str, min_level: int, max_age_months: int,
                           today: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The review deadlines floor, then the open actions (open, in progress, done awaiting verification) by
    due date and the risk acceptances by expiry, with unit, division, days left and bucket, most urgent
    first (what actions.due_for returns, in one plain query)."""
    with db.read() as cur:
        actions = cur.sql(f"""
            SELECT *, {_bucket("days_left")} AS bucket FROM (
              SELECT CASE WHEN a.status = 'risk_accepted' THEN 'risk acceptance' ELSE 'action due' END AS kind,
                     a.unit_id, u.name AS unit, u.division_id, d.name AS division, u.tier, a.owner,
                     CAST(a.created_at AS DATE) AS since,
                     CASE WHEN a.status = 'risk_accepted' THEN a.risk_expires_on ELSE a.due_on END AS due_on,
                     a.action_id || ': ' || a.title AS item,
                     (CASE WHEN a.status = 'risk_accepted' THEN a.risk_expires_on ELSE a.due_on END) - $today
                         AS days_left, a.action_id, a.status, a.priority
              FROM actions a JOIN business_units u ON u.unit_id = a.unit_id
              JOIN divisions d ON d.division_id = u.division_id
              WHERE a.status IN ('open', 'in_progress', 'done', 'risk_accepted'))
            ORDER BY days_left, action_id""", params={"today": today}).pl()
    return deadlines(db, campaign_id, min_level, max_age_months, today), actions


def checklist_coverage(db: Database, campaign_id: str) -> pl.DataFrame:
    """Per checklist item of the cycle's questionnaire (in its order): the scored units of the cycle, those whose
    covering questions meet the target, their roll-up score and the share at target."""
    return _frame(db, f"""
        WITH {CYCLE_UNITS},
        q AS (SELECT questionnaire_id, questionnaire_version AS version FROM campaigns WHERE campaign_id = $cycle),
        per_unit AS (
          SELECT qc.checklist_id, qs.unit_id,
                 sum(qs.score * qs.weight) / nullif(sum(CASE WHEN qs.score IS NOT NULL THEN qs.weight END), 0)
                     AS score, min(qs.target) AS target
          FROM question_scores qs JOIN su ON su.unit_id = qs.unit_id
          JOIN q_question_checklist qc ON qc.question_id = qs.question_id
          JOIN q ON q.questionnaire_id = qc.questionnaire_id AND q.version = qc.version
          WHERE qs.campaign_id = $cycle GROUP BY qc.checklist_id, qs.unit_id)
        SELECT cl.checklist_id, cl.text, cl.position, count(p.score) AS units,
               count(CASE WHEN p.score >= p.target THEN 1 END) AS units_at_target,
               sum(CASE WHEN p.score IS NOT NULL THEN p.score * s.rollup_weight END)
                   / nullif(sum(CASE WHEN p.score IS NOT NULL THEN s.rollup_weight END), 0) AS score,
               count(CASE WHEN p.score >= p.target THEN 1 END) / nullif(count(p.score), 0) AS share_at_target
        FROM q_checklist cl JOIN q ON q.questionnaire_id = cl.questionnaire_id AND q.version = cl.version
        LEFT JOIN per_unit p ON p.checklist_id = cl.checklist_id
        LEFT JOIN unit_scores s ON s.campaign_id = $cycle AND s.unit_id = p.unit_id
        GROUP BY cl.checklist_id, cl.text, cl.position ORDER BY cl.position""", {"cycle": campaign_id})


def recovery(db: Database, at: datetime) -> pl.DataFrame:
    """The recovery view's frame (recovery.demonstrated) in one statement: per service of the register as it
    stood at `at` (each service's newest version recorded by then, active, of an active unit), its RTO and
    the latest recovery time measured in a non-withdrawn exercise up to that day, the proof's age, the gap,
    the status and the product's order (status rank, slowest first, recovery tier, service id)."""
    return _frame(db, """
        WITH snap AS (
            SELECT v.* FROM service_versions v
            JOIN (SELECT service_id, max(revision) AS revision FROM service_versions
                  WHERE updated_at <= $at GROUP BY service_id) m
              ON m.service_id = v.service_id AND m.revision = v.revision
            WHERE v.active),
        s AS (SELECT snap.*, u.name AS unit, u.division_id, d.name AS division, u.tier AS unit_tier
              FROM snap JOIN business_units u ON u.unit_id = snap.unit_id
              JOIN divisions d ON d.division_id = u.division_id WHERE u.active),
        m AS (SELECT r.service_id, r.exercise_id, x.exercise_date, x.exercise_type, r.achieved_recovery_minutes,
                     r.passed, row_number() OVER (PARTITION BY r.service_id
                                                  ORDER BY x.exercise_date DESC, r.exercise_id DESC) AS k
              FROM exercise_results r JOIN exercises x ON x.exercise_id = r.exercise_id
              WHERE x.withdrawn_at IS NULL AND r.achieved_recovery_minutes IS NOT NULL AND x.exercise_date <= $day),
        j AS (SELECT s.service_id, s.name AS service, s.unit_id, s.unit, s.division_id, s.division, s.unit_tier,
                     s.recovery_tier, s.owner, s.rto_minutes, m.achieved_recovery_minutes AS demonstrated_minutes,
                     m.exercise_date AS demonstrated_on, m.exercise_id, m.exercise_type, m.passed,
                     CAST($day - m.exercise_date AS BIGINT) AS proof_age_days,
                     m.achieved_recovery_minutes - s.rto_minutes AS gap_minutes,
                     CASE WHEN s.rto_minutes IS NULL THEN 'no RTO'
                          WHEN m.achieved_recovery_minutes IS NULL THEN 'never tested'
                          WHEN m.achieved_recovery_minutes > s.rto_minutes THEN 'slower than RTO'
                          ELSE 'within RTO' END AS status
              FROM s LEFT JOIN m ON m.service_id = s.service_id AND m.k = 1)
        SELECT * FROM j
        ORDER BY CASE status WHEN 'slower than RTO' THEN 0 WHEN 'never tested' THEN 1 WHEN 'no RTO' THEN 2
                             ELSE 3 END, gap_minutes DESC NULLS LAST, recovery_tier NULLS LAST,
                 service_id NULLS LAST""", {"at": at, "day": at.date()})


def standards(db: Database, campaign_id: str, refs: pl.DataFrame, level: int, listed: int) -> pl.DataFrame:
    """The standards view's figures (standards_view.view) in one statement: per cited clause, clause group and
    standard (refs: key_id c|, g| or s| + standard and clause or group, question_id), over the active units'
    scores on its questions (the weighted mean of question scores, as the domain roll-up): units scored,
    lowest, median, highest, at or above `level`, the share in percent, below, and for clauses the names of
    up to `listed` units below, worst first, with how many more there are."""
    with db.read() as cur:
        cur.register("bench_refs", refs.select("key_id", "question_id").unique())
        try:
            return cur.sql("""
                WITH su AS (SELECT unit_id, name FROM business_units WHERE active),
                scored AS (
                    SELECT r.key_id, qs.unit_id,
                           sum(CASE WHEN qs.score IS NOT NULL THEN qs.score * qs.weight END)
                           / nullif(sum(CASE WHEN qs.score IS NOT NULL THEN qs.weight END), 0) AS score
                    FROM question_scores qs JOIN su ON su.unit_id = qs.unit_id
                    JOIN bench_refs r ON r.question_id = qs.question_id
                    WHERE qs.campaign_id = $cycle GROUP BY r.key_id, qs.unit_id
                    HAVING score IS NOT NULL),
                below AS (
                    SELECT s.key_id, su.name,
                           row_number() OVER (PARTITION BY s.key_id ORDER BY s.score, s.unit_id) AS n
                    FROM scored s JOIN su ON su.unit_id = s.unit_id
                    WHERE s.score < $level - 1e-9 AND s.key_id LIKE 'c|%'),
                names AS (SELECT key_id, string_agg(name, ', ' ORDER BY n) AS names, count(*) AS listed
                          FROM below WHERE n <= $listed GROUP BY key_id),
                stats AS (
                    SELECT key_id, count(*) AS units_scored, min(score) AS lowest, median(score) AS median,
                           max(score) AS highest, count(CASE WHEN score >= $level - 1e-9 THEN 1 END) AS at_or_above,
                           count(CASE WHEN score < $level - 1e-9 THEN 1 END) AS below
                    FROM scored GROUP BY key_id)
                SELECT st.key_id, st.units_scored, st.lowest, st.median, st.highest, st.at_or_above,
                       round_even(st.at_or_above / st.units_scored * 100, 1) AS share, st.below,
                       CASE WHEN st.key_id LIKE 'c|%' AND st.below > coalesce(n.listed, 0)
                            THEN n.names || ' … and ' || (st.below - coalesce(n.listed, 0)) || ' more'
                            ELSE coalesce(n.names, '') END AS units_below
                FROM stats st LEFT JOIN names n ON n.key_id = st.key_id ORDER BY st.key_id""",
                params={"cycle": campaign_id, "level": level, "listed": listed}).pl()
        finally:
            cur.unregister("bench_refs")
