"""CLI command `standards`: where the units stand on each clause the questionnaire cites."""

from __future__ import annotations

import argparse
import textwrap

import polars as pl

from .. import standards_view
from ._base import actor, arg, campaign_id, command, filters, open_db, print_table


@command("standards", help="readiness per standard, article or clause group, and cited clause", args=[
    arg("--standard", help="one standard of the catalogue, e.g. DORA or ISO22301"),
    arg("--campaign"),
    arg("--division", action="append", help="division id (repeatable)"),
    arg("--tier", action="append", type=int, help="criticality tier (repeatable)"),
])
def cmd_standards(args: argparse.Namespace) -> int:
    db = open_db(args)
    cid = campaign_id(db, args)
    v = standards_view.view(db, actor(args), cid, filters(db, args), args.standard)
    level = v.compliance_level
    print(f"Campaign {cid}, questionnaire {v.questionnaire}: scored units' scores on the questions citing each "
          f"clause; compliant = at or above level {level} (the questionnaire's policy).\n")
    print("Readiness per standard. The clause catalogue (questionnaires/standards.yaml) is this product's own list "
          "of the\nclauses relevant to IT service continuity, not the whole standard: coverage is a share of that "
          "list.\n")
    print_table(v.standards.select(
        "standard", pl.col("catalogue_clauses").alias("catalogue clauses"),
        pl.col("out_of_scope").alias("out of scope"), pl.col("clauses_cited").alias("cited"),
        pl.col("cited_share").cast(pl.Int64).cast(pl.String).fill_null("-").alias("% of in-scope cited"),
        pl.col("units_scored").alias("units"), "median", _share(level), pl.col("below").alias("units below")))
    print("\nReadiness per article or clause group\n")
    print_table(v.groups.select(
        "standard", "group", pl.col("clauses_cited").alias("cited"),
        pl.col("catalogue_clauses").alias("in catalogue"), pl.col("units_scored").alias("units"), "lowest",
        "median", "highest", _share(level), pl.col("below").alias("units below")))
    print("\nCited clauses\n")
    print_table(v.clauses.select(
        "standard", "clause", pl.col("topic").str.slice(0, 48), "questions", pl.col("units_scored").alias("units"),
        "lowest", "median", "highest", _share(level), pl.col("units_below").str.slice(0, 60).alias("units below")))
    print(f"\nClauses deliberately out of scope ({v.out_of_scope.height})\n")
    for std, clause, topic, reason in v.out_of_scope.iter_rows():
        print(textwrap.fill(f"{std} {clause} ({topic}): {reason}", width=110, initial_indent="  ",
                            subsequent_indent="    "))
    if not v.out_of_scope.height:
        print("(none listed in the catalogue)")
    return 0


def _share(level: int) -> pl.Expr:
    return pl.col("share").alias(f"% at or above {level}")
