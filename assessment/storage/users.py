"""SQL for user accounts, their unit assignments and login sessions."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from ._sql import fetch_row
from .db import frame, one

# users.failed_logins and last_failed_at (schema 2) are superseded by login_throttle (schema 5) and no longer written.
USER_FIELDS = {"display_name", "role", "password_hash", "active", "can_import", "password_changed_at", "email"}


def insert_user(cur, username: str, display_name: str, role: str, password_hash: str | None, can_import: bool,
                at: datetime, email: str | None = None) -> None:
    cur.execute(
        "INSERT INTO users (username, display_name, role, password_hash, active, can_import, failed_logins, "
        "created_at, password_changed_at, email) VALUES (?, ?, ?, ?, TRUE, ?, 0, ?, ?, ?)",
        [username, display_name, role, password_hash, can_import, at, at if password_hash else None, email],
    )


def user(cur, username: str) -> dict | None:
    return fetch_row(cur, "SELECT * FROM users WHERE username = ?", [username])


def users(cur) -> pl.DataFrame:
    return frame(cur, """
        SELECT u.username, u.display_name, u.email, u.role, u.active, u.can_import,
               coalesce(max(t.failures), 0) AS failed_logins, u.created_at, u.password_changed_at,
               coalesce(string_agg(uu.unit_id, ', ' ORDER BY uu.unit_id), '') AS units
        FROM users u LEFT JOIN user_units uu ON uu.username = u.username
        LEFT JOIN login_throttle t ON t.throttle_key = 'name:' || u.username
        GROUP BY u.username, u.display_name, u.email, u.role, u.active, u.can_import, u.created_at,
                 u.password_changed_at
        ORDER BY u.username""")


def update_user(cur, username: str, **fields) -> None:
    bad = set(fields) - USER_FIELDS
    if bad:
        raise ValueError(f"cannot update user fields {sorted(bad)}")
    sets = ", ".join(f"{k} = ?" for k in fields)
    cur.execute(f"UPDATE users SET {sets} WHERE username = ?", [*fields.values(), username])


def user_units(cur, username: str) -> list[str]:
    return [r[0] for r in cur.execute("SELECT unit_id FROM user_units WHERE username = ? ORDER BY unit_id",
                                      [username]).fetchall()]


def set_user_units(cur, username: str, unit_ids: list[str]) -> None:
    cur.execute("DELETE FROM user_units WHERE username = ?", [username])
    for unit_id in sorted(set(unit_ids)):
        cur.execute("INSERT INTO user_units VALUES (?, ?)", [username, unit_id])


def count_users(cur) -> int:
    return one(cur, "SELECT count(*) FROM users")[0]


def insert_session(cur, token_hash: str, username: str, at: datetime) -> None:
    cur.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, NULL, NULL)", [token_hash, username, at, at])


def session(cur, token_hash: str) -> dict | None:
    return fetch_row(cur, "SELECT * FROM sessions WHERE token_hash = ?", [token_hash])


def session_holder(cur, token_hash: str) -> tuple[dict | None, dict | None, list[str]]:
    """A session, its user and the user's units, in one statement (every page load and every page write reads
    them): (None, None, []) for an unknown token, (session, None, []) when the user is gone."""
    res = cur.execute(
        "SELECT s.token_hash, s.username, s.created_at, s.last_seen_at, s.ended_at, s.end_reason, "
        "u.username AS user_username, u.role, u.active, u.can_import, "
        "(SELECT array_agg(uu.unit_id ORDER BY uu.unit_id) FROM user_units uu "
        " WHERE uu.username = u.username) AS units "
        "FROM sessions s LEFT JOIN users u ON u.username = s.username WHERE s.token_hash = ?", [token_hash])
    cols = [d[0] for d in res.description]
    rows = res.fetchall()
    if not rows:
        return None, None, []
    r = dict(zip(cols, rows[0]))
    session = {k: r[k] for k in ("token_hash", "username", "created_at", "last_seen_at", "ended_at", "end_reason")}
    if r["user_username"] is None:
        return session, None, []
    user = {"username": r["user_username"], "role": r["role"], "active": r["active"], "can_import": r["can_import"]}
    return session, user, list(r["units"] or [])


def touch_session(cur, token_hash: str, at: datetime) -> None:
    cur.execute("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?", [at, token_hash])


def end_session(cur, token_hash: str, at: datetime, reason: str) -> None:
    cur.execute("UPDATE sessions SET ended_at = ?, end_reason = ? WHERE token_hash = ? AND ended_at IS NULL",
                [at, reason, token_hash])


def end_user_sessions(cur, username: str, at: datetime, reason: str) -> None:
    cur.execute("UPDATE sessions SET ended_at = ?, end_reason = ? WHERE username = ? AND ended_at IS NULL",
                [at, reason, username])
