"""Deterministic synthetic organisations for the benchmark: S, M and L business units, 8 cycles each.

Everything is generated as numpy arrays and polars frames (no per-answer Python) and loaded set-based
through the same storage functions the demo uses, in one transaction:
catalog.insert_divisions / insert_units, campaigns.insert_campaign / create_assessments / load_states,
answers.append_events and scores.replace.

The organisation is a pure function of (questionnaire, size, today, seed):
- divisions of ~50 units; tiers 1/2/3 in proportions 20/35/45 %;
- 8 half-yearly cycles of the questionnaire: 7 closed (about 1.5 % of units skipped each, left in draft),
  and the latest one the morning after its deadline: still open, ~90 % submitted or approved, the rest
  drafts (some partly answered);
- answers: a per-unit base level, trend per cycle, per-domain offset and noise; N/A (with a reason) on
  about a quarter of the questions that allow it; dated evidence more often for units with a good
  "evidence habit", some of it stale (so the evidence rule caps levels); about 6 % of answers were revised
  once (an earlier, superseded event), so "current answer" logic has history to skip;
- plan reviews from 1 to 20 months old (some overdue, 3 % never reviewed).
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import polars as pl

from assessment import access, scoring
from assessment.catalog import register_questionnaire
from assessment.clock import now
from assessment.model import Actor, Questionnaire
from assessment.storage import Database, audit, campaigns, catalog
from assessment.storage import actions as action_store
from assessment.storage import answers as answer_store
from assessment.storage import scores as score_store
from assessment.storage.answers import EVENT_COLUMNS

from . import records as records_synth

SIZES = {"S": 20, "M": 500, "L": 5000}
CYCLES = 8
UNITS_PER_DIVISION = 50
SEED = 2026
SOURCE = "benchmark"
MANAGER = "continuity.manager"
ACTIONS_PER_UNIT = 20  # issue 15: 20 improvement actions per unit (100,000 at L)
_ACTION_STATUSES = ["open", "open", "in_progress", "in_progress", "done", "verified", "verified", "verified",
                    "risk_accepted", "open"]

_DIVISION_NAMES = ["Retail Banking", "Corporate Banking", "Markets", "Operations", "Technology",
                   "Group Functions", "Wealth Management", "Insurance", "Payments", "Risk & Compliance"]
_UNIT_AREAS = ["Payments", "Cards", "Branches", "Mortgages", "Trading", "Treasury", "Custody", "Lending",
               "Data Centre", "Network", "Service Desk", "Hosting", "HR", "Finance", "Legal", "Procurement",
               "Onboarding", "Collections", "Reporting", "Settlement"]

STATE_SCHEMA = {"campaign_id": pl.String, "unit_id": pl.String, "status": pl.String, "submitted_by": pl.String,
                "submitted_at": pl.Datetime("us"), "approved_by": pl.String, "approved_at": pl.Datetime("us")}


@dataclass(frozen=True)
class Org:
    size: str
    today: date
    divisions: pl.DataFrame
    units: pl.DataFrame
    campaigns: list[dict]
    states: pl.DataFrame       # one row per campaign x unit (STATE_SCHEMA)
    answers: pl.DataFrame      # the current answer events (EVENT_COLUMNS)
    revisions: pl.DataFrame    # earlier events that the answers superseded (EVENT_COLUMNS)
    timings: dict = field(default_factory=dict, compare=False)
    records: records_synth.Records | None = field(default=None, compare=False)  # services, exercises

    @property
    def campaign_ids(self) -> list[str]:
        return [c["campaign_id"] for c in self.campaigns]

    @property
    def latest(self) -> str:
        """The latest campaign: the morning after its deadline, still open."""
        return self.campaigns[-1]["campaign_id"]

    @property
    def last_closed(self) -> str:
        """The last closed campaign: every unit that took part is scored (the heaviest to re-score)."""
        return self.campaigns[-2]["campaign_id"]


def unit_count(size: str) -> int:
    if size in SIZES:
        return SIZES[size]
    if size.isdigit() and int(size) > 0:
        return int(size)
    raise ValueError(f"unknown size {size!r}: use {', '.join(SIZES)} or a number of units")


def _months_back(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 - months, 12)
    return date(y, m + 1, min(d.day, 28))


def campaign_schedule(today: date, cycles: int = CYCLES) -> list[dict]:
    """Half-yearly cycles; the last opened 40 days ago and was due yesterday (still open 14 more days)."""
    last_open = today - timedelta(days=40)
    out = []
    for i in range(cycles):
        back = cycles - 1 - i
        opens = last_open if back == 0 else _months_back(last_open, 6 * back)
        due = today - timedelta(days=1) if back == 0 else opens + timedelta(days=38)
        closes = today + timedelta(days=14) if back == 0 else opens + timedelta(days=52)
        half = "H1" if opens.month <= 6 else "H2"
        out.append({"campaign_id": f"{opens.year}-{half}", "name": f"ITSCM self-assessment {opens.year} {half}",
                    "opens_on": opens, "due_on": due, "closes_on": closes,
                    "status": "open" if back == 0 else "closed"})
    return out


def generate(q: Questionnaire, size: str, today: date, seed: int = SEED) -> Org:
    """Pure and deterministic for a given questionnaire, size, date and seed (and numpy version)."""
    t0 = _time.perf_counter()
    n = unit_count(size)
    rng = np.random.default_rng(seed)
    n_div = max(2, round(n / UNITS_PER_DIVISION))
    div_ids = [f"DIV{j + 1:03d}" for j in range(n_div)]
    divisions = pl.DataFrame({
        "division_id": div_ids,
        "name": [f"{_DIVISION_NAMES[j % len(_DIVISION_NAMES)]} {j // len(_DIVISION_NAMES) + 1}" for j in range(n_div)],
    })

    # --- units -------------------------------------------------------------------------------------------
    unit_ids = [f"BU{i + 1:05d}" for i in range(n)]
    div_of = (np.arange(n) * n_div) // n
    tier = rng.choice(np.array([1, 2, 3]), size=n, p=[0.20, 0.35, 0.45])
    review_age = rng.integers(1, 21, size=n)                    # months since the last plan review
    never = rng.random(n) < 0.03
    interval = np.where(rng.random(n) < 0.1, 6, 12)
    reviewed = [None if never[i] else _months_back(today, int(review_age[i])) for i in range(n)]
    heads = [f"head.{u.lower()}" for u in unit_ids]
    units = pl.DataFrame({
        "unit_id": unit_ids,
        "division_id": [div_ids[j] for j in div_of],
        "name": [f"{_UNIT_AREAS[i % len(_UNIT_AREAS)]} {i + 1:05d}" for i in range(n)],
        "tier": tier.astype(np.int64),
        "head": heads,
        "plan_last_reviewed": pl.Series(reviewed, dtype=pl.Date),
        "review_interval_months": interval.astype(np.int64),
        "active": np.ones(n, dtype=bool),
    })

    # --- campaigns and workflow states (arrays: cycle x unit) -------------------------------------------------
    camps = campaign_schedule(today)
    C = len(camps)
    opens = np.array([np.datetime64(c["opens_on"], "D") for c in camps])
    roll = rng.random((C, n))
    share = np.ones((C, n))
    status = np.full((C, n), "approved", dtype=object)
    closed = np.arange(C) < C - 1
    skipped = closed[:, None] & (roll < 0.015)
    share[skipped] = 0.0
    status[skipped] = "draft"
    last = C - 1
    lr = roll[last]
    status[last] = np.select([lr < 0.85, lr < 0.90, lr < 0.97], ["submitted", "approved", "draft"], "draft")
    share[last] = np.select([lr < 0.90, lr < 0.97], [1.0, 0.0], 0.0)
    partial = (lr >= 0.90) & (lr < 0.97)
    share[last, partial] = rng.uniform(0.3, 0.9, size=int(partial.sum()))
    sub_day = np.where(np.arange(C)[:, None] == last, rng.integers(3, 38, size=(C, n)),
                       rng.integers(5, 36, size=(C, n)))
    submitted_at = (opens[:, None] + sub_day).astype("datetime64[us]") + np.timedelta64(10 * 60 + 30, "m")
    drafted_at = (opens[:, None] + 10).astype("datetime64[us]") + np.timedelta64(9 * 60, "m")
    is_sub = status != "draft"
    answered_at = np.where(is_sub, submitted_at, drafted_at)
    cids = [c["campaign_id"] for c in camps]
    flat_sub = is_sub.ravel()
    flat_appr = (status == "approved").ravel()
    sub_at = submitted_at.ravel()
    states = pl.DataFrame({
        "campaign_id": pl.Series(cids, dtype=pl.String).gather(np.repeat(np.arange(C), n)),
        "unit_id": pl.Series(unit_ids * C, dtype=pl.String),
        "status": pl.Series(status.ravel().tolist(), dtype=pl.String),
        "head": pl.Series(heads * C, dtype=pl.String),
        "sub": flat_sub, "appr": flat_appr, "at": sub_at,
    }).select(
        "campaign_id", "unit_id", "status",
        pl.when("sub").then(pl.col("head")).alias("submitted_by"),
        pl.when("sub").then(pl.col("at")).cast(pl.Datetime("us")).alias("submitted_at"),
        pl.when("appr").then(pl.lit(MANAGER)).alias("approved_by"),
        pl.when("appr").then(pl.col("at") + pl.duration(days=4)).cast(pl.Datetime("us")).alias("approved_at"),
    )

    # --- answers (arrays: cycle x unit x question) -------------------------------------------------------------
    questions = q.questions
    Q = len(questions)
    qids = [x.id for x in questions]
    dom_index = {d.id: i for i, d in enumerate(q.domains)}
    q_dom = np.array([dom_index[x.domain_id] for x in questions])
    na_allowed = np.array([x.na_allowed for x in questions])
    base = rng.uniform(1.5, 3.8, size=n) + (3 - tier) * 0.25
    trend = rng.normal(0.08, 0.12, size=n)
    habit = rng.uniform(0.2, 1.0, size=n)
    offset = rng.integers(-5, 6, size=(n, len(q.domains))) / 6
    na_unit = (rng.random((n, Q)) < 0.25) & na_allowed[None, :]
    noise = rng.normal(0.0, 0.6, size=(C, n, Q))
    mean = base[None, :, None] + trend[None, :, None] * np.arange(C)[:, None, None] + offset[:, q_dom][None] + noise
    level = np.clip(np.rint(mean), 0, 5).astype(np.int64)
    answered = rng.random((C, n, Q)) < share[:, :, None]
    is_na = np.broadcast_to(na_unit[None], (C, n, Q))
    has_ev = (level >= 2) & (rng.random((C, n, Q)) < (0.4 + 0.6 * habit)[None, :, None])
    stale = rng.random((C, n, Q)) < (0.3 * (1 - habit) + 0.03)[None, :, None]
    age = np.where(stale, rng.integers(400, 701, size=(C, n, Q)), rng.integers(20, 301, size=(C, n, Q)))
    revised = answered & ~is_na & (rng.random((C, n, Q)) < 0.06)

    ci, ui, qi = np.nonzero(answered)
    cu = ci * n + ui
    at = answered_at.ravel()[cu]
    na = is_na[ci, ui, qi]
    ev = has_ev[ci, ui, qi] & ~na
    ev_date = (at.astype("datetime64[D]") - age[ci, ui, qi]).astype("datetime64[D]")
    lvl = level[ci, ui, qi]
    rev = revised[ci, ui, qi]
    idx = pl.DataFrame({"c": ci.astype(np.int32), "u": ui.astype(np.int32), "q": qi.astype(np.int32),
                        "level": lvl, "is_na": na, "ev": ev, "evidence_date": ev_date, "answered_at": at,
                        "rev": rev})
    answers = _events(idx, cids, unit_ids, heads, qids)
    prior = idx.filter(pl.col("rev")).with_columns(
        (pl.col("level") - 1).clip(lower_bound=0), pl.lit(False).alias("ev"),
        pl.col("answered_at") - pl.duration(days=3))
    revisions = _events(prior, cids, unit_ids, heads, qids)
    recs = records_synth.generate(unit_ids, today, seed, since=camps[0]["opens_on"] - timedelta(days=30))
    timings = {"generate_s": _time.perf_counter() - t0}
    return Org(size, today, divisions, units, camps, states, answers, revisions, timings, recs)


def _events(idx: pl.DataFrame, cids: list[str], unit_ids: list[str], heads: list[str],
            qids: list[str]) -> pl.DataFrame:
    """Answer events (EVENT_COLUMNS) from index columns c/u/q plus level, is_na, ev, evidence_date, answered_at."""
    cid = pl.Series(cids, dtype=pl.String).gather(idx["c"])
    uid = pl.Series(unit_ids, dtype=pl.String).gather(idx["u"])
    head = pl.Series(heads, dtype=pl.String).gather(idx["u"])
    qid = pl.Series(qids, dtype=pl.String).gather(idx["q"])
    df = idx.with_columns(campaign_id=cid, unit_id=uid, question_id=qid, answered_by=head)
    ev = pl.col("ev")
    return df.select(
        "campaign_id", "unit_id", "question_id",
        pl.when(pl.col("is_na")).then(None).otherwise(pl.col("level")).cast(pl.Int64).alias("level"),
        pl.col("is_na"),
        pl.when(pl.col("is_na")).then(pl.lit("Not applicable: the unit has no such service"))
        .otherwise(None).alias("na_reason"),
        pl.when(ev).then(pl.concat_str(pl.col("question_id"), pl.lit(" evidence pack, "), pl.col("unit_id")))
        .otherwise(None).alias("evidence"),
        pl.when(ev).then(pl.concat_str(pl.lit("https://intranet.example/itscm/"), pl.col("unit_id"), pl.lit("/"),
                                       pl.col("question_id")))
        .otherwise(None).alias("evidence_url"),
        pl.when(ev).then(pl.col("evidence_date")).otherwise(None).cast(pl.Date).alias("evidence_date"),
        pl.lit(None, dtype=pl.String).alias("comment"),
        "answered_by",
        pl.col("answered_at").cast(pl.Datetime("us")),
        pl.lit(SOURCE).alias("source"),
    ).select(EVENT_COLUMNS)


def actions(units: pl.DataFrame, today: date, per_unit: int = ACTIONS_PER_UNIT
            ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(actions, action_questions, action_events) for every unit, set-based: created up to a year ago, due
    from six months ago to six months ahead, statuses cycling through every state (risk acceptances expire
    within a year)."""
    n = units.height * per_unit
    i = pl.int_range(0, n, eager=True)
    base = pl.DataFrame({"i": i}).with_columns(
        pl.col("i").floordiv(per_unit).alias("u"), (pl.col("i") % len(_ACTION_STATUSES)).alias("s"))
    unit_ids = units["unit_id"]
    created = pl.lit(datetime.combine(today, time(9))) - pl.duration(days=(pl.col("i") * 37) % 365)
    due = pl.lit(today) + pl.duration(days=(pl.col("i") * 53) % 365 - 180)
    status = pl.col("s").replace_strict(dict(enumerate(_ACTION_STATUSES)), return_dtype=pl.String)
    closed = status.is_in(["verified", "risk_accepted"])
    df = base.with_columns(
        pl.format("ACT-{}", (pl.col("i") + 1).cast(pl.String).str.zfill(6)).alias("action_id"),
        pl.lit(unit_ids).gather(pl.col("u")).alias("unit_id"),
        status.alias("status"), created.alias("created_at"), due.cast(pl.Date).alias("due_on"))
    schema = action_store.ACTION_SCHEMA
    rows = df.select(
        "action_id", pl.lit(1).alias("revision"), pl.lit("gap").alias("source"),
        pl.lit(None, dtype=pl.String).alias("source_ref"), pl.lit(None, dtype=pl.String).alias("campaign_id"),
        "unit_id", pl.lit(None, dtype=pl.String).alias("service_id"),
        pl.format("Close the gap on Q{}", pl.col("i") % 40).alias("title"),
        pl.lit(None, dtype=pl.String).alias("description"), pl.lit(MANAGER).alias("owner"), "due_on",
        (pl.col("i") % 7).cast(pl.Float64).alias("priority"), "status",
        pl.when(pl.col("status") == "risk_accepted").then(pl.lit("accepted")).alias("risk_reason"),
        pl.when(pl.col("status") == "risk_accepted").then(pl.lit("CIO")).alias("risk_approver"),
        pl.when(pl.col("status") == "risk_accepted").then(pl.col("due_on") + pl.duration(days=200))
        .alias("risk_expires_on"),
        pl.lit(None, dtype=pl.String).alias("evidence_text"), pl.lit(None, dtype=pl.String).alias("evidence_url"),
        pl.lit(None, dtype=pl.Date).alias("evidence_date"),
        pl.when(pl.col("status") == "verified").then(pl.lit(MANAGER)).alias("verified_by"),
        pl.when(pl.col("status") == "verified").then(pl.col("created_at").cast(pl.Date) + pl.duration(days=30))
        .alias("verified_on"),
        pl.when(closed).then(pl.col("created_at").cast(pl.Date) + pl.duration(days=30)).alias("closed_on"),
        "created_at", pl.lit(MANAGER).alias("created_by"), pl.col("created_at").alias("updated_at"),
        pl.lit(MANAGER).alias("updated_by")).cast(schema)
    questions = df.select("action_id", pl.format("Q{}", pl.col("i") % 40).alias("question_id"))
    events = rows.select("action_id", pl.lit(1, dtype=pl.Int64).alias("revision"), "status",
                         pl.col("created_at").alias("changed_at"), pl.col("created_by").alias("changed_by"),
                         pl.lit(None, dtype=pl.String).alias("note"))
    return rows, questions, events


def load(db: Database, q: Questionnaire, org: Org, actor: Actor | None = None) -> dict[str, float]:
    """Insert the organisation into an empty database in one transaction, scores included.

    Returns the seconds spent in each phase (inserts, scoring, persisting scores).
    """
    actor = actor or access.SYSTEM.with_source(SOURCE)
    register_questionnaire(db, actor, q)
    phases: dict[str, float] = {"organisation_s": 0.0, "answers_s": 0.0, "records_s": 0.0, "scoring_s": 0.0,
                                "scores_s": 0.0}

    def tick(key: str, since: float) -> float:
        t = _time.perf_counter()
        phases[key] += t - since
        return t

    def work(cur) -> None:
        for k in phases:
            phases[k] = 0.0
        t = _time.perf_counter()
        if catalog.count_rows(cur, "business_units"):
            raise RuntimeError("the database already has business units; load into an empty one")
        catalog.insert_divisions(cur, org.divisions)
        catalog.insert_units(cur, org.units)
        unit_ids = org.units["unit_id"].to_list()
        prev = None
        for c in org.campaigns:
            cid = c["campaign_id"]
            created = datetime.combine(c["opens_on"], time(8))
            campaigns.insert_campaign(cur, cid, c["name"], q.id, q.version, c["opens_on"], c["due_on"],
                                      c["closes_on"], c["status"], prev, created, actor.username)
            campaigns.create_assessments(cur, cid, unit_ids, created)
            campaigns.load_states(cur, cid, org.states.filter(pl.col("campaign_id") == cid).drop("campaign_id"))
            prev = cid
        t = tick("organisation_s", t)
        # Superseded events first, so every current answer has the higher event id.
        answer_store.append_events(cur, org.revisions)
        answer_store.append_events(cur, org.answers)
        t = tick("answers_s", t)
        if org.records is not None:
            records_synth.insert(cur, org.records)
            t = tick("records_s", t)
        units = org.units.select("unit_id", "division_id", "tier")
        for c in org.campaigns:
            cid = c["campaign_id"]
            done = org.states.filter((pl.col("campaign_id") == cid) & pl.col("status").is_in(["submitted",
                                                                                              "approved"]))
            if done.height == 0:
                continue
            scored = done.join(units, on="unit_id").select(
                "unit_id", "division_id", "tier", pl.col("submitted_at").cast(pl.Date).alias("as_of"))
            s = scoring.score(q, org.answers.filter(pl.col("campaign_id") == cid), scored)
            t = tick("scoring_s", t)
            score_store.replace(cur, cid, scored["unit_id"].to_list(), s.questions, s.domains, s.units, now())
            t = tick("scores_s", t)
        action_store.insert(cur, *actions(org.units, org.today))
        t = tick("organisation_s", t)
        audit.append(cur, actor.username, actor.source, "benchmark.load", "organisation", f"benchmark-{org.size}",
                     after={"units": len(unit_ids), "campaigns": len(org.campaigns),
                            "answers": org.answers.height + org.revisions.height})

    t0 = _time.perf_counter()
    db.transaction(work)
    phases["total_s"] = _time.perf_counter() - t0
    return phases
