"""The benchmark's record-rule scoring floor does the product's job, row for row: otherwise its ratio means nothing.

The floor (benchmarks/floors.scoring_records, plain SQL) and the product's path the benchmark times
(benchmarks/run.py _records_scoring: the units, their current answers and storage.recovery.facts, then
scoring.score with questionnaire 1.1.0) score the last closed cycle of a synthetic organisation; every
question, domain and unit row must agree. The synthetic records are bent so that every record rule holds for
some units, fails for others and does not apply to one, through every kind of fact the explanations name.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta

import polars as pl
import pytest

from assessment import record_rules, scoring
from assessment.model import Questionnaire, RecordRule
from assessment.questionnaire import QUESTIONNAIRE_DIR, load_file
from assessment.storage import answers as answers_sql
from assessment.storage import campaigns as campaigns_sql
from assessment.storage import recovery as recovery_sql
from benchmarks import floors

from .helpers.bench import assert_same_rows, last_closed, synthetic_org

pytestmark = pytest.mark.slow
KEYS = {"questions": ["unit_id", "question_id"], "domains": ["unit_id", "domain_id"], "units": ["unit_id"]}


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    """(db, last closed cycle) of a synthetic S organisation with its records bent (see _bend)."""
    db = synthetic_org(tmp_path_factory.mktemp("records") / "bench.duckdb")
    closed = last_closed(db)
    with db.read() as cur:
        _bend(cur, closed, [r.question_id for r in _q11().policy.record_rules])
    yield db, closed
    db.close()


def _q11() -> Questionnaire:
    return load_file(QUESTIONNAIRE_DIR / "itscm-core-1.1.yaml")


def _bend(cur, cycle: str, ruled: list[str]) -> None:
    """Answers and records of the cycle's first scored units, so that each rule's branches show (the synthetic
    records have no incidents, and every service's objectives were approved years before the cycle)."""
    scored = cur.execute("SELECT unit_id, CAST(submitted_at AS DATE) FROM assessments WHERE campaign_id = ? AND "
                         "status IN ('submitted', 'approved') ORDER BY unit_id", [cycle]).fetchall()
    assert len(scored) >= 8
    (bare, d0), (good, d1), (bad, d2), (late, d3), (low, _), (weak, _), (blank, _), (na, _) = scored[:8]

    def sql(statement: str, *params) -> None:
        cur.execute(statement, list(params))

    # Answers to the ruled questions: levels 3 to 5 with fresh, no or stale evidence (so the evidence rule caps
    # some of them too), a unit below every rule's level, one without answers, one N/A.
    for k, (unit, day) in enumerate(scored):
        for j, question in enumerate(ruled):
            level, evidence, dated = [(4, "report", day - timedelta(30)), (4, None, None),
                                      (5, "report", day - timedelta(400)), (3, "report", day - timedelta(30))
                                      ][(k + j) % 4]
            sql("UPDATE current_answers SET level = ?, is_na = false, evidence = ?, evidence_url = NULL, "
                "evidence_date = ? WHERE campaign_id = ? AND unit_id = ? AND question_id = ?",
                level, evidence, dated, cycle, unit, question)
    qs = ", ".join(f"'{x}'" for x in ruled)
    sql(f"UPDATE current_answers SET level = 2 WHERE campaign_id = ? AND unit_id = ? AND question_id IN ({qs})",
        cycle, weak)
    sql(f"DELETE FROM current_answers WHERE campaign_id = ? AND unit_id = ? AND question_id IN ({qs})", cycle, blank)
    sql(f"UPDATE current_answers SET level = NULL, is_na = true, na_reason = 'outsourced' WHERE campaign_id = ? "
        f"AND unit_id = ? AND question_id IN ({qs})", cycle, na)

    # The service register as the facts read it (service_versions): no services at all; only tiers 3 and 4.
    sql("UPDATE service_versions SET active = false WHERE unit_id = ?", bare)
    sql("UPDATE service_versions SET active = false WHERE unit_id = ? AND recovery_tier <= 2", low)
    # Objectives approved within the window (else stale), except the ones bent below.
    for unit, day in ((good, d1), (bad, d2), (late, d3)):
        sql("UPDATE service_versions SET approved_on = ? WHERE unit_id = ?", day - timedelta(30), unit)
    s = {k: f"{bad}-S{k:02d}" for k in range(10)}
    # The bad unit: four stale approvals, seven services without RTO ("... and 2 more"), one holding data without
    # RPO, one without RPO that holds none (fine), one nobody approved; the late one: two approved after its day.
    sql("UPDATE service_versions SET approved_on = DATE '2023-03-12' WHERE service_id IN (?, ?, ?, ?)",
        *[s[k] for k in range(4)])
    sql("UPDATE service_versions SET rto_minutes = NULL WHERE unit_id = ? AND service_id <= ?", bad, s[6])
    sql("UPDATE service_versions SET rpo_minutes = NULL WHERE service_id = ?", s[7])
    sql("UPDATE service_versions SET rpo_minutes = NULL, holds_data = false WHERE service_id = ?", s[8])
    sql("UPDATE service_versions SET approved_on = NULL WHERE service_id = ?", s[9])
    sql("UPDATE service_versions SET approved_on = ? WHERE service_id IN (?, ?)", d3 + timedelta(3),
        f"{late}-S08", f"{late}-S09")
    # A version recorded at the very end of the as-of day counts; one recorded the next morning does not.
    for service, at, rto in ((f"{late}-S05", datetime.combine(d3, time(23, 59, 59)), None),
                             (f"{late}-S06", datetime.combine(d3 + timedelta(1), time(0)), None)):
        sql("""INSERT INTO service_versions SELECT * REPLACE (2 AS revision, ? AS updated_at, ? AS rto_minutes,
                                                              'update' AS change)
               FROM service_versions WHERE service_id = ? AND revision = 1""", at, rto, service)

    # Exercises: the latest result of a counted type decides; withdrawn ones and later ones do not count.
    def exercise(xid: str, day: date, kind: str, results: list[tuple], withdrawn: bool = False) -> None:
        sql("INSERT INTO exercises (exercise_id, exercise_date, exercise_type, title, objectives_met, recorded_at, "
            "recorded_by, withdrawn_at, withdrawn_by, withdrawn_reason) VALUES (?, ?, ?, 'Bent', true, ?, 'test', "
            "?, ?, ?)", xid, day, kind, datetime.combine(day, time(18)),
            datetime.combine(day, time(19)) if withdrawn else None, "test" if withdrawn else None,
            "recorded twice" if withdrawn else None)
        for service, achieved, loss, rto, rpo, rec_met, data_met, passed in results:
            sql("INSERT INTO exercise_results VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, NULL)", xid, service,
                service[:7], achieved, loss, rto, rpo, rec_met, data_met, passed)

    def passing(unit: str) -> list[tuple]:
        return [(f"{unit}-S{k:02d}", 30, 1, 60, 5, True, True, True) for k in range(3)]

    exercise("EX-TGF", d1 - timedelta(5), "failover", passing(good))
    exercise("EX-TGR", d1 - timedelta(5), "restore_test", passing(good))
    exercise("EX-TBF", d2 - timedelta(3), "failover", [
        (s[0], None, 1, 60, 5, None, True, False),           # recorded no recovery time
        (s[1], 90, 1, None, 5, None, None, False),           # could not be judged: no RTO then
        (s[2], 30, 5, 60, 0, True, False, False)])           # lost 5 min of data against an RPO of 0 min
    exercise("EX-TBR", d2 - timedelta(4), "restore_test", [(s[0], 10081, 1, 60, 5, False, True, False)])
    exercise("EX-TBW", d2 - timedelta(1), "restore_test", passing(bad), withdrawn=True)
    exercise("EX-TLP", d3 - timedelta(2), "failover", passing(late))
    exercise("EX-TLL", d3 + timedelta(1), "failover", [(f"{late}-S00", 600, 1, 60, 5, False, True, False)])

    # Incidents over RTO: reviewed, pending, missing (never done, or done after the as-of day), and ones that do
    # not count (not over RTO, unknown, after the day, before the window); one spans two units.
    def incident(iid: str, started: date, due: date | None, done: date | None, hits: list[tuple]) -> None:
        at = datetime.combine(started, time(10))
        sql("INSERT INTO incidents (incident_id, revision, title, severity, started_at, ended_at, plan_invoked, "
            "postmortem_due, postmortem_done, recorded_at, recorded_by, updated_at, updated_by) VALUES (?, 1, "
            "'Bent', 'high', ?, ?, false, ?, ?, ?, 'test', ?, 'test')", iid, at, at + timedelta(hours=2), due,
            done, at, at)
        for service, outage, rto, over in hits:
            sql("INSERT INTO incident_services VALUES (?, ?, 1, ?, ?, 0, ?, 5, ?, false)", iid, service, service[:7],
                outage, rto, over)

    incident("INC-R1", d1 - timedelta(40), d1 - timedelta(20), d1 - timedelta(10), [(f"{good}-S00", 120, 60, True)])
    incident("INC-P1", d1 - timedelta(3), d1 + timedelta(20), None, [(f"{good}-S01", 90, 60, True)])
    incident("INC-M1", d2 - timedelta(20), d2 - timedelta(5), None, [(s[1], 120, 60, True), (s[0], 1500, 60, True)])
    incident("INC-M2", d2 - timedelta(10), None, d2 + timedelta(2), [(s[4], 10081, 4320, True)])
    incident("INC-S1", min(d1, d2) - timedelta(8), None, d1, [(f"{good}-S03", 300, 240, True),
                                                               (s[3], 300, 240, True)])
    incident("INC-X1", d2 - timedelta(6), None, None, [(s[5], 30, 1440, False)])
    incident("INC-X2", d2 - timedelta(6), None, None, [(s[5], 3000, 1440, None)])
    incident("INC-X3", d2 + timedelta(1), None, None, [(s[5], 3000, 1440, True)])
    incident("INC-X4", d2 - timedelta(400), None, None, [(s[5], 3000, 1440, True)])


def _product(db, cycle: str, q: Questionnaire) -> tuple[scoring.Scores, pl.DataFrame]:
    """The benchmark step's work (run._records_scoring), and the record rules' outcomes it applied."""
    with db.read() as cur:
        done = campaigns_sql.assessment_states(cur, cycle).filter(pl.col("status").is_in(["submitted", "approved"]))
        units = done.select("unit_id", "division_id", "tier", pl.col("submitted_at").cast(pl.Date).alias("as_of"))
        current = answers_sql.current(cur, cycle)
        facts = recovery_sql.facts(cur, units)
    return scoring.score(q, current, units, records=facts), record_rules.outcomes(q, units, facts)


def _assert_same(product: pl.DataFrame, mine: pl.DataFrame, name: str) -> None:
    assert_same_rows(mine.sort(KEYS[name]), product.sort(KEYS[name]), name)


def _text(scores: scoring.Scores) -> str:
    return "\n".join(scores.questions["explanation"].to_list())


def test_the_record_floor_produces_the_products_rows(org):
    db, cycle = org
    q = _q11()
    product, outcomes = _product(db, cycle, q)
    mine = floors.scoring_records(db, cycle, q)
    for name in KEYS:
        _assert_same(getattr(product, name), getattr(mine, name), name)
    assert {"answered", "capped", "capped_records", "na", "missing"} <= set(mine.questions["status"])
    # Every rule holds for some units, fails for others and does not apply to one.
    for i, rule in enumerate(q.policy.record_rules):
        seen = set(outcomes.filter(pl.col("rule") == i).select("applies", "holds").iter_rows())
        assert seen == {(True, True), (True, False), (False, True)}, rule.question_id
    text = _text(product)
    for words in ("and 2 more have no RTO", "-S08 and ", "holds data but has no RPO", "objectives were approved on",
                  "have objectives nobody approved", "recorded no recovery time", "could not be judged",
                  "lost 5 min of data against an RPO of 0 min", "took 1 w 1 min against an RTO of 1 h",
                  "down 1 d 1 h against an RTO of 1 h", "has no post-mortem", "post-mortem is due on",
                  "has its post-mortem (", "no incident went over RTO", "record rule does not apply",
                  "the evidence rule applies as well", "; the records bear it out: "):
        assert words in text, words
    # The comparison would notice a floor that dropped any one rule: each one changes the product's rows.
    for i in range(len(q.policy.record_rules)):
        fewer = q.policy.record_rules[:i] + q.policy.record_rules[i + 1:]
        without, _ = _product(db, cycle, dataclasses.replace(q, policy=dataclasses.replace(q.policy,
                                                                                             record_rules=fewer)))
        assert not without.questions.equals(product.questions), i


def test_the_record_floor_follows_other_rule_parameters(org):
    """Explicit tiers, no window, a cap above the evidence rule's, min_level at the cap, two rules on one
    question: the floor renders whatever q's policy says."""
    db, cycle = org
    q = _q11()
    rules = (RecordRule("TEST-02", "exercise_passed", (1, 2), 3, 3, 12, ("failover",)),
             RecordRule("TEST-02", "objectives_approved", "all", 4, 1, None),
             RecordRule("TEST-03", "exercise_passed", "all", 3, 2, 6, ("restore_test", "tabletop")),
             RecordRule("RISK-04", "postmortem_done", (3,), 2, 2, 24),
             RecordRule("TEST-07", "objectives_approved", "top_tier", 3, 1, 12))
    q = dataclasses.replace(q, policy=dataclasses.replace(q.policy, record_rules=rules))
    product, _ = _product(db, cycle, q)
    mine = floors.scoring_records(db, cycle, q)
    for name in KEYS:
        _assert_same(getattr(product, name), getattr(mine, name), name)
    text = _text(product)
    for words in ("the records do not bear it out either (3 at most)", "no service of recovery tier 1, 2",
                  "and 5 more have no restore test or tabletop result since", "capped at 1: "):
        assert words in text, words
