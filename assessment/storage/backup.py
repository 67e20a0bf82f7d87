"""SQL for online backups and restores: copy a whole database through ATTACH, fingerprint it in SQL.

A fingerprint is, per table, the row count and an MD5 over the table's rows (each row as JSON, rows in
primary-key order) plus the next value of every sequence: two databases with equal fingerprints hold the
same data. Backups are written with `COPY FROM DATABASE` inside one transaction of the owning process,
never by copying the live file.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import duckdb

Fingerprint = dict[str, tuple[int, str]]  # "table" -> (rows, md5); "sequence:<name>" -> (next value, "")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def current_catalog(cur) -> str:
    return cur.execute("SELECT current_database()").fetchall()[0][0]


def attach(cur, path: Path, read_only: bool = False) -> str:
    """Attach a database file under a fresh alias (attachments are shared by all cursors)."""
    alias = f"itscm_{uuid.uuid4().hex[:12]}"
    mode = " (READ_ONLY)" if read_only else ""
    cur.execute(f"ATTACH '{_literal(path)}' AS {quote(alias)}{mode}")
    return alias


def detach(cur, alias: str) -> None:
    cur.execute(f"DETACH {quote(alias)}")


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")


def tables(cur, catalog: str) -> list[tuple[str, str]]:
    return cur.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? AND NOT temporary "
        "ORDER BY schema_name, table_name", [catalog]).fetchall()


def table_fingerprint(cur, catalog: str, schema: str, table: str) -> tuple[int, str]:
    """Row count and MD5 over every row as JSON, in row-hash order: a function of the content alone, so a
    migration that only changes keys or indexes keeps the fingerprint."""
    row_hash = "md5(CAST(to_json(_fp_row) AS VARCHAR))"
    sql = (f"SELECT count(*), md5(coalesce(string_agg({row_hash}, ',' ORDER BY {row_hash}), '')) "
           f"FROM {quote(catalog)}.{quote(schema)}.{quote(table)} AS _fp_row")
    n, digest = cur.execute(sql).fetchall()[0]
    return int(n), str(digest)


def sequences(cur, catalog: str) -> dict[str, int]:
    """Next value each sequence would hand out (so a restored database never reuses an id)."""
    rows = cur.execute(
        "SELECT schema_name, sequence_name, coalesce(last_value + increment_by, start_value) "
        "FROM duckdb_sequences() WHERE database_name = ? AND NOT temporary", [catalog]).fetchall()
    return {f"{schema}.{name}": int(nxt) for schema, name, nxt in rows}


def fingerprint(cur, catalog: str, with_sequences: bool = True) -> Fingerprint:
    out: Fingerprint = {}
    for schema, table in tables(cur, catalog):
        name = table if schema == "main" else f"{schema}.{table}"
        out[name] = table_fingerprint(cur, catalog, schema, table)
    if with_sequences:
        for name, nxt in sequences(cur, catalog).items():
            out[f"sequence:{name}"] = (nxt, "")
    return out


def sequence_problems(cur, catalog: str) -> list[str]:
    """Key columns filled from a sequence whose next value is not above their largest value (ids would repeat).

    Sequences are not transactional: while others write, a live database's sequences move past the snapshot
    being copied, so an online copy is checked with this rule rather than by equal values.
    """
    nxt = {name.split(".")[-1]: value for name, value in sequences(cur, catalog).items()}
    problems = []
    for schema, table, column, default in cur.execute(
            "SELECT schema_name, table_name, column_name, column_default FROM duckdb_columns() "
            "WHERE database_name = ? AND column_default ILIKE '%nextval(%'", [catalog]).fetchall():
        m = re.search(r"nextval\('(?:[^']*\.)?([^'.]+)'", default)
        if not m or m.group(1) not in nxt:
            problems.append(f"{table}.{column}: default {default} names a sequence that is missing")
            continue
        top = cur.execute(f"SELECT max({quote(column)}) FROM {quote(catalog)}.{quote(schema)}.{quote(table)}"
                          ).fetchall()[0][0]
        if top is not None and nxt[m.group(1)] <= top:
            problems.append(f"sequence {m.group(1)} would hand out {nxt[m.group(1)]}, but {table}.{column} "
                            f"already holds {top}")
    return problems


def schema_version(cur, catalog: str) -> int:
    has = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = "
                      "'schema_migrations'", [catalog]).fetchall()[0][0]
    if not has:
        return 0
    return int(cur.execute(f"SELECT coalesce(max(version), 0) FROM {quote(catalog)}.main.schema_migrations")
               .fetchall()[0][0])


def copy_database(cur, source: str, target: str, with_sequences: bool = True) -> tuple[Fingerprint, Fingerprint]:
    """Copy every table and sequence of catalog source into the empty catalog target, in one transaction.

    Returns the fingerprints of both, taken inside that transaction: the source's is of the exact
    snapshot that was copied, even while other connections keep writing. Compare sequences only when
    nobody writes the source (with_sequences); otherwise check the copy with sequence_problems.
    """
    cur.execute("BEGIN TRANSACTION")
    try:
        cur.execute(f"COPY FROM DATABASE {quote(source)} TO {quote(target)}")
        before = fingerprint(cur, source, with_sequences)
        after = fingerprint(cur, target, with_sequences)
        cur.execute("COMMIT")
    except BaseException:
        try:
            cur.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise
    return before, after


def audit_head(cur, catalog: str) -> tuple[int, str]:
    seq, h = cur.execute(f"SELECT seq, hash FROM {quote(catalog)}.main.audit_head WHERE id = 1").fetchall()[0]
    return int(seq), str(h)


def checkpoint(cur) -> None:
    cur.execute("CHECKPOINT")
