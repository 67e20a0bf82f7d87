"""CLI commands that reach people: `remind` (daily digest emails, for cron or a systemd timer) and `calendar`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import ical, reminders
from ._base import actor, arg, command, open_db, today, today_arg


@command("remind", help="email each person one digest of their units' deadlines (at most one a day)", args=[
    arg("--dry-run", action="store_true", help="list the digests that would be sent; send and record nothing"),
    today_arg("remind as of this date (YYYY-MM-DD)"),
])
def cmd_remind(args: argparse.Namespace) -> int:
    db = open_db(args)
    try:
        report = reminders.run(db, actor(args), today(args), dry_run=args.dry_run)
    finally:
        db.close()
    verb = "would send" if report.dry_run else "sent"
    for d in report.sent:
        print(f"{verb}: {d.username} <{d.email}>, {len(d.items)} item(s)")
    for name in report.already_sent:
        print(f"already sent on {report.day.isoformat()}: {name}")
    for name in report.without_email:
        print(f"no email address, not sent: {name} (set one with the Users page or the organisation import)")
    for name, why in report.refused:
        print(f"refused: {name}: {why}", file=sys.stderr)
    if report.error:
        print(f"error: {report.error}; {len(report.not_sent)} digest(s) not sent and not recorded: the next run "
              "retries them", file=sys.stderr)
    print(f"{len(report.sent)} digest(s) {verb}, {len(report.already_sent)} already sent today, "
          f"{len(report.without_email)} without an email address")
    return 0 if report.ok else 1


@command("calendar", help="write one user's deadlines as an iCalendar (.ics) file", args=[
    arg("--user", required=True, help="username whose units' deadlines to write"),
    arg("-o", "--output", required=True, metavar="FILE", help=".ics file to write"),
    today_arg("deadlines as of this date (YYYY-MM-DD)"),
])
def cmd_calendar(args: argparse.Namespace) -> int:
    db = open_db(args)
    try:
        data = ical.user_calendar(db, actor(args), args.user, today(args))
    finally:
        db.close()
    Path(args.output).write_bytes(data)
    print(f"wrote {args.output}: {data.count(b'BEGIN:VEVENT')} deadline(s) of {args.user}")
    return 0
