"""Coverage of a questionnaire: tag lists and catalogue clauses, each with the questions behind it."""

from __future__ import annotations

import polars as pl

from .model import TAG_KINDS, Questionnaire

CLAUSE_STATUS = ("cited", "not cited", "out of scope")


def _joined(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Group question ids per key: a sorted comma-separated list and their count."""
    return df.group_by(keys, maintain_order=True).agg(
        pl.col("question_id").unique(maintain_order=True).str.join(", ").alias("questions"),
        pl.col("question_id").n_unique().alias("count"))


def tag_coverage(q: Questionnaire, kind: str) -> pl.DataFrame:
    """Each item of one tag list (see model.TAG_KINDS) with the questions carrying it and their count."""
    items = pl.DataFrame([{"item": t.id, "text": t.text} for t in q.tag_items(kind)],
                         schema={"item": pl.String, "text": pl.String})
    tagged = pl.DataFrame([{"item": t, "question_id": x.id} for x in q.questions for t in x.tags(kind)],
                          schema={"item": pl.String, "question_id": pl.String})
    return items.join(_joined(tagged, ["item"]), on="item", how="left", maintain_order="left").with_columns(
        pl.col("questions").fill_null(""), pl.col("count").fill_null(0).cast(pl.Int64))


def checklist_coverage(q: Questionnaire) -> pl.DataFrame:
    return tag_coverage(q, "checklist").rename({"text": "checklist question"})


def reference_table(q: Questionnaire) -> pl.DataFrame:
    return pl.DataFrame(
        [{"standard": r.standard, "clause": r.clause, "question_id": x.id} for x in q.questions for r in x.references],
        schema={"standard": pl.String, "clause": pl.String, "question_id": pl.String},
    )


def clause_table(q: Questionnaire) -> pl.DataFrame:
    """Every catalogue clause with its status (cited / not cited / out of scope) and the questions citing it."""
    catalogue = pl.DataFrame(
        [{"standard": std, "clause": cid, "topic": topic, "reason": v["out_of_scope"].get(cid, "")}
         for std, v in sorted(q.standards.items()) for cid, topic in v["clauses"].items()],
        schema={"standard": pl.String, "clause": pl.String, "topic": pl.String, "reason": pl.String})
    cited = _joined(reference_table(q), ["standard", "clause"])
    df = catalogue.join(cited, on=["standard", "clause"], how="left", maintain_order="left").with_columns(
        pl.col("questions").fill_null(""), pl.col("count").fill_null(0).cast(pl.Int64))
    status = (pl.when(pl.col("reason") != "").then(pl.lit("out of scope"))
              .when(pl.col("count") > 0).then(pl.lit("cited")).otherwise(pl.lit("not cited")))
    return df.with_columns(status.alias("status")).select(
        "standard", "clause", "topic", "status", "questions", "count", "reason")


def standard_coverage(q: Questionnaire) -> pl.DataFrame:
    """Per standard: catalogue clauses cited by at least one question.

    The shares are against the product's own catalogue (questionnaires/standards.yaml), not against the
    whole standard, and the column names say so.
    """
    clauses = clause_table(q)
    per_std = clauses.group_by("standard").agg(
        pl.len().alias("clauses in catalogue"),
        (pl.col("status") == "out of scope").sum().alias("out of scope"),
        (pl.col("status") == "cited").sum().alias("clauses cited"))
    questions = reference_table(q).group_by("standard").agg(pl.col("question_id").n_unique().alias("questions citing"))
    titles = pl.DataFrame([{"standard": k, "title": v["title"]} for k, v in sorted(q.standards.items())],
                          schema={"standard": pl.String, "title": pl.String})
    df = (titles.join(per_std, on="standard", how="left", maintain_order="left")
          .join(questions, on="standard", how="left", maintain_order="left")
          .with_columns(pl.col("clauses in catalogue", "out of scope", "clauses cited", "questions citing")
                        .fill_null(0).cast(pl.Int64)))
    in_scope = pl.col("clauses in catalogue") - pl.col("out of scope")

    def share(of: pl.Expr) -> pl.Expr:
        return pl.when(of > 0).then((pl.col("clauses cited") / of * 100).round(0))

    return df.with_columns(share(pl.col("clauses in catalogue")).alias("% of catalogue clauses cited"),
                           share(in_scope).alias("% of in-scope catalogue clauses cited"))


def out_of_scope(q: Questionnaire) -> pl.DataFrame:
    """Catalogue clauses deliberately not assessed, with the reason: listed as such, never as gaps."""
    return clause_table(q).filter(pl.col("status") == "out of scope").select("standard", "clause", "topic", "reason")


def tag_kinds(q: Questionnaire) -> list[tuple[str, str, pl.DataFrame]]:
    """(kind, heading, coverage) for every tag list, in display order."""
    return [(kind, heading, tag_coverage(q, kind)) for kind, heading in TAG_KINDS.items()]
