"""CLI commands for improvement actions: list the register, create actions for the gaps of a cycle."""

from __future__ import annotations

import argparse

import polars as pl

from .. import actions
from ._base import actor, arg, command, group, open_db, print_table, today, today_arg

group("actions", help="improvement actions: list the register, create actions from the gaps of a cycle")


@command("actions list", help="the action register, soonest due first", args=[
    arg("--overdue", action="store_true", help="only open actions past their due date"),
    arg("--owner", help="only the actions of this user"),
    today_arg("overdue as of this date (YYYY-MM-DD)"),
])
def cmd_list(args: argparse.Namespace) -> int:
    df = actions.list_actions(open_db(args), actor(args), owner=args.owner, overdue=args.overdue, today=today(args))
    print_table(df.select("action_id", "status", "due_on", "overdue", "priority", "division", "unit", "owner",
                          "question_ids", "title"))
    return 0


@command("actions create-from-gaps", help="an action for every gap above a priority in a cycle, none for a gap "
         "with an open action", args=[
    arg("campaign"),
    arg("--min-priority", type=float, required=True, help="only gaps whose priority is above this"),
    arg("--dry-run", action="store_true", help="show the actions that would be created, create nothing"),
    today_arg("due dates count from this date (YYYY-MM-DD)"),
])
def cmd_from_gaps(args: argparse.Namespace) -> int:
    df = actions.create_from_gaps(open_db(args), actor(args), args.campaign, min_priority=args.min_priority,
                                  today=today(args), dry_run=args.dry_run)
    print_table(df.select("action_id", "division", "unit", "question_id", pl.col("priority").round(2), "owner",
                          "due_on", "title"))
    verb = "would create" if args.dry_run else "created"
    print(f"{args.campaign}: {verb} {df.height} action(s) for gaps above priority {args.min_priority:g}")
    return 0
