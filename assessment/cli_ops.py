"""CLI commands for operations: backup, restore, verify-backup.

`backup` needs the database file to itself, so it runs while the app is stopped (the running app makes its
own scheduled backups, and the Admin page offers one on demand). `restore` replaces the database file and
refuses while any process holds it. `verify-backup` checks a backup file against its manifest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import backup
from .cli import _actor, _db, command
from .errors import DatabaseError
from .settings import load as load_settings


def _target(args: argparse.Namespace) -> Path:
    path = Path(args.db) if args.db else load_settings().database_path
    if path is None:
        raise DatabaseError("this command needs a DuckDB file: pass --db PATH or set ITSCM_DATABASE_URL")
    return path


@command("backup")
def cmd_backup(args: argparse.Namespace) -> int:
    db = _db(args)
    try:
        info = backup.create_backup(db, _actor(args), Path(args.output) if args.output else None, args.keep)
    finally:
        db.close()
    print(info)
    for old in info.pruned:
        print(f"removed old backup {old.name} (keeping the newest {args.keep or backup.keep_setting()})")
    return 0


@command("restore")
def cmd_restore(args: argparse.Namespace) -> int:
    report = backup.restore(Path(args.file), _target(args), _actor(args), force=args.force)
    print(report)
    return 0


@command("verify-backup")
def cmd_verify_backup(args: argparse.Namespace) -> int:
    report = backup.verify_backup(Path(args.file), _actor(args))
    print(report, file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 3


def add_parsers(sub, add) -> None:
    sp = add("backup", "copy the database into data/backups (app stopped; the app backs up on its own)")
    sp.add_argument("-o", "--output", metavar="DIR", help="backup folder (default: backups/ next to the database)")
    sp.add_argument("--keep", type=int, help=f"backups to keep (default: {backup.KEEP_ENV} or "
                                             "7)")
    sp = add("restore", "replace the database with a backup, verified table by table (app stopped)")
    sp.add_argument("file", help="backup file (.duckdb)")
    sp.add_argument("--force", action="store_true",
                    help="replace an existing database (it is kept as a .before-restore copy)")
    sp = add("verify-backup", "check a backup file: row counts and content hashes against its manifest")
    sp.add_argument("file", help="backup file (.duckdb)")
