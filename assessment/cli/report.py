"""CLI command for the management-review pack: `itscm report CAMPAIGN -o pack.pdf` (reportlab loads on use)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._base import actor, arg, command, filters, open_db


@command("report", help="write the management-review pack (PDF) of a campaign: the ISO 22301 9.3.2 review inputs",
         args=[
             arg("campaign", metavar="CAMPAIGN"),
             arg("-o", "--output", required=True, help="the .pdf file to write"),
             arg("--division", action="append", help="division id (repeatable)"),
         ])
def cmd_report(args: argparse.Namespace) -> int:
    from .. import review_pdf

    db = open_db(args)
    scope = filters(db, args)
    out = Path(args.output)
    pack = review_pdf.management_review(db, actor(args), args.campaign, out, scope)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB): {pack.campaign['campaign_id']} as of {pack.as_of}, "
          f"{pack.divisions_total} division(s), {len(pack.decisions)} decision(s) required")
    return 0
