"""Carry-forward: a new cycle starts each unit's draft from its last submitted answers, to confirm or change."""

from __future__ import annotations

from datetime import date

import polars as pl

from . import access, answer_rules, audit, clock
from .catalog import campaign_questionnaire
from .errors import EngineError, InvalidState, NotFound, ValidationError
from .model import Actor, Questionnaire
from .storage import Database
from .storage import answers as answers_sql
from .storage import campaigns as campaigns_sql
from .storage import carry as carry_sql

CARRIED_SOURCE = "carried"  # answer_events.source of a carried answer
TO_CONFIRM, CONFIRMED, CHANGED = "to confirm", "confirmed", "changed"


class UnconfirmedAnswers(EngineError):
    """Submission refused: carried answers are neither confirmed nor changed."""

    def __init__(self, questions: list[str], campaign_id: str = ""):
        self.questions = questions
        super().__init__(
            f"Not submitted: {len(questions)} answer(s) carried over from the previous cycle are not confirmed or "
            f"changed yet: {', '.join(questions)}. Confirm each one (or a whole domain) or change it, then submit.")


def carry_in(cur, actor: Actor, campaign_id: str, q: Questionnaire, unit_ids: list[str], opens_on: date) -> dict:
    """Inside the caller's transaction (campaign creation): copy each unit's last submitted answers into
    the new campaign as answer events to confirm. Questions are matched by id: answers to questions the
    new version removed stay behind, new questions start empty, and an answer the new version's rules
    refuse (N/A no longer allowed, a level off its scale) is not carried. One audit entry for the campaign."""
    access.require(actor, "manage_campaigns")
    src = carry_sql.sources(cur, campaign_id, unit_ids, opens_on)
    known = [x.id for x in q.questions]
    src = src.filter(pl.col("question_id").is_in(known))
    refused = _refused(q, src)
    src = src.with_row_index("row", offset=1).filter(~pl.col("row").is_in(refused)).drop("row")
    if src.height:
        at = clock.now()
        answers_sql.append_events(cur, src.with_columns(
            pl.lit(campaign_id).alias("campaign_id"), pl.lit(at).alias("answered_at"),
            pl.lit(CARRIED_SOURCE).alias("source")))
        rows = carry_sql.carried_events(cur, campaign_id).join(
            src.select("unit_id", "question_id", "from_campaign_id", "first_given_on"),
            on=["unit_id", "question_id"]).with_columns(pl.lit(campaign_id).alias("campaign_id"))
        carry_sql.insert_carried(cur, rows)
    per_source = dict(src.group_by("from_campaign_id").agg(pl.col("unit_id").n_unique()).sort("from_campaign_id")
                      .iter_rows()) if src.height else {}
    after = {"answers": src.height, "units": src["unit_id"].n_unique() if src.height else 0,
             "from": per_source, "not_carried": len(refused)}
    audit.record(cur, actor, "answers.carry", "campaign", campaign_id, after=after)
    return after


def _refused(q: Questionnaire, src: pl.DataFrame) -> list[int]:
    """Rows (numbered from 1) of the source answers that break the new version's answer rules."""
    if src.height == 0:
        return []
    batch = src.with_row_index("row", offset=1).with_columns(
        pl.col("row").cast(pl.Int64), pl.lit(None, pl.String).alias("level_text"),
        pl.lit(None, pl.String).alias("evidence_date_text"), pl.col("level").cast(pl.Int64))
    return sorted({v.row for v in answer_rules.check(q, batch, today=clock.today())})


def carried(db: Database, actor: Actor, campaign_id: str, unit_id: str) -> pl.DataFrame:
    """The unit's carried answers in a campaign: question_id, from_campaign_id, first_given_on, state, ..."""
    access.require(actor, "read", unit_id)
    with db.read() as cur:
        return carry_sql.states(cur, campaign_id, [unit_id])


def confirm(db: Database, actor: Actor, campaign_id: str, unit_id: str, question_ids: list[str]) -> int:
    """The head confirms carried answers unchanged (one, or a domain's); returns how many were confirmed.
    Questions that were not carried, or were changed since, are refused all at once; confirmed ones are
    left as they are."""
    access.require(actor, "answer", unit_id)
    q = campaign_questionnaire(db, campaign_id)
    ids = list(dict.fromkeys(question_ids))

    def work(cur) -> int:
        c = campaigns_sql.campaign(cur, campaign_id)
        a = campaigns_sql.assessment(cur, campaign_id, unit_id)
        if c is None or a is None:
            raise NotFound(f"unit {unit_id} is not part of campaign {campaign_id!r}")
        refused = answer_rules.not_editable(campaign_id, c["status"],
                                            pl.DataFrame({"unit_id": [unit_id], "status": [a["status"]]}))
        if refused.height:
            raise InvalidState(refused["message"][0])
        state = dict(carry_sql.states(cur, campaign_id, [unit_id]).select("question_id", "state").iter_rows())
        texts = {x.id for x in q.questions}
        problems = [f"{qid}: not a question of {q.id}@{q.version}" if qid not in texts
                    else f"{qid}: this answer was not carried over from the previous cycle" if qid not in state
                    else f"{qid}: this answer was changed after it was carried over; nothing to confirm"
                    for qid in ids if state.get(qid) in (None, CHANGED)]
        if problems:
            raise ValidationError(problems, f"confirming answers of {unit_id} in {campaign_id}")
        todo = [qid for qid in ids if state[qid] == TO_CONFIRM]
        if todo:
            carry_sql.confirm(cur, campaign_id, unit_id, todo, actor.username, clock.now())
            audit.record(cur, actor, "answers.confirm", "assessment", f"{campaign_id}/{unit_id}",
                         after={"questions": todo})
        return len(todo)

    return db.transaction(work)


def unconfirmed(cur, campaign_id: str, unit_id: str) -> list[str]:
    """Inside a transaction: the unit's carried answers still to confirm (submission refuses while any)."""
    return carry_sql.question_ids_in_state(cur, campaign_id, unit_id, TO_CONFIRM)


def to_confirm(db: Database, actor: Actor, campaign_id: str) -> pl.DataFrame:
    """Per unit the actor may read: how many carried answers of the cycle still wait to be confirmed or
    changed (unit_id, to_confirm); units with none are left out."""
    access.require(actor, "read")
    readable = access.readable_units(actor)
    with db.read() as cur:
        df = carry_sql.states(cur, campaign_id, None if readable is None else list(readable))
    return (df.filter(pl.col("state") == TO_CONFIRM).group_by("unit_id")
            .agg(pl.len().cast(pl.Int64).alias("to_confirm")).sort("unit_id"))

