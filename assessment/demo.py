"""Deterministic demo organisation: divisions, units across tiers, past cycles with believable trends, and
the continuity records (demo_records) that the open cycle's record rules check answers against.

The closed cycles use questionnaire 1.0.0; the open cycle moves to 1.1.0, created from the previous cycle as a
continuity manager would (campaigns.create_in), so its 47 questions and record rules apply to it."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import polars as pl

from . import audit, campaigns, clock, demo_actions, demo_records, scoring
from .catalog import register_questionnaire
from .clock import now
from .model import SCORED, Actor, Questionnaire
from .questionnaire import SHIPPED_QUESTIONNAIRES, load_file
from .storage import Database
from .storage import actions as actions_sql
from .storage import answers as answers_sql
from .storage import campaigns as campaigns_sql
from .storage import catalog as catalog_sql
from .storage import exercises as exercises_sql
from .storage import incidents as incidents_sql
from .storage import recovery as recovery_sql
from .storage import scores as scores_sql
from .storage import services as services_sql

DIVISIONS = [
    ("RET", "Retail Banking"),
    ("CMK", "Corporate & Markets"),
    ("OPT", "Operations & Technology"),
    ("GRP", "Group Functions"),
]
# unit id, division, name, tier, head, profile: (base level, change per cycle, evidence habit 0-1)
UNITS = [
    ("RET-PAY", "RET", "Payments", 1, "Amira Haddad", (2.6, 0.35, 0.9)),
    ("RET-CARD", "RET", "Cards", 1, "Jonas Berg", (3.2, 0.05, 0.8)),
    ("RET-BR", "RET", "Branch Network", 2, "Lucía Ortega", (2.2, 0.25, 0.6)),
    ("RET-MORT", "RET", "Mortgages", 3, "Tom Okafor", (1.8, 0.0, 0.3)),
    ("CMK-TRD", "CMK", "Trading", 1, "Mei Lin", (3.6, -0.3, 0.7)),
    ("CMK-TRS", "CMK", "Treasury", 1, "Pieter de Vries", (3.0, 0.2, 0.9)),
    ("CMK-CB", "CMK", "Corporate Banking", 2, "Sara Nilsson", (2.4, 0.1, 0.5)),
    ("CMK-CUS", "CMK", "Custody", 2, "Omar Farouk", (2.9, -0.2, 0.6)),
    ("OPT-DC", "OPT", "Data Centre Operations", 1, "Grace Mensah", (3.3, 0.3, 1.0)),
    ("OPT-NET", "OPT", "Network Services", 1, "Ivan Petrov", (2.8, 0.15, 0.8)),
    ("OPT-SD", "OPT", "Service Desk", 2, "Hannah Weber", (2.5, 0.3, 0.7)),
    ("OPT-APP", "OPT", "Application Hosting", 1, "Ravi Kumar", (2.1, 0.4, 0.6)),
    ("GRP-HR", "GRP", "Human Resources", 3, "Chloé Martin", (1.6, 0.2, 0.4)),
    ("GRP-FIN", "GRP", "Finance", 2, "David Cohen", (2.7, -0.25, 0.5)),
    ("GRP-LEG", "GRP", "Legal & Compliance", 3, "Aisha Bello", (2.0, 0.0, 0.2)),
    ("GRP-PROC", "GRP", "Procurement & Vendors", 3, "Lukas Novak", (1.4, 0.3, 0.5)),
]
# Units that skipped the last closed cycle, so "what changed" shows them as not re-assessed.
SKIPPED_LAST_CLOSED = {"GRP-LEG", "CMK-CB"}
# Plan reviews: months since last review (12-month interval unless noted); None = never reviewed.
REVIEW_AGE_MONTHS = {"RET-MORT": 17, "CMK-TRD": 14, "GRP-PROC": 20, "GRP-LEG": None, "OPT-SD": 11,
                     "CMK-CUS": 13}
CYCLES = 5  # four closed, one open
OPEN_CYCLE_QUESTIONNAIRE = SHIPPED_QUESTIONNAIRES[-1]
MANAGER = "continuity.manager"
# Open-cycle states the pages and the story rely on (the others come from the generator): Payments is an empty
# draft and Corporate Banking a partly answered one (the heads' forms in the tests); the story units have
# submitted.
OPEN_CYCLE_STATES = {"RET-PAY": ("draft", 0.0), "CMK-CB": ("draft", 0.5), "RET-CARD": ("submitted", 1.0),
                     "CMK-TRD": ("submitted", 1.0), "RET-MORT": ("submitted", 1.0), "OPT-DC": ("submitted", 1.0)}
# What the story units claim in the open cycle, with fresh evidence, so only the record rules can cap them
# (see demo_records for what the records say).
STORY_ANSWERS = {("RET-CARD", "TEST-02"): 4, ("RET-CARD", "TEST-07"): 3, ("CMK-TRD", "TEST-02"): 4,
                 ("RET-MORT", "RISK-04"): 3, ("OPT-DC", "TEST-03"): 4}


@dataclass(frozen=True)
class DemoData:
    divisions: pl.DataFrame
    units: pl.DataFrame
    campaigns: list[dict]
    answers: pl.DataFrame          # every answer event of every campaign
    states: pl.DataFrame           # campaign_id, unit_id, status, submitted/approved by and at
    records: demo_records.DemoRecords
    open_questionnaire: Questionnaire


def _months_ago(today: date, months: int, day: int = 1) -> date:
    y, m = divmod(today.year * 12 + today.month - 1 - months, 12)
    return date(y, m + 1, min(day, 28))


def generate(q: Questionnaire, today: date, seed: int = 7, open_q: Questionnaire | None = None) -> DemoData:
    """Pure and deterministic for given questionnaires (closed cycles, open cycle), date and seed."""
    open_q = open_q or load_file(OPEN_CYCLE_QUESTIONNAIRE)
    rng = random.Random(seed)
    divisions = pl.DataFrame({"division_id": [d[0] for d in DIVISIONS], "name": [d[1] for d in DIVISIONS]})
    units = pl.DataFrame([
        {"unit_id": u, "division_id": d, "name": n, "tier": t, "head": h,
         "plan_last_reviewed": _review_date(today, u), "review_interval_months": 12, "active": True}
        for u, d, n, t, h, _ in UNITS
    ])
    camps = _campaigns(today)
    rows, states = [], []
    for ci, c in enumerate(camps):
        cq = open_q if c["status"] == "open" else q
        for u, _, _, _, head, profile in UNITS:
            st = _state(rng, ci, u, c, today)
            if c["status"] == "open" and u in OPEN_CYCLE_STATES:
                st = _forced(st, *OPEN_CYCLE_STATES[u], c, today)
            if st["submitted_at"] is not None:
                st["submitted_by"] = username_for(head)
            states.append({"campaign_id": c["campaign_id"], "unit_id": u, **st})
            rows.extend(_answers(rng, cq, c, ci, u, head, profile, st))
    answers = pl.DataFrame(rows, schema={
        "campaign_id": pl.String, "unit_id": pl.String, "question_id": pl.String, "level": pl.Int64,
        "is_na": pl.Boolean, "na_reason": pl.String, "evidence": pl.String, "evidence_url": pl.String,
        "evidence_date": pl.Date, "comment": pl.String, "answered_by": pl.String,
        "answered_at": pl.Datetime("us"), "source": pl.String})
    records = demo_records.generate(today, {u: username_for(h) for u, _, _, _, h, _ in UNITS}, MANAGER)
    return DemoData(divisions, units, camps, answers, pl.DataFrame(states, schema={
        "campaign_id": pl.String, "unit_id": pl.String, "status": pl.String, "submitted_by": pl.String,
        "submitted_at": pl.Datetime("us"), "approved_by": pl.String, "approved_at": pl.Datetime("us"),
        "answered_share": pl.Float64}), records, open_q)


def _forced(st: dict, status: str, share: float, c: dict, today: date) -> dict:
    """An open-cycle state set by OPEN_CYCLE_STATES (the generator's draws are still made, so the other
    units keep theirs)."""
    if status == "draft":
        return {**st, "status": "draft", "submitted_at": None, "answered_share": share}
    latest = max(5, min(35, (today - c["opens_on"]).days - 1))
    at = st["submitted_at"] or datetime.combine(c["opens_on"] + timedelta(days=min(5, latest)), time(10, 30))
    return {**st, "status": "submitted", "submitted_at": at, "answered_share": 1.0}


def _review_date(today: date, unit_id: str) -> date | None:
    if unit_id in REVIEW_AGE_MONTHS:
        age = REVIEW_AGE_MONTHS[unit_id]
        return None if age is None else _months_ago(today, age, 10)
    return _months_ago(today, 2 + (sum(map(ord, unit_id)) % 8), 15)


def _campaigns(today: date) -> list[dict]:
    out = []
    for i in range(CYCLES):
        months_back = 6 * (CYCLES - 1 - i)
        opens = _months_ago(today, months_back, 1) if i < CYCLES - 1 else today - timedelta(days=20)
        due = opens + timedelta(days=38)
        closes = opens + timedelta(days=50)
        half = "H1" if opens.month <= 6 else "H2"
        out.append({
            "campaign_id": f"{opens.year}-{half}", "name": f"ITSCM self-assessment {opens.year} {half}",
            "opens_on": opens, "due_on": due, "closes_on": closes,
            "status": "open" if i == CYCLES - 1 else "closed",
        })
    return out


def _state(rng: random.Random, ci: int, unit_id: str, c: dict, today: date) -> dict:
    last = ci == CYCLES - 1
    if ci == CYCLES - 2 and unit_id in SKIPPED_LAST_CLOSED:
        return {"status": "draft", "submitted_by": None, "submitted_at": None, "approved_by": None,
                "approved_at": None, "answered_share": 0.0}
    latest = max(5, min(35, (today - c["opens_on"]).days - 1))  # never after the generation date
    submitted = datetime.combine(c["opens_on"] + timedelta(days=rng.randint(min(5, latest), latest)), time(10, 30))
    if last:
        roll = rng.random()
        if roll < 0.55:
            return {"status": "submitted", "submitted_by": None, "submitted_at": submitted, "approved_by": None,
                    "approved_at": None, "answered_share": 1.0}
        share = 0.0 if roll > 0.85 else rng.uniform(0.3, 0.8)
        return {"status": "draft", "submitted_by": None, "submitted_at": None, "approved_by": None,
                "approved_at": None, "answered_share": share}
    return {"status": "approved", "submitted_by": None, "submitted_at": submitted, "approved_by": "continuity.manager",
            "approved_at": submitted + timedelta(days=4), "answered_share": 1.0}


def _answers(rng: random.Random, q: Questionnaire, c: dict, ci: int, unit_id: str, head: str,
             profile: tuple[float, float, float], st: dict) -> list[dict]:
    base, trend, habit = profile
    when = st["submitted_at"] or datetime.combine(c["opens_on"] + timedelta(days=10), time(9, 0))
    author = username_for(head)
    rows = []
    for d in q.domains:
        offset = ((hash_str(unit_id + d.id) % 11) - 5) / 6
        for x in d.questions:
            if rng.random() >= st["answered_share"]:
                continue
            if x.na_allowed and hash_str(unit_id + x.id) % 4 == 0:
                rows.append(_row(c, unit_id, x.id, None, True, "Not applicable: the unit has no such service",
                                 None, None, author, when))
                continue
            mean = base + trend * ci + offset + rng.gauss(0, 0.6)
            level = max(0, min(5, round(mean)))
            ev = ev_date = None
            if level >= 2 and rng.random() < 0.4 + 0.6 * habit:
                ev = f"{x.id} evidence pack, {unit_id}"
                stale = rng.random() < 0.3 * (1 - habit) + 0.03
                age_days = rng.randint(400, 700) if stale else rng.randint(20, 300)
                ev_date = when.date() - timedelta(days=age_days)
            if c["status"] == "open" and (unit_id, x.id) in STORY_ANSWERS:
                level = STORY_ANSWERS[(unit_id, x.id)]
                ev, ev_date = f"{x.id} evidence pack, {unit_id}", when.date() - timedelta(days=30)
            rows.append(_row(c, unit_id, x.id, level, False, None, ev, ev_date, author, when))
    return rows


def _row(c, unit_id, qid, level, is_na, reason, ev, ev_date, author, when) -> dict:
    return {"campaign_id": c["campaign_id"], "unit_id": unit_id, "question_id": qid, "level": level,
            "is_na": is_na, "na_reason": reason, "evidence": ev,
            "evidence_url": f"https://intranet.example/itscm/{unit_id}/{qid}" if ev else None,
            "evidence_date": ev_date, "comment": None, "answered_by": author, "answered_at": when,
            "source": "demo"}


def username_for(name: str) -> str:
    """Demo user name of a person: ASCII, lower case, dots for spaces."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().replace(" ", ".")


def hash_str(s: str) -> int:
    """A stable string hash (Python's hash() is salted per process)."""
    h = 0
    for ch in s:
        h = (h * 131 + ord(ch)) % 1_000_003
    return h


def load(db: Database, actor: Actor, q: Questionnaire, today: date | None = None, seed: int = 7,
         open_q: Questionnaire | None = None) -> DemoData:
    """Insert the demo organisation into an empty database in one transaction, records and scores included.
    `q` is the closed cycles' questionnaire; the open cycle uses `open_q` (default: 1.1.0)."""
    day = today or clock.today()
    data = generate(q, day, seed, open_q)
    register_questionnaire(db, actor, q)
    register_questionnaire(db, actor, data.open_questionnaire)

    def work(cur) -> None:
        if catalog_sql.count_rows(cur, "business_units"):
            raise RuntimeError("the database already has business units; the demo loads only into an empty one")
        catalog_sql.insert_divisions(cur, data.divisions)
        catalog_sql.insert_units(cur, data.units)
        _insert_records(cur, data.records)
        unit_ids = data.units["unit_id"].to_list()
        for c in data.campaigns:
            cid = c["campaign_id"]
            camp_states = data.states.filter(pl.col("campaign_id") == cid)
            cq = data.open_questionnaire if c["status"] == "open" else q
            if c["status"] == "open":  # as a continuity manager: from the previous cycle, with the newer version
                campaigns.create_in(cur, actor, cid, c["name"], cq, c["opens_on"], c["due_on"], c["closes_on"],
                                    unit_ids, _prev(data.campaigns, cid), status="open")
            else:
                campaigns_sql.insert_campaign(cur, cid, c["name"], cq.id, cq.version, c["opens_on"], c["due_on"],
                                              c["closes_on"], c["status"], _prev(data.campaigns, cid),
                                              datetime.combine(c["opens_on"], time(8)), actor.username)
                campaigns_sql.create_assessments(cur, cid, unit_ids, datetime.combine(c["opens_on"], time(8)))
            campaigns_sql.load_states(cur, cid, camp_states.drop("campaign_id", "answered_share"))
            answers_sql.append_events(cur, data.answers.filter(pl.col("campaign_id") == cid))
            _score(cur, cq, cid, camp_states, data)
        actions_sql.insert(cur, *demo_actions.generate(day, {u: username_for(h) for u, _, _, _, h, _ in UNITS},
                                                       MANAGER, data.campaigns[-2]["campaign_id"]))
        r = data.records
        audit.record(cur, actor, "demo.load", "organisation", "demo",
                     after={"units": len(unit_ids), "campaigns": len(data.campaigns), "answers": data.answers.height,
                            "services": r.versions["service_id"].n_unique(), "exercises": r.exercises.height,
                            "incidents": r.incidents.height, "seed": seed})

    db.transaction(work)
    return data


def _insert_records(cur, r: demo_records.DemoRecords) -> None:
    services_sql.insert_register(cur, "supplier", r.suppliers)
    services_sql.insert_register(cur, "site", r.sites)
    services_sql.append_versions(cur, r.versions, pl.col("change"))
    services_sql.insert_current(cur, r.versions.sort("revision").group_by("service_id", maintain_order=True).last())
    services_sql.insert_dependencies(cur, r.dependencies)
    exercises_sql.insert(cur, r.exercises, r.results, r.exercise_suppliers)
    incidents_sql.insert(cur, r.incidents, r.incident_services)


def _prev(camps: list[dict], cid: str) -> str | None:
    ids = [c["campaign_id"] for c in camps]
    i = ids.index(cid)
    return ids[i - 1] if i else None


def _score(cur, q: Questionnaire, cid: str, states: pl.DataFrame, data: DemoData) -> None:
    done = states.filter(pl.col("status").is_in(list(SCORED)))
    if done.height == 0:
        return
    units = done.join(data.units, on="unit_id").select(
        "unit_id", "division_id", "tier", pl.col("submitted_at").cast(pl.Date).alias("as_of"))
    answers = data.answers.filter(pl.col("campaign_id") == cid)
    records = recovery_sql.facts(cur, units) if q.policy.record_rules else None
    s = scoring.score(q, answers, units, records=records)
    scores_sql.replace(cur, cid, done["unit_id"].to_list(), s.questions, s.domains, s.units, now())
