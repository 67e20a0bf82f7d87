"""CLI commands for the continuity records: the service register (list, workbook export, template, import),
the exercise log, and recovery demonstrated against required."""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from .. import durations, exercises, recovery, services
from ._base import actor, arg, command, filters, group, iso_date, open_db, print_table, refused

SCOPE = [arg("--division", action="append", help="division id (repeatable)"),
         arg("--unit", action="append", help="unit id (repeatable)")]
LIMIT = arg("--limit", type=int, default=200, help="rows to print (default 200)")


def _limited(df: pl.DataFrame, limit: int) -> None:
    print_table(df.head(limit))
    if df.height > limit:
        print(f"... and {df.height - limit} more (use --limit)")


def _durations(*cols: str) -> list[pl.Expr]:
    return [durations.expr(pl.col(c)).alias(c.removesuffix("_minutes")) for c in cols]


group("services", help="the service register: list it, or exchange it as an Excel workbook")


@command("services list", help="services with their unit, tier and recovery objectives", args=[*SCOPE, LIMIT])
def cmd_services_list(args: argparse.Namespace) -> int:
    db = open_db(args)
    df = services.list_services(db, actor(args), filters(db, args))
    _limited(df.select("service_id", "name", "unit_id", "recovery_tier", "owner",
                       *_durations("mtpd_minutes", "rto_minutes", "rpo_minutes"), "approved_on", "next_review",
                       "revision"), args.limit)
    return 0


@command("services export", help="write the service register workbook (services and dependencies)",
         args=[*SCOPE, arg("-o", "--output", required=True, help="the .xlsx file to write")])
def cmd_services_export(args: argparse.Namespace) -> int:
    from ..excel import services as register_wb

    out = Path(args.output)
    db = open_db(args)
    n = register_wb.write_register(db, actor(args), out, filters(db, args))
    print(f"wrote {out}: {n} service(s)")
    return 0


@command("services template", help="write an empty service register workbook to fill in",
         args=[arg("-o", "--output", required=True, help="the .xlsx file to write")])
def cmd_services_template(args: argparse.Namespace) -> int:
    from ..excel import services as register_wb

    out = Path(args.output)
    register_wb.write_register(open_db(args), actor(args), out, template=True)
    print(f"wrote {out}: an empty service register")
    return 0


@command("services import", help="import a service register workbook: all or nothing (check first with --dry-run)",
         args=[arg("file"),
               arg("--dry-run", action="store_true", help="check the file and show what would change; save nothing"),
               LIMIT])
def cmd_services_import(args: argparse.Namespace) -> int:
    from ..excel import services as register_wb

    db, who, path = open_db(args), actor(args), Path(args.file)
    run = register_wb.analyse if args.dry_run else register_wb.commit
    result = run(db, who, path, path.name)
    if refused(path.name, result.problems):
        return 1
    head = "dry run, nothing saved" if args.dry_run else "imported"
    print(f"{path.name} (sha256 {result.sha256}): {head}: {result.summary_text()}")
    shown = result.diff.filter(pl.col("action") != "unchanged")
    if shown.height:
        _limited(shown, args.limit)
    if result.changes.height:
        print()
        _limited(result.changes, args.limit)
    return 0


@command("exercises", help="the exercise and test log: one row per service tested, newest first", args=[
    *SCOPE, arg("--since", type=iso_date, help="exercises on or after this date (YYYY-MM-DD)"), LIMIT])
def cmd_exercises(args: argparse.Namespace) -> int:
    db = open_db(args)
    df = exercises.exercise_log(db, actor(args), filters(db, args), since=args.since)
    _limited(df.select("exercise_id", "exercise_date", "exercise_type", "service_id", "unit_id",
                       *_durations("achieved_recovery_minutes", "rto_minutes"), "passed", "findings"), args.limit)
    return 0


@command("recovery", help="recovery demonstrated against required per service, worst first; then untested "
                          "top-tier services, RTO inversions and incidents over RTO", args=[*SCOPE, LIMIT])
def cmd_recovery(args: argparse.Namespace) -> int:
    db, who = open_db(args), actor(args)
    scope = filters(db, args)
    df = recovery.demonstrated(db, who, scope)
    print("Demonstrated against required recovery")
    _limited(df.select("service_id", "unit_id", "recovery_tier", pl.col("status"),
                       durations.expr(pl.col("rto_minutes")).alias("required (RTO)"),
                       durations.expr(pl.col("demonstrated_minutes")).alias("demonstrated"), "demonstrated_on",
                       "proof_age_days", durations.expr(pl.col("gap_minutes").clip(lower_bound=0)).alias("slower by")),
             args.limit)
    untested = recovery.untested_top_tier(db, who, scope)
    print(f"\nTop-tier services without a passing test in 12 months: {untested.height}")
    if untested.height:
        _limited(untested.select("service_id", "unit_id", "last_passed_on", "last_tested_on"), args.limit)
    inv = recovery.inversions(db, who, scope)
    print(f"\nRTO inversions: {inv.height}")
    if inv.height:
        _limited(inv.select("chain", "accepted_inversion"), args.limit)
    over = recovery.incidents_over_rto(db, who, scope)
    print(f"\nIncidents over RTO in 12 months: {over.height}")
    if over.height:
        _limited(over.select("incident_id", "service_id", "unit_id", "started_at",
                             *_durations("outage_minutes", "rto_minutes", "over_by_minutes"), "postmortem_status"),
                 args.limit)
    return 0
