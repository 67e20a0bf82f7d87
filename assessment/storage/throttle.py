"""SQL for sign-in throttling: failure counters per user name and per client, remembered devices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .db import fetch_one


@dataclass(frozen=True)
class Counter:
    key: str
    failures: int
    first_failed_at: datetime | None
    last_failed_at: datetime | None


@dataclass(frozen=True)
class Device:
    token_hash: str
    username: str
    created_at: datetime
    last_used_at: datetime
    failures: int


def counter(cur, key: str) -> Counter | None:
    row = fetch_one(cur, "SELECT throttle_key, failures, first_failed_at, last_failed_at FROM login_throttle "
                         "WHERE throttle_key = ?", [key])
    return Counter(*row) if row else None


def claim(cur, seen: Counter | None, new: Counter) -> bool:
    """Move a counter from the state it was read in to `new`, only if nobody moved it since (one conditional
    statement). False when it changed in between: the caller refuses the attempt rather than count twice."""
    if seen is None:
        rows = cur.execute(
            "INSERT INTO login_throttle VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING throttle_key",
            [new.key, new.failures, new.first_failed_at, new.last_failed_at]).fetchall()
    else:
        rows = cur.execute(
            "UPDATE login_throttle SET failures = ?, first_failed_at = ?, last_failed_at = ? "
            "WHERE throttle_key = ? AND failures = ? AND last_failed_at = ? RETURNING throttle_key",
            [new.failures, new.first_failed_at, new.last_failed_at, new.key, seen.failures,
             seen.last_failed_at]).fetchall()
    return len(rows) == 1


def clear(cur, key: str) -> None:
    cur.execute("DELETE FROM login_throttle WHERE throttle_key = ?", [key])


def purge(cur, older_than: datetime) -> None:
    """Forget counters whose last failure is older than their reset period (bounded table size)."""
    cur.execute("DELETE FROM login_throttle WHERE last_failed_at < ?", [older_than])


def device(cur, token_hash: str) -> Device | None:
    row = fetch_one(cur, "SELECT token_hash, username, created_at, last_used_at, failures FROM login_devices "
                         "WHERE token_hash = ?", [token_hash])
    return Device(*row) if row else None


def insert_device(cur, token_hash: str, username: str, at: datetime) -> None:
    cur.execute("INSERT INTO login_devices VALUES (?, ?, ?, ?, 0)", [token_hash, username, at, at])


def claim_device(cur, seen: Device) -> bool:
    """Count one attempt with a device token before its password is checked (conditional, like claim)."""
    rows = cur.execute("UPDATE login_devices SET failures = failures + 1 WHERE token_hash = ? AND failures = ? "
                       "RETURNING token_hash", [seen.token_hash, seen.failures]).fetchall()
    return len(rows) == 1


def device_succeeded(cur, token_hash: str, at: datetime) -> None:
    cur.execute("UPDATE login_devices SET failures = 0, last_used_at = ? WHERE token_hash = ?", [at, token_hash])


def purge_devices(cur, unused_since: datetime) -> None:
    cur.execute("DELETE FROM login_devices WHERE last_used_at < ?", [unused_since])


def forget_devices(cur, username: str) -> None:
    cur.execute("DELETE FROM login_devices WHERE username = ?", [username])
