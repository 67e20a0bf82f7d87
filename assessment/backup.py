"""Backups: online copies made by the process that owns the database, retention, scheduling, restore, verify.

- create_backup(db, actor): copies the open database into data/backups/<name>-<UTC timestamp>.duckdb with
  `COPY FROM DATABASE` in one transaction (never by copying the live file), checks that the copy has the
  same per-table row counts and content hashes as the snapshot it was taken from, writes those into a
  manifest next to it (<backup>.json), records the backup in the audit trail and keeps the newest N
  (ITSCM_BACKUP_KEEP, default 7).
- maybe_backup / start_scheduler: back up when the newest backup is older than the interval
  (ITSCM_BACKUP_INTERVAL_HOURS, default 24); the app calls start_scheduler once after opening the database.
- restore(backup, target): only while no process has the target open (DatabaseLocked otherwise). Verifies
  the backup, copies it into a new file, compares it table by table, keeps the replaced file as
  <name>.before-restore-<timestamp>.duckdb, then moves the restored file into place.
- verify_backup(path): recomputes the fingerprint and compares it with the manifest; checks the schema
  version and the audit chain inside the backup.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import duckdb

from . import access, audit, checkpoints, clock, settings
from .errors import DatabaseError, DatabaseLocked, ValidationError
from .folders import ensure_writable
from .model import Actor
from .storage import Database
from .storage import backup as backup_sql
from .storage import migrations as migrations_sql
from .storage.db import _connect, open_here

log = logging.getLogger(__name__)

KEEP_ENV, INTERVAL_ENV = "ITSCM_BACKUP_KEEP", "ITSCM_BACKUP_INTERVAL_HOURS"
STAMP = "%Y%m%d-%H%M%S-%f"
NAME = re.compile(r"^(?P<stem>.+)-(?P<stamp>\d{8}-\d{6}-\d{6})\.duckdb$")
_ONE_AT_A_TIME = threading.Lock()
PRODUCT, MANIFEST_FORMAT = "itscm-assessment backup", 2  # format 1 (before schema 5) had neither key


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created_at: datetime
    schema_version: int
    fingerprint: backup_sql.Fingerprint
    pruned: list[Path] = field(default_factory=list)

    @property
    def rows(self) -> dict[str, int]:
        return {t: n for t, (n, _) in self.fingerprint.items() if not t.startswith("sequence:")}

    def __str__(self) -> str:
        return (f"backup written to {self.path} ({len(self.rows)} tables, {sum(self.rows.values())} rows, "
                f"schema version {self.schema_version}); row counts and content hashes match the database")


@dataclass(frozen=True)
class VerifyReport:
    path: Path
    ok: bool
    problems: list[str]
    notes: list[str]
    schema_version: int
    fingerprint: backup_sql.Fingerprint

    def __str__(self) -> str:
        rows = sum(n for t, (n, _) in self.fingerprint.items() if not t.startswith("sequence:"))
        head = (f"{self.path}: {'OK' if self.ok else 'FAILED'} — schema version {self.schema_version}, "
                f"{sum(1 for t in self.fingerprint if not t.startswith('sequence:'))} tables, {rows} rows")
        return "\n".join([head, *(f"  problem: {p}" for p in self.problems), *(f"  note: {n}" for n in self.notes)])


@dataclass(frozen=True)
class RestoreReport:
    source: Path
    target: Path
    previous: Path | None
    verification: VerifyReport

    def __str__(self) -> str:
        kept = f"; the replaced database was kept as {self.previous}" if self.previous else ""
        return (f"restored {self.source} into {self.target}: every table's row count and content hash "
                f"matches the backup{kept}")


# --- settings -------------------------------------------------------------------------------------

def keep_setting() -> int:
    return int(settings.read(KEEP_ENV))


def interval_setting() -> float:
    return float(settings.read(INTERVAL_ENV))


def _require_duckdb(db) -> None:
    if getattr(db, "dialect", "duckdb") != "duckdb":
        raise DatabaseError("these backups copy the embedded DuckDB file; back up a PostgreSQL deployment with "
                            "the server's tools (pg_dump / point-in-time recovery), see the README")


def default_dir(db_path: Path | None) -> Path:
    if db_path is None:
        raise DatabaseError("an in-memory database has no data folder: give the backup folder explicitly")
    return Path(db_path).parent / "backups"


# --- backup ----------------------------------------------------------------------------------------

def create_backup(db: Database, actor: Actor, directory: Path | None = None, keep: int | None = None,
                  now: datetime | None = None) -> BackupInfo:
    """Online backup of the open database; safe while other threads keep reading and writing."""
    access.require(actor, "backup")
    _require_duckdb(db)
    directory = Path(directory) if directory else default_dir(db.path)
    keep = keep_setting() if keep is None else keep
    at = clock.utc(now) if now else clock.now()
    stem = db.path.stem if db.path else "itscm"
    final = directory / f"{stem}-{at.strftime(STAMP)}.duckdb"
    partial = final.with_name(final.name + ".partial")
    with _ONE_AT_A_TIME:
        _make_dir(directory)
        if final.exists():
            raise DatabaseError(f"a backup named {final.name} already exists; try again in a moment")
        _remove_leftovers(directory, stem)
        signed = audit.checkpoint(db, actor, reason="backup")  # inside the copy: the manifest carries it
        cur = db.cursor()
        try:
            alias = backup_sql.attach(cur, partial)
            try:
                source, copy = backup_sql.copy_database(cur, backup_sql.current_catalog(cur), alias,
                                                        with_sequences=False)
                version = backup_sql.schema_version(cur, alias)
                ids = backup_sql.sequence_problems(cur, alias)
                sequences = backup_sql.sequences(cur, alias)
                head_seq, head_hash = backup_sql.audit_head(cur, alias)
            finally:
                backup_sql.detach(cur, alias)
        except duckdb.Error as exc:
            _remove_db(partial)
            raise DatabaseError(f"the backup failed and nothing was kept: {exc}. Check that {directory} is "
                                "writable and has free space.") from exc
        finally:
            cur.close()
        problems = compare(source, copy, "database", "backup") + ids
        if problems:
            _remove_db(partial)
            raise DatabaseError("the backup did not match the database and was discarded: " + "; ".join(problems))
        source.update({f"sequence:{name}": (nxt, "") for name, nxt in sequences.items()})
        manifest = {"product": PRODUCT, "format": MANIFEST_FORMAT, "database": str(db.path),
                    "created_at": at.isoformat(), "schema_version": version,
                    "audit_head": {"seq": head_seq, "hash": head_hash}, "audit_checkpoint": signed.text(),
                    "tables": {t: {"rows": n, "md5": h} for t, (n, h) in source.items()}}
        try:
            _fsync(partial)
            _write_atomic(final.with_suffix(".json"), json.dumps(manifest, indent=1, sort_keys=True))
            os.replace(partial, final)
            _fsync(directory)
        except OSError as exc:
            _remove_db(partial)
            _remove(final.with_suffix(".json"))
            raise DatabaseError(f"the backup could not be finished in {directory}: {exc.strerror or exc}. "
                                "Free disk space there and try again.") from exc
    rows = sum(n for t, (n, _) in source.items() if not t.startswith("sequence:"))
    db.transaction(lambda c: audit.record(c, actor, "backup.create", "database", final.name,
                                          after={"file": final.name, "schema_version": version, "rows": rows}))
    pruned = prune(directory, keep, stem)
    return BackupInfo(final, at, version, source, pruned)


def list_backups(directory: Path, stem: str | None = None) -> list[Path]:
    """Finished backups in a folder, newest first (by the timestamp in their names)."""
    if not Path(directory).is_dir():
        return []
    found = []
    for p in Path(directory).iterdir():
        m = NAME.match(p.name)
        if m and p.is_file() and (stem is None or m["stem"] == stem):
            found.append((m["stamp"], p))
    return [p for _, p in sorted(found, reverse=True)]


def backup_time(path: Path) -> datetime:
    m = NAME.match(Path(path).name)
    if not m:
        raise ValueError(f"{path} is not named like a backup (<name>-YYYYmmdd-HHMMSS-ffffff.duckdb)")
    return datetime.strptime(m["stamp"], STAMP)


def prune(directory: Path, keep: int, stem: str | None = None) -> list[Path]:
    """Delete all but the newest keep backups (with their manifests); returns what was deleted."""
    if keep < 1:
        raise ValidationError([f"keep: keep at least one backup, got {keep}"])
    gone = []
    for old in list_backups(directory, stem)[keep:]:
        _remove(old)
        _remove(old.with_suffix(".json"))
        gone.append(old)
    return gone


def maybe_backup(db: Database, interval_hours: float | None = None, actor: Actor | None = None,
                 directory: Path | None = None, keep: int | None = None,
                 now: datetime | None = None) -> BackupInfo | None:
    """Back up when the newest backup is older than the interval (or there is none); else do nothing."""
    _require_duckdb(db)
    interval = interval_setting() if interval_hours is None else interval_hours
    at = clock.utc(now) if now else clock.now()
    directory = Path(directory) if directory else default_dir(db.path)
    newest = list_backups(directory, db.path.stem if db.path else None)
    if newest and at - backup_time(newest[0]) < timedelta(hours=interval):
        return None
    return create_backup(db, actor or access.SYSTEM.with_source("scheduler"), directory, keep, at)


class BackupScheduler:
    """A daemon thread that calls maybe_backup now and then every check_every_seconds."""

    def __init__(self, db: Database, interval_hours: float, check_every_seconds: float,
                 directory: Path | None) -> None:
        self._stop = threading.Event()
        self._args = (db, interval_hours, directory)
        self._every = check_every_seconds
        self.thread = threading.Thread(target=self._loop, name="itscm-backup", daemon=True)

    def _loop(self) -> None:
        db, interval, directory = self._args
        while not self._stop.is_set():
            try:
                made = maybe_backup(db, interval, directory=directory)
                if made:
                    log.info("%s", made)
            except Exception:  # noqa: BLE001 - a failed backup must not stop the app; retried next round
                log.exception("scheduled backup failed")
            self._stop.wait(self._every)

    def stop(self, timeout: float | None = 60.0) -> None:
        """Stop and wait for a backup in progress to finish (call before closing the database)."""
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)


def start_scheduler(db: Database, interval_hours: float | None = None, check_every_seconds: float = 600.0,
                    directory: Path | None = None) -> BackupScheduler:
    """Start scheduled backups for the app's database; returns the scheduler (call stop() at shutdown)."""
    scheduler = BackupScheduler(db, interval_setting() if interval_hours is None else interval_hours,
                                check_every_seconds, directory)
    scheduler.thread.start()
    return scheduler


# --- verify and restore ------------------------------------------------------------------------------

def compare(expected: backup_sql.Fingerprint, actual: backup_sql.Fingerprint, left: str, right: str) -> list[str]:
    problems = []
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            problems.append(f"{name} is in the {left} but not in the {right}")
        elif name not in expected:
            problems.append(f"{name} is in the {right} but not in the {left}")
        elif expected[name] != actual[name]:
            (n1, h1), (n2, h2) = expected[name], actual[name]
            if name.startswith("sequence:"):
                problems.append(f"{name}: next value {n1} in the {left}, {n2} in the {right}")
            elif n1 != n2:
                problems.append(f"{name}: {n1} rows in the {left}, {n2} in the {right}")
            else:
                problems.append(f"{name}: same {n1} rows but different content (hash {h1[:12]} vs {h2[:12]})")
    return problems


def verify_backup(path: Path, actor: Actor, expected: backup_sql.Fingerprint | None = None) -> VerifyReport:
    """Check a backup file: a database of this product, readable throughout, content equal to its manifest,
    audit chain intact and matching the manifest's keyed checkpoint. Every problem names the file."""
    access.require(actor, "backup")
    path = Path(path)
    if not path.is_file():
        raise DatabaseError(f"no backup file at {path}")
    try:
        con = _connect(path, read_only=True)
    except DatabaseLocked:
        raise
    except DatabaseError as exc:
        raise DatabaseError(f"the backup {path} cannot be opened: it is damaged or not a DuckDB file ({_cause(exc)}). "
                            "Use another backup (check one with `itscm verify-backup FILE`).") from exc
    ro = Database(con, None)  # path None: not registered as the app's open database
    try:
        try:
            return _verify_open(ro, path, actor, expected)
        except duckdb.Error as exc:  # a damaged block is only found when it is read
            raise DatabaseError(f"the backup {path} is damaged: reading it failed ({exc}). Use another backup "
                                "(check one with `itscm verify-backup FILE`).") from exc
    finally:
        ro.close()


def _verify_open(ro: Database, path: Path, actor: Actor, expected: backup_sql.Fingerprint | None) -> VerifyReport:
    with ro.read() as cur:
        catalog = backup_sql.current_catalog(cur)
        fp = backup_sql.fingerprint(cur, catalog)
        version = backup_sql.schema_version(cur, catalog)
        problems, notes = backup_sql.sequence_problems(cur, catalog), list[str]()
    if version == 0:
        problems.append(f"{path.name} holds no schema_migrations table: it is not a database of this product")
        return VerifyReport(path, False, problems, notes, version, fp)
    if version > migrations_sql.LATEST:
        problems.append(f"schema version {version} is newer than this app ({migrations_sql.LATEST}): "
                        "use a newer app")
    missing = sorted(migrations_sql.tables_at(version) - set(fp))
    if missing:
        problems.append(f"{path.name} lacks the table(s) {', '.join(missing)} that every database of this product "
                        f"has at schema version {version}: it was altered after it was made; use another backup")
    manifest = _manifest(path) if expected is None else None
    if expected is not None:
        problems += compare(expected, fp, "expected content", "file")
    elif isinstance(manifest, str):
        problems.append(manifest)
    elif manifest is not None:
        want = {t: (v["rows"], v["md5"]) for t, v in manifest["tables"].items()}
        problems += compare(want, fp, "manifest (database at backup time)", "backup file")
    if version >= 2 and not {"audit_log", "audit_head"} & set(missing):
        exported = []
        if isinstance(manifest, dict) and manifest.get("audit_checkpoint"):
            exported.append(checkpoints.parse(manifest["audit_checkpoint"]))
        chain = audit.verify(ro, actor, external=exported)
        (notes if chain.ok else problems).append(str(chain))
        head = manifest.get("audit_head") if isinstance(manifest, dict) else None
        if chain.ok and head and (head["seq"], head["hash"]) != (chain.head_seq, chain.head_hash):
            problems.append(f"the audit head in {path.name} is #{chain.head_seq} {chain.head_hash[:16]}, but its "
                            f"manifest recorded #{head['seq']} {str(head['hash'])[:16]}")
    return VerifyReport(path, not problems, problems, notes, version, fp)


def _manifest(path: Path) -> dict | str:
    """The backup's manifest, or the problem with it (named, with what to do)."""
    manifest = path.with_suffix(".json")
    if not manifest.is_file():
        return (f"no manifest {manifest.name} next to {path.name}: without it nothing proves the file is a complete "
                "backup of this product. Put the manifest written with it back beside it, or use another backup")
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return f"the manifest {manifest} cannot be read ({exc}): use another backup"
    except json.JSONDecodeError as exc:
        return (f"the manifest {manifest} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}): "
                "it was damaged or edited; use another backup")
    tables = recorded.get("tables") if isinstance(recorded, dict) else None
    if not isinstance(tables, dict) or not all(isinstance(v, dict) and isinstance(v.get("rows"), int)
                                               and isinstance(v.get("md5"), str) for v in tables.values()):
        return (f"the manifest {manifest} is not a manifest of this product's backups (no table list with row "
                "counts and hashes): use another backup")
    if recorded.get("product", PRODUCT) != PRODUCT:
        return f"the manifest {manifest} belongs to {recorded.get('product')!r}, not to this product"
    text = recorded.get("audit_checkpoint")
    if text is not None:
        try:
            checkpoints.parse(str(text))
        except ValueError as exc:
            return f"the manifest {manifest} holds a damaged audit checkpoint ({exc}): use another backup"
    return recorded


def _cause(exc: Exception) -> str:
    cause = exc.__cause__
    return str(cause).splitlines()[0] if cause else str(exc)


def restore(backup_file: Path, target: Path, actor: Actor, force: bool = False,
            now: datetime | None = None) -> RestoreReport:
    """Replace the database file at target with the backup; only while no process has target open."""
    access.require(actor, "backup")
    backup_file, target = Path(backup_file), Path(target)
    if backup_file.resolve() == target.resolve():
        raise DatabaseError("the backup and the target are the same file")
    if open_here(target):
        raise DatabaseLocked(f"the database {target} is open in this process (the running app): restore only "
                             "while the app is stopped, with `python -m assessment restore FILE`")
    with _exclusive(target) as existed:  # refuses with DatabaseLocked while another process holds it
        if existed and not force:
            raise DatabaseError(f"{target} already exists: pass --force to replace it with the backup "
                                "(the current file is kept next to it as a .before-restore copy)")
        checked = verify_backup(backup_file, actor)
        if not checked.ok:
            raise DatabaseError(f"the backup {backup_file} failed verification, nothing was restored: "
                                + "; ".join(checked.problems))
        staging = target.with_name(target.name + ".restoring")
        _remove_db(staging)
        try:
            con = duckdb.connect(str(staging))
            try:
                alias = backup_sql.attach(con, backup_file, read_only=True)
                try:
                    source, copy = backup_sql.copy_database(con, alias, backup_sql.current_catalog(con))
                finally:
                    backup_sql.detach(con, alias)
            finally:
                con.close()
        except duckdb.Error as exc:
            _remove_db(staging)
            raise DatabaseError(f"the restore failed and {target} was not changed: {exc}") from exc
        problems = compare(source, copy, "backup", "restored copy")
        if problems:
            _remove_db(staging)
            raise DatabaseError("the restored copy did not match the backup, nothing was changed: "
                                + "; ".join(problems))
        previous = None
        wal = Path(str(target) + ".wal")
        try:
            _fsync(staging)
            if existed:
                stamp = (clock.utc(now) if now else clock.now()).strftime(STAMP)
                previous = target.with_name(f"{target.stem}.before-restore-{stamp}{target.suffix}")
                os.replace(target, previous)
                if wal.exists():  # the replaced file's log goes with it: it must never replay into the new one
                    os.replace(wal, Path(str(previous) + ".wal"))
            _remove(wal)
            os.replace(staging, target)
            _fsync(target.parent)
        except OSError as exc:
            raise DatabaseError(f"the restore could not move the files into place: {exc}. The restored copy is "
                                f"{staging}" + (f" and the replaced database is {previous}" if previous else "")
                                + "; move them by hand while the app is stopped.") from exc
    final = verify_backup(target, actor, expected=source)
    if not final.ok:
        raise DatabaseError(f"{target} was restored but does not match the backup: " + "; ".join(final.problems))
    return RestoreReport(backup_file, target, previous, final)


class _exclusive:
    """Hold the target file as its only user: DuckDB's own lock, or an OS lock if DuckDB cannot read it."""

    def __init__(self, path: Path):
        self.path = path
        self.con: duckdb.DuckDBPyConnection | None = None
        self.fh: BinaryIO | None = None

    def __enter__(self) -> bool:
        existed = self.path.exists()
        try:
            self.con = _connect(self.path, read_only=False)
            backup_sql.checkpoint(self.con)  # fold any log into the file before it is moved aside
        except DatabaseLocked:
            raise
        except DatabaseError:
            if not existed:
                raise
            self._os_lock()  # a damaged file: the reason for restoring; make sure nobody has it open
        if not existed and self.con is not None:
            self.con.close()
            self.con = None
            _remove(self.path)
            _remove(Path(str(self.path) + ".wal"))
        return existed

    def _os_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: DuckDB's lock could not be taken, trust the caller
            return
        fh = open(self.path, "r+b")  # noqa: SIM115 - held until __exit__
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            raise DatabaseLocked(f"the database {self.path} is in use by another process (probably the running "
                                 "app): stop the app, then restore") from exc
        self.fh = fh

    def __exit__(self, *exc) -> None:
        if self.con is not None:
            self.con.close()
        if self.fh is not None:
            self.fh.close()


# --- files -----------------------------------------------------------------------------------------



def _make_dir(directory: Path) -> None:
    ensure_writable(directory, "backup folder", "create it or make it writable, or give another folder (-o DIR)")


def _remove_leftovers(directory: Path, stem: str) -> None:
    """Half-written backups of an earlier run that was killed (only this process writes them: it owns the
    database, and backups run one at a time)."""
    for p in directory.glob(f"{stem}-*.duckdb.partial*"):
        if NAME.match(p.name.split(".partial")[0]):
            _remove(p)
    # A kill between writing the manifest and renaming the file leaves a manifest without its backup.
    for p in [*directory.glob(f"{stem}-*.json"), *directory.glob(f"{stem}-*.json.tmp")]:
        base = p.name.removesuffix(".tmp").removesuffix(".json") + ".duckdb"
        if NAME.match(base) and not (directory / base).exists():
            _remove(p)


def _remove_db(path: Path) -> None:
    _remove(path)
    _remove(Path(str(path) + ".wal"))


def _remove(path: Path) -> None:
    try:
        Path(path).unlink()
    except FileNotFoundError:
        pass


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    """Flush a file or a folder's entries to disk (best effort where the OS does not allow it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
