"""Assessment lifecycle: save answers (with stale-write detection), submit, approve, return, re-score."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import cast

import polars as pl

from . import access, answer_rules, audit, carry, clock, scoring, settings
from .catalog import campaign_questionnaire, questionnaire_in
from .clock import now
from .errors import IncompleteAssessment, InvalidState, NotFound, PermissionDenied, StaleWrite, ValidationError
from .model import APPROVED, RETURNED, SCORED, SUBMITTED, Actor, Answer, Questionnaire, RecordFacts, UnitScore
from .storage import Database
from .storage import answers as answers_sql
from .storage import campaigns as campaigns_sql
from .storage import catalog as catalog_sql
from .storage import recovery as recovery_sql
from .storage import scores as scores_sql


@dataclass(frozen=True)
class SaveResult:
    saved: int
    unchanged: int
    revision: int


@dataclass(frozen=True)
class _Context:
    """One unit's assessment in a campaign, read in one statement (campaigns_sql.assessment_context)."""

    campaign_id: str
    campaign_status: str
    q: Questionnaire
    unit_id: str
    status: str
    revision: int
    division_id: str
    tier: int
    submitted_by: str | None

    def refusal(self) -> str | None:
        """Why its answers cannot change now (answer_rules), or None."""
        return (answer_rules.campaign_refusal(self.campaign_id, self.campaign_status)
                or answer_rules.assessment_refusal(self.unit_id, self.status))


def _context(cur, campaign_id: str, unit_id: str, check: Callable[[Questionnaire], None] | None = None,
             row: dict | None = None) -> _Context:
    """The assessment, or NotFound naming what is unknown; `check` runs on the campaign's questionnaire before
    the unit is looked at (answers are validated before "not part of the campaign" is reported). `row`: the
    context as already read in this transaction (answers_sql.save_read)."""
    row = row or campaigns_sql.assessment_context(cur, campaign_id, unit_id)
    if row is None:
        raise NotFound(f"unknown campaign {campaign_id!r}")
    q = questionnaire_in(cur, row["questionnaire_id"], row["questionnaire_version"], row["content_hash"])
    if check is not None:
        check(q)
    if row["status"] is None:
        raise NotFound(f"unknown business unit {unit_id!r}" if catalog_sql.unit(cur, unit_id) is None
                       else f"unit {unit_id} is not part of campaign {campaign_id}")
    return _Context(campaign_id, row["campaign_status"], q, unit_id, row["status"], row["revision"],
                    row["division_id"], row["tier"], row["submitted_by"])


def _records(cur, q: Questionnaire, units: pl.DataFrame) -> RecordFacts | None:
    """The units' continuity records as of their as_of dates, when the questionnaire has record rules."""
    return recovery_sql.facts(cur, units) if q.policy.record_rules else None


def validation_messages(problems: list[answer_rules.Violation]) -> list[str]:
    """Answer-rule problems as the page and CLI show them: "GOV-01.evidence_date: ..." (question.field)."""
    shown = {"question_id": "", "is_na": ".na"}
    lines = [f"{p.question_id}{shown.get(p.field, '.' + p.field)}: {p.message()}" for p in problems]
    return list(dict.fromkeys(lines))


def save_answers(db: Database, actor: Actor, campaign_id: str, unit_id: str, answers: list[Answer],
                 base_events: dict[str, int | None] | None = None, today: date | None = None) -> SaveResult:
    """Check the answers (answer_rules), then append those that changed; refuse (StaleWrite) if a question
    changed since base_events.

    The path of every page save, so its cost does not grow with the organisation: one statement reads the
    campaign, questionnaire and assessment, the current answers of the questions given (by key) and the
    audit head; the writes are one insert of the events, the current-answer rows (updated in place where
    there is one), the assessment's revision and the audit entry.
    """
    access.require(actor, "answer", unit_id)
    batch = answer_rules.batch(answers)
    on = today or clock.today()

    def valid(q: Questionnaire) -> None:
        if problems := answer_rules.check(q, batch, today=on):
            raise ValidationError(validation_messages(problems), f"answers for {unit_id} in {campaign_id}")

    new = answer_rules.stored(batch).drop("row").to_dicts()
    ids = [r["question_id"] for r in new]

    def work(cur) -> SaveResult:
        read = answers_sql.save_read(cur, campaign_id, unit_id, ids)
        ctx = _context(cur, campaign_id, unit_id, valid, read.context)
        if refused := ctx.refusal():
            raise InvalidState(refused)
        current = read.current
        if base_events is not None:
            _check_stale(current, base_events, ids)
        changed = [r for r in new if not answer_rules.same_answer(r, current.get(r["question_id"]))]
        if changed:
            _append_changed(cur, actor, campaign_id, unit_id, changed, read)
        return SaveResult(len(changed), len(new) - len(changed), ctx.revision + (1 if changed else 0))

    return db.transaction(work)


def _append_changed(cur, actor: Actor, campaign_id: str, unit_id: str, changed: list[dict],
                    read: answers_sql.SaveRead) -> None:
    """Append one unit's changed answers (stored form, question_id + COMPARED), bump its revision, audit."""
    at = now()
    fields = ("question_id", *answer_rules.COMPARED)
    current = read.current
    answers_sql.append_rows(cur, [(campaign_id, unit_id, r["question_id"], *(r[c] for c in answer_rules.COMPARED),
                                   actor.username, at, actor.source) for r in changed],
                            replacing={(campaign_id, unit_id, q) for q in current})
    campaigns_sql.touch_assessments(cur, campaign_id, [unit_id], at)
    before = [{f: current[r["question_id"]][f] for f in fields} for r in changed if r["question_id"] in current]
    audit.record(cur, actor, "answers.save", "assessment", f"{campaign_id}/{unit_id}", before=before,
                 after=[{f: r[f] for f in fields} for r in changed], head=read.head)


@dataclass(frozen=True)
class Appended:
    saved: int                   # answer events appended
    unchanged: int               # rows left out: equal to the current answer
    revisions: dict[str, int]    # unit -> its assessment's revision afterwards


def append_answers(cur, actor: Actor, campaign_id: str, changes: pl.DataFrame, *, source: str,
                   base_events: dict[str, int | None] | None = None,
                   current: pl.DataFrame | None = None) -> Appended:
    """The one write path of answers (page, CLI, Excel import), inside the caller's transaction.

    `changes` are checked answers in the stored form (answer_rules.stored) with unit_id and question_id, for
    one unit or many. Requires the answer permission for every unit and editable assessments, refuses
    (StaleWrite) when a question in base_events (one unit only) changed meanwhile, appends only the rows that
    differ from the current answers, touches the assessments that changed and writes one "answers.save" audit
    entry per unit (before/after of its changed rows). Set-based: the same number of statements for one unit
    or a thousand, apart from the audit entries. `current` (the units' current answers, read in this
    transaction) saves reading them again.
    """
    units = sorted(set(changes["unit_id"].to_list()))
    for unit_id in units:
        access.require(actor, "answer", unit_id)
    if base_events is not None and len(units) != 1:
        raise ValueError("base_events is the form of one unit: append one unit at a time with it")
    c = campaigns_sql.campaign(cur, campaign_id)
    if c is None:
        raise NotFound(f"unknown campaign {campaign_id!r}")
    states = campaigns_sql.unit_states(cur, campaign_id, units)
    for unit_id in sorted(set(units) - set(states["unit_id"].to_list())):
        if catalog_sql.unit(cur, unit_id) is None:
            raise NotFound(f"unknown business unit {unit_id!r}")
        raise NotFound(f"unit {unit_id} is not part of campaign {campaign_id}")
    refused = answer_rules.not_editable(campaign_id, c["status"], states)
    if refused.height:
        raise InvalidState(refused["message"][0])
    if current is None:
        current = answers_sql.current(cur, campaign_id, units)
    if base_events is not None:
        _check_stale({r["question_id"]: r for r in current.to_dicts()}, base_events, changes["question_id"].to_list())
    keys = ("unit_id", "question_id")
    changed = answer_rules.changed_rows(changes.select(*keys, *answer_rules.COMPARED), current, on=keys)
    revisions = dict(zip(states["unit_id"].to_list(), states["revision"].to_list()))
    if changed.height:
        at = now()
        answers_sql.append_events(cur, changed.with_columns(
            pl.lit(campaign_id).alias("campaign_id"), pl.lit(actor.username).alias("answered_by"),
            pl.lit(at).alias("answered_at"), pl.lit(source).alias("source")))
        touched = sorted(set(changed["unit_id"].to_list()))
        campaigns_sql.touch_assessments(cur, campaign_id, touched, at)
        before = _before(current, changed)
        for (unit_id,), rows in sorted(changed.partition_by("unit_id", as_dict=True).items()):
            audit.record(cur, actor, "answers.save", "assessment", f"{campaign_id}/{unit_id}",
                         before=before.get(unit_id, []), after=rows.drop("unit_id").to_dicts())
            revisions[unit_id] += 1
    return Appended(changed.height, changes.height - changed.height, revisions)


def _before(current: pl.DataFrame, changed: pl.DataFrame) -> dict[str, list[dict]]:
    """Per unit, the current answers the changed rows replace (question_id and COMPARED columns)."""
    if current.height == 0:
        return {}
    keys = ["unit_id", "question_id"]
    replaced = current.join(changed.select(keys), on=keys, how="semi").select(*keys, *answer_rules.COMPARED)
    return {u: rows.drop("unit_id").to_dicts() for (u,), rows in replaced.partition_by("unit_id", as_dict=True).items()}


def _check_stale(current: dict[str, dict], base: dict[str, int | None], question_ids: list[str]) -> None:
    """Refuse (StaleWrite) when a question's current event is not the one the page was shown (`base`)."""
    conflicts = []
    for qid in question_ids:
        r = current.get(qid)
        if qid in base and (r["event_id"] if r else None) != base[qid]:
            assert r is not None  # a question with no answer can only have been shown as unanswered
            shown = "N/A" if r["is_na"] else f"level {r['level']}"
            conflicts.append({"question_id": qid, "by": r["answered_by"], "at": r["answered_at"], "answer": shown})
    if conflicts:
        lines = [f"{c['question_id']} was changed to {c['answer']} by {c['by']} at {c['at']:%Y-%m-%d %H:%M} UTC"
                 for c in conflicts]
        raise StaleWrite("Someone else saved these answers after you opened the page: " + "; ".join(lines)
                         + ". Your input is kept: review their change, then save again.", conflicts)


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
        _context(cur, campaign_id, unit_id)  # NotFound names what is unknown
        return cast(dict, campaigns_sql.assessment(cur, campaign_id, unit_id))


def preview(db: Database, actor: Actor, campaign_id: str, unit_id: str, as_of: date | None = None) -> scoring.Scores:
    """Score the current answers without persisting: what submitting now would give."""
    access.require(actor, "read", unit_id)
    with db.read() as cur:
        ctx = _context(cur, campaign_id, unit_id)
        current = answers_sql.current(cur, campaign_id, [unit_id])
        units = _placement(ctx, as_of or clock.today())
        records = _records(cur, ctx.q, units)
    return scoring.score(ctx.q, current, units, records=records)


def _placement(ctx: _Context, as_of: date) -> pl.DataFrame:
    """The unit as scoring sees it: the division and tier the cycle fixed for it, and the as-of date."""
    return pl.DataFrame([{"unit_id": ctx.unit_id, "division_id": ctx.division_id, "tier": ctx.tier, "as_of": as_of}])


def missing_questions(q: Questionnaire, current: pl.DataFrame) -> list[str]:
    answered = set()
    if current.height:
        answered = set(current.filter(answer_rules.answered())["question_id"].to_list())
    return [x.id for x in q.questions if x.id not in answered]


def submit(db: Database, actor: Actor, campaign_id: str, unit_id: str, today: date | None = None) -> UnitScore:
    """Submit a complete assessment: persist its scores (as of the submission date) and lock it."""
    access.require(actor, "submit", unit_id)
    as_of = today or clock.today()

    def work(cur) -> UnitScore:
        ctx = _context(cur, campaign_id, unit_id)
        if refused := ctx.refusal():
            raise InvalidState(refused)
        q = ctx.q
        current = answers_sql.current(cur, campaign_id, [unit_id])
        missing = missing_questions(q, current)
        if missing:
            raise IncompleteAssessment(missing)
        if unconfirmed := carry.unconfirmed(cur, campaign_id, unit_id):
            raise carry.UnconfirmedAnswers(unconfirmed, campaign_id)
        # Scored with the placement the cycle fixed for the unit (campaigns_sql.follow_unit keeps it current
        # while the cycle is not closed).
        units = _placement(ctx, as_of)
        s = scoring.score(q, current, units, records=_records(cur, q, units))
        at = now()
        scores_sql.replace(cur, campaign_id, [unit_id], s.questions, s.domains, s.units, at)
        campaigns_sql.set_assessment_status(cur, campaign_id, unit_id, SUBMITTED, at, actor.username)
        result = cast(UnitScore, s.units.row(0, named=True))
        audit.record(cur, actor, "assessment.submit", "assessment", f"{campaign_id}/{unit_id}",
                     before={"status": ctx.status},
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
    separate = settings.read("ITSCM_SEPARATION_OF_DUTIES")

    def work(cur) -> None:
        ctx = _context(cur, campaign_id, unit_id)
        verb = {APPROVED: "approve", RETURNED: "return"}[status]
        if ctx.campaign_status != "open":
            # A closed cycle is frozen: returning would delete persisted scores that every report counts,
            # and the head could not resubmit. Reopening is an explicit, audited decision.
            raise InvalidState(f"campaign {campaign_id} is {ctx.campaign_status}: its assessments and scores are "
                               f"frozen. Reopen the campaign first to {verb} the assessment of {unit_id}.")
        if ctx.status != SUBMITTED:
            raise InvalidState(f"only a submitted assessment can be {status}; {unit_id} is {ctx.status}")
        if separate and (ctx.submitted_by == actor.username
                         or answers_sql.answered_by(cur, campaign_id, unit_id, actor.username)):
            raise PermissionDenied(
                f"separation of duties: {actor.username} answered or submitted the assessment of {unit_id} in "
                f"{campaign_id}, so another reviewer must {verb} it (policy ITSCM_SEPARATION_OF_DUTIES).")
        at = now()
        campaigns_sql.set_assessment_status(cur, campaign_id, unit_id, status, at, actor.username, comment or None)
        if status == RETURNED:
            scores_sql.delete(cur, campaign_id, [unit_id])
        action = {APPROVED: "assessment.approve", RETURNED: "assessment.return"}[status]
        audit.record(cur, actor, action, "assessment", f"{campaign_id}/{unit_id}",
                     before={"status": ctx.status}, after={"status": status, "comment": comment or None})

    db.transaction(work)


def rescore_campaign(db: Database, actor: Actor, campaign_id: str) -> int:
    """Re-score every submitted or approved assessment of a campaign as of its submission date."""
    access.require(actor, "manage_campaigns")
    q = campaign_questionnaire(db, campaign_id)

    def work(cur) -> int:
        n = rescore_in(cur, q, campaign_id)
        if n:
            audit.record(cur, actor, "campaign.rescore", "campaign", campaign_id,
                         after={"units": n, "policy": q.policy_label})
        return n

    return db.transaction(work)


def rescore_in(cur, q: Questionnaire, campaign_id: str, unit_ids: list[str] | None = None) -> int:
    """Re-score the submitted or approved assessments of a campaign (or of these units in it) as of their
    submission date, inside the caller's transaction (which records why); how many were scored."""
    done = campaigns_sql.assessment_states(cur, campaign_id).filter(pl.col("status").is_in(list(SCORED)))
    if unit_ids is not None:
        done = done.filter(pl.col("unit_id").is_in(unit_ids))
    if done.height == 0:
        return 0
    ids = done["unit_id"].to_list()
    # The whole campaign in one scan: scoring only joins the units it scores (a 5,000-value IN list
    # costs more than the rows it saves).
    current = answers_sql.current(cur, campaign_id)
    units = done.select("unit_id", "division_id", "tier", pl.col("submitted_at").cast(pl.Date).alias("as_of"))
    s = scoring.score(q, current, units, records=_records(cur, q, units))
    scores_sql.replace(cur, campaign_id, ids, s.questions, s.domains, s.units, now())
    return len(ids)

