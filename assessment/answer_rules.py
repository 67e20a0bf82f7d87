"""The rules for a valid answer, written once: the checks of a batch, "answered", "changed", stored row -> Answer.

The page (workflow.save_answers), the CLI and the Excel import all check answers with `check`; each maps a
problem's (row, field) to its own place (question and field on the page, sheet/row/column/cell in a workbook)
and takes the text from MESSAGES, so a rule and its wording change here and nowhere else. The checks are
set-based polars expressions over a batch frame (BATCH_SCHEMA); only the rows that break a rule become Python
objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from .model import EDITABLE, LINK_PREFIXES, MAX_LEVEL, MIN_LEVEL, Answer, Questionnaire

# The earliest evidence date accepted anywhere (page, the template's date rule, import, CLI). Older dates are
# typing errors (0026 for 2026, Excel's day 0 in 1900); real ITSCM evidence that old would be capped by the
# evidence rule anyway.
MIN_EVIDENCE_DATE = date(2000, 1, 1)
# The only link forms accepted: web addresses, file URLs and UNC paths; never javascript:, data: and the like.
URL_PREFIXES = LINK_PREFIXES  # one list of accepted link schemes (model.LINK_PREFIXES)
# Characters per text field (after stripping). Evidence and comments describe and point to documents; the
# documents themselves belong behind the link. 2,000 is the longest URL browsers and proxies reliably handle.
MAX_LENGTH: dict[str, int] = {"na_reason": 1_000, "evidence": 4_000, "evidence_url": 2_000, "comment": 4_000}
TEXT_FIELDS = ("na_reason", "evidence", "evidence_url", "comment")
# "Did this answer change": every field of the stored answer is compared (changed_rows, the page, the import).
COMPARED = ("level", "is_na", "na_reason", "evidence", "evidence_url", "evidence_date", "comment")
STORED_SCHEMA: dict[str, pl.DataType] = {
    "level": pl.Int64(), "is_na": pl.Boolean(), "na_reason": pl.String(), "evidence": pl.String(),
    "evidence_url": pl.String(), "evidence_date": pl.Date(), "comment": pl.String()}
# A batch to check: one row per answer as given. `row` is the caller's numbering (position on the page, sheet
# row in a workbook); a level or date that could not be read is kept as text (level_text, evidence_date_text)
# so the rules can name it. An optional unit_id column makes duplicates per unit and question.
BATCH_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(), "question_id": pl.String(), "level_text": pl.String(), "evidence_date_text": pl.String(),
    **STORED_SCHEMA}
LABELS = {"question_id": "question", "level": "level", "is_na": "N/A", "na_reason": "N/A reason",
          "evidence": "evidence", "evidence_url": "evidence link", "evidence_date": "evidence date",
          "comment": "comment"}

# The one table of messages: code -> text. Fields: value (the offending value as text), question_id, detail
# (the questionnaire of an unknown question, the rows of a duplicate), label and limit (the field's), and the
# scale and date bounds.
MESSAGES: dict[str, str] = {
    "unknown_question": "unknown question id {value!r}: not in {detail}",
    "not_a_level": "{value!r} is not a level: use a whole number from {min_level} to {max_level}, or N/A",
    "level_range": "level {value} is out of range: use a whole number from {min_level} to {max_level}, or N/A",
    "level_and_na": "give either a level or N/A, not both",
    "na_not_allowed": "N/A is not allowed for question {question_id}: choose a level {min_level}-{max_level}",
    "na_reason_missing": "N/A needs a reason",
    "reason_without_na": "an N/A reason is given but the level is not N/A: clear the reason or set the level to N/A",
    "not_a_date": "{value!r} is not a date: enter a date (YYYY-MM-DD)",
    "future_date": "evidence date {value} is in the future",
    "early_date": "evidence date {value} is before {min_date}: enter the date the evidence is from",
    "not_a_link": "{value!r} is not a link: use an http(s) address or a file path",
    "too_long": "the {label} is {value} characters long, over the limit of {limit:,}: shorten it, or put the "
                "full text in a document and link to it",
    "duplicate": "duplicate row: {value} appears in rows {detail}",
    "campaign_closed": "campaign {campaign_id} is {status}: answers can only change while it is open",
    "read_only": "the assessment of {unit_id} is {status}: it is read-only until returned",
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (the caller's row, the field), which rule (code) and what was given."""

    row: int
    field: str
    code: str
    question_id: str | None = None
    value: str | None = None
    detail: str | None = None

    def message(self) -> str:
        value = f"{int(self.value):,}" if self.code == "too_long" and self.value else self.value
        return MESSAGES[self.code].format(
            value=value, question_id=self.question_id, detail=self.detail, label=LABELS.get(self.field, self.field),
            limit=MAX_LENGTH.get(self.field, 0), min_level=MIN_LEVEL, max_level=MAX_LEVEL,
            min_date=MIN_EVIDENCE_DATE)


# ------------------------------------------------------------------------------------------ the checks


def check(q: Questionnaire, batch: pl.DataFrame, *, today: date) -> list[Violation]:
    """Every rule over a batch (BATCH_SCHEMA columns), in row order: levels on the scale, N/A allowed and its
    reason, a level and N/A not both, evidence dates between MIN_EVIDENCE_DATE and today, links, lengths,
    known questions and duplicates."""
    keys = ["unit_id", "question_id"] if "unit_id" in batch.columns else ["question_id"]
    duplicate = (pl.all_horizontal([pl.col(k).is_not_null() for k in keys]) & pl.struct(keys).is_duplicated(),
                 pl.concat_str(keys, separator="/"))
    rules = [("question_id", "duplicate", *duplicate), *_rules(q, today)]
    given = batch.sort("row").join(_known(q), on="question_id", how="left", maintain_order="left")
    # Most batches break no rule: one boolean over every rule settles that before any problem row is built.
    if not given.select(pl.any_horizontal([bad for _, _, bad, _ in rules]).any()).item():
        return []
    # One pass: per row, the list of the rules it breaks (as structs), exploded to one row per problem.
    hit = pl.concat_list([
        pl.when(bad).then(pl.struct(pl.lit(field).alias("field"), pl.lit(code).alias("code"),
                                    value.cast(pl.String).alias("value")))
        for field, code, bad, value in rules])
    hits = (given.select("row", "question_id", *keys[:-1], hit.list.drop_nulls().alias("hit"))
            .explode("hit").drop_nulls("hit").unnest("hit"))
    if hits.height == 0:
        return []
    label = f"{q.id}@{q.version}"
    rows_of = (hits.filter(pl.col("code") == "duplicate").group_by("value")
               .agg(pl.col("row").unique().sort().cast(pl.String).str.join(", ").alias("detail")))
    return [Violation(r["row"], r["field"], r["code"], r["question_id"], r["value"],
                      label if r["code"] == "unknown_question" else r["detail"])
            for r in hits.join(rows_of, on="value", how="left", maintain_order="left").iter_rows(named=True)]


_KNOWN: dict[str, pl.DataFrame] = {}


def _known(q: Questionnaire) -> pl.DataFrame:
    """The questionnaire's question ids and whether each allows N/A (per content hash: versions never change)."""
    if (known := _KNOWN.get(q.content_hash)) is None:
        known = _KNOWN.setdefault(q.content_hash, pl.DataFrame(
            {"question_id": [x.id for x in q.questions], "_na_allowed": [x.na_allowed for x in q.questions]},
            schema={"question_id": pl.String, "_na_allowed": pl.Boolean}))
    return known


def _rules(q: Questionnaire, today: date) -> list[tuple[str, str, pl.Expr, pl.Expr]]:
    """(field, code, true when broken, the value to show) for every per-row rule."""
    na = pl.col("is_na").fill_null(False)
    level, when = pl.col("level"), pl.col("evidence_date")
    url = pl.col("evidence_url")
    reason_needed = pl.lit(q.policy.na_reason_required)
    none = pl.lit(None, pl.String)
    return [
        ("question_id", "unknown_question", pl.col("question_id").is_not_null() & pl.col("_na_allowed").is_null(),
         pl.col("question_id")),
        ("level", "not_a_level", pl.col("level_text").is_not_null() & level.is_null() & ~na, pl.col("level_text")),
        ("level", "level_range", level.is_not_null() & ~level.is_between(MIN_LEVEL, MAX_LEVEL), level),
        ("level", "level_and_na", na & level.is_not_null(), level),
        ("is_na", "na_not_allowed", na & pl.col("_na_allowed").eq(False), none),
        ("na_reason", "na_reason_missing", na & reason_needed & pl.col("na_reason").is_null(), none),
        ("na_reason", "reason_without_na", ~na & pl.col("na_reason").is_not_null(), pl.col("na_reason")),
        ("evidence_date", "not_a_date", pl.col("evidence_date_text").is_not_null() & when.is_null(),
         pl.col("evidence_date_text")),
        ("evidence_date", "future_date", when > pl.lit(today), when),
        ("evidence_date", "early_date", when < pl.lit(MIN_EVIDENCE_DATE), when),
        ("evidence_url", "not_a_link",
         url.is_not_null() & ~pl.any_horizontal([url.str.to_lowercase().str.starts_with(p) for p in URL_PREFIXES]),
         url),
        *[(f, "too_long", pl.col(f).str.len_chars() > MAX_LENGTH[f], pl.col(f).str.len_chars()) for f in TEXT_FIELDS],
    ]


def not_editable(campaign_id: str, campaign_status: str | None, units: pl.DataFrame) -> pl.DataFrame:
    """Why answers of these units (unit_id, status) cannot change: one row for the whole campaign when it is
    not open, else one per assessment that is not EDITABLE. Columns unit_id (null for the campaign), message."""
    schema = {"unit_id": pl.String, "message": pl.String}
    if (closed := campaign_refusal(campaign_id, campaign_status)) is not None:
        return pl.DataFrame({"unit_id": [None], "message": [closed]}, schema=schema)
    locked = units.filter(~pl.col("status").is_in(list(EDITABLE)) | pl.col("status").is_null())
    pairs = locked.select("unit_id", "status").iter_rows()
    return pl.DataFrame({"unit_id": locked["unit_id"].to_list(),
                         "message": [assessment_refusal(u, s) for u, s in pairs]}, schema=schema)


def campaign_refusal(campaign_id: str, campaign_status: str | None) -> str | None:
    """Why no answer of a campaign can change (it is not open), or None."""
    if campaign_status == "open":
        return None
    return MESSAGES["campaign_closed"].format(campaign_id=campaign_id, status=campaign_status)


def assessment_refusal(unit_id: str, status: str | None) -> str | None:
    """Why the answers of one assessment cannot change (it is not EDITABLE), or None."""
    return None if status in EDITABLE else MESSAGES["read_only"].format(unit_id=unit_id, status=status)


# ----------------------------------------------------------------------------------- batches and rows


def clean_text(expr: pl.Expr) -> pl.Expr:
    """Text as stored: surrounding white space removed, empty -> null."""
    return expr.str.strip_chars().replace("", None)


def batch(answers: Sequence[Answer]) -> pl.DataFrame:
    """Answers as given (page, CLI) as a batch: row = position from 1; a level that is not a whole number and a
    date that is not a date are kept as text for the rules to name."""
    def level(v: object) -> int | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2 ** 62
        return v if ok else None  # type: ignore[return-value]

    def day(v: object) -> date | None:
        return v.date() if isinstance(v, datetime) else v if isinstance(v, date) else None

    raw = pl.DataFrame({
        "row": range(1, len(answers) + 1),
        "question_id": [a.question_id for a in answers],
        "level": [level(a.level) for a in answers],
        "level_text": [None if a.level is None or level(a.level) is not None else str(a.level) for a in answers],
        "is_na": [bool(a.is_na) for a in answers],
        **{f: [getattr(a, f) or "" for a in answers] for f in TEXT_FIELDS},
        "evidence_date": [day(a.evidence_date) for a in answers],
        "evidence_date_text": [None if a.evidence_date is None or day(a.evidence_date) is not None
                               else str(a.evidence_date) for a in answers],
    }, schema={"row": pl.Int64, "question_id": pl.String, "level": pl.Int64, "level_text": pl.String,
               "is_na": pl.Boolean, **{f: pl.String for f in TEXT_FIELDS}, "evidence_date": pl.Date,
               "evidence_date_text": pl.String})
    return raw.with_columns([clean_text(pl.col(f)) for f in TEXT_FIELDS]).select(list(BATCH_SCHEMA))


def stored(checked: pl.DataFrame) -> pl.DataFrame:
    """A checked batch in the stored form: no level when N/A, no reason unless N/A (keys and COMPARED columns)."""
    keys = [c for c in ("row", "unit_id", "question_id") if c in checked.columns]
    na = pl.col("is_na").fill_null(False)
    return checked.select(
        *keys, pl.when(na).then(None).otherwise(pl.col("level")).cast(pl.Int64).alias("level"), na.alias("is_na"),
        pl.when(na).then(pl.col("na_reason")).otherwise(None).alias("na_reason"),
        *[pl.col(c).cast(STORED_SCHEMA[c]) for c in ("evidence", "evidence_url", "evidence_date", "comment")])


def from_row(question_id: str, row: Mapping | None) -> Answer:
    """A stored answer row (storage/answers.current) as an Answer; no row is an empty answer."""
    if row is None:
        return Answer(question_id)
    return Answer(question_id, level=row["level"], is_na=bool(row["is_na"]), na_reason=row["na_reason"] or "",
                  evidence=row["evidence"] or "", evidence_url=row["evidence_url"] or "",
                  evidence_date=row["evidence_date"], comment=row["comment"] or "")


def from_frame(current: pl.DataFrame) -> dict[str, Answer]:
    """The current answers of one unit by question id."""
    return {r["question_id"]: from_row(r["question_id"], r) for r in current.iter_rows(named=True)}


# ---------------------------------------------------------------------------------- answered, changed


def is_answered(a: Answer) -> bool:
    """An answer counts as answered when it has a level or is N/A (the frame form is `answered`)."""
    return bool(a.is_na) or a.level is not None


def answered(level: str = "level", is_na: str = "is_na") -> pl.Expr:
    """`is_answered` over a frame; its SQL twin is storage/_sql.answered. Change the three together."""
    return pl.col(level).is_not_null() | pl.col(is_na).fill_null(False)


def differs(suffix: str) -> dict[str, pl.Expr]:
    """Per COMPARED field: true where the column differs from its `suffix` twin (nulls equal each other)."""
    return {c: ~pl.col(c).eq_missing(pl.col(f"{c}{suffix}")) for c in COMPARED}


def same(suffix: str) -> pl.Expr:
    """True where every COMPARED field equals its `suffix` twin: the answer did not change."""
    return pl.all_horizontal([pl.col(c).eq_missing(pl.col(f"{c}{suffix}")) for c in COMPARED])


EMPTY = {c: (False if c == "is_na" else None) for c in COMPARED}  # the stored form of "no answer yet"


def same_answer(new: Mapping, old: Mapping | None) -> bool:
    """`same` for one stored row (a dict with the COMPARED keys) against the current one (None: no answer);
    the frame form is `same`/`changed_rows`. Change them together."""
    old = old or EMPTY
    return all(new[c] == old[c] if c != "is_na" else bool(new[c]) == bool(old[c]) for c in COMPARED)


def changed_rows(new: pl.DataFrame, current: pl.DataFrame, on: Sequence[str] = ("question_id",)) -> pl.DataFrame:
    """Rows of new (stored form) that differ from the current answer with the same key (set-based)."""
    if current.height == 0:
        current = pl.DataFrame(schema={**{k: pl.String for k in on}, **STORED_SCHEMA})
    cur = current.select(*[pl.col(k).cast(new.schema[k]) for k in on],
                         *[pl.col(c).cast(STORED_SCHEMA[c]).alias(f"{c}_cur") for c in COMPARED])
    joined = new.join(cur, on=list(on), how="left").with_columns(pl.col("is_na_cur").fill_null(False))
    return joined.filter(~same("_cur")).select(new.columns)  # an empty answer where there is none: no change


def changed_answers(new: Sequence[Answer], old: Mapping[str, Answer]) -> list[Answer]:
    """The answers of `new` that differ from `old` (by question id) once stored: what a save would write."""
    fresh = stored(batch(new))
    before = stored(batch([old.get(a.question_id, Answer(a.question_id)) for a in new]))
    ids = set(changed_rows(fresh, before)["question_id"].to_list())
    return [a for a in new if a.question_id in ids]
