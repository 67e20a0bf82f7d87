"""Copy a whole database from one backend to another (DuckDB <-> PostgreSQL) and prove the copy."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from . import access
from .errors import InvalidState
from .model import Actor
from .storage import transfer as transfer_sql


@dataclass(frozen=True)
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    source_hash: str
    target_hash: str

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_hash == self.target_hash


def copy_database(source, target, actor: Actor) -> list[TableCheck]:
    """Copy every table into an empty, migrated target in one transaction, then verify it."""
    access.require(actor, "backup")
    with target.read() as cur:
        if not transfer_sql.is_empty(cur):
            raise InvalidState("the target database is not empty: copy only into a new database")
    frames: dict[str, pl.DataFrame] = {}
    with source.read() as cur:
        for table in transfer_sql.TABLES:
            frames[table] = transfer_sql.read_table(cur, table)

    def work(cur) -> None:
        for table, df in frames.items():
            transfer_sql.write_table(cur, table, df)
        events = frames["answer_events"]
        top = int(events["event_id"].max() or 0) if events.height else 0  # type: ignore[arg-type]  # Int64
        transfer_sql.advance_sequence(cur, getattr(target, "dialect", "duckdb"), top)

    target.transaction(work)
    return verify_copy(source, target)


def verify_copy(source, target) -> list[TableCheck]:
    checks = []
    with source.read() as s, target.read() as t:
        for table in transfer_sql.TABLES:
            a, b = transfer_sql.read_table(s, table), transfer_sql.read_table(t, table)
            checks.append(TableCheck(table, a.height, b.height, transfer_sql.fingerprint(a),
                                     transfer_sql.fingerprint(b)))
    return checks
