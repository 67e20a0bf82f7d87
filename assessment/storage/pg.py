"""PostgreSQL backend: the same cursor interface the storage layer uses on DuckDB, over psycopg 3.

Every backend difference lives here: placeholders (? -> %s), frames in and out (COPY / typed
fetch), the isolation level and which errors count as write conflicts to retry.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import polars as pl
import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool

from .db import WRITER_WAIT, DatabaseError, retry_transaction

T = TypeVar("T")
# Type OIDs -> polars dtypes, so empty results keep their column types.
_OID_TYPES = {16: pl.Boolean, 20: pl.Int64, 21: pl.Int64, 23: pl.Int64, 700: pl.Float64, 701: pl.Float64,
              1700: pl.Float64, 25: pl.String, 1043: pl.String, 19: pl.String, 1082: pl.Date,
              1114: pl.Datetime("us"), 1184: pl.Datetime("us", "UTC")}
# A unique violation between concurrent writers is a conflict too: the retry re-reads and decides again.
_CONFLICTS = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.LockNotAvailable,
              pg_errors.UniqueViolation)


def _pg_type(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "BIGINT"
    if dtype.is_float():
        return "DOUBLE PRECISION"
    if dtype == pl.Boolean:
        return "BOOLEAN"
    if dtype == pl.Date:
        return "DATE"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP"
    return "TEXT"


def translate(sql: str) -> str:
    """DuckDB-style SQL of the storage layer -> psycopg: '?' placeholders become %s."""
    sql = sql.replace("%", "%%").replace("?", "%s")
    if sql.strip().upper() == "BEGIN TRANSACTION":
        return "BEGIN ISOLATION LEVEL REPEATABLE READ"
    return sql


class _Relation:
    def __init__(self, cur: PgCursor, sql: str, params: list | None):
        self._cur, self._sql, self._params = cur, sql, params

    def pl(self) -> pl.DataFrame:
        c = self._cur.execute(self._sql, self._params)
        rows = c.fetchall()
        schema: dict[str, Any] = {d.name: _OID_TYPES.get(d.type_code, pl.Object) for d in c.description}
        if any(t == pl.Object for t in schema.values()):
            return pl.DataFrame(rows, schema=list(schema), orient="row", infer_schema_length=None)
        return pl.DataFrame(rows, schema=schema, orient="row")

    def fetchall(self) -> list[tuple]:
        return self._cur.execute(self._sql, self._params).fetchall()


class PgCursor:
    """A pooled connection wearing the DuckDB cursor methods the storage layer calls."""

    def __init__(self, pool: ConnectionPool):
        self._pool = pool
        self._conn: psycopg.Connection | None = pool.getconn()
        self._cur = self._conn.cursor()

    def execute(self, sql: str, params: list | tuple | None = None) -> PgCursor:
        self._cur.execute(translate(sql), list(params) if params else None)
        return self

    def fetchall(self) -> list[tuple]:
        return self._cur.fetchall() if self._cur.description else []

    @property
    def description(self):
        return self._cur.description

    def sql(self, sql: str, params: list | None = None) -> _Relation:
        return _Relation(self, sql, params)

    def register(self, name: str, df: pl.DataFrame) -> None:
        """Make a frame queryable by name: a temporary table filled with COPY (no per-row inserts)."""
        cols = ", ".join(f'"{c}" {_pg_type(t)}' for c, t in df.schema.items())
        self._cur.execute(f'CREATE TEMPORARY TABLE "{name}" ({cols})')
        buf = io.BytesIO()
        df.write_csv(buf, include_header=False, null_value="\\N", datetime_format="%Y-%m-%d %H:%M:%S%.f")
        with self._cur.copy(f'COPY "{name}" FROM STDIN WITH (FORMAT csv, NULL \'\\N\')') as copy:
            copy.write(buf.getvalue())

    def unregister(self, name: str) -> None:
        self._cur.execute(f'DROP TABLE IF EXISTS "{name}"')

    def close(self) -> None:
        if self._conn is None:
            return
        try:
            self._cur.close()
        finally:
            self._pool.putconn(self._conn)
            self._conn = None


WRITER_LOCK = 227703  # advisory lock class of the write queue (migration_lock uses 227702)


class _WriteCursor(PgCursor):
    """The cursor of one write transaction: it first waits its turn in the database's write queue.

    Every write appends to the audit chain, so every write updates the one audit-head row. Under REPEATABLE
    READ, a transaction that updates a row another transaction changed after its snapshot fails and must
    start over; with eight busy writers some kept losing that race until the retries ran out. Taking a
    session-level advisory lock *before* BEGIN makes writers queue instead (as the DuckDB backend does in
    its process): the snapshot is taken after the previous writer committed, so the head update never
    conflicts and the chain needs no change. Reads do not queue.
    """

    def __init__(self, pool: ConnectionPool, schema_key: int):
        super().__init__(pool)
        try:
            self._cur.execute(f"SET lock_timeout = '{int(WRITER_WAIT * 1000)}ms'")
            self._cur.execute("SELECT pg_advisory_lock(%s, %s)", [WRITER_LOCK, schema_key])
            self._cur.execute("SET lock_timeout = 0")
        except pg_errors.LockNotAvailable as exc:
            self._discard()
            raise DatabaseError(f"the database is busy with another long change (waited {WRITER_WAIT:.0f} s); "
                                "nothing was saved: try again in a moment") from exc
        except BaseException:
            self._discard()
            raise
        self._schema_key = schema_key

    def close(self) -> None:
        if self._conn is None:
            return
        try:
            self._cur.execute("SELECT pg_advisory_unlock(%s, %s)", [WRITER_LOCK, self._schema_key])
        except psycopg.Error:
            self._conn.close()  # a lock we cannot release must not stay with a pooled connection
        super().close()

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the pool drops closed connections; the server releases whatever it held
        super().close()


class PgDatabase:
    """A pool of connections to one PostgreSQL database, with the Database interface."""

    dialect = "postgresql"
    path = None

    def __init__(self, url: str, max_size: int = 10, schema: str | None = None):
        options = f"-c search_path={schema}" if schema else ""
        try:
            self._pool = ConnectionPool(url, min_size=1, max_size=max_size, open=True, timeout=15,
                                        kwargs={"autocommit": True, "options": options})
            self._pool.wait(timeout=15)
        except (psycopg.Error, Exception) as exc:  # the pool wraps connection errors in its own types
            raise DatabaseError(f"cannot connect to PostgreSQL at {_redact(url)}: {exc}") from exc
        self.url = url
        # Writers of one schema queue together; other schemas (other deployments, tests) do not wait for them.
        self._schema_key = _int4(zlib.crc32((schema or "public").encode()))

    def cursor(self) -> PgCursor:
        return PgCursor(self._pool)

    @contextmanager
    def read(self) -> Iterator[PgCursor]:
        cur = self.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def transaction(self, work: Callable[[PgCursor], T]) -> T:
        """Same contract as Database.transaction: all or nothing, write conflicts retried with jitter."""
        return retry_transaction(lambda: _WriteCursor(self._pool, self._schema_key), work,
                                 lambda exc, _: isinstance(exc, _CONFLICTS))

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """Several replicas may start at once: only one applies migrations at a time."""
        with self.read() as cur:
            cur.execute("SELECT pg_advisory_lock(227702)").fetchall()
            try:
                yield
            finally:
                cur.execute("SELECT pg_advisory_unlock(227702)").fetchall()

    def close(self) -> None:
        self._pool.close()


def _int4(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def _redact(url: str) -> str:
    """Never print a password from a connection URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
