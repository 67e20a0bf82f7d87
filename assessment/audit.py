"""The audit trail as the engine sees it: read with filters, verify the hash chain and its keyed checkpoints,
make checkpoints on demand, report the head and the latest checkpoint for exports and backup manifests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from . import access, auth, checkpoints
from .checkpoints import Checkpoint
from .model import Actor
from .storage import Database
from .storage import audit as audit_sql
from .storage.reports import Scope


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None = None
    problem: str = ""
    checkpoints_checked: int = 0
    latest_checkpoint: Checkpoint | None = None
    notes: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        if self.ok:
            cp = self.latest_checkpoint
            signed = (f"; {self.checkpoints_checked} keyed checkpoint(s) match, the latest {cp.label()}"
                      if cp else "; no keyed checkpoint yet")
            return (f"audit chain intact: {self.entries} entries, head #{self.head_seq} {self.head_hash[:16]}"
                    + signed + "".join(f"\nnote: {n}" for n in self.notes))
        where = f" at entry #{self.first_broken_seq}" if self.first_broken_seq is not None else ""
        return f"audit chain BROKEN{where}: {self.problem}"


def record(cur, actor: Actor, action: str, object_type: str, object_id: str, *, before: Any = None,
           after: Any = None, head: audit_sql.Head | None = None) -> str:
    """Write the audit entry of an engine write, inside that write's transaction.

    Every engine write ends here, so this is where a page actor's session and rights are re-checked
    (auth.require_current): a write by a revoked or expired session raises and its transaction rolls back.
    `head`: the chain's head as the write read it (storage.audit.HEAD_COLUMNS), if no entry came since.
    """
    auth.require_current(cur, actor)
    return audit_sql.append(cur, actor.username, actor.source, action, object_type, object_id, before=before,
                            after=after, head=head)


def checkpoint(db: Database, actor: Actor, reason: str = "on demand") -> Checkpoint:
    """Sign a checkpoint over the head now (after this operation's own audit entry), e.g. before a backup."""
    access.require(actor, "read_audit")
    key = checkpoints.signing_key()

    def work(cur) -> Checkpoint:
        record(cur, actor, "audit.checkpoint", "audit", "head", after={"reason": reason})
        seq, h = audit_sql.head(cur)
        made = audit_sql.checkpoint_at(cur, seq)  # the append may just have made the periodic one
        if made is None:
            made = checkpoints.sign(key, seq, h, _entry_time(cur, seq))
            audit_sql.insert_checkpoint(cur, made)
        return made

    return db.transaction(work)


def _entry_time(cur, seq: int) -> datetime:
    return cur.execute("SELECT logged_at FROM audit_log WHERE seq = ?", [seq]).fetchall()[0][0]


def latest_checkpoint(db: Database) -> Checkpoint | None:
    """The newest signed checkpoint: printed into every auditor pack and backup manifest."""
    with db.read() as cur:
        return audit_sql.latest_signed_checkpoint(cur)


def verify(db: Database, actor: Actor, expected_head: str | None = None,
           external: Iterable[Checkpoint] = ()) -> ChainReport:
    """Recompute every hash, then hold the log against every keyed checkpoint: the stored ones and any
    exported ones given (auditor pack, backup manifest). Names the first thing that is wrong."""
    access.require(actor, "read_audit")
    with db.read() as cur:
        rows = audit_sql.read_chain(cur)
        head_seq, head_hash = audit_sql.head(cur)
        # None: a database from before schema version 5 (an old backup), made before checkpoints existed.
        stored = audit_sql.stored_checkpoints(cur) if audit_sql.has_checkpoints(cur) else None
    external = list(external)
    wanted = {cp.seq for cp in (*(stored or ()), *external)}
    hash_at: dict[int, str] = {0: audit_sql.GENESIS}
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
        if seq in wanted:
            hash_at[seq] = h
        prev, expected_seq = h, seq + 1
    last = rows[-1][0] if rows else 0
    base = ChainReport(False, len(rows), head_seq, head_hash)
    if rows and (head_seq != last or head_hash != prev):
        return _replace(base, last + 1, f"the head records entry #{head_seq} but the log ends at #{last} "
                                        "(entries were removed from the end)")
    if not rows and head_seq:
        return _replace(base, 1, f"the log is empty but the head records {head_seq} entries")
    found = _checkpoint_problem(stored, external, hash_at, last)
    if found:
        return _replace(base, *found)
    if expected_head and expected_head != prev and expected_head not in {r[10] for r in rows}:
        return _replace(base, None, f"the head {expected_head[:16]} from an earlier export is not in the chain, "
                                    f"which now ends at #{last} {prev[:16]}: entries after that export's head "
                                    "were removed, or the chain was rewritten")
    signed = [cp for cp in (*(stored or ()), *external) if cp.signed]
    notes: tuple[str, ...] = ()
    if stored is None:
        notes = ("this database predates keyed checkpoints (schema version 5): only the hash chain was checked",)
    elif stored and not stored[0].signed and stored[0].seq:
        notes = (f"entries up to #{stored[0].seq} were written before checkpoints existed: only the hash chain "
                 "covers them",)
    return ChainReport(True, len(rows), head_seq, head_hash, checkpoints_checked=len({c.seq for c in signed}),
                       latest_checkpoint=max(signed, key=lambda c: c.seq, default=None), notes=notes)


def _replace(base: ChainReport, first: int | None, problem: str) -> ChainReport:
    return ChainReport(False, base.entries, base.head_seq, base.head_hash, first, problem)


def _checkpoint_problem(stored: list[Checkpoint] | None, external: list[Checkpoint], hash_at: dict[int, str],
                        last: int) -> tuple[int | None, str] | None:
    """(first broken entry, message) for the worst thing the checkpoints show, or None when they all hold."""
    found = _checkpoint_mismatch(stored or [], external, hash_at, last)
    if found or stored is None:
        return found
    return _missing_checkpoints([cp.seq for cp in stored], last)


def _checkpoint_mismatch(stored: list[Checkpoint], external: list[Checkpoint], hash_at: dict[int, str],
                         last: int) -> tuple[int | None, str] | None:
    baseline = stored[0] if stored and not stored[0].signed else None
    everything = sorted({(cp.seq, cp.mac): cp for cp in (*stored, *external)}.values(), key=lambda c: c.seq)
    key = checkpoints.load_key(create=False) if any(cp.signed for cp in everything) else None
    for cp in everything:
        bad = None if cp is baseline else cp.problem(key)
        if bad:
            return cp.seq, bad
    beyond = [cp for cp in everything if cp.seq > last]
    if beyond:
        cp = beyond[-1]
        if last == 0:
            return 1, f"the log is empty but {cp.label()} exists: the log was wiped"
        return last + 1, (f"the log ends at #{last}, but a checkpoint from {cp.created_at:%Y-%m-%d} covers "
                          f"#{cp.seq}: entries #{last + 1} to #{cp.seq} were removed")
    for i, cp in enumerate(everything):
        if hash_at.get(cp.seq) != cp.head_hash:
            good = max((c.seq for c in everything[:i] if hash_at.get(c.seq) == c.head_hash), default=0)
            return good + 1, (f"entries re-chained after #{good}: the {cp.label()} does not match the log "
                              f"(entries #{good + 1} to #{cp.seq} were changed and their hashes recomputed)")
    return None


def _missing_checkpoints(marks: list[int], last: int) -> tuple[int, str] | None:
    """The storage layer signs a checkpoint whenever the chain grows checkpoints.EVERY entries past the last
    one, on every append path: a longer stretch without one means checkpoints were deleted (to hide a rewrite
    of the entries they covered)."""
    marks = marks or [0]
    every = checkpoints.EVERY
    for a, b in zip(marks, marks[1:]):
        if b - a > every:
            return a + 1, (f"checkpoints are missing: there is none between #{a} and #{b}, although one is "
                           f"signed every {every} entries (checkpoints were deleted)")
    if last - marks[-1] >= every:
        return marks[-1] + 1, (f"checkpoints are missing: there is none after #{marks[-1]} although the log "
                               f"runs to #{last} and one is signed every {every} entries (checkpoints were "
                               "deleted)")
    return None


def head(db: Database) -> tuple[int, str]:
    """Head of the chain (sequence, hash): printed into every auditor export."""
    with db.read() as cur:
        return audit_sql.head(cur)


def entries_about(db: Database, actor: Actor, scope: Scope, limit: int = 1000) -> pl.DataFrame:
    """The entries about the units of a report scope (a division's or a unit's pack), newest first: what an
    auditor of those units needs, and nothing about the rest of the organisation."""
    access.require(actor, "read_audit")
    where, params = scope.where("u")
    with db.read() as cur:
        return audit_sql.about_units(cur, f"SELECT u.unit_id FROM business_units u WHERE {where}", params, limit)


def entries(db: Database, actor: Actor, user: str | None = None, action: str | None = None,
            object_type: str | None = None, since: datetime | None = None, limit: int = 1000) -> pl.DataFrame:
    access.require(actor, "read_audit")
    with db.read() as cur:
        return audit_sql.query(cur, user, action, object_type, since, limit)
