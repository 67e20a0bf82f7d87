"""Command-line interface: one subcommand for every core operation (python -m assessment --help)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from datetime import date

import polars as pl

from . import __version__, access, catalog, clock, coverage, reports, workflow
from .campaigns import list_campaigns
from .catalog import organisation_exists
from .errors import EngineError, ItscmError
from .model import RESPONDENTS, Actor
from .questionnaire import DEFAULT_QUESTIONNAIRE, QuestionnaireError, load_file
from .settings import load as load_settings
from .storage import Database
from .storage.backends import describe, open_url

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}
PLUGINS: list = []  # modules with add_parsers(sub, add) and @command functions, imported at the end


def command(name: str):
    def wrap(fn):
        COMMANDS[name] = fn
        return fn
    return wrap


def _print(df: pl.DataFrame, floats: int = 2) -> None:
    if df.height == 0:
        print("(nothing to show)")
        return
    df = df.with_columns(pl.col(pl.Float64).round(floats))
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                   tbl_formatting="ASCII_MARKDOWN", tbl_width_chars=250, fmt_str_lengths=60):
        print(df)


def _db(args: argparse.Namespace) -> Database:
    return open_url(args.db or load_settings().database_url)


def _actor(args: argparse.Namespace) -> Actor:
    # Whoever can open the database file locally already has every right over it.
    return access.SYSTEM


def _today(args: argparse.Namespace) -> date:
    return date.fromisoformat(args.today) if getattr(args, "today", None) else clock.today()


def _campaign(db: Database, args: argparse.Namespace) -> str:
    if getattr(args, "campaign", None):
        return args.campaign
    df = list_campaigns(db, _actor(args))
    if df.height == 0:
        raise EngineError("no campaigns yet: create one, or load the demo with `python -m assessment demo`")
    scored = df.filter(pl.col("submitted") > 0)
    return (scored if scored.height else df)["campaign_id"][-1]


@command("init")
def cmd_init(args: argparse.Namespace) -> int:
    db = _db(args)
    q = load_file(args.questionnaire)
    added = catalog.register_questionnaire(db, _actor(args), q)
    state = "stored" if added else "already stored"
    print(f"database ready ({describe(db)}); questionnaire {q.id}@{q.version} {state}")
    if args.demo:
        if organisation_exists(db):
            print("the database already holds an organisation: demo not loaded")
            return 0
        return _load_demo(db, args, q)
    return 0


@command("demo")
def cmd_demo(args: argparse.Namespace) -> int:
    db = _db(args)
    return _load_demo(db, args, load_file(args.questionnaire))


def _load_demo(db: Database, args: argparse.Namespace, q) -> int:
    from . import demo

    data = demo.load(db, _actor(args), q, _today(args), args.seed)
    print(f"demo organisation loaded: {data.units.height} units in {data.divisions.height} divisions, "
          f"{len(data.campaigns)} campaigns, {data.answers.height} answers")
    return 0


@command("questionnaire validate")
def cmd_validate(args: argparse.Namespace) -> int:
    q = load_file(args.file)
    print(f"{args.file}: valid — {q.id}@{q.version}, {len(q.domains)} domains, {len(q.questions)} questions, "
          f"{len(q.checklist)} checklist items, content hash {q.content_hash[:12]}")
    respondents = ", ".join(f"{RESPONDENTS[r]} {n}" for r in RESPONDENTS
                            if (n := sum(x.respondent == r for x in q.questions)))
    print(f"  levels {'cumulative' if q.policy.cumulative else 'not cumulative'}; compliance level "
          f"{q.policy.compliance_level}; respondents: {respondents}; N/A allowed on: "
          f"{', '.join(x.id for x in q.questions if x.na_allowed) or 'none'}")
    return 0


@command("questionnaire coverage")
def cmd_coverage(args: argparse.Namespace) -> int:
    q = load_file(args.file)
    print(f"Coverage of {q.id}@{q.version} ({len(q.questions)} questions)")
    for _kind, heading, df in coverage.tag_kinds(q):
        print(f"\n{heading} ({df.height})\n")
        if not df.height:
            print("(none defined in this version)")
            continue
        _print(df.select("item", "text", "count"))
        print("\nQuestions per item:")
        for item, questions in df.select("item", "questions").iter_rows():
            print(textwrap.fill(questions, width=110, initial_indent=f"  {item + ':':<7} ",
                                subsequent_indent=" " * 10))
    print("\nClause coverage per standard\n")
    print("The catalogue (questionnaires/standards.yaml) is this product's own list of the clauses relevant to IT\n"
          "service continuity, not the whole standard: the shares below are of that list.\n")
    _print(coverage.standard_coverage(q).with_columns(
        pl.col("^% .*$").cast(pl.Int64).cast(pl.String).fill_null("-")))
    oos = coverage.out_of_scope(q)
    print(f"\nClauses deliberately out of scope ({oos.height})\n")
    for std, clause, topic, reason in oos.iter_rows():
        print(textwrap.fill(f"{std} {clause} ({topic}): {reason}", width=110, initial_indent="  ",
                            subsequent_indent="    "))
    if not oos.height:
        print("(none listed in the catalogue)")
    return 0


@command("campaigns")
def cmd_campaigns(args: argparse.Namespace) -> int:
    df = list_campaigns(_db(args), _actor(args))
    _print(df.select("campaign_id", "name", "status", "opens_on", "due_on", "closes_on",
                     pl.format("{}@{}", "questionnaire_id", "questionnaire_version").alias("questionnaire"),
                     "submitted", "expected"))
    return 0


@command("score")
def cmd_score(args: argparse.Namespace) -> int:
    db = _db(args)
    cid = _campaign(db, args)
    n = workflow.rescore_campaign(db, _actor(args), cid)
    print(f"{cid}: scored {n} submitted or approved assessment(s)")
    return 0


def _filters(args: argparse.Namespace) -> reports.Filters:
    return reports.Filters(
        division_ids=tuple(args.division) if args.division else None,
        tiers=tuple(args.tier) if args.tier else None,
    )


@command("status")
def cmd_status(args: argparse.Namespace) -> int:
    db = _db(args)
    cid = _campaign(db, args)
    actor, f, today = _actor(args), _filters(args), _today(args)
    s = reports.summary(db, actor, cid, f, today)
    fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
    print(f"Campaign {cid}: organisation score {fmt(s['score'])} against target {fmt(s['target'])} "
          f"(gap {fmt(s['gap'])}); {s['units_at_target']}/{s['units_scored']} scored units at target; "
          f"{s['submitted']}/{s['expected']} assessments submitted; {s['overdue_reviews']} plan review(s) overdue\n")
    units = reports.units(db, actor, cid, f, order="name")
    reviews = reports.deadlines(db, actor, None, f, today).filter(pl.col("kind") == "plan review")
    table = units.join(reviews.select("unit_id", pl.col("due_on").alias("plan_review_due"),
                                      pl.col("bucket").alias("plan_review")), on="unit_id", how="left")
    _print(table.select("division", "unit_id", "unit", "tier", "status", "score", "target", "gap",
                        "weakest_domain", "capped", "plan_review_due", "plan_review"))
    return 0


@command("deadlines")
def cmd_deadlines(args: argparse.Namespace) -> int:
    db = _db(args)
    cid = _campaign(db, args)
    df = reports.deadlines(db, _actor(args), cid, _filters(args), _today(args), args.within)
    _print(df.select("bucket", "days_left", "due_on", "kind", "division", "unit", "item", "owner"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="itscm", description="ITSCM maturity assessment engine")
    p.add_argument("--version", action="version", version=f"itscm {__version__}")
    p.add_argument("--db", help="DuckDB file or postgresql:// URL (default: ITSCM_DATABASE_URL or data/itscm.duckdb)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(cmd=name)
        return sp

    sp = add("init", "create or upgrade the database and store the questionnaire")
    sp.add_argument("--questionnaire", default=str(DEFAULT_QUESTIONNAIRE))
    sp.add_argument("--demo", action="store_true", help="also load the demo organisation if the database has none")
    sp.add_argument("--today", help="date the demo is generated around (YYYY-MM-DD)")
    sp.add_argument("--seed", type=int, default=7)
    sp = add("demo", "load the deterministic demo organisation into an empty database")
    sp.add_argument("--questionnaire", default=str(DEFAULT_QUESTIONNAIRE))
    sp.add_argument("--today", help="date the demo is generated around (YYYY-MM-DD)")
    sp.add_argument("--seed", type=int, default=7)

    qp = sub.add_parser("questionnaire", help="validate a questionnaire file or show its coverage")
    qsub = qp.add_subparsers(dest="qcommand", required=True, metavar="SUBCOMMAND")
    v = qsub.add_parser("validate", help="check a questionnaire file and report every problem")
    v.add_argument("file")
    v.set_defaults(cmd="questionnaire validate")
    c = qsub.add_parser("coverage", help="checklist items and standard clauses covered by the questions")
    c.add_argument("file", nargs="?", default=str(DEFAULT_QUESTIONNAIRE))
    c.set_defaults(cmd="questionnaire coverage")

    add("campaigns", "list campaigns")
    sp = add("score", "re-score the submitted assessments of a campaign (default: the latest scored)")
    sp.add_argument("--campaign")
    for name, help in (("status", "units, scores, gaps and plan reviews for a campaign"),
                       ("deadlines", "plan reviews, open assessments and expiring evidence")):
        sp = add(name, help)
        sp.add_argument("--campaign")
        sp.add_argument("--division", action="append", help="division id (repeatable)")
        sp.add_argument("--tier", action="append", type=int, help="criticality tier (repeatable)")
        sp.add_argument("--today", help="report as of this date (YYYY-MM-DD)")
        if name == "deadlines":
            sp.add_argument("--within", type=int, help="only items due within this many days (and overdue)")
    for module in PLUGINS:
        module.add_parsers(sub, add)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.cmd](args)
    except QuestionnaireError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ItscmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


from . import cli_admin, cli_excel, cli_ops  # noqa: E402  (register their commands with the decorator above)

PLUGINS.append(cli_admin)
PLUGINS.append(cli_ops)
PLUGINS.append(cli_excel)

if __name__ == "__main__":
    raise SystemExit(main())
