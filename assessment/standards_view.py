"""Where the organisation stands on each cited clause of a standard: unit scores, compliance and coverage."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from . import access, coverage, question_sets
from .catalog import campaign_questionnaire
from .errors import ValidationError
from .model import Actor, Questionnaire
from .questionnaire import QUESTIONNAIRE_DIR, load_standards
from .reports import Filters, scope_for
from .storage import Database
from .storage import standards as standards_sql

# How many of the units below the compliance level a row names (worst first); the count is always complete.
BELOW_LISTED = 25
_STATS = ("units_scored", "lowest", "median", "highest", "at_or_above", "share", "below")


@dataclass(frozen=True)
class StandardsView:
    """The standards view of one campaign for the units in scope."""

    campaign_id: str
    questionnaire: str          # policy label: id@version (hash)
    compliance_level: int
    clauses: pl.DataFrame       # one row per cited clause
    groups: pl.DataFrame        # readiness per article or clause group (DORA Art. 11, ISO 22301 clause 8)
    standards: pl.DataFrame     # readiness and catalogue coverage per standard
    out_of_scope: pl.DataFrame  # catalogue clauses deliberately not assessed, with the reason


@lru_cache(maxsize=1)
def _shipped_catalogue() -> dict:
    return load_standards(QUESTIONNAIRE_DIR / "standards.yaml")


def catalogue(q: Questionnaire) -> dict:
    """The clause catalogue for a questionnaire: its own when loaded from a file; for a stored version (parsed
    without one) the shipped catalogue, which never drops or renumbers a clause, so every citation resolves."""
    return q.standards or _shipped_catalogue()


def clause_group(standard: str, clause: str) -> str:
    """The article or clause group a clause belongs to, from the id forms of questionnaires/standards.yaml."""
    if standard == "DORA":
        m = re.match(r"(RTS-(\S+) )?Art\.(\d+)", clause)
        if m:
            return f"RTS {m.group(2)} Art. {m.group(3)}" if m.group(1) else f"Art. {m.group(3)}"
    elif standard in ("ISO22301", "ISO20000") or (standard == "ISO27001" and not clause.startswith("A.")):
        return f"clause {clause.split('.')[0]}"
    elif standard == "ISO27001":
        return ".".join(clause.split(".")[:2])
    elif standard in ("NIST80034", "NIST80030"):
        if m := re.match(r"(?:ch\.|Table )?(\d+)", clause):
            return f"chapter {m.group(1)}"
        return "appendices" if clause.startswith("App.") else clause
    elif standard == "NIST80053":  # a control and its enhancements: CP-2, CP-2(1)
        return clause.split("(")[0]
    elif standard == "NISTCSF":  # the category: RS.MA-04 -> RS.MA
        return clause.split("-")[0]
    elif standard == "COBIT":  # the process: DSS04.08 -> DSS04
        return clause.split(".")[0]
    elif standard == "ITIL":
        return "ITIL 4" if clause.startswith("ITIL4") else "ITIL v3" if clause.startswith("v3") else clause
    return clause


def view(db: Database, actor: Actor, campaign_id: str, filters: Filters | None = None,
         standard: str | None = None) -> StandardsView:
    """The standards view of a campaign's scored units within the actor's scope, optionally one standard."""
    access.require(actor, "read")
    scope = scope_for(actor, filters)
    q = campaign_questionnaire(db, campaign_id)
    q = dataclasses.replace(q, standards=catalogue(q))
    if standard is not None and standard not in q.standards:
        raise ValidationError([f"unknown standard {standard!r} (known: {', '.join(sorted(q.standards))})"],
                              "standards view")
    lay = _layout(q, standard)
    level = q.policy.compliance_level
    with db.read() as cur:
        scores = standards_sql.question_scores(cur, campaign_id, scope)
    stats = _finish(question_sets.readiness(scores, lay.keys, level, BELOW_LISTED))
    return StandardsView(
        campaign_id, q.policy_label, level,
        _joined(lay.clauses, stats, pl.format("c|{}|{}", "standard", "clause")).select(
            "standard", "group", "clause", "topic", "questions", *_STATS, "units_below"),
        _joined(lay.groups, stats, pl.format("g|{}|{}", "standard", "group")).select(
            "standard", "group", "catalogue_clauses", "out_of_scope", "clauses_cited", "questions", *_STATS),
        _joined(lay.standards, stats, pl.format("s|{}", "standard")).select(
            "standard", "title", "catalogue_clauses", "out_of_scope", "in_scope_clauses", "clauses_cited",
            "cited_share", "questions_citing", *_STATS),
        lay.out_of_scope)


@dataclass(frozen=True)
class _Layout:
    """What the view takes from the questionnaire and its catalogue alone, before any score is read."""

    keys: pl.DataFrame          # key_id (c|, g|, s| + standard, clause or group), question_id, named
    clauses: pl.DataFrame       # cited clauses in catalogue order, with their questions
    groups: pl.DataFrame        # clause groups with their catalogue counts and questions
    standards: pl.DataFrame     # per standard: catalogue coverage
    out_of_scope: pl.DataFrame


# Per questionnaire version (id, version, content hash: the key catalog.questionnaire_in parses by) and
# standard: the layout and the catalogue it was made from. A version never changes and the catalogue is parsed
# once per process, so every view of a campaign reuses it (building it was most of the view's time at small
# sizes); the catalogue's identity is checked in case it is replaced.
_LAYOUTS: dict[tuple[str, str, str, str | None], tuple[object, _Layout]] = {}
_LAYOUTS_KEPT = 64


def _layout(q: Questionnaire, standard: str | None) -> _Layout:
    key = (q.id, q.version, q.content_hash, standard)
    if (hit := _LAYOUTS.get(key)) is not None and hit[0] is q.standards:
        return hit[1]
    clauses, refs = _catalogue_rows(q, standard), _cited(q, standard)
    # One query for the three levels; only clause rows name the units below (the others give the count).
    keys = pl.concat([
        refs.select(pl.format("c|{}|{}", "standard", "clause").alias("key_id"), "question_id", named=pl.lit(True)),
        refs.select(pl.format("g|{}|{}", "standard", "group").alias("key_id"), "question_id", named=pl.lit(False)),
        refs.select(pl.format("s|{}", "standard").alias("key_id"), "question_id", named=pl.lit(False))])
    lay = _Layout(keys, _clause_rows(refs, clauses), _group_rows(refs, clauses), _standard_rows(q, standard),
                  coverage.out_of_scope(q).filter(_one(standard)))
    if len(_LAYOUTS) >= _LAYOUTS_KEPT:
        _LAYOUTS.clear()
    _LAYOUTS[key] = (q.standards, lay)
    return lay


def _one(standard: str | None) -> pl.Expr:
    return pl.lit(True) if standard is None else pl.col("standard") == standard


def _catalogue_rows(q: Questionnaire, standard: str | None) -> pl.DataFrame:
    """Every catalogue clause with its group, catalogue position and coverage status."""
    df = coverage.clause_table(q).filter(_one(standard)).with_row_index("position")
    return df.with_columns(pl.struct("standard", "clause").map_elements(
        lambda r: clause_group(r["standard"], r["clause"]), return_dtype=pl.String).alias("group"))


def _cited(q: Questionnaire, standard: str | None) -> pl.DataFrame:
    """(standard, clause, group, question_id) of every reference, also to a clause the catalogue lacks."""
    refs = coverage.reference_table(q).filter(_one(standard)).unique(maintain_order=True)
    return refs.with_columns(pl.struct("standard", "clause").map_elements(
        lambda r: clause_group(r["standard"], r["clause"]), return_dtype=pl.String).alias("group"))


def _finish(stats: pl.DataFrame) -> pl.DataFrame:
    """Share at or above the level in percent, and the list of units below marked when it is cut short."""
    more = pl.col("below") - pl.col("listed").fill_null(0)
    return stats.with_columns(
        pl.col("units_scored", "at_or_above", "below").cast(pl.Int64),
        (pl.col("at_or_above") / pl.col("units_scored") * 100).round(1).alias("share"),
        pl.when(more > 0)
        .then(pl.format("{} … and {} more", "units_below", more.cast(pl.String)))
        .otherwise(pl.col("units_below").fill_null("")).alias("units_below")).drop("listed")


def _joined(df: pl.DataFrame, stats: pl.DataFrame, key: pl.Expr) -> pl.DataFrame:
    out = df.with_columns(key.alias("key_id")).join(stats, on="key_id", how="left", maintain_order="left")
    return out.with_columns(pl.col("units_scored", "at_or_above", "below").fill_null(0),
                            pl.col("units_below").fill_null("")).drop("key_id")


def _questions(refs: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    return refs.group_by(by, maintain_order=True).agg(
        pl.col("question_id").unique(maintain_order=True).str.join(", ").alias("questions"))


def _clause_rows(refs: pl.DataFrame, clauses: pl.DataFrame) -> pl.DataFrame:
    """One row per cited clause, in catalogue order (a clause the catalogue lacks last, topic saying so)."""
    df = _questions(refs, ["standard", "clause", "group"]).join(
        clauses.select("standard", "clause", "topic", "position"), on=["standard", "clause"], how="left")
    return df.with_columns(pl.col("topic").fill_null("(not in the clause catalogue)")).sort(
        "position", nulls_last=True, maintain_order=True)


def _group_rows(refs: pl.DataFrame, clauses: pl.DataFrame) -> pl.DataFrame:
    """Per article or clause group, how many of the group's catalogue clauses are cited, and its questions."""
    counts = clauses.group_by("standard", "group", maintain_order=True).agg(
        pl.col("position").min(), pl.len().alias("catalogue_clauses"),
        (pl.col("status") == "out of scope").sum().alias("out_of_scope"),
        (pl.col("status") == "cited").sum().alias("clauses_cited"))
    return _questions(refs, ["standard", "group"]).join(counts, on=["standard", "group"], how="left").sort(
        "position", nulls_last=True, maintain_order=True)


def _standard_rows(q: Questionnaire, standard: str | None) -> pl.DataFrame:
    """Per standard: catalogue coverage (coverage.standard_coverage, shares of the catalogue, not of the
    whole standard); the view adds readiness on every question citing it."""
    cov = coverage.standard_coverage(q).filter(_one(standard)).rename({
        "clauses in catalogue": "catalogue_clauses", "out of scope": "out_of_scope",
        "clauses cited": "clauses_cited", "questions citing": "questions_citing",
        "% of in-scope catalogue clauses cited": "cited_share"}).drop("% of catalogue clauses cited")
    return cov.with_columns((pl.col("catalogue_clauses") - pl.col("out_of_scope")).alias("in_scope_clauses"))


# The clause table as people read it: the page's download, the CLI and the auditor pack use these headers.
CLAUSE_HEADERS = {
    "standard": "Standard", "group": "Article / clause group", "clause": "Clause", "topic": "Topic",
    "questions": "Questions citing it", "units_scored": "Units scored", "lowest": "Lowest unit score",
    "median": "Median unit score", "highest": "Highest unit score", "at_or_above": "Units at or above level",
    "share": "% of units at or above level", "below": "Units below level",
    "units_below": "Units below level (worst first)",
}


def clause_table(v: StandardsView) -> pl.DataFrame:
    """The clause rows under their readable headers (CSV download, CLI, auditor pack)."""
    return v.clauses.select(list(CLAUSE_HEADERS)).rename(CLAUSE_HEADERS)


def csv_bytes(v: StandardsView) -> bytes:
    """The clause table as UTF-8 CSV (with a BOM so spreadsheet programs read the accents); cells that a
    spreadsheet would run as a formula are written as literal text."""
    from .excel.safety import literal_text

    df = clause_table(v).with_columns(pl.col(pl.String).map_elements(literal_text, return_dtype=pl.String))
    return "\ufeff".encode() + df.write_csv().encode()
