"""CLI commands for the organisation register: `itscm org template|export|import` (workbook or CSV folder)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._base import actor, arg, command, group, open_db, print_table, refused

group("org", help="the organisation register: divisions, units, heads and people (workbook or CSV)")


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    print(f"wrote {path} ({len(data) / 1024:.0f} KB)")


@command("org template", help="write the empty organisation workbook (sheets Divisions, Units, People)", args=[
    arg("-o", "--output", default="organisation-template.xlsx", help="the .xlsx file to write"),
])
def cmd_template(args: argparse.Namespace) -> int:
    from ..excel import organisation as org_book

    _write(Path(args.output), org_book.template_bytes(open_db(args), actor(args)))
    return 0


@command("org export", help="write the current organisation in the import's format (a round trip changes nothing)",
         args=[arg("-o", "--output", default="organisation.xlsx",
                   help="an .xlsx file, or a folder (no .xlsx suffix) for divisions.csv, units.csv, people.csv")])
def cmd_export(args: argparse.Namespace) -> int:
    from ..excel import organisation as org_book

    out = Path(args.output)
    if out.suffix.lower() == ".xlsx":
        _write(out, org_book.export_bytes(open_db(args), actor(args)))
    else:
        for path in org_book.export_csv(open_db(args), actor(args), out):
            print(f"wrote {path}")
    return 0


@command("org import", help="import the organisation from a workbook or a folder of CSV files (check first with "
                            "--dry-run)", args=[
    arg("file", help="an .xlsx workbook, or a folder with divisions.csv, units.csv, people.csv"),
    arg("--dry-run", action="store_true", help="check the file and show what would change; save nothing"),
    arg("--limit", type=int, default=200, help="rows of the diff to print (default 200)"),
])
def cmd_import(args: argparse.Namespace) -> int:
    from ..excel import organisation as org_book

    db, who, path = open_db(args), actor(args), Path(args.file)
    if not path.exists():
        print(f"error: {path}: no such file or folder", file=sys.stderr)
        return 2
    run = org_book.analyse if args.dry_run else org_book.commit
    result = run(db, who, path, path.name)
    if refused(path.name, result.problems):
        return 1
    counts = ", ".join(f"{k}: {n}" for k, n in result.counts().items()) or "no changes"
    print(f"{path.name}: {'dry run, nothing saved' if args.dry_run else 'imported'}; {counts}")
    if result.diff.height:
        print_table(result.diff.head(args.limit))
        if result.diff.height > args.limit:
            print(f"... and {result.diff.height - args.limit} more (use --limit)")
    if result.passwords:
        print("\nOne-time passwords of the new accounts (shown once; hand each to its owner, who changes it):")
        for username, password in sorted(result.passwords.items()):
            print(f"{username}\t{password}")
    if result.sso_only:
        print(f"\n{len(result.sso_only)} account(s) created for single sign-on only (no password).")
    return 0
