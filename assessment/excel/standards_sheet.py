"""The auditor pack's Standards sheet: the standards view's clause table, one row per cited clause."""

from __future__ import annotations

import polars as pl

from ..standards_view import CLAUSE_HEADERS, StandardsView

SHEET = "Standards"
_KINDS = {"units_scored": "int", "at_or_above": "int", "below": "int", "lowest": "float", "median": "float",
          "highest": "float", "share": "float"}
_WIDTHS = {"standard": 11, "group": 20, "clause": 24, "topic": 48, "questions": 24, "units_below": 60}


def columns() -> list[tuple[str, str, str, float]]:
    """(header, key, kind, width) of each column, as export.Col takes them; headers as in the CSV download."""
    return [(header, key, _KINDS.get(key, "text"), _WIDTHS.get(key, 10)) for key, header in CLAUSE_HEADERS.items()]


def rows(v: StandardsView) -> pl.DataFrame:
    return v.clauses.select(list(CLAUSE_HEADERS))


def about(v: StandardsView) -> tuple[str, str]:
    """The About sheet's line saying what the Standards sheet shows."""
    return (f"Sheet {SHEET}: how it is computed",
            "One row per clause the questionnaire cites, for the scored units in scope. A unit's score on a clause "
            "is the weighted mean of its scores on the questions citing it (N/A left out); compliant means at or "
            f"above level {v.compliance_level} (the questionnaire's policy). The clause catalogue is this "
            "product's own list of the clauses relevant to IT service continuity, not the whole standard.")
