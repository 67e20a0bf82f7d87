"""SQL for improvement actions: the register, its append-only status history, gaps without an open action,
deadlines and the dashboard's aggregates (all set-based)."""

from __future__ import annotations

from datetime import date

import polars as pl

from ._sql import fetch_row, in_list, next_id, registered, update_fields
from .db import frame, insert_frame

ACTION_COLS = ["action_id", "revision", "source", "source_ref", "campaign_id", "unit_id", "service_id", "title",
               "description", "owner", "due_on", "priority", "status", "risk_reason", "risk_approver",
               "risk_expires_on", "evidence_text", "evidence_url", "evidence_date", "verified_by", "verified_on",
               "closed_on", "created_at", "created_by", "updated_at", "updated_by"]
ACTION_SCHEMA = pl.Schema({"action_id": pl.String(), "revision": pl.Int64(), "source": pl.String(),
                           "source_ref": pl.String(), "campaign_id": pl.String(), "unit_id": pl.String(),
                           "service_id": pl.String(), "title": pl.String(), "description": pl.String(),
                           "owner": pl.String(), "due_on": pl.Date(), "priority": pl.Float64(), "status": pl.String(),
                           "risk_reason": pl.String(), "risk_approver": pl.String(), "risk_expires_on": pl.Date(),
                           "evidence_text": pl.String(), "evidence_url": pl.String(), "evidence_date": pl.Date(),
                           "verified_by": pl.String(), "verified_on": pl.Date(), "closed_on": pl.Date(),
                           "created_at": pl.Datetime("us"), "created_by": pl.String(),
                           "updated_at": pl.Datetime("us"), "updated_by": pl.String()})
EVENT_COLS = ["action_id", "revision", "status", "changed_at", "changed_by", "note"]
EVENT_SCHEMA = pl.Schema({"action_id": pl.String(), "revision": pl.Int64(), "status": pl.String(),
                          "changed_at": pl.Datetime("us"), "changed_by": pl.String(), "note": pl.String()})
PREFIX = "ACT-"
HEAD_ROLE = "department_head"  # access.HEAD; storage does not import the engine


def new_id(cur) -> str:
    return next_id(cur, "actions", "action_id", PREFIX)


def next_number(cur) -> int:
    """The number the next action id gets (new_id without the prefix)."""
    return int(new_id(cur)[len(PREFIX):])


def insert(cur, actions: pl.DataFrame, questions: pl.DataFrame, events: pl.DataFrame) -> int:
    insert_frame(cur, "action_questions", questions, ["action_id", "question_id"])
    insert_frame(cur, "action_events", events, EVENT_COLS)
    return insert_frame(cur, "actions", actions, ACTION_COLS)


def unit_exists(cur, unit_id: str) -> bool:
    return fetch_row(cur, "SELECT 1 AS one FROM business_units WHERE unit_id = ?", [unit_id]) is not None


def gap_priority(cur, campaign_id: str, unit_id: str, question_ids: tuple[str, ...]) -> float | None:
    """The highest priority of the gaps on these questions of a unit in a cycle (None when none is scored)."""
    marks, values = in_list(question_ids)
    row = fetch_row(cur, f"SELECT max(priority) AS p FROM question_scores WHERE campaign_id = ? AND unit_id = ? "
                         f"AND question_id IN {marks}", [campaign_id, unit_id, *values])
    return (row or {}).get("p")


def action(cur, action_id: str) -> dict | None:
    row = fetch_row(cur, "SELECT * FROM actions WHERE action_id = ?", [action_id])
    if row is not None:
        row["question_ids"] = [r[0] for r in cur.execute(
            "SELECT question_id FROM action_questions WHERE action_id = ? ORDER BY question_id",
            [action_id]).fetchall()]
    return row


def update(cur, row: dict, event: dict) -> None:
    """Store an action's new state and append its history entry (the history is never updated)."""
    fields = {k: row[k] for k in ACTION_COLS if k not in ("action_id", "created_at", "created_by")}
    update_fields(cur, "actions", "action_id", row["action_id"], set(fields), fields)
    insert_frame(cur, "action_events", pl.DataFrame([event], schema=EVENT_SCHEMA), EVENT_COLS)


def history(cur, action_id: str) -> pl.DataFrame:
    return frame(cur, f"SELECT {', '.join(EVENT_COLS)} FROM action_events WHERE action_id = ? ORDER BY revision",
                 [action_id])


_UNITS = """business_units u JOIN divisions d ON d.division_id = u.division_id"""


def listing(cur, where: str, params: list, statuses: tuple[str, ...] | None = None, owner: str | None = None,
            unit_ids: tuple[str, ...] | None = None) -> pl.DataFrame:
    """Actions of the units in scope (`where` filters business_units u) with unit, division and questions."""
    cond, extra = [where], []
    if statuses is not None:
        marks, values = in_list(statuses)
        cond.append(f"a.status IN {marks}")
        extra.extend(values)
    if owner is not None:
        cond.append("a.owner = ?")
        extra.append(owner)
    if unit_ids is not None:
        marks, values = in_list(unit_ids)
        cond.append(f"a.unit_id IN {marks}")
        extra.extend(values)
    return frame(cur, f"""
        SELECT a.action_id, a.revision, a.status, a.title, a.unit_id, u.name AS unit, u.division_id,
               d.name AS division, u.tier, a.owner, a.due_on, a.priority, a.source, a.source_ref, a.campaign_id,
               a.service_id, coalesce(q.question_ids, '') AS question_ids, a.description, a.risk_reason,
               a.risk_approver, a.risk_expires_on, a.evidence_text, a.evidence_url, a.evidence_date,
               a.verified_by, a.verified_on, a.closed_on, a.created_at, a.created_by, a.updated_at, a.updated_by
        FROM actions a JOIN {_UNITS} ON u.unit_id = a.unit_id
        LEFT JOIN (SELECT action_id, string_agg(question_id, ', ' ORDER BY question_id) AS question_ids
                   FROM action_questions GROUP BY action_id) q ON q.action_id = a.action_id
        WHERE {' AND '.join(cond)}
        ORDER BY a.due_on, a.action_id""", [*params, *extra])


def for_questions(cur, unit_id: str, open_statuses: tuple[str, ...], closed_since: date) -> pl.DataFrame:
    """One row per question x action of a unit that is open, or was closed on or after `closed_since`."""
    marks, values = in_list(open_statuses)
    return frame(cur, f"""
        SELECT q.question_id, a.action_id, a.status, a.title, a.owner, a.due_on, a.closed_on, a.verified_by
        FROM actions a JOIN action_questions q ON q.action_id = a.action_id
        WHERE a.unit_id = ? AND (a.status IN {marks} OR a.closed_on >= ?)
        ORDER BY q.question_id, a.due_on, a.action_id""", [unit_id, *values, closed_since])


def head_user(cur, unit_id: str) -> str | None:
    """The unit's department head user (the first by name), the default owner of its actions."""
    row = fetch_row(cur, f"SELECT min(uu.username) AS username FROM user_units uu JOIN users us ON us.username = "
                         f"uu.username AND us.active AND us.role = '{HEAD_ROLE}' WHERE uu.unit_id = ?", [unit_id])
    return (row or {}).get("username")


def gaps_without_action(cur, campaign_id: str, where: str, params: list, min_priority: float,
                        open_statuses: tuple[str, ...]) -> pl.DataFrame:
    """The gaps of a cycle above `min_priority` (question_scores) with no open action on that unit and
    question, with the unit's head user (the first by name) as the default owner."""
    marks, values = in_list(open_statuses)
    return frame(cur, f"""
        SELECT qs.unit_id, u.name AS unit, d.name AS division, qs.question_id, qs.level, qs.score, qs.target, qs.gap,
               qs.priority, h.username AS head_user
        FROM question_scores qs JOIN {_UNITS} ON u.unit_id = qs.unit_id
        LEFT JOIN (SELECT uu.unit_id, min(uu.username) AS username FROM user_units uu
                   JOIN users us ON us.username = uu.username AND us.active AND us.role = '{HEAD_ROLE}'
                   GROUP BY uu.unit_id) h ON h.unit_id = qs.unit_id
        WHERE qs.campaign_id = ? AND qs.priority > ? AND u.active AND {where}
          AND NOT EXISTS (SELECT 1 FROM actions a JOIN action_questions aq ON aq.action_id = a.action_id
                          WHERE a.unit_id = qs.unit_id AND aq.question_id = qs.question_id
                            AND a.status IN {marks})
        ORDER BY qs.priority DESC, u.name, qs.question_id""", [campaign_id, min_priority, *params, *values])


def due(cur, where: str, params: list, open_statuses: tuple[str, ...], accepted: str, owner: str | None,
        today: date) -> pl.DataFrame:
    """Deadline rows (reports.deadlines columns but the bucket, with action_id, status and priority), most
    urgent first: every open action by its due date and every risk acceptance by its expiry."""
    marks, values = in_list(open_statuses)
    who, extra = ("AND a.owner = ?", [owner]) if owner is not None else ("", [])
    due_on = f"CASE WHEN a.status = '{accepted}' THEN a.risk_expires_on ELSE a.due_on END"
    return frame(cur, f"""
        SELECT CASE WHEN a.status = '{accepted}' THEN 'risk acceptance' ELSE 'action due' END AS kind, a.unit_id,
               u.name AS unit, u.division_id, d.name AS division, u.tier, a.owner,
               CAST(a.created_at AS DATE) AS since, {due_on} AS due_on,
               a.action_id || ': ' || a.title AS item, {due_on} - CAST(? AS DATE) AS days_left,
               a.action_id, a.status, a.priority
        FROM actions a JOIN {_UNITS} ON u.unit_id = a.unit_id
        WHERE (a.status IN {marks} OR a.status = '{accepted}') AND {where} {who}
        ORDER BY days_left, a.action_id""", [today, *values, *params, *extra])


def by_division(cur, where: str, params: list, open_statuses: tuple[str, ...], today: date) -> pl.DataFrame:
    """Per division: open actions, overdue ones, the median age in days of the open ones."""
    marks, values = in_list(open_statuses)
    return frame(cur, f"""
        SELECT u.division_id, min(d.name) AS division, count(*) AS open,
               count(CASE WHEN a.due_on < ? THEN 1 END) AS overdue,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(? AS DATE) - CAST(a.created_at AS DATE))
                   AS median_age_days
        FROM actions a JOIN {_UNITS} ON u.unit_id = a.unit_id
        WHERE a.status IN {marks} AND {where}
        GROUP BY u.division_id ORDER BY division""", [today, today, *values, *params])


def open_totals(cur, where: str, params: list, open_statuses: tuple[str, ...], today: date) -> dict:
    marks, values = in_list(open_statuses)
    return frame(cur, f"""
        SELECT count(*) AS open, count(CASE WHEN a.due_on < ? THEN 1 END) AS overdue,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(? AS DATE) - CAST(a.created_at AS DATE))
                   AS median_age_days
        FROM actions a JOIN {_UNITS} ON u.unit_id = a.unit_id
        WHERE a.status IN {marks} AND {where}""", [today, today, *values, *params]).row(0, named=True)


def verified_per_cycle(cur, where: str, params: list) -> pl.DataFrame:
    """Verified closures per cycle: each verification counts in the latest cycle opened on or before it."""
    return frame(cur, f"""
        WITH c AS (SELECT campaign_id, name, opens_on,
                          lead(opens_on) OVER (ORDER BY opens_on, campaign_id) AS next_opens FROM campaigns),
        v AS (SELECT a.verified_on FROM actions a JOIN {_UNITS} ON u.unit_id = a.unit_id
              WHERE a.status = 'verified' AND {where})
        SELECT c.campaign_id, c.name AS campaign, c.opens_on, count(v.verified_on) AS verified
        FROM c LEFT JOIN v ON v.verified_on >= c.opens_on AND (c.next_opens IS NULL OR v.verified_on < c.next_opens)
        GROUP BY c.campaign_id, c.name, c.opens_on ORDER BY c.opens_on""", params)


def import_targets(cur, ids: pl.DataFrame) -> pl.DataFrame:
    """The stored actions named in `ids` (column action_id), for a bulk status update."""
    with registered(cur, "_action_ids", ids.select("action_id").unique()) as name:
        return frame(cur, f"SELECT a.* FROM actions a JOIN {name} i ON i.action_id = a.action_id")


def apply_changes(cur, rows: pl.DataFrame, events: pl.DataFrame) -> int:
    """Store several actions' new state at once (rows: action_id and the changed columns) and append their
    history entries; the bulk form of update()."""
    cols = [c for c in rows.columns if c != "action_id"]
    bad = set(cols) - set(ACTION_COLS) - {"action_id"}
    if bad:
        raise ValueError(f"cannot update actions fields {sorted(bad)}")
    with registered(cur, "_action_changes", rows) as name:
        cur.execute(f"UPDATE actions SET {', '.join(f'{c} = n.{c}' for c in cols)} FROM {name} n "
                    "WHERE actions.action_id = n.action_id")
    insert_frame(cur, "action_events", events, EVENT_COLS)
    return rows.height
