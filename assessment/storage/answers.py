"""SQL for the append-only answer history and the current answer derived from it."""

from __future__ import annotations

import polars as pl

from ._sql import fetch_row, in_list, latest_answers
from .db import frame, insert_frame

EVENT_COLUMNS = ["campaign_id", "unit_id", "question_id", "level", "is_na", "na_reason", "evidence",
                 "evidence_url", "evidence_date", "comment", "answered_by", "answered_at", "source"]


def append_events(cur, events: pl.DataFrame) -> int:
    """Append answer events; never updates or deletes history."""
    return insert_frame(cur, "answer_events", events, EVENT_COLUMNS)


def current(cur, campaign_id: str, unit_ids: list[str] | None = None) -> pl.DataFrame:
    """Current answer per unit and question of a campaign (the newest event of each)."""
    where, params = "campaign_id = ?", [campaign_id]
    if unit_ids is not None:
        units, unit_params = in_list(unit_ids)
        where += f" AND unit_id IN {units}"
        params += unit_params
    return frame(cur, latest_answers(where) + " ORDER BY e.unit_id, e.question_id", params)


def history(cur, campaign_id: str, unit_id: str, question_id: str | None = None) -> pl.DataFrame:
    where, params = "campaign_id = ? AND unit_id = ?", [campaign_id, unit_id]
    if question_id:
        where += " AND question_id = ?"
        params.append(question_id)
    return frame(cur, f"SELECT * FROM answer_events WHERE {where} ORDER BY question_id, event_id DESC", params)


def answered_by(cur, campaign_id: str, unit_id: str, username: str) -> bool:
    """Whether `username` saved any answer event in this assessment, ever (returned rounds included)."""
    row = fetch_row(cur, "SELECT count(*) AS n FROM answer_events WHERE campaign_id = ? AND unit_id = ? "
                         "AND answered_by = ?", [campaign_id, unit_id, username])
    return bool(row and row["n"])
