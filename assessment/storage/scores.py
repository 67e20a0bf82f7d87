"""SQL that persists computed scores and reads them back as historical facts."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from ._sql import in_list, registered
from .db import SMALL_INSERT, frame, insert_frame

Q_COLS = ["campaign_id", "unit_id", "question_id", "domain_id", "level", "is_na", "score", "status",
          "explanation", "weight", "target", "gap", "priority", "policy", "scored_at"]
D_COLS = ["campaign_id", "unit_id", "domain_id", "score", "weight", "target", "gap", "priority", "answered",
          "na", "capped", "scored_at"]
U_COLS = ["campaign_id", "unit_id", "division_id", "tier", "score", "target", "gap", "rollup_weight",
          "weakest_domain", "weakest_score", "band", "answered", "na", "capped", "policy", "scored_at"]


def replace(cur, campaign_id: str, unit_ids: list[str], questions: pl.DataFrame, domains: pl.DataFrame,
            units: pl.DataFrame, scored_at: datetime) -> int:
    """Replace the persisted scores of these units in this campaign (one set per submission)."""
    delete(cur, campaign_id, unit_ids)
    extra = [pl.lit(campaign_id).alias("campaign_id"), pl.lit(scored_at).alias("scored_at")]
    insert_frame(cur, "question_scores", questions.with_columns(extra), Q_COLS)
    insert_frame(cur, "domain_scores", domains.with_columns(extra), D_COLS)
    return insert_frame(cur, "unit_scores", units.with_columns(extra), U_COLS)


def delete(cur, campaign_id: str, unit_ids: list[str]) -> None:
    if not unit_ids:
        return
    if len(unit_ids) <= SMALL_INSERT:
        units, params = in_list(unit_ids)
        for table in ("question_scores", "domain_scores", "unit_scores"):
            cur.execute(f"DELETE FROM {table} WHERE campaign_id = ? AND unit_id IN {units}", [campaign_id, *params])
        return
    with registered(cur, "_score_units", pl.DataFrame({"unit_id": unit_ids})):
        for table in ("question_scores", "domain_scores", "unit_scores"):
            cur.execute(f"DELETE FROM {table} WHERE campaign_id = ? AND unit_id IN "
                        "(SELECT unit_id FROM _score_units)", [campaign_id])


def question_scores(cur, campaign_id: str, unit_id: str) -> pl.DataFrame:
    return frame(cur, "SELECT * FROM question_scores WHERE campaign_id = ? AND unit_id = ? ORDER BY question_id",
                 [campaign_id, unit_id])


def domain_scores(cur, campaign_id: str, unit_id: str) -> pl.DataFrame:
    return frame(cur, "SELECT * FROM domain_scores WHERE campaign_id = ? AND unit_id = ?", [campaign_id, unit_id])


def unit_scores(cur, campaign_id: str) -> pl.DataFrame:
    return frame(cur, "SELECT * FROM unit_scores WHERE campaign_id = ? ORDER BY unit_id", [campaign_id])
