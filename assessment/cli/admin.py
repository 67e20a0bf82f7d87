"""CLI commands for accounts, the audit trail and whole-database copies: copy-db, create-admin, users, audit."""

from __future__ import annotations

import argparse
import getpass
import sys

from .. import audit, settings, transfer, users
from ..storage.backends import describe, open_url
from ._base import actor, arg, command, group, open_db, print_table


@command("copy-db", help="copy a whole database to an empty one (DuckDB <-> PostgreSQL) and verify it", args=[
    arg("source", help="DuckDB file or postgresql:// URL"),
    arg("target", help="DuckDB file or postgresql:// URL (must be empty)"),
])
def cmd_copy_db(args: argparse.Namespace) -> int:
    source, target = open_url(args.source), open_url(args.target)
    checks = transfer.copy_database(source, target, actor(args))
    for c in checks:
        mark = "ok" if c.ok else "MISMATCH"
        print(f"{c.table:<22} {c.source_rows:>9} -> {c.target_rows:<9} {c.target_hash[:16]}  {mark}")
    bad = [c.table for c in checks if not c.ok]
    if bad:
        print(f"error: copy differs from the source in {', '.join(bad)}", file=sys.stderr)
        return 4
    print(f"copied {describe(source)} to {describe(target)}: row counts and content hashes match")
    return 0


@command("create-admin", help="create the first administrator (only when no users exist)", args=[
    arg("username"),
    arg("--name", help="display name"),
])
def cmd_create_admin(args: argparse.Namespace) -> int:
    password = settings.read("ITSCM_ADMIN_PASSWORD") or getpass.getpass("Password for the new administrator: ")
    users.create_first_admin(open_db(args), args.username, password, args.name or args.username)
    print(f"administrator {args.username!r} created")
    return 0


@command("users", help="list user accounts, roles and units")
def cmd_users(args: argparse.Namespace) -> int:
    print_table(users.list_users(open_db(args), actor(args)))
    return 0


group("audit", help="verify or read the hash-chained audit trail")


@command("audit verify", help="recompute the chain; name the first edited or removed entry", args=[
    arg("--expected-head", help="head hash printed in an earlier export, to detect truncation"),
])
def cmd_audit_verify(args: argparse.Namespace) -> int:
    report = audit.verify(open_db(args), actor(args), args.expected_head)
    print(report, file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 3


@command("audit log", help="latest audit entries", args=[
    arg("--user"),
    arg("--action"),
    arg("--limit", type=int, default=50),
])
def cmd_audit_log(args: argparse.Namespace) -> int:
    df = audit.entries(open_db(args), actor(args), args.user, args.action, None, None, args.limit)
    print_table(df.drop("before_json", "after_json", "hash"))
    return 0
