"""CLI commands for cycles and questionnaire versions: campaign create/open/close, questionnaire register,
diff and list."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

import polars as pl

from .. import access, campaigns, versions
from ..errors import ValidationError
from ..model import Questionnaire
from ..questionnaire_diff import diff, summary
from ..storage import Database
from ._base import actor, arg, command, group, iso_date, open_db, print_table, today

group("campaign", help="create, open and close assessment cycles")

CAMPAIGN_ID = arg("id", help="the cycle's id (letters, digits, '.', '_' or '-')")


@command("campaign create", help="create a cycle with a registered questionnaire version and a unit selection", args=[
    CAMPAIGN_ID,
    arg("--name", help="its name (default: 'ITSCM self-assessment ID')"),
    arg("--questionnaire", metavar="ID@VERSION",
        help="a registered version (default: the newest registered one; `questionnaire list` shows them)"),
    arg("--opens", type=iso_date, help="opening date YYYY-MM-DD (default: today)"),
    arg("--due", type=iso_date, help="due date (default: 38 days after opening)"),
    arg("--closes", type=iso_date, help="closing date (default: 50 days after opening)"),
    arg("--division", action="append", default=[], help="only the active units of this division (repeatable)"),
    arg("--tier", action="append", type=int, default=[], help="only the active units of this tier (repeatable)"),
    arg("--unit", action="append", default=[], help="only these units (repeatable)"),
    arg("--previous", help="the cycle this one follows (for changes since the previous cycle)"),
    arg("--carry-forward", action="store_true",
        help="start each unit's draft from its last submitted answers, to confirm or change"),
    arg("--open", action="store_true", help="open it at once (default: planned)"),
])
def cmd_campaign_create(args: argparse.Namespace) -> int:
    db = open_db(args)
    who = actor(args)
    q = _version(db, args.questionnaire)
    opens = args.opens or today(args)
    due = args.due or opens + timedelta(days=campaigns.DUE_AFTER_DAYS)
    closes = args.closes or opens + timedelta(days=campaigns.CLOSES_AFTER_DAYS)
    selection = campaigns.UnitSelection(tuple(args.division) or None, tuple(args.tier) or None,
                                        tuple(args.unit) or None)
    after = campaigns.create(db, who, args.id, args.name or f"ITSCM self-assessment {args.id}",
                             q, opens, due, closes, previous=args.previous, selection=selection,
                             status="open" if args.open else "planned", carry_forward=args.carry_forward)
    print(f"campaign {args.id} created ({after['status']}): {after['units']} unit(s), questionnaire "
          f"{after['questionnaire']}, opens {opens}, due {due}, closes {closes}")
    if "carried" in after:
        c = after["carried"]
        print(f"  carried over {c['answers']} answer(s) of {c['units']} unit(s) to confirm or change"
              + (f"; {c['not_carried']} not carried (the new version's rules refuse them)" if c["not_carried"] else ""))
    return 0


def _version(db: Database, ref: str | None) -> Questionnaire:
    if ref:
        return versions.resolve(db, ref)
    df = versions.stored(db, access.SYSTEM)
    if df.height == 0:
        raise ValidationError(["--questionnaire: no questionnaire is registered: run `itscm init` or "
                               "`itscm questionnaire register FILE` first"], "campaign create")
    return versions.resolve(db, f"{df['questionnaire_id'][0]}@{df['version'][0]}")


@command("campaign open", help="open a planned (or reopen a closed) cycle for answers", args=[CAMPAIGN_ID])
def cmd_campaign_open(args: argparse.Namespace) -> int:
    campaigns.set_status(open_db(args), actor(args), args.id, "open")
    print(f"campaign {args.id} is now open")
    return 0


@command("campaign close", help="close an open cycle: answers are frozen", args=[CAMPAIGN_ID])
def cmd_campaign_close(args: argparse.Namespace) -> int:
    campaigns.set_status(open_db(args), actor(args), args.id, "closed")
    print(f"campaign {args.id} is now closed")
    return 0


@command("questionnaire register", help="validate a new questionnaire version, show what changed, and store it",
         args=[arg("file"), arg("--dry-run", action="store_true", help="validate and show the diff, store nothing")])
def cmd_register(args: argparse.Namespace) -> int:
    q = versions.read(Path(args.file), args.file)
    db = open_db(args)
    base, df = versions.compare(db, actor(args), q)
    _print_diff(f"{q.id}@{q.version}", base, df)
    if args.dry_run:
        print("dry run: nothing stored")
        return 0
    added = versions.register(db, actor(args), q)
    print(f"questionnaire {q.id}@{q.version} " + ("registered" if added else "was already registered (unchanged)"))
    return 0


@command("questionnaire diff", help="what changed between two versions (files, or stored versions as ID@VERSION)",
         args=[arg("old"), arg("new")])
def cmd_diff(args: argparse.Namespace) -> int:
    db: list[Database] = []
    old, new = (_file_or_stored(ref, args, db) for ref in (args.old, args.new))
    df = diff(old, new)
    _print_diff(f"{new.id}@{new.version}", f"{old.id}@{old.version}", df)
    return 0


def _file_or_stored(ref: str, args: argparse.Namespace, db: list[Database]) -> Questionnaire:
    if Path(ref).exists() or "@" not in ref:
        return versions.read(Path(ref), ref)
    if not db:
        db.append(open_db(args))
    return versions.resolve(db[0], ref)


def _print_diff(new: str, base: str | None, df: pl.DataFrame) -> None:
    if base is None:
        print(f"{new}: no earlier version of this questionnaire is stored; nothing to compare with")
        return
    counts = summary(df)
    print(f"{base} -> {new}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if df.height:
        print_table(df.with_columns(pl.col("old", "new").str.slice(0, 60)), floats=2)


@command("questionnaire list", help="the registered questionnaire versions")
def cmd_list(args: argparse.Namespace) -> int:
    df = versions.stored(open_db(args), actor(args))
    print_table(df.select("questionnaire_id", "version", "title", "questions", "loaded_at"))
    return 0
