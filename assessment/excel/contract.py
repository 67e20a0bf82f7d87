"""The file's own contract over an import's hidden ids, written once as polars rules: one pass confirms a file
that keeps it, and the pandera schema built from the same rules names every row and check that does not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

from .format import FORMAT_VERSION, TEMPLATE_KIND

NOT_NULL = "not_nullable"  # pandera's own name for a nullable=False failure
# The columns the contract reads, with the types the importer's typed rows give them.
TYPES = {"row": pl.Int64, "campaign_id": pl.String, "unit_id": pl.String, "question_id": pl.String,
         "base_event_id": pl.Int64, "format": pl.String}
REQUIRED = ("campaign_id", "unit_id", "question_id", "format")


@dataclass(frozen=True)
class Rule:
    """One check of the contract: `holds` is true (never null) on every row that keeps it."""

    code: str
    holds: pl.Expr


def _allowed(column: str, values: Sequence[str]) -> pl.Expr:
    # A missing id is the not-null rule's failure, not this one's (as pandera's isin leaves nulls alone).
    return pl.col(column).is_null() | pl.col(column).is_in(list(values))


def rules(meta: dict[str, str], unit_ids: Sequence[str]) -> tuple[Rule, ...]:
    """Every row: ids present, of this campaign and its units and this format, the visible ids the hidden
    ones, issued as they are (`issued`, from the file's manifest), and a template's rows of its own unit."""
    out = [Rule("campaign", _allowed("campaign_id", [meta.get("campaign_id", "")])),
           Rule("unknown_unit", _allowed("unit_id", unit_ids)),
           Rule("format", _allowed("format", [FORMAT_VERSION])),
           Rule("visible_question", pl.col("visible_question").eq_missing(pl.col("question_id"))),
           Rule("visible_unit", pl.col("visible_unit").is_null()
                | pl.col("visible_unit").eq_missing(pl.col("unit_id"))),
           Rule("not_issued", pl.col("issued"))]
    if meta.get("kind") == TEMPLATE_KIND:
        out.append(Rule("template_unit", pl.col("unit_id").eq_missing(pl.lit(meta.get("unit_id")))))
    return tuple(out)


def _kept(df: pl.DataFrame, checks: tuple[Rule, ...]) -> bool:
    if any(df.schema.get(c) != t for c, t in TYPES.items()):
        return False
    held = pl.all_horizontal(*(pl.col(c).is_not_null() for c in REQUIRED), *(r.holds for r in checks))
    return bool(df.select(held.all()).item())


def _schema(checks: tuple[Rule, ...]) -> pa.DataFrameSchema:
    def frame_check(rule: Rule) -> pa.Check:
        return pa.Check(lambda data, e=rule.holds: data.lazyframe.select(e), error=rule.code, name=rule.code)

    return pa.DataFrameSchema({c: pa.Column(t, nullable=c not in REQUIRED) for c, t in TYPES.items()},
                              checks=[frame_check(r) for r in checks], strict=False)


def failures(df: pl.DataFrame, meta: dict[str, str], unit_ids: Sequence[str]) -> pl.DataFrame | None:
    """None when every row keeps the contract, else pandera's failure cases (check, index, column, …).

    The single pass is the common case; pandera runs each check on its own, about 20 ms for a clean
    20-unit pack, so it is asked only for the precise cases of a file that breaks the contract."""
    checks = rules(meta, unit_ids)
    if _kept(df, checks):
        return None
    try:
        _schema(checks).validate(df, lazy=True)
    except SchemaErrors as err:
        return err.failure_cases
    raise RuntimeError("the contract's single pass and its pandera schema disagree")
