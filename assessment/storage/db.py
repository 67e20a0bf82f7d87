"""Database connection ownership, cursors per call, transactions with conflict retry."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

T = TypeVar("T")
RETRIES = 8


class DatabaseError(RuntimeError):
    """A database problem explained for a person: what happened and what to do."""


class DatabaseLocked(DatabaseError):
    pass


class StaleWrite(DatabaseError):
    """A write based on data that someone else changed meanwhile."""

    def __init__(self, message: str, conflicts: list[dict] | None = None):
        super().__init__(message)
        self.conflicts = conflicts or []


class Database:
    """One process-wide DuckDB connection; every call works on its own cursor (thread-safe)."""

    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None):
        self._con = con
        self.path = path
        self._lock = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self._con.cursor()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def transaction(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run work(cursor) in one transaction; retry write-write conflicts with jittered backoff.

        work must be safe to re-run: it is called again from scratch after a conflict.
        """
        for attempt in range(RETRIES):
            cur = self.cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                result = work(cur)
                cur.execute("COMMIT")
                return result
            except duckdb.TransactionException as exc:
                _rollback(cur)
                if attempt == RETRIES - 1 or not _is_conflict(exc):
                    raise DatabaseError(f"the change could not be saved: {exc}") from exc
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
            except BaseException:
                _rollback(cur)
                raise
            finally:
                cur.close()
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._con.close()


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    try:
        cur.execute("ROLLBACK")
    except duckdb.Error:
        pass  # after a failed COMMIT the transaction is already gone


def _is_conflict(exc: Exception) -> bool:
    text = str(exc).lower()
    return "conflict" in text or "write-write" in text


def open_database(path: str | Path, read_only: bool = False) -> Database:
    """Open (creating if needed) the DuckDB file and bring its schema up to date."""
    from .migrations import migrate

    path = Path(path)
    con = _connect(path, read_only)
    db = Database(con, path)
    if not read_only:
        try:
            migrate(db)
        except Exception:
            db.close()
            raise
    return db


def open_memory() -> Database:
    from .migrations import migrate

    db = Database(duckdb.connect(":memory:"), None)
    migrate(db)
    return db


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    if not path.parent.exists():
        raise DatabaseError(f"the data folder {path.parent} does not exist; create it or set ITSCM_DATA_DIR")
    if read_only and not path.exists():
        raise DatabaseError(f"no database at {path}; run `python -m assessment init` first")
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise DatabaseLocked(
                f"the database {path} is in use by another process (probably the running app). "
                "Stop the app, or run this command from inside it (the Admin page), then try again."
            ) from exc
        if "permission" in text.lower() or "read-only" in text.lower():
            raise DatabaseError(f"cannot write the database {path}: permission denied ({text})") from exc
        raise DatabaseError(f"cannot open the database {path}: {text}") from exc
    except duckdb.Error as exc:
        raise DatabaseError(f"{path} is not a usable database file: {exc}") from exc


def fetch_dicts(cur: Any, sql: str, params: list | tuple = ()) -> list[dict]:
    res = cur.execute(sql, params)
    cols = [d[0] for d in res.description]
    return [dict(zip(cols, row)) for row in res.fetchall()]


def frame(cur: Any, sql: str, params: list | tuple = ()) -> pl.DataFrame:
    """Run a query and return a polars frame (Arrow transfer, no per-row Python)."""
    return cur.sql(sql, params=list(params) if params else None).pl()


def insert_frame(cur: Any, table: str, df: pl.DataFrame, columns: list[str] | None = None) -> int:
    """Bulk-insert a polars frame in one statement."""
    if df.height == 0:
        return 0
    cols = columns or df.columns
    name = f"_frame_{id(df)}"
    cur.register(name, df.select(cols))
    try:
        cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {name}")
    finally:
        cur.unregister(name)
    return df.height


def fetch_one(cur: Any, sql: str, params: list | tuple = ()) -> tuple | None:
    """First row or None; reads the whole result so the cursor is free again (DuckDB 2.0 streams)."""
    rows = cur.execute(sql, list(params)).fetchall()
    return rows[0] if rows else None
