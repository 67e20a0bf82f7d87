"""Import answers from an offline template or an auditor pack: safe, validated, previewed, all-or-nothing.

1. safety.check_workbook runs before any parser (size, zip, macros, DTD/entities, cell area).
2. fastexcel reads cell VALUES only, every column as text (reading.read_sheet); a formula in any cell and any
   sheet the file was not issued with are problems (files this application issues hold neither); the hidden
   _meta/_ids sheets and id columns are read.
3. Every row is checked at once, each problem naming its sheet, row, column and cell: the answer rules
   (answer_rules.check, the same rules as the page: levels, N/A, dates, links, lengths, duplicates) and the
   file's own contract over the hidden ids (excel.contract: campaign, unit, format, rows as issued).
4. The dry run (analyse) compares each unit x question with the current answer: new, changed, unchanged,
   or conflict (the answer changed in the database after the file was generated: never overwritten). Units
   whose answers would change must be editable, and the actor needs the answer permission for each of them.
5. commit re-runs the whole analysis inside ONE transaction and writes the changed rows of every unit through
   workflow.append_answers (the page's write path: events, touches, an "answers.save" audit entry per unit),
   then one "excel.import" audit entry (file name, SHA-256, counts). Re-importing the same file changes
   nothing (every row is then unchanged and nothing is written).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO, cast

import polars as pl

from .. import access, answer_rules, audit, clock, workflow
from ..catalog import questionnaire_of_campaign
from ..errors import EngineError, NotFound
from ..model import Actor, Questionnaire
from ..storage import Database
from ..storage import answers as answers_sql
from ..storage import campaigns as campaigns_sql
from ..storage import imports as imports_sql
from . import contract
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
    KIND_NAMES,
    META_SHEET,
    NA_WORDS,
    PACK_KIND,
    SHEETS,
    TEMPLATE_KIND,
    UNREAD_SHEETS,
    manifest_digest,
)
from .reading import (
    FILE,
    Problem,
    Sheet,
    formula_problems,
    open_reader,
    problems_frame,
    read_sheet,
    unexpected_sheets,
    whole_number,
)
from .safety import CheckedWorkbook, Limits, UnsafeWorkbook, check_workbook, from_literal, from_literal_expr

__all__ = ["FILE", "ImportRefused", "ImportResult", "Problem", "analyse", "commit"]

ACTIONS = ("new", "changed", "unchanged", "conflict")
TEXT_FIELDS = {"na_reason": COL_REASON, "evidence": COL_EVIDENCE, "evidence_url": COL_URL, "comment": COL_COMMENT}
REQUIRED = (COL_QUESTION, COL_LEVEL, COL_REASON, COL_EVIDENCE, COL_URL, COL_DATE, COL_COMMENT, *ID_COLUMNS)
READ_COLUMNS = frozenset((*REQUIRED, COL_UNIT))  # every column of the Answers sheet the import looks at
# internal field -> header shown in problems (answer-rule fields and the file's own columns)
HEADERS = {"campaign_id": ID_CAMPAIGN, "unit_id": ID_UNIT, "question_id": ID_QUESTION, "base_event_id": ID_EVENT,
           "format": ID_FORMAT, "visible_question": COL_QUESTION, "visible_unit": COL_UNIT, "level": COL_LEVEL,
           "is_na": COL_LEVEL, "evidence_date": COL_DATE, **TEXT_FIELDS}
# An answer rule whose problem a person finds in another column than its field's.
RULE_HEADERS = {"duplicate": COL_QUESTION}
DIFF_SCHEMA = pl.Schema({"row": pl.Int64(), "unit_id": pl.String(), "question_id": pl.String(), "action": pl.String(),
               "fields": pl.String(), "before": pl.String(), "after": pl.String(), "note": pl.String(),
               "base_event_id": pl.Int64(),
               "current_event_id": pl.Int64(), "current_by": pl.String(), "current_at": pl.Datetime("us")})


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
        return problems_frame(self.problems)

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
    answers: Sheet | None             # the Answers sheet as read (letters, to name cells)
    problems: list[Problem]

    def at(self, row: int | None, header: str | None, message: str) -> Problem:
        if self.answers is None:
            return Problem(ANSWERS_SHEET, row, header, message)
        return self.answers.at(row, header, message)


def _parse(checked: CheckedWorkbook) -> _Parsed:
    problems: list[Problem] = []
    reader = open_reader(checked)
    names = reader.sheet_names
    empty = pl.DataFrame()
    if not names or all((s.max_row == 0) for s in checked.sheets):
        problems.append(Problem(FILE, None, None, "the workbook is empty: it has no sheet with data"))
        return _Parsed(checked, {}, empty, empty, None, problems)
    missing = [s for s in (ANSWERS_SHEET, META_SHEET, IDS_SHEET) if s not in names]
    for s in missing:
        hint = "" if s == ANSWERS_SHEET else " (hidden sheet: the file was not made by this application, or " \
                                             "was saved in a way that dropped hidden sheets)"
        problems.append(Problem(s, None, None, f"missing sheet {s!r}{hint}"))
    if missing:
        return _Parsed(checked, {}, empty, empty, None, problems)
    meta = _meta(read_sheet(reader, checked, META_SHEET, header=False))
    manifest = _manifest(read_sheet(reader, checked, IDS_SHEET).frame, problems)
    answers = read_sheet(reader, checked, ANSWERS_SHEET, columns=READ_COLUMNS)  # not the report columns of a pack
    kind = meta.get("kind")
    expected = SHEETS.get(kind or "") or {s for sheets in SHEETS.values() for s in sheets}
    problems += unexpected_sheets(checked, expected, KIND_NAMES.get(kind or "", "a file"),
                                  f"the {ANSWERS_SHEET} sheet")
    problems += formula_problems(checked, {ANSWERS_SHEET: answers})
    if answers.frame.height == 0 and not answers.letters:
        problems.append(Problem(ANSWERS_SHEET, None, None, "the Answers sheet is empty"))
        return _Parsed(checked, meta, manifest, empty, answers, problems)
    absent = [h for h in REQUIRED if h not in answers.frame.columns]
    for h in absent:
        problems.append(Problem(ANSWERS_SHEET, answers.header_row, h, f"missing column {h!r}"))
    if absent:
        return _Parsed(checked, meta, manifest, empty, answers, problems)
    rows = _typed(answers, problems)
    if rows.height == 0:
        problems.append(Problem(ANSWERS_SHEET, None, None, "the Answers sheet has no answer rows: nothing to import"))
    return _Parsed(checked, meta, manifest, rows, answers, problems)


def _meta(sheet: Sheet) -> dict[str, str]:
    df = sheet.frame.drop("row")
    meta = {}
    if df.width >= 2:
        for k, v in df.select(df.columns[:2]).iter_rows():
            if k:
                meta[from_literal(k).strip()] = "" if v is None else from_literal(v).strip()
    return meta


def _manifest(ids: pl.DataFrame, problems: list[Problem]) -> pl.DataFrame:
    if any(h not in ids.columns for h in IDS_HEADER):
        problems.append(Problem(IDS_SHEET, 1, None, f"the hidden id sheet lacks its columns {', '.join(IDS_HEADER)}"))
        return pl.DataFrame(schema={h: pl.String for h in IDS_HEADER})
    df = ids.select([pl.col(h).str.strip_chars().fill_null("") for h in IDS_HEADER])
    return df.with_columns(pl.col("base_event_id").str.replace(r"^([0-9]+)\.0+$", "$1"))


def _clean(name: str) -> pl.Expr:
    """Cell text as stored: the literal-text apostrophe removed, then answer_rules.clean_text."""
    return answer_rules.clean_text(from_literal_expr(pl.col(name)))


def _typed(sheet: Sheet, problems: list[Problem]) -> pl.DataFrame:
    """The Answers rows as an answer batch (answer_rules.BATCH_SCHEMA) plus the hidden ids: levels, dates and
    event ids read from text; what cannot be read stays as text for the rules to name (a bad event id is a
    problem here: it is the file's, not an answer's)."""
    relevant = [h for h in REQUIRED if h != ID_FORMAT]
    df = sheet.frame.filter(pl.any_horizontal([pl.col(h).str.strip_chars().fill_null("") != "" for h in relevant]))
    level_raw = pl.col(COL_LEVEL).str.strip_chars().replace("", None)
    is_na = level_raw.str.to_lowercase().is_in(list(NA_WORDS)).fill_null(False)
    date_raw = pl.col(COL_DATE).str.strip_chars().replace("", None)
    ev_date = (date_raw.str.extract(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[ T][0-9:.]+)?$")
               .str.to_date("%Y-%m-%d", strict=False))
    event_raw = pl.col(ID_EVENT).str.strip_chars().replace("", None)
    typed = df.select(
        "row",
        _clean(ID_CAMPAIGN).alias("campaign_id"), _clean(ID_UNIT).alias("unit_id"),
        _clean(ID_QUESTION).alias("question_id"), whole_number(event_raw, signed=False).alias("base_event_id"),
        _clean(ID_FORMAT).alias("format"), _clean(COL_QUESTION).alias("visible_question"),
        (_clean(COL_UNIT) if COL_UNIT in df.columns else pl.lit(None, pl.String)).alias("visible_unit"),
        pl.when(is_na).then(None).otherwise(whole_number(level_raw)).alias("level"),
        pl.when(is_na).then(None).otherwise(level_raw).alias("level_text"), is_na.alias("is_na"),
        *[_clean(h).alias(k) for k, h in TEXT_FIELDS.items()],
        ev_date.alias("evidence_date"), date_raw.alias("evidence_date_text"), event_raw.alias("_event_raw"),
    )
    bad = typed.filter(pl.col("_event_raw").is_not_null() & pl.col("base_event_id").is_null())
    for row, raw in bad.select("row", "_event_raw").iter_rows():
        problems.append(sheet.at(row, ID_EVENT, f"hidden id {raw!r} is not an event number (the hidden ids were "
                                                "edited)"))
    return typed.drop("_event_raw")


# --------------------------------------------------------------------------------------------- validation


@dataclass
class _Context:
    """What the database says, read through one cursor (inside the commit transaction when committing)."""

    campaign: dict | None
    questionnaire: Questionnaire | None  # None for an unknown campaign or a version not stored
    units: pl.DataFrame
    current: pl.DataFrame
    base: pl.DataFrame                # the answer events the file was generated from
    template: dict | None


def _read_context(cur, parsed: _Parsed) -> _Context:
    cid = parsed.meta.get("campaign_id", "")
    camp = campaigns_sql.campaign_with_hash(cur, cid) if cid else None
    q = None
    if camp is not None:
        try:
            q = questionnaire_of_campaign(cur, camp)
        except NotFound:
            q = None
    units = imports_sql.campaign_units(cur, cid) if camp else pl.DataFrame(schema={"unit_id": pl.String,
                                                                             "status": pl.String})
    known = set(units["unit_id"].to_list())
    in_file = sorted({u for u in parsed.rows["unit_id"].to_list() if u in known}) if parsed.rows.height else []
    current = answers_sql.current(cur, cid, in_file) if camp and in_file else pl.DataFrame()
    base = _base_events(cur, parsed.rows, current)
    template = None
    if parsed.meta.get("kind") == TEMPLATE_KIND and parsed.meta.get("template_id"):
        template = imports_sql.template_issue(cur, parsed.meta["template_id"])
    return _Context(camp, q, units, current, base, template)


def _base_events(cur, rows: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """The answer events the file's rows were generated from. A current answer is a copy of its event
    (current_answers), so only the rows whose answer moved on since the file was made need the history."""
    if rows.height == 0:
        return pl.DataFrame()
    ids = rows.select(pl.col("base_event_id").drop_nulls().unique())
    if ids.height == 0:
        return pl.DataFrame()
    held = current.join(ids, left_on="event_id", right_on="base_event_id", how="semi") if current.height \
        else current
    missing = ids.join(held.select("event_id"), left_on="base_event_id", right_on="event_id", how="anti") \
        if held.height else ids
    if missing.height == 0:
        return held
    older = imports_sql.events(cur, missing["base_event_id"].to_list())
    return pl.concat([held, older], how="vertical_relaxed") if held.height else older


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
                             parsed.manifest.select("unit_id", "question_id", "base_event_id"))
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


def _messages(code: str, r: dict, parsed: _Parsed) -> tuple[str | None, str]:
    """(header, message) for one failed check of the file's contract on one row."""
    meta = parsed.meta
    cid = meta.get("campaign_id")
    messages: dict[str, tuple[str | None, str]] = {
        "campaign": (ID_CAMPAIGN, f"campaign id {r['campaign_id']!r} differs from the file's campaign {cid!r} "
                                  "(the hidden ids were edited)" if r["campaign_id"] else "the hidden campaign id "
                                                                                          "is missing"),
        "unknown_unit": (ID_UNIT, f"unknown unit id {r['unit_id']!r}: not a unit of campaign {cid}"
                         if r["unit_id"] else "the hidden unit id is missing"),
        "format": (ID_FORMAT, f"row format {r['format']!r} is not supported (expected {FORMAT_VERSION})"),
        "visible_question": (COL_QUESTION, f"the question id {r['visible_question']!r} does not match the row's "
                                           f"hidden id {r['question_id']!r}: rows must not be edited, moved or "
                                           "copied (tampered ids)"),
        "visible_unit": (COL_UNIT, f"the unit id {r['visible_unit']!r} does not match the row's hidden id "
                                   f"{r['unit_id']!r} (tampered ids)"),
        "not_issued": (ID_QUESTION, f"the hidden ids of this row ({r['unit_id']}/{r['question_id']}, event "
                                    f"{r['base_event_id']}) are not the ones the file was issued with (tampered ids)"),
        "template_unit": (ID_UNIT, f"unit {r['unit_id']!r} in a template issued for unit {meta.get('unit_id')!r} "
                                   "(tampered ids)"),
    }
    return messages.get(code, (None, code))


def _validate(q: Questionnaire, parsed: _Parsed, ctx: _Context, today: date) -> list[Problem]:
    """Every problem of every row: the answer rules, then the file's contract."""
    rows = parsed.rows
    out = [parsed.at(v.row, RULE_HEADERS.get(v.code, HEADERS.get(v.field, v.field)), v.message())
           for v in answer_rules.check(q, rows.select("unit_id", *answer_rules.BATCH_SCHEMA), today=today)]
    issued = parsed.manifest.select(
        pl.col("campaign_id"), pl.col("unit_id"), pl.col("question_id"), pl.col("base_event_id").alias("_ev"),
        pl.lit(True).alias("issued")).unique(["campaign_id", "unit_id", "question_id", "_ev"])
    df = (rows.with_columns(pl.col("base_event_id").cast(pl.String).fill_null("").alias("_ev"))
          .join(issued, on=["campaign_id", "unit_id", "question_id", "_ev"], how="left", nulls_equal=True)
          .with_columns(pl.col("issued").fill_null(False)).drop("_ev"))
    cases = contract.failures(df, parsed.meta, ctx.units["unit_id"].to_list())
    if cases is None:
        return out
    seen = set()
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
            header, message = _messages(check, r, parsed)
        key = (r["row"], header, message)
        if key not in seen:
            seen.add(key)
            out.append(parsed.at(r["row"], header, message))
    return out


# ------------------------------------------------------------------------------------------------- diffing


def _show(level: pl.Expr, is_na: pl.Expr) -> pl.Expr:
    return (pl.when(is_na).then(pl.lit("N/A")).when(level.is_null()).then(pl.lit("(no answer)"))
            .otherwise(pl.format("level {}", level)))


def _side(df: pl.DataFrame, suffix: str, extra: dict[str, pl.Expr]) -> pl.DataFrame:
    """Stored answers (current or as generated) keyed by unit and question, COMPARED columns suffixed."""
    types = answer_rules.STORED_SCHEMA
    schema = pl.Schema({"unit_id": pl.String(), "question_id": pl.String(), "event_id": pl.Int64(),
                        "answered_by": pl.String(), "answered_at": pl.Datetime("us"), **types})
    if df.height == 0:
        df = pl.DataFrame(schema=schema)
    return df.select(pl.col("unit_id").cast(pl.String), pl.col("question_id").cast(pl.String),
                     *[e.alias(k) for k, e in extra.items()],
                     *[pl.col(c).cast(types[c]).alias(f"{c}{suffix}") for c in answer_rules.COMPARED])


def _diff(rows: pl.DataFrame, current: pl.DataFrame, base: pl.DataFrame) -> pl.DataFrame:
    """Per row: new, changed, unchanged or conflict (set-based, with answer_rules' "did this answer change").

    A row whose answer changed in the database after the file was generated is a conflict only if the file
    changed it too; a row the file left as generated keeps the newer answer (unchanged, nothing written).
    """
    new = answer_rules.stored(rows.select("row", "unit_id", "question_id", "base_event_id",
                                          *answer_rules.COMPARED)).with_columns(rows["base_event_id"])
    cur = _side(current, "_cur", {"current_event_id": pl.col("event_id").cast(pl.Int64),
                                  "current_by": pl.col("answered_by").cast(pl.String),
                                  "current_at": pl.col("answered_at").cast(pl.Datetime("us"))})
    gen = _side(base, "_gen", {"base_event_id": pl.col("event_id").cast(pl.Int64)})
    j = (new.join(cur, on=["unit_id", "question_id"], how="left")
         .join(gen, on=["unit_id", "question_id", "base_event_id"], how="left")
         .with_columns(pl.col("is_na_cur").fill_null(False), pl.col("is_na_gen").fill_null(False)))
    differs = answer_rules.differs("_cur")
    same = answer_rules.same("_cur")
    untouched = answer_rules.same("_gen")
    moved_on = ~pl.col("current_event_id").eq_missing(pl.col("base_event_id"))
    action = (pl.when(same).then(pl.lit("unchanged"))
              .when(~moved_on)
              .then(pl.when(pl.col("current_event_id").is_null()).then(pl.lit("new")).otherwise(pl.lit("changed")))
              .when(untouched).then(pl.lit("unchanged"))
              .otherwise(pl.lit("conflict")))
    fields = pl.concat_str([pl.when(d).then(pl.lit(c)) for c, d in differs.items()], separator=", ",
                           ignore_nulls=True)
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


def _changing(diff: pl.DataFrame) -> pl.DataFrame:
    """Per unit whose answers would change: its first such row and how many rows change (unit_id, row, n)."""
    changing = diff.filter(pl.col("action").is_in(["new", "changed"]))
    return changing.group_by("unit_id").agg(pl.col("row").min().alias("row"), pl.len().alias("n")).sort("row")


def _unit_checks(diff: pl.DataFrame, ctx: _Context) -> list[Problem]:
    """The units whose answers would change must be editable (answer_rules.not_editable)."""
    per_unit = _changing(diff)
    if per_unit.height == 0:
        return []
    camp = ctx.campaign or {}
    states = per_unit.join(ctx.units.select("unit_id", "status"), on="unit_id", how="left")
    refused = answer_rules.not_editable(camp.get("campaign_id", ""), camp.get("status"), states)
    if refused.height and refused["unit_id"][0] is None:  # the whole campaign: one problem
        return [Problem(ANSWERS_SHEET, cast(int | None, per_unit["row"].min()), None,
                        f"{refused['message'][0]} ({per_unit['n'].sum()} row(s) would change)")]
    return [Problem(ANSWERS_SHEET, row, None, f"{message} ({n} row(s) would change)")
            for row, n, message in per_unit.join(refused, on="unit_id").sort("row")
            .select("row", "n", "message").iter_rows()]


def _answer_checks(actor: Actor, diff: pl.DataFrame) -> list[Problem]:
    """Changing a unit's answers needs the answer permission for that unit, whatever channel: import only
    lets a file be checked and committed (issue 13 item 12)."""
    role = access.ROLE_LABELS.get(actor.role, actor.role)
    return [Problem(ANSWERS_SHEET, row, None,
                    f"{actor.username} ({role}) may import files but may not answer for unit {unit_id}: changing "
                    f"its answers needs the answer permission for the unit (its department head or an "
                    f"administrator); {n} row(s) would change")
            for unit_id, row, n in _changing(diff).iter_rows() if not access.allowed(actor, "answer", unit_id)]


def _access_checks(actor: Actor, parsed: _Parsed) -> list[Problem]:
    out: list[Problem] = []
    if parsed.rows.height == 0:
        return out
    first = parsed.rows.filter(pl.col("unit_id").is_not_null()).group_by("unit_id").agg(pl.col("row").min())
    for unit_id, row in first.sort("row").iter_rows():
        if not access.allowed(actor, "import", unit_id):
            out.append(parsed.at(row, ID_UNIT,
                                 f"{actor.username} ({access.ROLE_LABELS.get(actor.role, actor.role)}) may not "
                                 f"import answers for unit {unit_id}"))
    return out


# ---------------------------------------------------------------------------------------------- the API


def _open(source: str | Path | BinaryIO | bytes, file: str | None, limits: Limits | None
          ) -> tuple[ImportResult, _Parsed | None]:
    name = file or (Path(source).name if isinstance(source, str | Path) else "upload.xlsx")
    result = ImportResult(name)
    try:
        checked = check_workbook(source, name, limits, skip=UNREAD_SHEETS)
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


def _analyse(cur, actor: Actor, parsed: _Parsed, result: ImportResult, today: date
             ) -> tuple[ImportResult, _Context]:
    ctx = _read_context(cur, parsed)
    problems = _file_checks(parsed, ctx) + _access_checks(actor, parsed)
    if ctx.questionnaire is not None and parsed.rows.height:
        problems += _validate(ctx.questionnaire, parsed, ctx, today)
    result.problems.extend(problems)
    result.problems.sort(key=lambda p: (p.sheet != FILE, p.sheet, p.row or 0, p.column or ""))
    if result.problems:
        return result, ctx
    result.diff = _diff(parsed.rows, ctx.current, ctx.base).select(list(DIFF_SCHEMA))
    result.problems.extend(_unit_checks(result.diff, ctx) + _answer_checks(actor, result.diff))
    return result, ctx


def analyse(db: Database, actor: Actor, source: str | Path | BinaryIO | bytes, file: str | None = None,
            today: date | None = None, limits: Limits | None = None) -> ImportResult:
    """Dry run: every problem, or the diff of what commit would write. Writes nothing."""
    access.require(actor, "import")
    result, parsed = _open(source, file, limits)
    if parsed is None or (parsed.problems and parsed.rows.height == 0):
        return result
    with db.read() as cur:
        return _analyse(cur, actor, parsed, result, today or clock.today())[0]


def commit(db: Database, actor: Actor, source: str | Path | BinaryIO | bytes, file: str | None = None,
           today: date | None = None, exclude_conflicts: bool = False, limits: Limits | None = None) -> ImportResult:
    """Write every new and changed answer of the file in ONE transaction, or nothing at all.

    Refuses (result.problems, nothing written) on any problem, and on conflicts unless exclude_conflicts is
    set, in which case the conflicting rows are left out (and counted) and never overwritten. The answers go
    through workflow.append_answers, the page's write path.
    """
    access.require(actor, "import")
    opened, parsed = _open(source, file, limits)
    if parsed is None or (parsed.problems and parsed.rows.height == 0):
        return opened
    today = today or clock.today()

    def work(cur) -> ImportResult:
        result = ImportResult(opened.file, opened.sha256, opened.size, opened.kind, opened.campaign_id,
                              opened.template_id, list(opened.problems))
        _, ctx = _analyse(cur, actor, parsed, result, today)
        if result.problems:
            raise ImportRefused(result)
        conflicts = result.diff.filter(pl.col("action") == "conflict")
        if conflicts.height and not exclude_conflicts:
            result.problems.extend(
                parsed.at(r["row"], COL_LEVEL,
                          f"conflict: {r['unit_id']}/{r['question_id']} was changed to {r['before']} by "
                          f"{r['current_by']} at {r['current_at']:%Y-%m-%d %H:%M} UTC after this file was generated; "
                          "it is not overwritten (download a new file, or leave the conflicting rows out)")
                for r in conflicts.iter_rows(named=True))
            raise ImportRefused(result)
        result.excluded_conflicts = conflicts.height
        changed = result.diff.filter(pl.col("action").is_in(["new", "changed"]))
        result.written = _write(cur, actor, parsed, ctx, changed)
        if result.written:
            audit.record(cur, actor, "excel.import", "campaign", parsed.meta["campaign_id"],
                         after=_summary(result, changed))
        result.committed = True
        return result

    try:
        return db.transaction(work)
    except ImportRefused as refused:
        return refused.result


def _write(cur, actor: Actor, parsed: _Parsed, ctx: _Context, changed: pl.DataFrame) -> int:
    """Append the changed rows of every unit through workflow.append_answers; the number of answers written."""
    if changed.height == 0:
        return 0
    rows = answer_rules.stored(changed.select("row", "unit_id", "question_id")
                               .join(parsed.rows, on=["row", "unit_id", "question_id"], how="left"))
    done = workflow.append_answers(cur, actor, parsed.meta["campaign_id"], rows.drop("row"), source="excel",
                                   current=ctx.current)
    return done.saved


def _summary(result: ImportResult, changed: pl.DataFrame) -> dict:
    """The import's own audit entry: the file and the counts (each unit's answers are in its answers.save)."""
    s = result.summary
    return {"file": result.file, "sha256": result.sha256, "bytes": result.size, "kind": result.kind,
            "template_id": result.template_id, "new": s["new"], "changed": s["changed"],
            "unchanged": s["unchanged"], "conflicts_left_out": result.excluded_conflicts,
            "units": dict(changed.group_by("unit_id").len().sort("unit_id").iter_rows())}
