"""SQL for campaigns (assessment cycles) and the assessments of each unit in them."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from ..model import APPROVED, DRAFT, RETURNED, SUBMITTED
from ._sql import SCORED_PARAMS, SCORED_SQL, answered, fetch_row, in_list, latest_answers, registered, update_fields
from .db import fetch_one, frame


def insert_campaign(cur, campaign_id: str, name: str, qid: str, qversion: str, opens_on: date,
                    due_on: date, closes_on: date, status: str, previous: str | None,
                    created_at: datetime, created_by: str) -> None:
    cur.execute(
        "INSERT INTO campaigns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [campaign_id, name, qid, qversion, opens_on, due_on, closes_on, status, previous, created_at, created_by],
    )


def campaign(cur, campaign_id: str) -> dict | None:
    return fetch_row(cur, "SELECT * FROM campaigns WHERE campaign_id = ?", [campaign_id])


def campaigns(cur) -> pl.DataFrame:
    return frame(cur, f"""
        SELECT c.*, (SELECT count(*) FROM assessments a WHERE a.campaign_id = c.campaign_id) AS expected,
               (SELECT count(*) FROM assessments a WHERE a.campaign_id = c.campaign_id
                  AND a.status IN {SCORED_SQL}) AS submitted
        FROM campaigns c ORDER BY c.opens_on, c.campaign_id""", SCORED_PARAMS)


def update_campaign(cur, campaign_id: str, **fields) -> None:
    update_fields(cur, "campaigns", "campaign_id", campaign_id, {"name", "opens_on", "due_on", "closes_on", "status"},
                  fields)


def create_assessments(cur, campaign_id: str, unit_ids: list[str], at: datetime) -> int:
    if not unit_ids:
        return 0
    with registered(cur, "_new_units", pl.DataFrame({"unit_id": unit_ids})):
        # The unit's division and tier are fixed here: the cycle reports them whatever the unit becomes.
        cur.execute(
            "INSERT INTO assessments (campaign_id, unit_id, status, revision, created_at, updated_at, division_id, "
            "tier) SELECT ?, n.unit_id, ?, 0, ?, ?, u.division_id, u.tier FROM _new_units n "
            "LEFT JOIN business_units u ON u.unit_id = n.unit_id "
            "WHERE NOT EXISTS (SELECT 1 FROM assessments a WHERE a.campaign_id = ? AND a.unit_id = n.unit_id)",
            [campaign_id, DRAFT, at, at, campaign_id],
        )
    return len(unit_ids)


def assessment(cur, campaign_id: str, unit_id: str) -> dict | None:
    return fetch_row(cur, "SELECT * FROM assessments WHERE campaign_id = ? AND unit_id = ?", [campaign_id, unit_id])


def assessments(cur, campaign_id: str, unit_ids: list[str] | None = None) -> pl.DataFrame:
    where, params = ["a.campaign_id = ?"], [campaign_id]
    if unit_ids is not None:
        units, unit_params = in_list(unit_ids)
        where.append(f"a.unit_id IN {units}")
        params.extend(unit_params)
    return frame(cur, f"""
        SELECT a.*, u.name AS unit, d.name AS division, u.head,
               (SELECT count(*) FROM ({latest_answers("campaign_id = a.campaign_id AND unit_id = a.unit_id")}) e
                WHERE {answered("e")}) AS answered
        FROM assessments a JOIN business_units u ON u.unit_id = a.unit_id
        JOIN divisions d ON d.division_id = a.division_id
        WHERE {' AND '.join(where)} ORDER BY d.name, u.name""", params)


def assessment_context(cur, campaign_id: str, unit_id: str) -> dict | None:
    """What a write to one unit's assessment needs, in one statement: the campaign's status and questionnaire
    (id, version, content hash), the assessment's status, revision, division, tier and submitter (None when
    the unit is not in the campaign); None for an unknown campaign."""
    return fetch_row(cur, ASSESSMENT_CONTEXT, [unit_id, campaign_id])


# assessment_context's statement (parameters: unit_id, campaign_id), also read as part of a save's one read.
ASSESSMENT_CONTEXT = """
        SELECT c.status AS campaign_status, c.questionnaire_id, c.questionnaire_version, q.content_hash,
               a.status, a.revision, a.division_id, a.tier, a.submitted_by
        FROM campaigns c JOIN questionnaires q ON q.questionnaire_id = c.questionnaire_id
                                               AND q.version = c.questionnaire_version
        LEFT JOIN assessments a ON a.campaign_id = c.campaign_id AND a.unit_id = ?
        WHERE c.campaign_id = ?"""


def campaign_with_hash(cur, campaign_id: str) -> dict | None:
    """The campaign's row with its questionnaire's stored content hash (`content_hash`, None when that version
    is not stored); None for an unknown campaign. One statement for a caller that needs both."""
    return fetch_row(cur, """
        SELECT c.*, q.content_hash
        FROM campaigns c LEFT JOIN questionnaires q ON q.questionnaire_id = c.questionnaire_id
                                                    AND q.version = c.questionnaire_version
        WHERE c.campaign_id = ?""", [campaign_id])


def assessment_states(cur, campaign_id: str) -> pl.DataFrame:
    """Workflow state of every assessment in a campaign, with the unit facts scoring needs (no counts)."""
    return frame(cur, """
        SELECT a.unit_id, a.status, a.submitted_at, a.division_id, a.tier
        FROM assessments a WHERE a.campaign_id = ?""", [campaign_id])


def follow_units(cur, unit_ids: list[str]) -> pl.DataFrame:
    """Moved or re-tiered units take their current division and tier in every cycle that is not closed (closed
    cycles keep the placement they reported); deactivated ones leave the planned cycles where they have no
    answers. Returns the (campaign_id, unit_id) whose placement changed. Set-based: one statement each."""
    if not unit_ids:
        return pl.DataFrame(schema={"campaign_id": pl.String, "unit_id": pl.String})
    with registered(cur, "_moved", pl.DataFrame({"unit_id": unit_ids})):
        cur.execute("""
            DELETE FROM assessments WHERE unit_id IN (SELECT m.unit_id FROM _moved m JOIN business_units u
                  ON u.unit_id = m.unit_id WHERE NOT u.active)
              AND campaign_id IN (SELECT campaign_id FROM campaigns WHERE status = 'planned')
              AND NOT EXISTS (SELECT 1 FROM answer_events e WHERE e.campaign_id = assessments.campaign_id
                              AND e.unit_id = assessments.unit_id)""")
        changed = frame(cur, """
            SELECT a.campaign_id, a.unit_id FROM assessments a JOIN _moved m ON m.unit_id = a.unit_id
            JOIN business_units u ON u.unit_id = a.unit_id JOIN campaigns c ON c.campaign_id = a.campaign_id
            WHERE c.status <> 'closed' AND (a.division_id IS DISTINCT FROM u.division_id
                                            OR a.tier IS DISTINCT FROM u.tier)
            ORDER BY a.campaign_id, a.unit_id""")
        cur.execute("""
            UPDATE assessments SET division_id = u.division_id, tier = u.tier FROM business_units u
            WHERE u.unit_id = assessments.unit_id AND assessments.unit_id IN (SELECT unit_id FROM _moved)
              AND assessments.campaign_id IN (SELECT campaign_id FROM campaigns WHERE status <> 'closed')""")
    return changed


def set_assessment_status(cur, campaign_id: str, unit_id: str, status: str, at: datetime, actor: str,
                          comment: str | None = None) -> None:
    step = status if status in (SUBMITTED, APPROVED, RETURNED) else None
    sets = ["status = ?", "revision = revision + 1", "updated_at = ?"]
    params: list = [status, at]
    if step:
        sets += [f"{step}_by = ?", f"{step}_at = ?"]
        params += [actor, at]
    if status == "returned":
        sets.append("return_comment = ?")
        params.append(comment)
    cur.execute(f"UPDATE assessments SET {', '.join(sets)} WHERE campaign_id = ? AND unit_id = ?",
                [*params, campaign_id, unit_id])


def unit_states(cur, campaign_id: str, unit_ids: list[str]) -> pl.DataFrame:
    """Status and revision of these units' assessments in a campaign (absent units have no row)."""
    units, params = in_list(unit_ids)
    return frame(cur, f"SELECT unit_id, status, revision FROM assessments WHERE campaign_id = ? AND unit_id IN {units}",
                 [campaign_id, *params])


def touch_assessments(cur, campaign_id: str, unit_ids: list[str], at: datetime) -> None:
    """Bump the revision of the assessments whose answers changed (one statement for all units)."""
    if not unit_ids:
        return
    units, params = in_list(unit_ids)
    cur.execute(f"UPDATE assessments SET revision = revision + 1, updated_at = ? "
                f"WHERE campaign_id = ? AND unit_id IN {units}", [at, campaign_id, *params])


def previous_campaign(cur, campaign_id: str) -> str | None:
    row = fetch_one(cur, """
        SELECT c2.campaign_id FROM campaigns c1 JOIN campaigns c2 ON c2.opens_on < c1.opens_on
        WHERE c1.campaign_id = ? ORDER BY c2.opens_on DESC LIMIT 1""", [campaign_id])
    return row[0] if row else None


def load_states(cur, campaign_id: str, states: pl.DataFrame) -> None:
    """Bulk-set assessment workflow fields (demo and migration loads): one UPDATE ... FROM frame."""
    with registered(cur, "_states", states):
        cur.execute("""
            UPDATE assessments SET status = s.status, submitted_by = s.submitted_by,
                   submitted_at = s.submitted_at, approved_by = s.approved_by, approved_at = s.approved_at,
                   updated_at = coalesce(s.approved_at, s.submitted_at, assessments.updated_at),
                   revision = assessments.revision + 1
            FROM _states s WHERE assessments.campaign_id = ? AND assessments.unit_id = s.unit_id""",
            [campaign_id])
