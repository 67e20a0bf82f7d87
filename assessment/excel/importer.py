"""Import answers from an offline template or an auditor pack: safe, validated, previewed, all-or-nothing.

1. excel_safety.check_workbook runs before any parser (size, zip, macros, DTD/entities, cell area).
2. fastexcel reads cell VALUES only, every column as text (a formula is never evaluated; cells that hold
   one are reported, their cached value is never used); hidden _meta/_ids sheets and id columns are read.
3. Coercion (levels, dates, ids) and then a pandera schema check every row; EVERY problem is reported at
   once with its sheet, row, column and cell.
4. The dry run (analyse) compares each unit x question with the current answer: new, changed, unchanged,
   or conflict (the answer changed in the database after the file was generated: never overwritten).
5. commit re-runs the whole analysis inside ONE transaction and appends answer events for every changed
   row of every unit, bumps the assessments and writes one audit entry (file name, SHA-256, counts).
   Re-importing the same file changes nothing (every row is then unchanged and nothing is written).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO

import fastexcel
import pandera.polars as pa
import polars as pl
from openpyxl.utils import get_column_letter
from pandera.errors import SchemaErrors

from .. import access, audit, clock
from ..answer_rules import COMPARED
from ..catalog import campaign_questionnaire
from ..clock import now
from ..errors import EngineError, NotFound
from ..model import EDITABLE, Actor, Questionnaire
from ..storage import Database
from ..storage import answers as answers_sql
from ..storage import campaigns as campaigns_sql
from ..storage import imports as imports_sql
from .format import (
    ANSWERS_SHEET,
    COL_COMMENT,
    COL_DATE,
    COL_EVIDENCE,
    COL_LEVEL,
    COL_QUESTION,
    COL_REASON,
    COL_UNIT,
    COL_URL,
    FORMAT_VERSION,
    ID_CAMPAIGN,
    ID_COLUMNS,
    ID_EVENT,
    ID_FORMAT,
    ID_QUESTION,
    ID_UNIT,
    IDS_HEADER,
    IDS_SHEET,
    META_SHEET,
    PACK_KIND,
    TEMPLATE_KIND,
    manifest_digest,
)
from .safety import CheckedWorkbook, Limits, UnsafeWorkbook, check_workbook, from_literal

ACTIONS = ("new", "changed", "unchanged", "conflict")
FILE = "(file)"
NA_WORDS = {"n/a", "na", "n.a.", "n.a", "not applicable"}
URL_PREFIXES = ("http://", "https://", "file://", "\\\\")  # as workflow.validate_answers
TEXT_FIELDS = {"na_reason": COL_REASON, "evidence": COL_EVIDENCE, "evidence_url": COL_URL, "comment": COL_COMMENT}
REQUIRED = (COL_QUESTION, COL_LEVEL, COL_REASON, COL_EVIDENCE, COL_URL, COL_DATE, COL_COMMENT, *ID_COLUMNS)
# internal field -> header shown in problems
HEADERS = {"campaign_id": ID_CAMPAIGN, "unit_id": ID_UNIT, "question_id": ID_QUESTION, "base_event_id": ID_EVENT,
           "format": ID_FORMAT, "visible_question": COL_QUESTION, "visible_unit": COL_UNIT, "level": COL_LEVEL,
           "is_na": COL_LEVEL, "evidence_date": COL_DATE, **TEXT_FIELDS}
AUDIT_ROWS = 5000
DIFF_SCHEMA = {"row": pl.Int64, "unit_id": pl.String, "question_id": pl.String, "action": pl.String,
               "fields": pl.String, "before": pl.String, "after": pl.String, "note": pl.String,
               "base_event_id": pl.Int64,
               "current_event_id": pl.Int64, "current_by": pl.String, "current_at": pl.Datetime("us")}


@dataclass(frozen=True)
class Problem:
    sheet: str
    row: int | None
    column: str | None
    message: str
    cell: str | None = None

    def __str__(self) -> str:
        where = [self.sheet]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'" + (f" ({self.cell})" if self.cell else ""))
        return ", ".join(where) + ": " + self.message


@dataclass
class ImportResult:
    file: str
    sha256: str | None = None
    size: int = 0
    kind: str | None = None
    campaign_id: str | None = None
    template_id: str | None = None
    problems: list[Problem] = field(default_factory=list)
    diff: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DIFF_SCHEMA))
    committed: bool = False
    written: int = 0
    excluded_conflicts: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> dict[str, int]:
        counts = {a: 0 for a in ACTIONS}
        if self.diff.height:
            for action, n in self.diff.group_by("action").len().iter_rows():
                counts[action] = n
        counts["units"] = self.diff["unit_id"].n_unique() if self.diff.height else 0
        counts["rows"] = self.diff.height
        return counts

    def summary_text(self) -> str:
        s = self.summary
        text = (f"{s['rows']} row(s) for {s['units']} unit(s): {s['new']} new, {s['changed']} changed, "
                f"{s['unchanged']} unchanged, {s['conflict']} conflict(s)")
        if self.committed:
            text += f"; {self.written} answer(s) saved"
            if self.excluded_conflicts:
                text += f", {self.excluded_conflicts} conflicting row(s) left out"
        return text

    def problems_frame(self) -> pl.DataFrame:
        return pl.DataFrame([{"sheet": p.sheet, "row": p.row, "column": p.column, "cell": p.cell,
                              "problem": p.message} for p in self.problems],
                            schema={"sheet": pl.String, "row": pl.Int64, "column": pl.String, "cell": pl.String,
                                    "problem": pl.String})

    def by_unit(self) -> pl.DataFrame:
        if self.diff.height == 0:
            return pl.DataFrame(schema={"unit_id": pl.String, **{a: pl.UInt32 for a in ACTIONS}})
        wide = self.diff.group_by("unit_id", "action").len().pivot("action", index="unit_id", values="len")
        return wide.select("unit_id", *[pl.col(a).fill_null(0) if a in wide.columns
                                        else pl.lit(0, pl.UInt32).alias(a) for a in ACTIONS]).sort("unit_id")


class ImportRefused(EngineError):
    """Raised inside the commit transaction to roll it back; carries the result with its problems."""

    def __init__(self, result: ImportResult):
        self.result = result
        super().__init__("; ".join(str(p) for p in result.problems[:5]))


# ------------------------------------------------------------------------------------------------ reading


@dataclass
class _Parsed:
    checked: CheckedWorkbook
    meta: dict[str, str]
    manifest: pl.DataFrame            # campaign_id, unit_id, question_id, base_event_id (as issued)
    rows: pl.DataFrame                # typed rows of the Answers sheet
    letters: dict[str, str]           # header -> column letter on the Answers sheet
    problems: list[Problem]


def _load(reader: fastexcel.ExcelReader, name: str, header: bool = True) -> tuple[pl.DataFrame, dict[str, str]]:
    sheet = reader.load_sheet(name, header_row=0 if header else None, dtypes="string")
    letters = {c.name.strip(): get_column_letter(c.absolute_index + 1) for c in sheet.available_columns()}
    df = sheet.to_polars()
    if header:
        df = df.rename({c: c.strip() for c in df.columns})
    return df, letters


def _parse(checked: CheckedWorkbook) -> _Parsed:
    problems: list[Problem] = []
    try:
        reader = fastexcel.read_excel(checked.data)
        names = reader.sheet_names
    except Exception as exc:  # calamine errors: a damaged workbook
        raise UnsafeWorkbook(checked.file, f"the workbook could not be read: {exc}") from exc
    empty = pl.DataFrame()
    if not names or all((s.max_row == 0) for s in checked.sheets):
        problems.append(Problem(FILE, None, None, "the workbook is empty: it has no sheet with data"))
        return _Parsed(checked, {}, empty, empty, {}, problems)
    missing = [s for s in (ANSWERS_SHEET, META_SHEET, IDS_SHEET) if s not in names]
    for s in missing:
        hint = "" if s == ANSWERS_SHEET else " (hidden sheet: the file was not made by this application, or " \
                                             "was saved in a way that dropped hidden sheets)"
        problems.append(Problem(s, None, None, f"missing sheet {s!r}{hint}"))
    if missing:
        return _Parsed(checked, {}, empty, empty, {}, problems)
    try:
        meta_df, _ = _load(reader, META_SHEET, header=False)
        ids_df, _ = _load(reader, IDS_SHEET)
        answers, letters = _load(reader, ANSWERS_SHEET)
    except Exception as exc:
        raise UnsafeWorkbook(checked.file, f"the workbook could not be read: {exc}") from exc
    meta = {}
    if meta_df.width >= 2:
        for k, v in meta_df.select(meta_df.columns[:2]).iter_rows():
            if k:
                meta[from_literal(k).strip()] = "" if v is None else from_literal(v).strip()
    manifest = _manifest(ids_df, problems)
    header_row = _first_row(checked, ANSWERS_SHEET)
    for s in (ANSWERS_SHEET, META_SHEET, IDS_SHEET):
        info = checked.sheet(s)
        for ref in (info.formula_cells if info else ()):
            col = "".join(ch for ch in ref if ch.isalpha())
            row = int("".join(ch for ch in ref if ch.isdigit()) or 0) or None
            header = next((h for h, letter in letters.items() if letter == col), None) if s == ANSWERS_SHEET else None
            problems.append(Problem(s, row, header, "the cell holds a formula; formulas are never evaluated on "
                                                    "import: type the value itself", ref))
    if answers.height == 0 and answers.width == 0:
        problems.append(Problem(ANSWERS_SHEET, None, None, "the Answers sheet is empty"))
        return _Parsed(checked, meta, manifest, empty, letters, problems)
    absent = [h for h in REQUIRED if h not in answers.columns]
    for h in absent:
        problems.append(Problem(ANSWERS_SHEET, header_row, h, f"missing column {h!r}"))
    if absent:
        return _Parsed(checked, meta, manifest, empty, letters, problems)
    rows = _typed(answers, header_row, letters, problems)
    if rows.height == 0:
        problems.append(Problem(ANSWERS_SHEET, None, None, "the Answers sheet has no answer rows: nothing to import"))
    return _Parsed(checked, meta, manifest, rows, letters, problems)


def _first_row(checked: CheckedWorkbook, sheet: str) -> int:
    info = checked.sheet(sheet)
    return info.min_row if info and info.min_row else 1


def _manifest(ids: pl.DataFrame, problems: list[Problem]) -> pl.DataFrame:
    if any(h not in ids.columns for h in IDS_HEADER):
        problems.append(Problem(IDS_SHEET, 1, None, f"the hidden id sheet lacks its columns {', '.join(IDS_HEADER)}"))
        return pl.DataFrame(schema={h: pl.String for h in IDS_HEADER})
    df = ids.select([pl.col(h).str.strip_chars().fill_null("") for h in IDS_HEADER])
    return df.with_columns(pl.col("base_event_id").str.replace(r"^(\d+)\.0+$", "$1"))


_LITERAL = "^'['=+\\-@\\t\\r\uff1d\uff0b\uff0d\uff20]"  # what excel_safety.literal_text prefixed


def _clean(name: str) -> pl.Expr:
    """Cell text as stored: the literal-text apostrophe removed (excel_safety.from_literal, vectorised),
    stripped like workflow.answers_frame, empty -> null."""
    col = pl.col(name)
    return (pl.when(col.str.contains(_LITERAL)).then(col.str.slice(1)).otherwise(col)
            .str.strip_chars().replace("", None))


def _typed(raw: pl.DataFrame, header_row: int, letters: dict[str, str], problems: list[Problem]) -> pl.DataFrame:
    """Coerce every column from text; each value that cannot be read becomes a problem naming its cell."""
    df = raw.with_row_index("_i").with_columns((pl.col("_i").cast(pl.Int64) + header_row + 1).alias("row"))
    relevant = [h for h in REQUIRED if h != ID_FORMAT]
    df = df.filter(pl.any_horizontal([pl.col(h).str.strip_chars().fill_null("") != "" for h in relevant]))
    unit_col = COL_UNIT if COL_UNIT in df.columns else None
    level_raw = pl.col(COL_LEVEL).str.strip_chars().replace("", None)
    is_na = level_raw.str.to_lowercase().is_in(list(NA_WORDS)).fill_null(False)
    level = pl.when(is_na).then(None).otherwise(level_raw.str.extract(r"^(-?\d+)(?:\.0+)?$").cast(pl.Int64))
    date_raw = pl.col(COL_DATE).str.strip_chars().replace("", None)
    ev_date = date_raw.str.extract(r"^(\d{4}-\d{2}-\d{2})(?:[ T][0-9:.]+)?$").str.to_date("%Y-%m-%d", strict=False)
    event_raw = pl.col(ID_EVENT).str.strip_chars().replace("", None)
    event = event_raw.str.extract(r"^(\d+)(?:\.0+)?$").cast(pl.Int64)
    typed = df.select(
        "row",
        _clean(ID_CAMPAIGN).alias("campaign_id"), _clean(ID_UNIT).alias("unit_id"),
        _clean(ID_QUESTION).alias("question_id"), event.alias("base_event_id"),
        _clean(ID_FORMAT).alias("format"), _clean(COL_QUESTION).alias("visible_question"),
        (_clean(unit_col) if unit_col else pl.lit(None, pl.String)).alias("visible_unit"),
        level.alias("level"), is_na.alias("is_na"),
        *[_clean(h).alias(k) for k, h in TEXT_FIELDS.items()],
        ev_date.alias("evidence_date"),
        level_raw.alias("_level_raw"), date_raw.alias("_date_raw"), event_raw.alias("_event_raw"),
    )
    bad = typed.filter(
        (pl.col("_level_raw").is_not_null() & ~pl.col("is_na") & pl.col("level").is_null())
        | (pl.col("_date_raw").is_not_null() & pl.col("evidence_date").is_null())
        | (pl.col("_event_raw").is_not_null() & pl.col("base_event_id").is_null()))
    for r in bad.iter_rows(named=True):
        row = r["row"]
        if r["_level_raw"] is not None and not r["is_na"] and r["level"] is None:
            problems.append(_at(row, COL_LEVEL, letters, f"{r['_level_raw']!r} is not a level: use a whole number "
                                                         "from 0 to 5, or N/A"))
        if r["_date_raw"] is not None and r["evidence_date"] is None:
            problems.append(_at(row, COL_DATE, letters, f"{r['_date_raw']!r} is not a date: enter a date "
                                                        "(YYYY-MM-DD) or a date cell"))
        if r["_event_raw"] is not None and r["base_event_id"] is None:
            problems.append(_at(row, ID_EVENT, letters, f"hidden id {r['_event_raw']!r} is not an event number "
                                                        "(the hidden ids were edited)"))
    return typed.drop("_level_raw", "_date_raw", "_event_raw")


def _at(row: int | None, header: str, letters: dict[str, str], message: str) -> Problem:
    letter = letters.get(header)
    return Problem(ANSWERS_SHEET, row, header, message, f"{letter}{row}" if letter and row else None)


# --------------------------------------------------------------------------------------------- validation


@dataclass
class _Context:
    """What the database says, read through one cursor (inside the commit transaction when committing)."""

    campaign: dict | None
    units: pl.DataFrame
    current: pl.DataFrame
    base: pl.DataFrame                # the answer events the file was generated from
    template: dict | None


def _read_context(cur, parsed: _Parsed) -> _Context:
    cid = parsed.meta.get("campaign_id", "")
    camp = campaigns_sql.campaign(cur, cid) if cid else None
    units = imports_sql.campaign_units(cur, cid) if camp else pl.DataFrame(schema={"unit_id": pl.String,
                                                                             "status": pl.String})
    known = set(units["unit_id"].to_list())
    in_file = sorted({u for u in parsed.rows["unit_id"].to_list() if u in known}) if parsed.rows.height else []
    current = answers_sql.current(cur, cid, in_file) if camp and in_file else pl.DataFrame()
    base_ids = parsed.rows["base_event_id"].drop_nulls().to_list() if parsed.rows.height else []
    base = imports_sql.events(cur, base_ids) if base_ids else pl.DataFrame()
    template = None
    if parsed.meta.get("kind") == TEMPLATE_KIND and parsed.meta.get("template_id"):
        template = imports_sql.template_issue(cur, parsed.meta["template_id"])
    return _Context(camp, units, current, base, template)


def _file_checks(parsed: _Parsed, ctx: _Context) -> list[Problem]:
    meta, out = parsed.meta, []
    kind = meta.get("kind")
    if kind not in (TEMPLATE_KIND, PACK_KIND):
        out.append(Problem(META_SHEET, None, "kind", f"unknown file kind {kind!r}: import a template or an "
                                                     "auditor pack made by this application"))
    if meta.get("format_version") != FORMAT_VERSION:
        out.append(Problem(META_SHEET, None, "format_version",
                           f"format version {meta.get('format_version')!r} is not supported (expected "
                           f"{FORMAT_VERSION}): download a new template or pack"))
    cid = meta.get("campaign_id", "")
    if ctx.campaign is None:
        out.append(Problem(META_SHEET, None, "campaign_id", f"unknown campaign id {cid!r}"))
    digest = manifest_digest(kind or "", cid, meta.get("template_id", ""),
                             parsed.manifest.select("unit_id", "question_id", "base_event_id").iter_rows())
    if digest != meta.get("digest"):
        out.append(Problem(IDS_SHEET, None, None, "the hidden ids were edited: their digest does not match the "
                                                  "one the file was issued with"))
    if kind == TEMPLATE_KIND:
        t = ctx.template
        if t is None:
            out.append(Problem(META_SHEET, None, "template_id",
                               f"template {meta.get('template_id')!r} was not issued by this application's "
                               "database (hidden ids edited, or a template from another installation)"))
        elif (t.get("digest"), t.get("campaign_id"), t.get("unit_id")) != (
                meta.get("digest"), cid, meta.get("unit_id")):
            out.append(Problem(META_SHEET, None, "digest",
                               f"the hidden ids differ from those recorded when template {meta.get('template_id')} "
                               f"was issued (audit entry #{t['seq']}): the file was tampered with"))
    return out


def _schema(q: Questionnaire, parsed: _Parsed, ctx: _Context, today: date) -> pa.DataFrameSchema:
    meta = parsed.meta
    units = ctx.units["unit_id"].to_list()
    questions = [x.id for x in q.questions]

    def frame_check(expr: pl.Expr, code: str) -> pa.Check:
        return pa.Check(lambda data, e=expr: data.lazyframe.select(e), error=code, name=code)

    checks = [
        frame_check(~pl.col("is_na") | pl.col("na_reason").is_not_null() | pl.lit(not q.policy.na_reason_required),
                    "na_reason"),
        frame_check(~pl.col("is_na") | pl.col("na_allowed"), "na_allowed"),
        frame_check(pl.col("na_reason").is_null() | pl.col("is_na"), "reason_without_na"),
        frame_check(pl.col("visible_question").eq_missing(pl.col("question_id")), "visible_question"),
        frame_check(pl.col("visible_unit").is_null() | pl.col("visible_unit").eq_missing(pl.col("unit_id")),
                    "visible_unit"),
        frame_check(pl.col("issued"), "not_issued"),
    ]
    if meta.get("kind") == TEMPLATE_KIND:
        checks.append(frame_check(pl.col("unit_id").eq_missing(pl.lit(meta.get("unit_id"))), "template_unit"))
    nullable = {"nullable": True}
    return pa.DataFrameSchema({
        "row": pa.Column(pl.Int64),
        "campaign_id": pa.Column(pl.String, pa.Check.isin([meta.get("campaign_id", "")], error="campaign"),
                                 nullable=False),
        "unit_id": pa.Column(pl.String, pa.Check.isin(units, error="unknown_unit"), nullable=False),
        "question_id": pa.Column(pl.String, pa.Check.isin(questions, error="unknown_question"), nullable=False),
        "base_event_id": pa.Column(pl.Int64, **nullable),
        "format": pa.Column(pl.String, pa.Check.isin([FORMAT_VERSION], error="format"), nullable=False),
        "level": pa.Column(pl.Int64, pa.Check.in_range(0, 5, error="level_range"), **nullable),
        "is_na": pa.Column(pl.Boolean),
        "evidence_date": pa.Column(pl.Date, pa.Check.le(today, error="future_date"), **nullable),
        "evidence_url": pa.Column(pl.String, pa.Check(
            lambda data: data.lazyframe.select(pl.col(data.key).str.to_lowercase().str.starts_with(URL_PREFIXES[0])
                                               | pl.col(data.key).str.to_lowercase().str.starts_with(URL_PREFIXES[1])
                                               | pl.col(data.key).str.to_lowercase().str.starts_with(URL_PREFIXES[2])
                                               | pl.col(data.key).str.starts_with(URL_PREFIXES[3])),
            error="url"), **nullable),
    }, checks=checks, unique=["unit_id", "question_id"], report_duplicates="all", strict=False)


def _messages(code: str, r: dict, q: Questionnaire, parsed: _Parsed, dups: dict) -> tuple[str, str]:
    """(header, message) for one failed check on one row."""
    meta = parsed.meta
    cid = meta.get("campaign_id")
    return {
        "campaign": (ID_CAMPAIGN, f"campaign id {r['campaign_id']!r} differs from the file's campaign {cid!r} "
                                  "(the hidden ids were edited)" if r["campaign_id"] else "the hidden campaign id "
                                                                                          "is missing"),
        "unknown_unit": (ID_UNIT, f"unknown unit id {r['unit_id']!r}: not a unit of campaign {cid}"
                         if r["unit_id"] else "the hidden unit id is missing"),
        "unknown_question": (ID_QUESTION, f"unknown question id {r['question_id']!r}: not in {q.id}@{q.version}"
                             if r["question_id"] else "the hidden question id is missing"),
        "format": (ID_FORMAT, f"row format {r['format']!r} is not supported (expected {FORMAT_VERSION})"),
        "level_range": (COL_LEVEL, f"level {r['level']} is out of range: use a whole number from 0 to 5, or N/A"),
        "future_date": (COL_DATE, f"evidence date {r['evidence_date']} is in the future"),
        "url": (COL_URL, f"{r['evidence_url']!r} is not a link: use an http(s) address or a file path"),
        "na_reason": (COL_REASON, "N/A needs a reason"),
        "na_allowed": (COL_LEVEL, f"N/A is not allowed for question {r['question_id']}: choose a level 0-5"),
        "reason_without_na": (COL_REASON, "an N/A reason is given but the level is not N/A: clear the reason or "
                                          "set the level to N/A"),
        "visible_question": (COL_QUESTION, f"the question id {r['visible_question']!r} does not match the row's "
                                           f"hidden id {r['question_id']!r}: rows must not be edited, moved or "
                                           "copied (tampered ids)"),
        "visible_unit": (COL_UNIT, f"the unit id {r['visible_unit']!r} does not match the row's hidden id "
                                   f"{r['unit_id']!r} (tampered ids)"),
        "not_issued": (ID_QUESTION, f"the hidden ids of this row ({r['unit_id']}/{r['question_id']}, event "
                                    f"{r['base_event_id']}) are not the ones the file was issued with (tampered ids)"),
        "template_unit": (ID_UNIT, f"unit {r['unit_id']!r} in a template issued for unit {meta.get('unit_id')!r} "
                                   "(tampered ids)"),
        "duplicate": (COL_QUESTION, f"duplicate row: {r['unit_id']}/{r['question_id']} appears in rows "
                                    f"{', '.join(map(str, dups.get((r['unit_id'], r['question_id']), [])))}"),
    }.get(code, (None, code))


def _validate(q: Questionnaire, parsed: _Parsed, ctx: _Context, today: date) -> list[Problem]:
    rows = parsed.rows
    issued = parsed.manifest.select(
        pl.col("campaign_id"), pl.col("unit_id"), pl.col("question_id"), pl.col("base_event_id").alias("_ev"),
        pl.lit(True).alias("issued")).unique(["campaign_id", "unit_id", "question_id", "_ev"])
    na_allowed = pl.DataFrame({"question_id": [x.id for x in q.questions],
                               "na_allowed": [x.na_allowed for x in q.questions]})
    df = (rows.with_columns(pl.col("base_event_id").cast(pl.String).fill_null("").alias("_ev"))
          .join(issued, on=["campaign_id", "unit_id", "question_id", "_ev"], how="left", nulls_equal=True)
          .join(na_allowed, on="question_id", how="left")
          .with_columns(pl.col("issued").fill_null(False), pl.col("na_allowed").fill_null(True))
          .drop("_ev"))
    try:
        _schema(q, parsed, ctx, today).validate(df, lazy=True)
        return []
    except SchemaErrors as err:
        cases = err.failure_cases
    dup_rows = df.filter(pl.struct("unit_id", "question_id").is_duplicated())
    dups: dict = {}
    for u, qid, row in dup_rows.select("unit_id", "question_id", "row").iter_rows():
        dups.setdefault((u, qid), []).append(row)
    out, seen = [], set()
    records = df.to_dicts()
    for check, index, column in cases.select("check", "index", "column").iter_rows():
        if index is None:
            out.append(Problem(ANSWERS_SHEET, None, HEADERS.get(column or "", column), f"unexpected data ({check})"))
            continue
        r = records[index]
        if check == "not_nullable":
            header = HEADERS.get(column, column)
            message = f"the hidden id {header!r} is missing (the hidden ids were removed or edited)"
        else:
            code = "duplicate" if check == "multiple_fields_uniqueness" else check
            header, message = _messages(code, r, q, parsed, dups)
        key = (r["row"], header, message)
        if key not in seen:
            seen.add(key)
            out.append(_at(r["row"], header, parsed.letters, message))
    return out


# ------------------------------------------------------------------------------------------------- diffing


def _show(level: pl.Expr, is_na: pl.Expr) -> pl.Expr:
    return (pl.when(is_na).then(pl.lit("N/A")).when(level.is_null()).then(pl.lit("(no answer)"))
            .otherwise(pl.format("level {}", level)))


_TYPES = {"level": pl.Int64, "is_na": pl.Boolean, "na_reason": pl.String, "evidence": pl.String,
          "evidence_url": pl.String, "evidence_date": pl.Date, "comment": pl.String}


def _side(df: pl.DataFrame, suffix: str, extra: dict[str, pl.Expr]) -> pl.DataFrame:
    """Stored answers (current or as generated) keyed by unit and question, COMPARED columns suffixed."""
    schema = {"unit_id": pl.String, "question_id": pl.String, "event_id": pl.Int64, "answered_by": pl.String,
              "answered_at": pl.Datetime("us"), **_TYPES}
    if df.height == 0:
        df = pl.DataFrame(schema=schema)
    return df.select(pl.col("unit_id").cast(pl.String), pl.col("question_id").cast(pl.String),
                     *[e.alias(k) for k, e in extra.items()],
                     *[pl.col(c).cast(_TYPES[c]).alias(f"{c}{suffix}") for c in COMPARED])


def _diff(rows: pl.DataFrame, current: pl.DataFrame, base: pl.DataFrame) -> pl.DataFrame:
    """Per row: new, changed, unchanged or conflict (set-based, the comparison of workflow.changed_rows).

    A row whose answer changed in the database after the file was generated is a conflict only if the file
    changed it too; a row the file left as generated keeps the newer answer (unchanged, nothing written).
    """
    new = rows.select("row", "unit_id", "question_id", "base_event_id", *COMPARED).with_columns(
        pl.when(pl.col("is_na")).then(None).otherwise(pl.col("level")).alias("level"),
        pl.when(pl.col("is_na")).then(pl.col("na_reason")).otherwise(None).alias("na_reason"))
    cur = _side(current, "_cur", {"current_event_id": pl.col("event_id").cast(pl.Int64),
                                  "current_by": pl.col("answered_by").cast(pl.String),
                                  "current_at": pl.col("answered_at").cast(pl.Datetime("us"))})
    gen = _side(base, "_gen", {"base_event_id": pl.col("event_id").cast(pl.Int64)})
    j = (new.join(cur, on=["unit_id", "question_id"], how="left")
         .join(gen, on=["unit_id", "question_id", "base_event_id"], how="left")
         .with_columns(pl.col("is_na_cur").fill_null(False), pl.col("is_na_gen").fill_null(False)))
    differs = [(c, ~pl.col(c).eq_missing(pl.col(f"{c}_cur"))) for c in COMPARED]
    same = pl.all_horizontal([~d for _, d in differs])
    untouched = pl.all_horizontal([pl.col(c).eq_missing(pl.col(f"{c}_gen")) for c in COMPARED])
    moved_on = ~pl.col("current_event_id").eq_missing(pl.col("base_event_id"))
    action = (pl.when(same).then(pl.lit("unchanged"))
              .when(~moved_on)
              .then(pl.when(pl.col("current_event_id").is_null()).then(pl.lit("new")).otherwise(pl.lit("changed")))
              .when(untouched).then(pl.lit("unchanged"))
              .otherwise(pl.lit("conflict")))
    fields = pl.concat_str([pl.when(d).then(pl.lit(c)) for c, d in differs], separator=", ", ignore_nulls=True)
    note = (pl.when(same).then(pl.lit(""))
            .when(~moved_on).then(pl.lit(""))
            .when(untouched).then(pl.format("kept the newer answer saved by {} (the file left this row as it was)",
                                            pl.col("current_by")))
            .otherwise(pl.format("changed by {} at {} after the file was generated", pl.col("current_by"),
                                 pl.col("current_at").dt.strftime("%Y-%m-%d %H:%M UTC"))))
    return j.with_columns(
        action.alias("action"), pl.when(same).then(pl.lit("")).otherwise(fields).alias("fields"),
        _show(pl.col("level_cur"), pl.col("is_na_cur")).alias("before"),
        _show(pl.col("level"), pl.col("is_na")).alias("after"), note.alias("note"),
    ).sort("row")


def _unit_checks(diff: pl.DataFrame, ctx: _Context) -> list[Problem]:
    """The units whose answers would change must be editable: open campaign, draft or returned assessment."""
    out = []
    changing = diff.filter(pl.col("action").is_in(["new", "changed"]))
    if changing.height == 0:
        return out
    camp = ctx.campaign or {}
    per_unit = changing.group_by("unit_id").agg(pl.col("row").min().alias("row"), pl.len().alias("n")).sort("row")
    status = dict(zip(ctx.units["unit_id"].to_list(), ctx.units["status"].to_list()))
    if camp.get("status") != "open":
        first = per_unit["row"].min()
        out.append(Problem(ANSWERS_SHEET, first, None,
                           f"campaign {camp.get('campaign_id')} is {camp.get('status')}: answers can only change "
                           f"while it is open ({changing.height} row(s) would change)"))
        return out
    for unit_id, row, n in per_unit.iter_rows():
        st = status.get(unit_id)
        if st not in EDITABLE:
            out.append(Problem(ANSWERS_SHEET, row, None,
                               f"the assessment of {unit_id} is {st}: it is read-only until returned "
                               f"({n} row(s) would change)"))
    return out


def _access_checks(actor: Actor, parsed: _Parsed) -> list[Problem]:
    out = []
    if parsed.rows.height == 0:
        return out
    first = parsed.rows.filter(pl.col("unit_id").is_not_null()).group_by("unit_id").agg(pl.col("row").min())
    for unit_id, row in first.sort("row").iter_rows():
        if not access.allowed(actor, "import", unit_id):
            out.append(_at(row, ID_UNIT, parsed.letters,
                           f"{actor.username} ({access.ROLE_LABELS.get(actor.role, actor.role)}) may not import "
                           f"answers for unit {unit_id}"))
    return out


# ---------------------------------------------------------------------------------------------- the API


def _open(source: str | Path | BinaryIO | bytes, file: str | None, limits: Limits | None
          ) -> tuple[ImportResult, _Parsed | None]:
    name = file or (Path(source).name if isinstance(source, str | Path) else "upload.xlsx")
    result = ImportResult(name)
    try:
        checked = check_workbook(source, name, limits)
        result.sha256, result.size = checked.sha256, checked.size
        parsed = _parse(checked)
    except UnsafeWorkbook as exc:
        result.problems.append(Problem(FILE, None, None, exc.reason))
        return result, None
    result.kind = parsed.meta.get("kind")
    result.campaign_id = parsed.meta.get("campaign_id")
    result.template_id = parsed.meta.get("template_id") or None
    result.problems.extend(parsed.problems)
    return result, parsed


def _analyse(cur, actor: Actor, q: Questionnaire | None, parsed: _Parsed, result: ImportResult,
             today: date) -> ImportResult:
    ctx = _read_context(cur, parsed)
    problems = _file_checks(parsed, ctx) + _access_checks(actor, parsed)
    if q is not None and parsed.rows.height:
        problems += _validate(q, parsed, ctx, today)
    result.problems.extend(problems)
    result.problems.sort(key=lambda p: (p.sheet != FILE, p.sheet, p.row or 0, p.column or ""))
    if result.problems:
        return result
    result.diff = _diff(parsed.rows, ctx.current, ctx.base).select(list(DIFF_SCHEMA))
    result.problems.extend(_unit_checks(result.diff, ctx))
    return result


def _questionnaire(db: Database, parsed: _Parsed | None) -> Questionnaire | None:
    cid = parsed.meta.get("campaign_id") if parsed else None
    if not cid:
        return None
    try:
        return campaign_questionnaire(db, cid)
    except NotFound:
        return None


def analyse(db: Database, actor: Actor, source: str | Path | BinaryIO | bytes, file: str | None = None,
            today: date | None = None, limits: Limits | None = None) -> ImportResult:
    """Dry run: every problem, or the diff of what commit would write. Writes nothing."""
    access.require(actor, "import")
    result, parsed = _open(source, file, limits)
    if parsed is None or (parsed.problems and parsed.rows.height == 0):
        return result
    q = _questionnaire(db, parsed)
    with db.read() as cur:
        return _analyse(cur, actor, q, parsed, result, today or clock.today())


def commit(db: Database, actor: Actor, source: str | Path | BinaryIO | bytes, file: str | None = None,
           today: date | None = None, exclude_conflicts: bool = False, limits: Limits | None = None) -> ImportResult:
    """Write every new and changed answer of the file in ONE transaction, or nothing at all.

    Refuses (result.problems, nothing written) on any problem, and on conflicts unless exclude_conflicts is
    set, in which case the conflicting rows are left out (and counted) and never overwritten.
    """
    access.require(actor, "import")
    opened, parsed = _open(source, file, limits)
    if parsed is None or (parsed.problems and parsed.rows.height == 0):
        return opened
    q = _questionnaire(db, parsed)
    today = today or clock.today()

    def work(cur) -> ImportResult:
        result = ImportResult(opened.file, opened.sha256, opened.size, opened.kind, opened.campaign_id,
                              opened.template_id, list(opened.problems))
        _analyse(cur, actor, q, parsed, result, today)
        if result.problems:
            raise ImportRefused(result)
        conflicts = result.diff.filter(pl.col("action") == "conflict")
        if conflicts.height and not exclude_conflicts:
            result.problems.extend(
                _at(r["row"], COL_LEVEL, parsed.letters,
                    f"conflict: {r['unit_id']}/{r['question_id']} was changed to {r['before']} by {r['current_by']} "
                    f"at {r['current_at']:%Y-%m-%d %H:%M} UTC after this file was generated; it is not overwritten "
                    "(download a new file, or leave the conflicting rows out)")
                for r in conflicts.iter_rows(named=True))
            raise ImportRefused(result)
        result.excluded_conflicts = conflicts.height
        changed = result.diff.filter(pl.col("action").is_in(["new", "changed"]))
        if changed.height == 0:
            result.committed = True
            return result
        at = now()
        events = (changed.select("row", "unit_id", "question_id")
                  .join(parsed.rows, on=["row", "unit_id", "question_id"], how="left")
                  .with_columns(pl.when(pl.col("is_na")).then(None).otherwise(pl.col("level")).alias("level"),
                                pl.when(pl.col("is_na")).then(pl.col("na_reason")).otherwise(None).alias("na_reason"),
                                pl.lit(actor.username).alias("answered_by"),
                                pl.lit(at).alias("answered_at"), pl.lit("excel").alias("source")))
        answers_sql.append_events(cur, events.select(answers_sql.EVENT_COLUMNS))
        units = sorted(set(changed["unit_id"].to_list()))
        imports_sql.touch_assessments(cur, parsed.meta["campaign_id"], units, at)
        audit.record(cur, actor, "excel.import", "campaign", parsed.meta["campaign_id"],
                     before=_before(changed), after=_after(result, changed))
        result.committed, result.written = True, changed.height
        return result

    try:
        return db.transaction(work)
    except ImportRefused as refused:
        return refused.result


def _before(changed: pl.DataFrame) -> list[dict] | dict:
    if changed.height > AUDIT_ROWS:
        return {"rows": changed.height, "detail": "omitted (more than 5000 rows); see answer_events"}
    return changed.select("unit_id", "question_id", "before", "current_event_id").to_dicts()


def _after(result: ImportResult, changed: pl.DataFrame) -> dict:
    s = result.summary
    after = {"file": result.file, "sha256": result.sha256, "bytes": result.size, "kind": result.kind,
             "template_id": result.template_id, "new": s["new"], "changed": s["changed"],
             "unchanged": s["unchanged"], "conflicts_left_out": result.excluded_conflicts,
             "units": dict(changed.group_by("unit_id").len().sort("unit_id").iter_rows())}
    if changed.height <= AUDIT_ROWS:
        after["rows"] = changed.select("unit_id", "question_id", "after", "fields").to_dicts()
    return after
