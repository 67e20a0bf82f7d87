"""The audit trail as the engine sees it: read with filters, verify the hash chain, report the head."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from . import access, auth
from .model import Actor
from .storage import Database
from .storage import audit as audit_sql


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None = None
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.entries} entries, head #{self.head_seq} {self.head_hash[:16]}"
        return f"audit chain BROKEN at entry #{self.first_broken_seq}: {self.problem}"


def record(cur, actor: Actor, action: str, object_type: str, object_id: str, *, before: Any = None,
           after: Any = None) -> str:
    """Write the audit entry of an engine write, inside that write's transaction.

    Every engine write ends here, so this is where a page actor's session and rights are re-checked
    (auth.require_current): a write by a revoked or expired session raises and its transaction rolls back.
    """
    auth.require_current(cur, actor)
    return audit_sql.append(cur, actor.username, actor.source, action, object_type, object_id, before, after)


def verify(db: Database, actor: Actor, expected_head: str | None = None) -> ChainReport:
    """Recompute every hash; name the first entry that was edited, removed, reordered or appended after."""
    access.require(actor, "read_audit")
    with db.read() as cur:
        rows = audit_sql.read_chain(cur)
        head_seq, head_hash = audit_sql.head(cur)
    prev, expected_seq = audit_sql.GENESIS, 1
    for seq, at, who, source, action, otype, oid, before, after, prev_hash, h in rows:
        def broken(problem: str, at_seq: int = seq) -> ChainReport:
            return ChainReport(False, len(rows), head_seq, head_hash, at_seq, problem)
        if seq != expected_seq:
            return broken(f"entry #{expected_seq} is missing (next stored entry is #{seq})", expected_seq)
        if prev_hash != prev:
            return broken("its link to the previous entry does not match (entries removed or reordered)")
        stamp = at.isoformat() if isinstance(at, datetime) else str(at)
        if audit_sql.entry_hash(prev, seq, stamp, who, source, action, otype, oid, before, after) != h:
            return broken("its content does not match its hash (the entry was edited)")
        prev, expected_seq = h, seq + 1
    if rows and (head_seq != rows[-1][0] or head_hash != prev):
        return ChainReport(False, len(rows), head_seq, head_hash, rows[-1][0] + 1,
                           f"the head records entry #{head_seq} but the log ends at #{rows[-1][0]} "
                           "(entries were removed from the end)")
    if not rows and head_seq:
        return ChainReport(False, 0, head_seq, head_hash, 1, "the log is empty but the head records entries")
    if expected_head and expected_head != prev and expected_head not in {r[10] for r in rows}:
        return ChainReport(False, len(rows), head_seq, head_hash, None,
                           f"the head {expected_head[:16]} from an earlier export is not in the chain")
    return ChainReport(True, len(rows), head_seq, head_hash)


def head(db: Database) -> tuple[int, str]:
    """Head of the chain (sequence, hash): printed into every auditor export."""
    with db.read() as cur:
        return audit_sql.head(cur)


def entries(db: Database, actor: Actor, user: str | None = None, action: str | None = None,
            object_type: str | None = None, since: datetime | None = None, limit: int = 1000) -> pl.DataFrame:
    access.require(actor, "read_audit")
    with db.read() as cur:
        return audit_sql.query(cur, user, action, object_type, since, limit)
