"""CLI commands for Excel: export (auditor pack), template (offline answers of one unit), import (dry run/commit).

The Excel modules (xlsxwriter, openpyxl, fastexcel, pandera) are imported by the commands that use them, so the
other commands do not pay for loading them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from ._base import actor, arg, command, filters, open_db, print_table, refused, today, today_arg

OUTPUT = arg("-o", "--output", required=True, help="the .xlsx file to write")


@command("export", help="write the Excel auditor pack of a campaign (optionally one division or unit)", args=[
    arg("--campaign", required=True),
    arg("--division", action="append", help="division id (repeatable)"),
    arg("--unit", action="append", help="unit id (repeatable)"),
    OUTPUT,
    today_arg("deadlines as of this date (YYYY-MM-DD)"),
])
def cmd_export(args: argparse.Namespace) -> int:
    from ..excel import export as excel_export

    db = open_db(args)
    scope = filters(db, args)
    out = Path(args.output)
    res = excel_export.auditor_pack(db, actor(args), args.campaign, out, scope, today(args))
    sheets = ", ".join(f"{name} {n}" for name, n in res.sheets.items())
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB): {sheets} row(s)")
    return 0


@command("template", help="write the offline Excel answer template of one unit in a campaign", args=[
    arg("--campaign", required=True),
    arg("--unit", required=True),
    OUTPUT,
    today_arg(argparse.SUPPRESS),
])
def cmd_template(args: argparse.Namespace) -> int:
    from ..excel import template as excel_template

    out = Path(args.output)
    res = excel_template.unit_template(open_db(args), actor(args), args.campaign, args.unit, out, today(args))
    print(f"wrote {out}: template {res.template_id} for {args.unit} in {args.campaign}, {res.questions} "
          f"question(s), {res.answered} answered")
    return 0


@command("import", help="import answers from a filled template or an auditor pack (check first with --dry-run)",
         args=[
             arg("file"),
             arg("--dry-run", action="store_true", help="check the file and show what would change; save nothing"),
             arg("--exclude-conflicts", action="store_true",
                 help="save the other rows and leave out answers changed in the application since the file was "
                      "generated (never overwritten)"),
             arg("--limit", type=int, default=200, help="rows of the diff to print (default 200)"),
             today_arg("check evidence dates against this date (YYYY-MM-DD)"),
         ])
def cmd_import(args: argparse.Namespace) -> int:
    from ..excel import importer as excel_import

    db, who, path = open_db(args), actor(args), Path(args.file)
    if args.dry_run:
        result = excel_import.analyse(db, who, path, path.name, today(args))
    else:
        result = excel_import.commit(db, who, path, path.name, today(args), args.exclude_conflicts)
    if refused(path.name, result.problems):
        return 1
    head = "dry run, nothing saved" if args.dry_run else "imported"
    print(f"{path.name} ({result.kind}, campaign {result.campaign_id}, sha256 {result.sha256}): {head}")
    print(result.summary_text())
    print_table(result.by_unit())
    shown = result.diff.filter(pl.col("action") != "unchanged")
    if shown.height:
        print()
        print_table(shown.select("row", "unit_id", "question_id", "action", "fields", "before", "after", "note")
                    .head(args.limit))
        if shown.height > args.limit:
            print(f"... and {shown.height - args.limit} more (use --limit)")
    if args.dry_run and result.summary["conflict"]:
        print(f"\n{result.summary['conflict']} conflict(s): answers changed in the application after the file was "
              "generated. `import` refuses them; add --exclude-conflicts to save the other rows only.")
    return 0
