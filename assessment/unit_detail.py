"""Business-unit drill-down: why each score is what it is, domain scores against target, cycles.

Persisted scores are the historical fact. While an assessment is still a draft (or was returned) there
are none; the reads below then fall back to a provisional preview of the saved answers, flagged as such,
so a unit can see where it stands before it submits.
"""

from __future__ import annotations

import polars as pl

from . import access, workflow
from .errors import NotFound
from .model import Actor
from .storage import Database
from .storage import answers as answers_sql
from .storage import campaigns as campaigns_sql
from .storage import unit_detail as unit_detail_sql

_Q_SCORE_COLS = ["level", "score", "status", "explanation", "target", "gap", "priority", "policy"]
_D_SCORE_COLS = ["score", "target", "gap", "priority", "answered", "na", "capped"]


def _require_campaign(cur, campaign_id: str) -> None:
    if campaigns_sql.campaign(cur, campaign_id) is None:
        raise NotFound(f"unknown campaign {campaign_id!r}")


def questions(db: Database, actor: Actor, campaign_id: str, unit_id: str, provisional: bool = True) -> pl.DataFrame:
    """Every question with the unit's current answer, its score, status (answered, capped, na, missing),
    explanation, gap and priority. Column `provisional` is true when the scores come from a preview."""
    access.require(actor, "read", unit_id)
    with db.read() as cur:
        _require_campaign(cur, campaign_id)
        df = unit_detail_sql.question_detail(cur, campaign_id, unit_id)
    scored = df.height > 0 and df["scored_at"].is_not_null().any()
    answered = df.height > 0 and df["event_id"].is_not_null().any()
    if scored or not provisional or not answered:
        return df.with_columns(pl.lit(False).alias("provisional"))
    preview = workflow.preview(db, actor, campaign_id, unit_id).questions
    return _with_provisional(df, preview, "question_id", _Q_SCORE_COLS)


def domains(db: Database, actor: Actor, campaign_id: str, unit_id: str, provisional: bool = True) -> pl.DataFrame:
    """Domain scores of a unit against its target, in questionnaire order (provisional while a draft)."""
    access.require(actor, "read", unit_id)
    with db.read() as cur:
        _require_campaign(cur, campaign_id)
        df = unit_detail_sql.domain_detail(cur, campaign_id, unit_id)
        has_answers = (provisional and df.height > 0 and df["scored_at"].is_null().all()
                       and answers_sql.current(cur, campaign_id, [unit_id]).height > 0)
    if not has_answers:
        return df.with_columns(pl.lit(False).alias("provisional"))
    preview = workflow.preview(db, actor, campaign_id, unit_id).domains
    return _with_provisional(df, preview, "domain_id", _D_SCORE_COLS).sort("domain_pos")


def _with_provisional(df: pl.DataFrame, preview: pl.DataFrame, key: str, cols: list[str]) -> pl.DataFrame:
    """Replace the (empty) persisted score columns by those of a preview, marked provisional."""
    fill = preview.select(key, *[pl.col(c).alias(f"_{c}") for c in cols])
    return (
        df.join(fill, on=key, how="left")
        .with_columns([pl.col(f"_{c}").cast(df.schema[c]).alias(c) for c in cols])
        .drop([f"_{c}" for c in cols])
        .with_columns(pl.lit(True).alias("provisional"))
    )


def cycles(db: Database, actor: Actor, unit_id: str) -> pl.DataFrame:
    """The unit's assessment in every cycle: workflow status, who submitted/approved, persisted score."""
    access.require(actor, "read", unit_id)
    with db.read() as cur:
        return unit_detail_sql.unit_cycles(cur, unit_id)
