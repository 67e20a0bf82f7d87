"""CLI commands for accounts and the audit trail: create-admin, users, audit verify, audit log."""

from __future__ import annotations

import argparse
import getpass
import sys

from . import audit, checkpoints, settings, transfer, users
from .cli import _actor, _db, _print, command
from .errors import EngineError


@command("create-admin")
def cmd_create_admin(args: argparse.Namespace) -> int:
    password = settings.read("ITSCM_ADMIN_PASSWORD") or getpass.getpass("Password for the new administrator: ")
    users.create_first_admin(_db(args), args.username, password, args.name or args.username)
    print(f"administrator {args.username!r} created")
    return 0


@command("users")
def cmd_users(args: argparse.Namespace) -> int:
    _print(users.list_users(_db(args), _actor(args)))
    return 0


@command("audit verify")
def cmd_audit_verify(args: argparse.Namespace) -> int:
    try:
        exported = [checkpoints.parse(text) for text in args.checkpoint or []]
    except ValueError as exc:
        raise EngineError(f"--checkpoint: {exc}") from None
    report = audit.verify(_db(args), _actor(args), args.expected_head, exported)
    print(report, file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 3


@command("audit checkpoint")
def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    cp = audit.checkpoint(_db(args), _actor(args), reason="command line")
    print(f"{cp.label()} signed; keep this line outside the database to prove completeness later:\n{cp.text()}")
    return 0


@command("audit log")
def cmd_audit_log(args: argparse.Namespace) -> int:
    df = audit.entries(_db(args), _actor(args), args.user, args.action, None, None, args.limit)
    _print(df.drop("before_json", "after_json", "hash"))
    return 0


@command("copy-db")
def cmd_copy_db(args: argparse.Namespace) -> int:
    from .storage.backends import describe, open_url

    source, target = open_url(args.source), open_url(args.target)
    checks = transfer.copy_database(source, target, _actor(args))
    for c in checks:
        mark = "ok" if c.ok else "MISMATCH"
        print(f"{c.table:<22} {c.source_rows:>9} -> {c.target_rows:<9} {c.target_hash[:16]}  {mark}")
    bad = [c.table for c in checks if not c.ok]
    if bad:
        print(f"error: copy differs from the source in {', '.join(bad)}", file=sys.stderr)
        return 4
    print(f"copied {describe(source)} to {describe(target)}: row counts and content hashes match")
    return 0


def add_parsers(sub, add) -> None:
    sp = add("copy-db", "copy a whole database to an empty one (DuckDB <-> PostgreSQL) and verify it")
    sp.add_argument("source", help="DuckDB file or postgresql:// URL")
    sp.add_argument("target", help="DuckDB file or postgresql:// URL (must be empty)")
    sp = add("create-admin", "create the first administrator (only when no users exist)")
    sp.add_argument("username")
    sp.add_argument("--name", help="display name")
    add("users", "list user accounts, roles and units")
    ap = sub.add_parser("audit", help="verify or read the hash-chained audit trail")
    asub = ap.add_subparsers(dest="acommand", required=True, metavar="SUBCOMMAND")
    v = asub.add_parser("verify", help="recompute the chain; name the first edited or removed entry")
    v.add_argument("--expected-head", help="head hash printed in an earlier export, to detect truncation")
    v.add_argument("--checkpoint", action="append",
                   help="a checkpoint line from an auditor pack or backup manifest (repeatable)")
    v.set_defaults(cmd="audit verify")
    c = asub.add_parser("checkpoint", help="sign a checkpoint over the current head and print it")
    c.set_defaults(cmd="audit checkpoint")
    lg = asub.add_parser("log", help="latest audit entries")
    lg.add_argument("--user")
    lg.add_argument("--action")
    lg.add_argument("--limit", type=int, default=50)
    lg.set_defaults(cmd="audit log")
