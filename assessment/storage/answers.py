"""SQL for the append-only answer history and the current answer derived from it."""

from __future__ import annotations

import polars as pl

from .db import frame, insert_frame

EVENT_COLUMNS = ["campaign_id", "unit_id", "question_id", "level", "is_na", "na_reason", "evidence",
                 "evidence_url", "evidence_date", "comment", "answered_by", "answered_at", "source"]


def append_events(cur, events: pl.DataFrame) -> int:
    """Append answer events; never updates or deletes history."""
    return insert_frame(cur, "answer_events", events, EVENT_COLUMNS)


def _latest(where: str) -> str:
    return f"""
        SELECT e.* FROM answer_events e JOIN (
            SELECT max(event_id) AS event_id FROM answer_events
            WHERE {where} GROUP BY campaign_id, unit_id, question_id) m ON m.event_id = e.event_id"""


def current(cur, campaign_id: str, unit_ids: list[str] | None = None) -> pl.DataFrame:
    """Current answer per unit and question of a campaign (the newest event of each)."""
    where, params = "campaign_id = ?", [campaign_id]
    if unit_ids is not None:
        where += f" AND unit_id IN ({', '.join('?' for _ in unit_ids) or 'NULL'})"
        params += unit_ids
    return frame(cur, _latest(where) + " ORDER BY e.unit_id, e.question_id", params)


def current_many(cur, campaign_ids: list[str]) -> pl.DataFrame:
    where = f"campaign_id IN ({', '.join('?' for _ in campaign_ids) or 'NULL'})"
    return frame(cur, _latest(where), campaign_ids)


def current_event_ids(cur, campaign_id: str, unit_id: str) -> pl.DataFrame:
    return frame(cur, """
        SELECT e.question_id, e.event_id, e.answered_by, e.answered_at, e.level, e.is_na
        FROM answer_events e JOIN (
            SELECT max(event_id) AS event_id FROM answer_events
            WHERE campaign_id = ? AND unit_id = ? GROUP BY question_id) m ON m.event_id = e.event_id""",
        [campaign_id, unit_id])


def history(cur, campaign_id: str, unit_id: str, question_id: str | None = None) -> pl.DataFrame:
    where, params = "campaign_id = ? AND unit_id = ?", [campaign_id, unit_id]
    if question_id:
        where += " AND question_id = ?"
        params.append(question_id)
    return frame(cur, f"SELECT * FROM answer_events WHERE {where} ORDER BY question_id, event_id DESC", params)


def unit_history(cur, unit_id: str) -> pl.DataFrame:
    """Every answer event of a unit across campaigns, newest first."""
    return frame(cur, "SELECT * FROM answer_events WHERE unit_id = ? ORDER BY event_id DESC", [unit_id])
