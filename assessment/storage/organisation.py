"""SQL for the organisation register: divisions, units with their heads, people, and the policy's tiers."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from ..model import Questionnaire
from ._sql import in_list, registered
from .db import fetch_one, frame, insert_frame, one

HEAD = "department_head"
UNIT_COLS = ["unit_id", "division_id", "name", "tier", "head", "plan_last_reviewed", "review_interval_months",
             "active"]


def policy_tiers(cur, fallback: Questionnaire) -> list[int]:
    """The tiers of the active policy: the newest cycle's questionnaire, else the newest stored one, else
    `fallback` (the bundled questionnaire of an empty database)."""
    row = fetch_one(cur, "SELECT questionnaire_id, questionnaire_version FROM campaigns "
                         "ORDER BY opens_on DESC, created_at DESC LIMIT 1")
    if row is None:
        row = fetch_one(cur, "SELECT questionnaire_id, version FROM questionnaires ORDER BY loaded_at DESC LIMIT 1")
    if row is None:
        return sorted(t.tier for t in fallback.policy.tiers)
    return [r[0] for r in cur.execute("SELECT tier FROM q_tiers WHERE questionnaire_id = ? AND version = ? "
                                      "ORDER BY tier", list(row)).fetchall()]


def divisions(cur) -> pl.DataFrame:
    return frame(cur, "SELECT division_id, name FROM divisions ORDER BY division_id")


def units(cur) -> pl.DataFrame:
    """Every unit (active or not) with its department heads' user names, comma-separated in name order."""
    return frame(cur, f"""
        SELECT u.unit_id, u.name, u.division_id, u.tier,
               coalesce((SELECT string_agg(uu.username, ',' ORDER BY uu.username) FROM user_units uu
                         JOIN users us ON us.username = uu.username
                         WHERE uu.unit_id = u.unit_id AND us.role = '{HEAD}'), '') AS head_usernames,
               u.plan_last_reviewed, u.review_interval_months, u.active, u.head
        FROM business_units u ORDER BY u.unit_id""")


def people(cur) -> pl.DataFrame:
    return frame(cur, """
        SELECT username, display_name, coalesce(email, '') AS email, role, active, password_hash IS NOT NULL
               AS has_password FROM users ORDER BY username""")


def upsert_divisions(cur, df: pl.DataFrame) -> None:
    """Insert new divisions and rename existing ones (df: division_id, name)."""
    if df.height == 0:
        return
    with registered(cur, "_divs", df.select("division_id", "name")):
        cur.execute("UPDATE divisions SET name = d.name FROM _divs d WHERE divisions.division_id = d.division_id")
        cur.execute("INSERT INTO divisions (division_id, name) SELECT d.division_id, d.name FROM _divs d "
                    "WHERE NOT EXISTS (SELECT 1 FROM divisions x WHERE x.division_id = d.division_id)")


def upsert_units(cur, df: pl.DataFrame) -> None:
    """Insert new units and overwrite the fields of existing ones (df: UNIT_COLS)."""
    if df.height == 0:
        return
    with registered(cur, "_units", df.select(UNIT_COLS)):
        sets = ", ".join(f"{c} = n.{c}" for c in UNIT_COLS if c != "unit_id")
        cur.execute(f"UPDATE business_units SET {sets} FROM _units n WHERE business_units.unit_id = n.unit_id")
        cur.execute(f"INSERT INTO business_units ({', '.join(UNIT_COLS)}) SELECT {', '.join(UNIT_COLS)} "
                    "FROM _units n WHERE NOT EXISTS (SELECT 1 FROM business_units x WHERE x.unit_id = n.unit_id)")


def set_heads(cur, unit_ids: list[str], pairs: pl.DataFrame) -> None:
    """The department heads of these units become exactly `pairs` (username, unit_id); other roles' unit
    assignments and other units are untouched."""
    if unit_ids:
        with registered(cur, "_unit_ids", pl.DataFrame({"unit_id": unit_ids})):
            cur.execute(f"""DELETE FROM user_units WHERE unit_id IN (SELECT unit_id FROM _unit_ids)
                            AND username IN (SELECT username FROM users WHERE role = '{HEAD}')""")
    insert_frame(cur, "user_units", pairs.select("username", "unit_id"))


def insert_users(cur, df: pl.DataFrame, at: datetime) -> None:
    """New accounts (df: username, display_name, role, email, active, password_hash), in one statement."""
    if df.height == 0:
        return
    rows = df.select("username", "display_name", "role", "password_hash", "active", "email").with_columns(
        pl.lit(False).alias("can_import"), pl.lit(0).alias("failed_logins"), pl.lit(at).alias("created_at"),
        pl.when(pl.col("password_hash").is_not_null()).then(pl.lit(at)).alias("password_changed_at"))
    insert_frame(cur, "users", rows)


def update_users(cur, df: pl.DataFrame) -> None:
    """Overwrite display name, email, role and status of existing accounts (df: those columns + username)."""
    if df.height == 0:
        return
    with registered(cur, "_people", df.select("username", "display_name", "email", "role", "active")):
        cur.execute("UPDATE users SET display_name = p.display_name, email = p.email, role = p.role, "
                    "active = p.active FROM _people p WHERE users.username = p.username")


def end_sessions(cur, usernames: list[str], at: datetime, reason: str) -> None:
    if usernames:
        marks, params = in_list(usernames)
        cur.execute(f"UPDATE sessions SET ended_at = ?, end_reason = ? WHERE username IN {marks} "
                    "AND ended_at IS NULL", [at, reason, *params])


def has_answers(cur, unit_id: str) -> bool:
    return one(cur, "SELECT count(*) FROM answer_events WHERE unit_id = ?", [unit_id])[0] > 0


def in_cycles(cur, unit_id: str) -> int:
    return one(cur, "SELECT count(*) FROM assessments WHERE unit_id = ?", [unit_id])[0]


def delete_unit(cur, unit_id: str) -> None:
    cur.execute("DELETE FROM user_units WHERE unit_id = ?", [unit_id])
    cur.execute("DELETE FROM business_units WHERE unit_id = ?", [unit_id])


def questionnaire_source_of(cur, campaign_id: str) -> str | None:
    row = fetch_one(cur, """SELECT q.source FROM campaigns c JOIN questionnaires q ON q.questionnaire_id =
                            c.questionnaire_id AND q.version = c.questionnaire_version WHERE c.campaign_id = ?""",
                    [campaign_id])
    return row[0] if row else None
