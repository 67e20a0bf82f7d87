"""SQL for reminder digests: who gets one (active users and their units) and which were sent on a day."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from .db import fetch_one, frame


def people(cur, username: str | None = None) -> pl.DataFrame:
    """Active users (or the one named): username, display_name, email, role."""
    where, params = ("AND username = ?", [username]) if username else ("", [])
    return frame(cur, f"""
        SELECT username, display_name, email, role FROM users WHERE active {where} ORDER BY username""", params)


def assignments(cur, username: str | None = None) -> pl.DataFrame:
    """(username, unit_id) of active users on active units: whose units are whose."""
    where, params = ("AND uu.username = ?", [username]) if username else ("", [])
    return frame(cur, f"""
        SELECT uu.username, uu.unit_id FROM user_units uu
        JOIN users u ON u.username = uu.username JOIN business_units b ON b.unit_id = uu.unit_id
        WHERE u.active AND b.active {where} ORDER BY uu.username, uu.unit_id""", params)


def sent_on(cur, day: date) -> pl.DataFrame:
    """The digests recorded as sent on `day`: username, email, items, sent_at, message_id."""
    return frame(cur, """
        SELECT username, email, items, sent_at, message_id FROM reminder_digests WHERE sent_on = ?
        ORDER BY username""", [day])


def was_sent(cur, username: str, day: date) -> bool:
    return fetch_one(cur, "SELECT 1 FROM reminder_digests WHERE username = ? AND sent_on = ?", [username, day]) \
        is not None


def insert_sent(cur, username: str, day: date, at: datetime, email: str, items: int, message_id: str) -> None:
    cur.execute("INSERT INTO reminder_digests VALUES (?, ?, ?, ?, ?, ?)", [username, day, at, email, items,
                                                                           message_id])
