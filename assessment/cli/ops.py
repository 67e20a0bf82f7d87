"""CLI commands for operations: backup, restore, verify-backup.

`backup` needs the database file to itself, so it runs while the app is stopped (the running app makes its
own scheduled backups, and the Admin page offers one on demand). `restore` replaces the database file and
refuses while any process holds it. `verify-backup` checks a backup file against its manifest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import backup
from ..errors import DatabaseError
from ..settings import load as load_settings
from ._base import actor, arg, command, open_db


def _target(args: argparse.Namespace) -> Path:
    path = Path(args.db) if args.db else load_settings().database_path
    if path is None:
        raise DatabaseError("this command needs a DuckDB file: pass --db PATH or set ITSCM_DATABASE_URL")
    return path


@command("backup", help="copy the database into data/backups (app stopped; the app backs up on its own)", args=[
    arg("-o", "--output", metavar="DIR", help="backup folder (default: backups/ next to the database)"),
    arg("--keep", type=int, help=f"backups to keep (default: {backup.KEEP_ENV} or 7)"),
])
def cmd_backup(args: argparse.Namespace) -> int:
    db = open_db(args)
    try:
        info = backup.create_backup(db, actor(args), Path(args.output) if args.output else None, args.keep)
    finally:
        db.close()
    print(info)
    for old in info.pruned:
        print(f"removed old backup {old.name} (keeping the newest {args.keep or backup.keep_setting()})")
    return 0


@command("restore", help="replace the database with a backup, verified table by table (app stopped)", args=[
    arg("file", help="backup file (.duckdb)"),
    arg("--force", action="store_true", help="replace an existing database (it is kept as a .before-restore copy)"),
])
def cmd_restore(args: argparse.Namespace) -> int:
    report = backup.restore(Path(args.file), _target(args), actor(args), force=args.force)
    print(report)
    return 0


@command("verify-backup", help="check a backup file: row counts and content hashes against its manifest",
         args=[arg("file", help="backup file (.duckdb)")])
def cmd_verify_backup(args: argparse.Namespace) -> int:
    report = backup.verify_backup(Path(args.file), actor(args))
    print(report, file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 3
