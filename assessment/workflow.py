"""Assessment lifecycle: save answers (with stale-write detection), submit, approve, return, re-score."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from . import access, audit, clock, scoring
from .catalog import campaign_questionnaire
from .clock import now
from .errors import IncompleteAssessment, InvalidState, NotFound, StaleWrite, ValidationError
from .model import APPROVED, EDITABLE, RETURNED, SCORED, SUBMITTED, Actor, Answer, Questionnaire, RecordFacts
from .storage import Database
from .storage import answers as answers_sql
from .storage import campaigns as campaigns_sql
from .storage import catalog as catalog_sql
from .storage import recovery as recovery_sql
from .storage import scores as scores_sql

COMPARED = ("level", "is_na", "na_reason", "evidence", "evidence_url", "evidence_date", "comment")


@dataclass(frozen=True)
class SaveResult:
    saved: int
    unchanged: int
    revision: int


def _context(cur, campaign_id: str, unit_id: str) -> tuple[dict, dict, dict]:
    c = campaigns_sql.campaign(cur, campaign_id)
    if c is None:
        raise NotFound(f"unknown campaign {campaign_id!r}")
    u = catalog_sql.unit(cur, unit_id)
    if u is None:
        raise NotFound(f"unknown business unit {unit_id!r}")
    a = campaigns_sql.assessment(cur, campaign_id, unit_id)
    if a is None:
        raise NotFound(f"unit {unit_id} is not part of campaign {campaign_id}")
    return c, u, a


def _records(cur, q: Questionnaire, units: pl.DataFrame) -> RecordFacts | None:
    """The units' continuity records as of their as_of dates, when the questionnaire has record rules."""
    return recovery_sql.facts(cur, units) if q.policy.record_rules else None


def validate_answers(q: Questionnaire, answers: list[Answer], today: date) -> list[str]:
    """Every problem with a batch of answers, each naming the question and field."""
    problems = []
    known = {x.id: x for x in q.questions}
    for a in answers:
        qn = known.get(a.question_id)
        if qn is None:
            problems.append(f"{a.question_id}: unknown question for {q.id}@{q.version}")
            continue
        if a.is_na:
            if not qn.na_allowed:
                problems.append(f"{a.question_id}.na: N/A is not allowed for this question")
            if q.policy.na_reason_required and not a.na_reason.strip():
                problems.append(f"{a.question_id}.na_reason: N/A needs a reason")
            if a.level is not None:
                problems.append(f"{a.question_id}.level: give either a level or N/A, not both")
        elif a.level is not None and not (isinstance(a.level, int) and 0 <= a.level <= 5):
            problems.append(f"{a.question_id}.level: must be a whole number from 0 to 5, got {a.level!r}")
        if a.evidence_date is not None and a.evidence_date > today:
            problems.append(f"{a.question_id}.evidence_date: {a.evidence_date} is in the future")
        if a.evidence_url and not a.evidence_url.lower().startswith(("http://", "https://", "file://", "\\\\")):
            problems.append(f"{a.question_id}.evidence_url: expected an http(s) link or a file path")
    ids = [a.question_id for a in answers]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"{dup}: answered more than once in the same save")
    return problems


def answers_frame(answers: list[Answer]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "question_id": [a.question_id for a in answers],
            "level": [None if a.is_na else a.level for a in answers],
            "is_na": [bool(a.is_na) for a in answers],
            "na_reason": [a.na_reason.strip() or None if a.is_na else None for a in answers],
            "evidence": [a.evidence.strip() or None for a in answers],
            "evidence_url": [a.evidence_url.strip() or None for a in answers],
            "evidence_date": [a.evidence_date for a in answers],
            "comment": [a.comment.strip() or None for a in answers],
        },
        schema={"question_id": pl.String, "level": pl.Int64, "is_na": pl.Boolean, "na_reason": pl.String,
                "evidence": pl.String, "evidence_url": pl.String, "evidence_date": pl.Date,
                "comment": pl.String},
    )


def changed_rows(new: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """Rows of new that differ from the current answer (a set comparison, no per-row Python)."""
    if current.height == 0:
        return new
    cur = current.select("question_id", *[pl.col(c).alias(f"{c}_cur") for c in COMPARED])
    cur = cur.with_columns(pl.col("evidence_date_cur").cast(pl.Date), pl.col("level_cur").cast(pl.Int64))
    joined = new.join(cur, on="question_id", how="left")
    same = pl.lit(True)
    for c in COMPARED:
        same = same & pl.col(c).eq_missing(pl.col(f"{c}_cur"))
    return joined.filter(~same).select(new.columns)


def save_answers(db: Database, actor: Actor, campaign_id: str, unit_id: str, answers: list[Answer],
                 base_events: dict[str, int | None] | None = None, today: date | None = None) -> SaveResult:
    """Append the answers that changed; refuse (StaleWrite) if a question changed since base_events."""
    access.require(actor, "answer", unit_id)
    q = campaign_questionnaire(db, campaign_id)
    problems = validate_answers(q, answers, today or clock.today())
    if problems:
        raise ValidationError(problems, f"answers for {unit_id} in {campaign_id}")
    new = answers_frame(answers)

    def work(cur) -> SaveResult:
        c, _, a = _context(cur, campaign_id, unit_id)
        _require_editable(c, a)
        current = answers_sql.current(cur, campaign_id, [unit_id])
        if base_events is not None:
            _check_stale(current, base_events, answers)
        changed = changed_rows(new, current)
        at = now()
        if changed.height:
            answers_sql.append_events(cur, changed.with_columns(
                pl.lit(campaign_id).alias("campaign_id"), pl.lit(unit_id).alias("unit_id"),
                pl.lit(actor.username).alias("answered_by"), pl.lit(at).alias("answered_at"),
                pl.lit(actor.source).alias("source")))
            campaigns_sql.touch_assessment(cur, campaign_id, unit_id, at)
            audit.record(cur, actor, "answers.save", "assessment", f"{campaign_id}/{unit_id}",
                         before=_snapshot(current, changed["question_id"]), after=changed.to_dicts())
        return SaveResult(changed.height, new.height - changed.height, a["revision"] + (1 if changed.height else 0))

    return db.transaction(work)


def _snapshot(current: pl.DataFrame, question_ids: pl.Series) -> list[dict]:
    if current.height == 0:
        return []
    cols = ["question_id", *COMPARED]
    return current.filter(pl.col("question_id").is_in(question_ids.implode())).select(cols).to_dicts()


def _check_stale(current: pl.DataFrame, base: dict[str, int | None], answers: list[Answer]) -> None:
    now_ids = dict(zip(current["question_id"].to_list(), current["event_id"].to_list())) if current.height else {}
    rows = {r["question_id"]: r for r in current.to_dicts()} if current.height else {}
    conflicts = []
    for a in answers:
        if a.question_id in base and now_ids.get(a.question_id) != base[a.question_id]:
            r = rows[a.question_id]
            shown = "N/A" if r["is_na"] else f"level {r['level']}"
            conflicts.append({"question_id": a.question_id, "by": r["answered_by"], "at": r["answered_at"],
                              "answer": shown})
    if conflicts:
        lines = [f"{c['question_id']} was changed to {c['answer']} by {c['by']} at {c['at']:%Y-%m-%d %H:%M} UTC"
                 for c in conflicts]
        raise StaleWrite("Someone else saved these answers after you opened the page: " + "; ".join(lines)
                         + ". Your input is kept: review their change, then save again.", conflicts)


def _require_editable(c: dict, a: dict) -> None:
    if c["status"] != "open":
        raise InvalidState(f"campaign {c['campaign_id']} is {c['status']}: answers can only change while it is open")
    if a["status"] not in EDITABLE:
        raise InvalidState(f"the assessment of {a['unit_id']} is {a['status']}: it is read-only until returned")


def current_answers(db: Database, actor: Actor, campaign_id: str, unit_id: str) -> pl.DataFrame:
    access.require(actor, "read", unit_id)
    with db.read() as cur:
        return answers_sql.current(cur, campaign_id, [unit_id])


def answer_history(db: Database, actor: Actor, campaign_id: str, unit_id: str) -> pl.DataFrame:
    access.require(actor, "read", unit_id)
    with db.read() as cur:
        return answers_sql.history(cur, campaign_id, unit_id)


def assessment(db: Database, actor: Actor, campaign_id: str, unit_id: str) -> dict:
    access.require(actor, "read", unit_id)
    with db.read() as cur:
        return _context(cur, campaign_id, unit_id)[2]


def preview(db: Database, actor: Actor, campaign_id: str, unit_id: str, as_of: date | None = None) -> scoring.Scores:
    """Score the current answers without persisting: what submitting now would give."""
    access.require(actor, "read", unit_id)
    q = campaign_questionnaire(db, campaign_id)
    with db.read() as cur:
        _, u, _ = _context(cur, campaign_id, unit_id)
        current = answers_sql.current(cur, campaign_id, [unit_id])
        units = pl.DataFrame([{"unit_id": unit_id, "division_id": u["division_id"], "tier": u["tier"],
                               "as_of": as_of or clock.today()}])
        records = _records(cur, q, units)
    return scoring.score(q, current, units, records=records)


def missing_questions(q: Questionnaire, current: pl.DataFrame) -> list[str]:
    answered = set()
    if current.height:
        answered = set(current.filter(pl.col("level").is_not_null() | pl.col("is_na"))["question_id"].to_list())
    return [x.id for x in q.questions if x.id not in answered]


def submit(db: Database, actor: Actor, campaign_id: str, unit_id: str, today: date | None = None) -> dict:
    """Submit a complete assessment: persist its scores (as of the submission date) and lock it."""
    access.require(actor, "submit", unit_id)
    q = campaign_questionnaire(db, campaign_id)
    as_of = today or clock.today()

    def work(cur) -> dict:
        c, u, a = _context(cur, campaign_id, unit_id)
        _require_editable(c, a)
        current = answers_sql.current(cur, campaign_id, [unit_id])
        missing = missing_questions(q, current)
        if missing:
            raise IncompleteAssessment(missing)
        units = pl.DataFrame([{"unit_id": unit_id, "division_id": u["division_id"], "tier": u["tier"],
                               "as_of": as_of}])
        s = scoring.score(q, current, units, records=_records(cur, q, units))
        at = now()
        scores_sql.replace(cur, campaign_id, [unit_id], s.questions, s.domains, s.units, at)
        campaigns_sql.set_assessment_status(cur, campaign_id, unit_id, SUBMITTED, at, actor.username)
        result = s.units.row(0, named=True)
        audit.record(cur, actor, "assessment.submit", "assessment", f"{campaign_id}/{unit_id}",
                     before={"status": a["status"]},
                     after={"status": SUBMITTED, "score": result["score"], "policy": result["policy"]})
        return result

    return db.transaction(work)


def approve(db: Database, actor: Actor, campaign_id: str, unit_id: str, comment: str = "") -> None:
    _review(db, actor, campaign_id, unit_id, APPROVED, comment)


def return_for_rework(db: Database, actor: Actor, campaign_id: str, unit_id: str, comment: str) -> None:
    if not comment.strip():
        raise ValidationError(["comment: say what must change before the assessment is returned"])
    _review(db, actor, campaign_id, unit_id, RETURNED, comment)


def _review(db: Database, actor: Actor, campaign_id: str, unit_id: str, status: str, comment: str) -> None:
    access.require(actor, "review", unit_id)

    def work(cur) -> None:
        _, _, a = _context(cur, campaign_id, unit_id)
        if a["status"] != SUBMITTED:
            raise InvalidState(f"only a submitted assessment can be {status}; {unit_id} is {a['status']}")
        at = now()
        campaigns_sql.set_assessment_status(cur, campaign_id, unit_id, status, at, actor.username, comment or None)
        if status == RETURNED:
            scores_sql.delete(cur, campaign_id, [unit_id])
        action = {APPROVED: "assessment.approve", RETURNED: "assessment.return"}[status]
        audit.record(cur, actor, action, "assessment", f"{campaign_id}/{unit_id}",
                     before={"status": a["status"]}, after={"status": status, "comment": comment or None})

    db.transaction(work)


def rescore_campaign(db: Database, actor: Actor, campaign_id: str) -> int:
    """Re-score every submitted or approved assessment of a campaign as of its submission date."""
    access.require(actor, "manage_campaigns")
    q = campaign_questionnaire(db, campaign_id)

    def work(cur) -> int:
        done = campaigns_sql.assessment_states(cur, campaign_id).filter(
            pl.col("status").is_in(list(SCORED)))
        if done.height == 0:
            return 0
        ids = done["unit_id"].to_list()
        # The whole campaign in one scan: scoring only joins the units it scores (a 5,000-value IN list
        # costs more than the rows it saves).
        current = answers_sql.current(cur, campaign_id)
        units = done.select("unit_id", "division_id", "tier",
                            pl.col("submitted_at").cast(pl.Date).alias("as_of"))
        s = scoring.score(q, current, units, records=_records(cur, q, units))
        scores_sql.replace(cur, campaign_id, ids, s.questions, s.domains, s.units, now())
        audit.record(cur, actor, "campaign.rescore", "campaign", campaign_id,
                     after={"units": len(ids), "policy": q.policy_label})
        return len(ids)

    return db.transaction(work)

