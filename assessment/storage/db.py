"""Database connection ownership, cursors per call, transactions with conflict retry."""

from __future__ import annotations

import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

from ..errors import DatabaseError, DatabaseLocked

T = TypeVar("T")
RETRIES = 12
BACKOFF = 0.002  # seconds; doubles per attempt, with full jitter
BACKOFF_CAP = 0.25
WRITER_WAIT = 120.0  # seconds a write waits for the ones queued before it


class Database:
    """One process-wide DuckDB connection; every call works on its own cursor (thread-safe)."""

    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None):
        self._con = con
        self.path = path
        self._lock = threading.Lock()
        # Connections to one file in one process share a DuckDB instance, so they share the writer queue.
        self._writers = _writer_queue(path)
        if path is not None:
            _OPEN.add(self)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self._con.cursor()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self.cursor()
        try:
            yield cur
        except (duckdb.IOException, duckdb.FatalException) as exc:
            raise _storage_error(self.path, exc) from exc
        finally:
            cur.close()

    def transaction(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run work(cursor) in one transaction; retry write-write conflicts with jittered backoff.

        work must be safe to re-run: it is called again from scratch after a conflict.

        Transactions on one database file are queued in this process (every write updates the audit
        head row, so writers serialise anyway; queueing avoids aborting all but one and starving some).
        Reads (read()) never wait. Conflicts that still happen are retried. DuckDB reports them in three
        ways: `TransactionException: Conflict on update` (two writers of one row), `TransactionException:
        Failed to commit: PRIMARY KEY or UNIQUE constraint violation` at COMMIT (two uncommitted inserts of
        one key), and `ConstraintException: Duplicate key` (an insert of a key another transaction
        committed after this one began). The last is also what a genuine duplicate raises: it is retried
        only when another transaction overlapped, so a genuine one fails at once with DuckDB's exception.
        """
        q = self._writers
        if not q.lock.acquire(timeout=WRITER_WAIT):
            raise DatabaseError(f"the database is busy with another long change (waited {WRITER_WAIT:.0f} s); "
                                "nothing was saved: try again in a moment")
        try:
            return self._attempts(work)
        finally:
            q.lock.release()

    def _attempts(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        def conflict(exc: Exception, epoch: int) -> bool:
            return isinstance(exc, duckdb.Error) and _is_conflict(exc, self._overlapped(epoch))

        def translate(exc: Exception) -> Exception:
            if isinstance(exc, duckdb.TransactionException | duckdb.IOException | duckdb.FatalException):
                return _storage_error(self.path, exc)
            return exc

        return retry_transaction(self.cursor, work, conflict, self._attempt_scope, translate)

    @contextmanager
    def _attempt_scope(self) -> Iterator[int]:
        epoch = self._begin()
        try:
            yield epoch
        finally:
            self._end()

    def _begin(self) -> int:
        q = self._writers
        with q.count_lock:
            q.active += 1
            q.epoch += 1
            return q.epoch

    def _end(self) -> None:
        q = self._writers
        with q.count_lock:
            q.active -= 1
            q.epoch += 1

    def _overlapped(self, epoch: int) -> bool:
        """Did another transaction on this file run at any moment since the one that started at epoch?"""
        q = self._writers
        with q.count_lock:
            return q.active > 1 or q.epoch != epoch

    def close(self) -> None:
        _OPEN.discard(self)
        self._con.close()


class _WriterQueue:
    """Per-file write queue and contention bookkeeping: running transactions, and a counter bumped
    whenever one starts or ends (a duplicate key is only a conflict if another transaction overlapped)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.count_lock = threading.Lock()
        self.active = 0
        self.epoch = 0


_QUEUES: dict[str, _WriterQueue] = {}
_QUEUES_LOCK = threading.Lock()
_OPEN: weakref.WeakSet[Database] = weakref.WeakSet()  # file databases open in this process


def _writer_queue(path: Path | None) -> _WriterQueue:
    if path is None:  # in-memory databases are private to their connection
        return _WriterQueue()
    key = str(Path(path).resolve())
    with _QUEUES_LOCK:
        return _QUEUES.setdefault(key, _WriterQueue())


def open_here(path: str | Path) -> bool:
    """Is this database file open in this process (e.g. by the running app)?"""
    key = Path(path).resolve()
    return any(d.path is not None and Path(d.path).resolve() == key for d in list(_OPEN))


def _rollback(cur: Any) -> None:
    try:
        cur.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - after a failed COMMIT the transaction is already gone
        pass


@contextmanager
def _no_scope() -> Iterator[None]:
    yield None


def retry_transaction(new_cursor: Callable[[], Any], work: Callable[[Any], T],
                      is_conflict: Callable[[Exception, Any], bool],
                      attempt_scope: Callable[[], Any] = _no_scope,
                      translate: Callable[[Exception], Exception] = lambda exc: exc) -> T:
    """The one retry loop of every backend: BEGIN, work, COMMIT; on a write conflict roll back, wait
    (exponential backoff with full jitter) and run work again from scratch; other errors pass through
    translate (to a message for people) and are raised at once."""
    for attempt in range(RETRIES):
        with attempt_scope() as scope:
            cur = new_cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                result = work(cur)
                cur.execute("COMMIT")
                return result
            except Exception as exc:
                _rollback(cur)
                if is_conflict(exc, scope):
                    if attempt < RETRIES - 1:
                        time.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF * 2**attempt)))
                        continue
                    raise DatabaseError(
                        f"the change could not be saved because other changes to the same data kept "
                        f"conflicting with it ({RETRIES} attempts): please try again ({exc})") from exc
                err = translate(exc)
                if err is exc:
                    raise
                raise err from exc
            except BaseException:
                _rollback(cur)
                raise
            finally:
                cur.close()
    raise AssertionError("unreachable")


def _is_conflict(exc: Exception, overlapped: bool = True) -> bool:
    text = str(exc).lower()
    if isinstance(exc, duckdb.TransactionException):
        return ("conflict" in text or "write-write" in text
                or ("failed to commit" in text and "constraint violation" in text))
    if isinstance(exc, duckdb.ConstraintException):
        return overlapped and "duplicate key" in text
    return False


def _storage_error(path: Path | None, exc: Exception) -> DatabaseError:
    """An I/O failure (full disk, failed write, damaged file) explained with what to do."""
    text = str(exc)
    where = f"the database {path}" if path else "the database"
    low = text.lower()
    if "no space" in low or "file too large" in low or "could not write" in low or "disk" in low:
        return DatabaseError(f"could not write {where}: {text}. Nothing was saved. Free disk space "
                             "(or fix the storage) and try again; restart the app if the error repeats.")
    if "invalidated" in low or isinstance(exc, duckdb.FatalException):
        return DatabaseError(f"{where} stopped after a fatal error ({text}). Restart the app; if it fails "
                             "again, restore the latest backup (python -m assessment restore FILE).")
    if "checksum" in low or "corrupt" in low or "could not read" in low or "not a valid" in low:
        return DatabaseError(f"{where} is damaged ({text}). Stop the app and restore the latest backup "
                             "(python -m assessment restore FILE).")
    return DatabaseError(f"the change could not be saved: {text}")


def open_database(path: str | Path, read_only: bool = False) -> Database:
    """Open (creating if needed) the DuckDB file and bring its schema up to date.

    Every failure is a DatabaseError (DatabaseLocked when another process holds the file) whose
    message says what happened and what to do; nothing here should surface as a raw DuckDB error.
    """
    from . import migrations

    path = Path(path)
    con = _connect(path, read_only)
    db = Database(con, path)
    if not read_only:
        try:
            migrations.migrate(db)
        except DatabaseError:
            db.close()
            raise
        except duckdb.Error as exc:
            raise _migration_failed(db, path, exc) from exc
        except BaseException:
            db.close()
            raise
    return db


def _migration_failed(db: Database, path: Path, exc: Exception) -> DatabaseError:
    from . import migrations

    version: int | str
    try:
        version = migrations.current_version(db)
    except Exception:  # noqa: BLE001 - the message must still be produced
        version = "unknown"
    finally:
        db.close()
    target = migrations.MIGRATIONS[-1][0]
    return DatabaseError(
        f"could not upgrade the database {path} to schema version {target}: {exc}. The failed step was "
        f"rolled back and the file is at schema version {version}. Keep it as it is, report this error, and "
        "run the previous version of the app (or restore a backup) until a fixed version is installed.")


RESTORE_HINT = ("stop the app, move the file aside and restore the latest backup "
                "(`python -m assessment restore data/backups/<newest>.duckdb`)")


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    folder = path.parent
    if not folder.exists():
        raise DatabaseError(f"the data folder {folder} does not exist; create it or set ITSCM_DATA_DIR")
    if not folder.is_dir():
        raise DatabaseError(f"the data folder {folder} is not a folder (a file has that name); "
                            "move the file away or set ITSCM_DATA_DIR to a folder")
    if path.is_dir():
        raise DatabaseError(f"the database path {path} is a folder, not a database file; "
                            "move it away or point ITSCM_DATABASE_URL at a file")
    if read_only and not path.exists():
        raise DatabaseError(f"no database at {path}; run `python -m assessment init` first")
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        low = text.lower()
        if "lock" in low:
            pid = re.search(r"PID (\d+)", text)
            who = f" (process id {pid.group(1)}, probably the running app)" if pid else " (probably the running app)"
            raise DatabaseLocked(
                f"the database {path} is in use by another process{who}. Only one process may open it: "
                "stop the app, or do this from inside it (the Admin page), then try again."
            ) from exc
        if "permission" in low or "read-only" in low:
            raise DatabaseError(f"cannot write the database {path}: permission denied ({text}); make the file "
                                "and its folder writable for this user, or set ITSCM_DATA_DIR") from exc
        if "not a valid duckdb database" in low or "could not read enough bytes" in low or "corrupt" in low \
                or "checksum" in low:
            raise DatabaseError(f"{path} is not a readable database file: it is damaged or not a DuckDB "
                                f"file ({text}). To recover, {RESTORE_HINT}.") from exc
        if "version" in low:
            raise DatabaseError(f"{path} was written by a different DuckDB version ({text}); "
                                "use the app version that wrote it, or restore a backup") from exc
        if "space" in low or "too large" in low:
            raise DatabaseError(f"cannot write the database {path}: {text}. Free disk space and start again.") \
                from exc
        raise DatabaseError(f"cannot open the database {path}: {text}") from exc
    except duckdb.ConnectionException as exc:
        raise DatabaseError(f"the database {path} is already open in this process with other settings "
                            f"({exc}); close it first") from exc
    except duckdb.Error as exc:
        raise DatabaseError(f"{path} is not a usable database file ({exc}). To recover, {RESTORE_HINT}.") \
            from exc


def frame(cur: Any, sql: str, params: list | tuple = ()) -> pl.DataFrame:
    """Run a query and return a polars frame (Arrow transfer, no per-row Python)."""
    return cur.sql(sql, params=list(params) if params else None).pl()


def batches(cur: Any, sql: str, params: list | tuple = (), rows: int = 10_000) -> Iterator[pl.DataFrame]:
    """Run a query and yield its rows as polars frames of about `rows` rows each (DuckDB streams Arrow record
    batches, so the whole result is never held at once in Python; a backend without a streaming reader gives
    its frame in slices). The cursor must stay open until the iterator is exhausted."""
    rel = cur.sql(sql, params=list(params) if params else None)
    reader = getattr(rel, "to_arrow_reader", None)
    if reader is None:
        df = rel.pl()
        for start in range(0, df.height, rows):
            yield df.slice(start, rows)
        return
    for batch in reader(rows):
        if batch.num_rows:
            out = pl.from_arrow(batch)
            assert isinstance(out, pl.DataFrame)
            yield out


# Rows up to which one VALUES statement beats a registered frame (binding grows per row; the frame's cost is
# fixed): on DuckDB 1 row 1.3 vs 2.6 ms, 6 rows 1.6 vs 2.2 ms, 43 rows 6.9 vs 2.6 ms.
SMALL_INSERT = 8


def insert_frame(cur: Any, table: str, df: pl.DataFrame, columns: list[str] | None = None) -> int:
    """Insert a polars frame in one statement: a few rows as VALUES with parameters (registering a frame has
    a fixed cost of about a millisecond, a temporary table on PostgreSQL), more through the frame itself."""
    if df.height == 0:
        return 0
    cols = columns or df.columns
    if df.height <= SMALL_INSERT:
        row = "(" + ", ".join("?" for _ in cols) + ")"
        cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES {', '.join(row for _ in range(df.height))}",
                    [v for r in df.select(cols).iter_rows() for v in r])
        return df.height
    name = f"_frame_{id(df)}"
    cur.register(name, df.select(cols))
    try:
        cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {name}")
    finally:
        cur.unregister(name)
    return df.height


def one(cur: Any, sql: str, params: list | tuple = ()) -> tuple:
    """The row of a query that always returns one (an aggregate, the audit head)."""
    row = fetch_one(cur, sql, params)
    if row is None:
        raise DatabaseError(f"the database returned no row where one is always expected: {sql.split()[:6]}")
    return row


def fetch_one(cur: Any, sql: str, params: list | tuple = ()) -> tuple | None:
    """First row or None; reads the whole result so the cursor is free again (DuckDB 2.0 streams)."""
    rows = cur.execute(sql, list(params)).fetchall()
    return rows[0] if rows else None
