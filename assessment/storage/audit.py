"""Append-only, hash-chained audit log and its keyed checkpoints: append inside the caller's transaction,
read for verify."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from .. import checkpoints
from ..checkpoints import Checkpoint
from ..clock import now
from ..errors import DatabaseError
from .db import fetch_one, frame, one

GENESIS = "genesis"


def _canonical(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def entry_hash(prev_hash: str, seq: int, logged_at: str, actor: str, source: str, action: str,
               object_type: str, object_id: str, before_json: str | None, after_json: str | None) -> str:
    body = json.dumps(
        [seq, logged_at, actor, source, action, object_type, object_id, before_json, after_json],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(f"{prev_hash}|{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Head:
    """The chain's head as an append needs it: its entry's seq and hash, and the newest checkpoint's seq."""

    seq: int
    hash: str
    signed: int


# The head as columns of another statement (a write's first read takes it along, saving a round trip); the
# statement joins HEAD_JOIN and head_of reads the columns back.
HEAD_COLUMNS = ("h.seq AS audit_seq, h.hash AS audit_hash, "
                "(SELECT coalesce(max(c.seq), 0) FROM audit_checkpoints c) AS audit_signed")
HEAD_JOIN = "LEFT JOIN audit_head h ON h.id = 1"


def head_of(row: dict) -> Head | None:
    """The Head in a row that selected HEAD_COLUMNS (None when the head row is missing)."""
    return None if row["audit_seq"] is None else Head(row["audit_seq"], row["audit_hash"], row["audit_signed"])


def append(cur, actor: str, source: str, action: str, object_type: str, object_id: str, *,
           before: Any = None, after: Any = None, head: Head | None = None) -> str:
    """Append one entry chained to the head; the head update serialises concurrent writers.

    `head` is the head as read earlier in this transaction (HEAD_COLUMNS), when no other entry was appended
    since; without it the head is read here. Writers queue before BEGIN on both backends, so a head read at
    the start of the transaction is the one this entry chains to (the guarded update below checks it).
    """
    if head is None:
        row = fetch_one(cur, f"SELECT {HEAD_COLUMNS} FROM audit_head h WHERE h.id = 1")
        head = head_of(dict(zip(("audit_seq", "audit_hash", "audit_signed"), row))) if row else None
    if head is None:
        raise DatabaseError("the audit log has no head row: the database is damaged (run itscm audit verify)")
    last, prev, signed = head.seq, head.hash, head.signed
    seq = last + 1
    at = now().replace(microsecond=0)  # the hash covers the ISO text: whole seconds keep it stable
    b, a = _canonical(before), _canonical(after)
    h = entry_hash(prev, seq, at.isoformat(), actor, source, action, object_type, object_id, b, a)
    # Moving the head only from the entry this one chains to: a concurrent writer that read the same head
    # conflicts here (DuckDB: "Conflict on update", retried) or finds it moved, and this entry is not written.
    moved = cur.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ? RETURNING seq",
                        [seq, h, last]).fetchall()
    if not moved:
        raise DatabaseError("another write moved the audit head during this one: nothing was saved, try again")
    cur.execute(
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [seq, at, actor, source, action, object_type, object_id, b, a, prev, h],
    )
    if seq - signed >= checkpoints.EVERY:
        # Every append path comes through here, so no stretch of EVERY entries goes unsigned: verify relies on it.
        insert_checkpoint(cur, checkpoints.sign(checkpoints.signing_key(), seq, h, at))
    return h


def latest_checkpoint_seq(cur) -> int:
    return int(one(cur, "SELECT coalesce(max(seq), 0) FROM audit_checkpoints")[0])


def insert_checkpoint(cur, cp: Checkpoint) -> None:
    cur.execute("INSERT INTO audit_checkpoints VALUES (?, ?, ?, ?, ?)",
                [cp.seq, cp.head_hash, cp.created_at, cp.key_id, cp.mac])


def has_checkpoints(cur) -> bool:
    """False in databases made before schema version 5 (e.g. an old backup being verified)."""
    return bool(one(cur, "SELECT count(*) FROM information_schema.tables WHERE table_name = "
                               "'audit_checkpoints' AND table_schema = current_schema()")[0])


def stored_checkpoints(cur) -> list[Checkpoint]:
    rows = cur.execute("SELECT seq, head_hash, created_at, key_id, mac FROM audit_checkpoints ORDER BY seq"
                       ).fetchall()
    return [Checkpoint(int(seq), h, at, key_id, mac) for seq, h, at, key_id, mac in rows]


def checkpoint_at(cur, seq: int) -> Checkpoint | None:
    row = fetch_one(cur, "SELECT seq, head_hash, created_at, key_id, mac FROM audit_checkpoints WHERE seq = ?", [seq])
    return Checkpoint(int(row[0]), *row[1:]) if row else None


def latest_signed_checkpoint(cur) -> Checkpoint | None:
    row = fetch_one(cur, "SELECT seq, head_hash, created_at, key_id, mac FROM audit_checkpoints "
                         "WHERE mac IS NOT NULL ORDER BY seq DESC LIMIT 1")
    return Checkpoint(int(row[0]), *row[1:]) if row else None


def about_units(cur, units_sql: str, params: list, limit: int) -> pl.DataFrame:
    """The entries about a set of units (`units_sql` selects their unit_id): their assessments in any campaign,
    the units themselves, their services, and the exercises and incidents that touched those services."""
    sql = f"""
        WITH scoped AS ({units_sql}),
        svc AS (SELECT service_id FROM services WHERE unit_id IN (SELECT unit_id FROM scoped)),
        exr AS (SELECT DISTINCT exercise_id FROM exercise_results WHERE unit_id IN (SELECT unit_id FROM scoped)),
        inc AS (SELECT DISTINCT incident_id FROM incident_services WHERE unit_id IN (SELECT unit_id FROM scoped))
        SELECT seq, logged_at, actor, source, action, object_type, object_id, before_json, after_json, hash
        FROM audit_log
        WHERE (object_type = 'assessment' AND split_part(object_id, '/', 2) IN (SELECT unit_id FROM scoped))
           OR (object_type = 'unit' AND object_id IN (SELECT unit_id FROM scoped))
           OR (object_type = 'service' AND object_id IN (SELECT service_id FROM svc))
           OR (object_type = 'exercise' AND object_id IN (SELECT exercise_id FROM exr))
           OR (object_type = 'incident' AND object_id IN (SELECT incident_id FROM inc))
        ORDER BY seq DESC LIMIT {int(limit)}"""
    return frame(cur, sql, params)


def head(cur) -> tuple[int, str]:
    seq, h = one(cur, "SELECT seq, hash FROM audit_head WHERE id = 1")
    return int(seq), str(h)


def read_chain(cur) -> list[tuple]:
    # Reordering or renumbering is caught by the hash links, whatever order the rows come back in.
    return cur.execute(
        "SELECT seq, logged_at, actor, source, action, object_type, object_id, before_json, after_json, "
        "prev_hash, hash FROM audit_log ORDER BY seq"
    ).fetchall()


def query(cur, actor: str | None = None, action: str | None = None, object_type: str | None = None,
          since: datetime | None = None, limit: int = 1000) -> pl.DataFrame:
    where: list[str] = ["1=1"]
    params: list[object] = []
    for col, val in (("actor", actor), ("action", action), ("object_type", object_type)):
        if val:
            where.append(f"{col} = ?")
            params.append(val)
    if since:
        where.append("logged_at >= ?")
        params.append(since)
    sql = (
        "SELECT seq, logged_at, actor, source, action, object_type, object_id, before_json, after_json, hash "
        f"FROM audit_log WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT {int(limit)}"
    )
    return frame(cur, sql, params)
