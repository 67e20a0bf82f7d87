"""CLI commands for the core cycle: init, demo, questionnaire validate/coverage, campaigns, score, status, deadlines."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import polars as pl

from .. import actions, catalog, coverage, reports, workflow
from ..campaigns import list_campaigns
from ..catalog import organisation_exists
from ..model import RESPONDENTS
from ..questionnaire import DEFAULT_QUESTIONNAIRE, SHIPPED_QUESTIONNAIRES, load_file
from ..storage import Database
from ..storage.backends import describe
from ._base import actor, arg, campaign_id, command, filters, group, open_db, print_table, today, today_arg

QUESTIONNAIRE = arg("--questionnaire", default=str(DEFAULT_QUESTIONNAIRE))
SEED = arg("--seed", type=int, default=7)
DEMO_TODAY = today_arg("date the demo is generated around (YYYY-MM-DD)")
SCOPE = (
    arg("--campaign"),
    arg("--division", action="append", help="division id (repeatable)"),
    arg("--tier", action="append", type=int, help="criticality tier (repeatable)"),
    today_arg("report as of this date (YYYY-MM-DD)"),
)


@command("init", help="create or upgrade the database and store the questionnaires", args=[
    arg("--questionnaire", help="store this questionnaire file only (default: every version the product ships)"),
    arg("--demo", action="store_true", help="also load the demo organisation if the database has none"),
    DEMO_TODAY,
    SEED,
])
def cmd_init(args: argparse.Namespace) -> int:
    db = open_db(args)
    files = [Path(args.questionnaire)] if args.questionnaire else list(SHIPPED_QUESTIONNAIRES)
    print(f"database ready ({describe(db)})")
    for path in files:
        stored = load_file(path)
        state = "stored" if catalog.register_questionnaire(db, actor(args), stored) else "already stored"
        print(f"questionnaire {stored.id}@{stored.version} {state}")
    q = load_file(files[0])
    if args.demo:
        if organisation_exists(db):
            print("the database already holds an organisation: demo not loaded")
            return 0
        return _load_demo(db, args, q)
    return 0


@command("demo", help="load the deterministic demo organisation into an empty database",
         args=[QUESTIONNAIRE, DEMO_TODAY, SEED])
def cmd_demo(args: argparse.Namespace) -> int:
    db = open_db(args)
    return _load_demo(db, args, load_file(args.questionnaire))


def _load_demo(db: Database, args: argparse.Namespace, q) -> int:
    from .. import demo  # the demo generator is only needed by these two commands

    data = demo.load(db, actor(args), q, today(args), args.seed)
    print(f"demo organisation loaded: {data.units.height} units in {data.divisions.height} divisions, "
          f"{len(data.campaigns)} campaigns, {data.answers.height} answers")
    return 0


group("questionnaire", help="validate a questionnaire file or show its coverage")


@command("questionnaire validate", help="check a questionnaire file and report every problem", args=[arg("file")])
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


@command("questionnaire coverage", help="checklist items and standard clauses covered by the questions",
         args=[arg("file", nargs="?", default=str(DEFAULT_QUESTIONNAIRE))])
def cmd_coverage(args: argparse.Namespace) -> int:
    q = load_file(args.file)
    print(f"Coverage of {q.id}@{q.version} ({len(q.questions)} questions)")
    for _kind, heading, df in coverage.tag_kinds(q):
        print(f"\n{heading} ({df.height})\n")
        if not df.height:
            print("(none defined in this version)")
            continue
        print_table(df.select("item", "text", "count"))
        print("\nQuestions per item:")
        for item, questions in df.select("item", "questions").iter_rows():
            print(textwrap.fill(questions, width=110, initial_indent=f"  {item + ':':<7} ",
                                subsequent_indent=" " * 10))
    print("\nClause coverage per standard\n")
    print("The catalogue (questionnaires/standards.yaml) is this product's own list of the clauses relevant to IT\n"
          "service continuity, not the whole standard: the shares below are of that list.\n")
    print_table(coverage.standard_coverage(q).with_columns(
        pl.col("^% .*$").cast(pl.Int64).cast(pl.String).fill_null("-")))
    oos = coverage.out_of_scope(q)
    print(f"\nClauses deliberately out of scope ({oos.height})\n")
    for std, clause, topic, reason in oos.iter_rows():
        print(textwrap.fill(f"{std} {clause} ({topic}): {reason}", width=110, initial_indent="  ",
                            subsequent_indent="    "))
    if not oos.height:
        print("(none listed in the catalogue)")
    return 0


@command("campaigns", help="list campaigns")
def cmd_campaigns(args: argparse.Namespace) -> int:
    df = list_campaigns(open_db(args), actor(args))
    print_table(df.select("campaign_id", "name", "status", "opens_on", "due_on", "closes_on",
                          pl.format("{}@{}", "questionnaire_id", "questionnaire_version").alias("questionnaire"),
                          "submitted", "expected"))
    return 0


@command("score", help="re-score the submitted assessments of a campaign (default: the latest scored)",
         args=[arg("--campaign")])
def cmd_score(args: argparse.Namespace) -> int:
    db = open_db(args)
    cid = campaign_id(db, args)
    n = workflow.rescore_campaign(db, actor(args), cid)
    print(f"{cid}: scored {n} submitted or approved assessment(s)")
    return 0


@command("status", help="units, scores, gaps and plan reviews for a campaign", args=SCOPE)
def cmd_status(args: argparse.Namespace) -> int:
    db = open_db(args)
    cid = campaign_id(db, args)
    who, f, day = actor(args), filters(db, args), today(args)
    s = reports.summary(db, who, cid, f, day)
    fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
    print(f"Campaign {cid}: organisation score {fmt(s['score'])} against target {fmt(s['target'])} "
          f"(gap {fmt(s['gap'])}); {s['units_at_target']}/{s['units_scored']} scored units at target; "
          f"{s['submitted']}/{s['expected']} assessments submitted; {s['overdue_reviews']} plan review(s) overdue\n")
    units = reports.units(db, who, cid, f, order="name")
    reviews = reports.deadlines(db, who, None, f, day).filter(pl.col("kind") == "plan review")
    table = units.join(reviews.select("unit_id", pl.col("due_on").alias("plan_review_due"),
                                      pl.col("bucket").alias("plan_review")), on="unit_id", how="left")
    print_table(table.select("division", "unit_id", "unit", "tier", "status", "score", "target", "gap",
                             "weakest_domain", "capped", "plan_review_due", "plan_review"))
    return 0


@command("deadlines", help="plan reviews, open assessments, expiring evidence, service reviews and exercises due, "
         "actions due and risk acceptances expiring", args=[
    *SCOPE,
    arg("--within", type=int, help="only items due within this many days (and overdue)"),
])
def cmd_deadlines(args: argparse.Namespace) -> int:
    db = open_db(args)
    cid = campaign_id(db, args)
    scope = filters(db, args)
    df = reports.deadlines(db, actor(args), cid, scope, today(args), args.within)
    print_table(df.select("bucket", "days_left", "due_on", "kind", "division", "unit", "item", "owner"))
    due = actions.due_for(db, actor(args), today=today(args), horizon_days=args.within, filters=scope)
    print("\nImprovement actions due and overdue, and risk acceptances about to expire\n")
    print_table(due.select("bucket", "days_left", "due_on", "kind", "owner", "division", "unit", "item"))
    return 0
