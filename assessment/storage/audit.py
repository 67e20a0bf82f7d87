"""Append-only, hash-chained audit log: append inside the caller's transaction, read for verify."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import polars as pl

from ..clock import now
from .db import fetch_one, frame

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


def append(cur, actor: str, source: str, action: str, object_type: str, object_id: str,
           before: Any = None, after: Any = None) -> str:
    """Append one entry chained to the head; the head update serialises concurrent writers."""
    # Claim the next number first: a concurrent writer now conflicts (and retries) before it
    # has built an entry on a head that is about to move.
    cur.execute("UPDATE audit_head SET seq = seq + 1 WHERE id = 1")
    seq, prev = fetch_one(cur, "SELECT seq, hash FROM audit_head WHERE id = 1")
    at = now().replace(microsecond=0)  # the hash covers the ISO text: whole seconds keep it stable
    b, a = _canonical(before), _canonical(after)
    h = entry_hash(prev, seq, at.isoformat(), actor, source, action, object_type, object_id, b, a)
    cur.execute(
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [seq, at, actor, source, action, object_type, object_id, b, a, prev, h],
    )
    cur.execute("UPDATE audit_head SET hash = ? WHERE id = 1", [h])
    return h


def head(cur) -> tuple[int, str]:
    seq, h = fetch_one(cur, "SELECT seq, hash FROM audit_head WHERE id = 1")
    return int(seq), str(h)


def read_chain(cur) -> list[tuple]:
    # Reordering or renumbering is caught by the hash links, whatever order the rows come back in.
    return cur.execute(
        "SELECT seq, logged_at, actor, source, action, object_type, object_id, before_json, after_json, "
        "prev_hash, hash FROM audit_log ORDER BY seq"
    ).fetchall()


def query(cur, actor: str | None = None, action: str | None = None, object_type: str | None = None,
          since: datetime | None = None, limit: int = 1000) -> pl.DataFrame:
    where, params = ["1=1"], []
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
