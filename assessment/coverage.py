"""Coverage of a questionnaire: checklist items and standard clauses, each with the questions behind it."""

from __future__ import annotations

import polars as pl

from .model import Questionnaire


def checklist_coverage(q: Questionnaire) -> pl.DataFrame:
    rows = [{"item": c.id, "checklist question": c.text,
             "questions": ", ".join(x.id for x in q.questions if c.id in x.checklist)} for c in q.checklist]
    return pl.DataFrame(rows).with_columns(
        pl.col("questions").str.split(", ").list.len().alias("count"))


def reference_table(q: Questionnaire) -> pl.DataFrame:
    return pl.DataFrame(
        [{"standard": r.standard, "clause": r.clause, "question_id": x.id} for x in q.questions for r in x.references],
        schema={"standard": pl.String, "clause": pl.String, "question_id": pl.String},
    )


def standard_coverage(q: Questionnaire) -> pl.DataFrame:
    """Per standard: clauses cited by at least one question, out of the catalogue's clauses."""
    refs = reference_table(q)
    cited = refs.group_by("standard").agg(pl.col("clause").n_unique().alias("clauses cited"),
                                          pl.col("question_id").n_unique().alias("questions"))
    known = pl.DataFrame([{"standard": k, "title": v["title"], "clauses in catalogue": len(v["clauses"])}
                          for k, v in sorted(q.standards.items())],
                         schema={"standard": pl.String, "title": pl.String, "clauses in catalogue": pl.Int64})
    df = known.join(cited, on="standard", how="left").with_columns(
        pl.col("clauses cited").fill_null(0), pl.col("questions").fill_null(0))
    share = pl.when(pl.col("clauses in catalogue") > 0).then(
        (pl.col("clauses cited") / pl.col("clauses in catalogue") * 100).round(0))
    return df.with_columns(share.alias("% cited"))
