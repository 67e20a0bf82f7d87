"""SQL for answers carried over into a new cycle: their sources, the carried rows and their confirmation."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from ._sql import SCORED_PARAMS, SCORED_SQL, answered, in_list, latest_answers, registered
from .db import frame, insert_frame

CARRIED_COLUMNS = ["campaign_id", "unit_id", "question_id", "event_id", "from_campaign_id", "first_given_on"]


def sources(cur, campaign_id: str, unit_ids: list[str], opens_on: date) -> pl.DataFrame:
    """Per unit, the answered current answers of its last submitted (or approved) assessment in a cycle
    opening on or before `opens_on`, with that cycle's id and the date each answer was first given (carried
    and confirmed answers keep the date of the cycle they were first given in)."""
    with registered(cur, "_carry_units", pl.DataFrame({"unit_id": unit_ids}, schema={"unit_id": pl.String})):
        return frame(cur, f"""
            WITH src AS (
              SELECT a.unit_id, a.campaign_id, row_number() OVER (
                       PARTITION BY a.unit_id ORDER BY c.opens_on DESC, c.created_at DESC) AS rn
              FROM assessments a JOIN campaigns c ON c.campaign_id = a.campaign_id
              JOIN _carry_units n ON n.unit_id = a.unit_id
              WHERE a.campaign_id <> ? AND a.status IN {SCORED_SQL} AND c.opens_on <= ?),
            latest AS (
              SELECT max(e.event_id) AS event_id FROM answer_events e
              JOIN src s ON s.campaign_id = e.campaign_id AND s.unit_id = e.unit_id AND s.rn = 1
              GROUP BY e.campaign_id, e.unit_id, e.question_id)
            SELECT e.unit_id, e.question_id, e.level, e.is_na, e.na_reason, e.evidence, e.evidence_url,
                   e.evidence_date, e.comment, e.answered_by, e.campaign_id AS from_campaign_id,
                   coalesce(ca.first_given_on, CAST(e.answered_at AS DATE)) AS first_given_on
            FROM latest l JOIN answer_events e ON e.event_id = l.event_id
            LEFT JOIN carried_answers ca ON ca.campaign_id = e.campaign_id AND ca.unit_id = e.unit_id
                 AND ca.question_id = e.question_id AND ca.event_id = e.event_id AND ca.confirmed_at IS NOT NULL
            WHERE {answered("e")}
            ORDER BY e.unit_id, e.question_id""", [campaign_id, *SCORED_PARAMS, opens_on])


def carried_events(cur, campaign_id: str) -> pl.DataFrame:
    """The event ids of the answers carried into a campaign (unit_id, question_id, event_id)."""
    return frame(cur, "SELECT unit_id, question_id, event_id FROM answer_events "
                      "WHERE campaign_id = ? AND source = 'carried'", [campaign_id])


def insert_carried(cur, rows: pl.DataFrame) -> int:
    return insert_frame(cur, "carried_answers", rows, CARRIED_COLUMNS)


def _states_sql(campaign_id: str, unit_ids: list[str] | None) -> tuple[str, list]:
    """Every carried answer of a campaign (or of these units) with its state: 'to confirm', 'confirmed', or
    'changed' (the unit's current answer is a later event)."""
    where, params = "campaign_id = ?", [campaign_id]
    if unit_ids is not None:
        units, unit_params = in_list(unit_ids)
        where += f" AND unit_id IN {units}"
        params += unit_params
    return f"""
        SELECT ca.unit_id, ca.question_id, ca.from_campaign_id, ca.first_given_on, ca.confirmed_by,
               ca.confirmed_at, CASE WHEN cur.event_id <> ca.event_id THEN 'changed'
                                     WHEN ca.confirmed_at IS NOT NULL THEN 'confirmed' ELSE 'to confirm' END AS state
        FROM carried_answers ca JOIN ({latest_answers(where)}) cur
             ON cur.unit_id = ca.unit_id AND cur.question_id = ca.question_id
        WHERE ca.campaign_id = ?""", [*params, campaign_id]


def states(cur, campaign_id: str, unit_ids: list[str] | None = None) -> pl.DataFrame:
    """Every carried answer of a campaign (or of these units) with its state (_states_sql)."""
    sql, params = _states_sql(campaign_id, unit_ids)
    return frame(cur, sql + " ORDER BY ca.unit_id, ca.question_id", params)


def question_ids_in_state(cur, campaign_id: str, unit_id: str, state: str) -> list[str]:
    """The questions of one unit whose carried answer is in this state (a submission's check, no frame)."""
    sql, params = _states_sql(campaign_id, [unit_id])
    rows = cur.execute(f"SELECT question_id FROM ({sql}) s WHERE s.state = ? ORDER BY question_id",
                       [*params, state]).fetchall()
    return [r[0] for r in rows]


def confirm(cur, campaign_id: str, unit_id: str, question_ids: list[str], by: str, at: datetime) -> None:
    qids, params = in_list(question_ids)
    cur.execute(f"UPDATE carried_answers SET confirmed_by = ?, confirmed_at = ? "
                f"WHERE campaign_id = ? AND unit_id = ? AND question_id IN {qids} AND confirmed_at IS NULL",
                [by, at, campaign_id, unit_id, *params])
