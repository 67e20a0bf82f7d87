"""The auditor pack: one formatted workbook per campaign (optionally one division or unit), written by
xlsxwriter (in memory when small, in constant-memory mode when large). Every value read from the database is
written with a typed call (write_string / write_number / write_datetime, or its column-wise equivalent in
excel.rows), never the guessing write(), and all user text goes through safety.literal_text, so no cell can
ever hold a formula.

The Answers sheet doubles as an import source: hidden id columns and the hidden _meta/_ids sheets (the same
layout the offline template uses, see format) let the importer match every row by id and detect later changes.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
import xlsxwriter

from .. import __version__, access, audit, clock, parallel, reports, reuse, review_pack, services, standards_view
from ..catalog import campaign_questionnaire, campaign_row
from ..errors import NotFound, ValidationError
from ..model import Actor, Questionnaire
from ..review_pack import ReviewPack
from ..storage import Database
from ..storage import exports as exports_sql
from . import rows as fast_rows
from . import standards_sheet
from .format import (
    ACTIONS_SHEET,
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
    ID_EVENT,
    ID_FORMAT,
    ID_QUESTION,
    ID_UNIT,
    IDS_HEADER,
    IDS_SHEET,
    META_SHEET,
    NA,
    PACK_KIND,
    generated_now,
    manifest_digest,  # noqa: F401 - callers take it from here too
    manifest_digest_frame,
    meta_rows,
)
from .safety import cell_text

EXCEL_ROWS = 1_048_576
AUDIT_LIMIT = 200_000
# Packs with at most this many table rows are assembled in memory (write_pack): no temporary file per sheet,
# but every cell goes through xlsxwriter's per-cell path. Above it, constant memory lets excel.rows render whole
# columns. Measured on the benchmark's S organisation: a 2-unit pack (778 rows) 109 ms in memory against 167 ms,
# 10 units (3,037 rows) 286 against 281, the whole S pack (5,646 rows) 483 against 349.
IN_MEMORY_ROWS = 3_000


def references_text(q: Questionnaire, standards: dict | None = None) -> dict[str, str]:
    """Question id -> "ISO22301 5.2 (topic); DORA Art.11(1)" with clause topics when the catalogue knows them."""
    standards = standards if standards is not None else _standards(q)
    out = {}
    for x in q.questions:
        parts = []
        for r in x.references:
            topic = standards.get(r.standard, {}).get("clauses", {}).get(r.clause)
            parts.append(f"{r.standard} {r.clause}" + (f" ({topic})" if topic else ""))
        out[x.id] = "; ".join(parts)
    return out


def _standards(q: Questionnaire) -> dict:
    try:  # stored versions are parsed without the catalogue; the shipped one gives clause topics
        return standards_view.catalogue(q)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


# ------------------------------------------------------------------------------------------------ writing


@dataclass(frozen=True)
class Col:
    header: str
    key: str
    kind: str = "text"      # text, int, float, date, datetime, bool, level, id
    width: float = 14
    hidden: bool = False


class Formats:
    def __init__(self, wb: xlsxwriter.Workbook):
        self.header = wb.add_format({"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E79",
                                     "text_wrap": True, "valign": "top", "border": 1})
        self.date = wb.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        self.float = wb.add_format({"num_format": "0.00"})
        self.int = wb.add_format({"num_format": "0"})
        self.text = wb.add_format({"num_format": "@"})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        self.key = wb.add_format({"bold": True, "valign": "top"})
        self.title = wb.add_format({"bold": True, "font_size": 14, "font_color": "#1F4E79"})
        self.bad = wb.add_format({"bg_color": "#F8CBAD", "font_color": "#9C0006"})
        self.warn = wb.add_format({"bg_color": "#FFEB9C", "font_color": "#9C5700"})
        self.good = wb.add_format({"bg_color": "#C6EFCE", "font_color": "#006100"})


def write_text(ws, r: int, c: int, text: str, fmt: Any = None) -> Any:
    """write_string, except for text shaped "<r>...</r>": xlsxwriter's constant-memory mode writes that as raw
    rich-text XML, which would let user text close its cell and add one holding a formula. As a rich string of
    three plain fragments it is escaped like any text and reads back as the same string."""
    if text.startswith("<r>") and text.endswith("</r>"):
        return ws.write_rich_string(r, c, text[:1], text[1:2], text[2:], *([fmt] if fmt is not None else []))
    return ws.write_string(r, c, text, fmt)


def _writer(ws, f: Formats, kind: str) -> Callable[[int, int, Any], Any]:
    if kind in ("text", "id"):
        return lambda r, c, v: write_text(ws, r, c, cell_text(v) if kind == "text" else str(v))
    if kind == "int":
        return lambda r, c, v: ws.write_number(r, c, int(v), f.int)
    if kind == "float":
        return lambda r, c, v: ws.write_number(r, c, float(v), f.float)
    if kind == "date":
        return lambda r, c, v: ws.write_datetime(r, c, datetime.combine(v, time()), f.date)
    if kind == "datetime":
        return lambda r, c, v: ws.write_datetime(r, c, v, f.datetime)
    if kind == "bool":
        return lambda r, c, v: ws.write_string(r, c, "yes" if v else "no")
    if kind == "level":
        return lambda r, c, v: ws.write_string(r, c, NA) if v == NA else ws.write_number(r, c, int(v))
    raise ValueError(kind)


def _style(f: Formats, kind: str) -> Any:
    """The style _writer's cells of a kind carry: their explicit format, else the column's (write_table)."""
    return {"text": f.text, "id": f.text, "int": f.int, "float": f.float, "date": f.date,
            "datetime": f.datetime}.get(kind)


def write_table(wb: xlsxwriter.Workbook, f: Formats, name: str, cols: list[Col],
                df: pl.DataFrame | Iterable[pl.DataFrame], freeze_cols: int = 0, gap_cols: tuple[str, ...] = (),
                overdue_cols: tuple[str, ...] = (), hide: bool = False) -> int:
    """One sheet: styled frozen header, autofilter, widths, typed cells row by row (constant memory).

    df is a frame, or frames of consecutive rows (a sheet streamed from the database batch by batch: each
    is written and dropped before the next is read). Returns the rows written."""
    if isinstance(df, pl.DataFrame):
        _check_fits(name, df.height)
        parts: Iterable[pl.DataFrame] = (df,)
    else:
        parts = df
    ws = wb.add_worksheet(name)
    for c, col in enumerate(cols):
        fmt = f.text if col.kind in ("text", "id") else None
        ws.set_column(c, c, col.width, fmt, {"hidden": True} if col.hidden else None)
    ws.set_row(0, 30)
    for c, col in enumerate(cols):
        ws.write_string(0, c, col.header, f.header)
    ws.freeze_panes(1, freeze_cols)
    kinds = [col.kind for col in cols]
    styles = [_style(f, kind) for kind in kinds]
    n = 0
    for part in parts:
        _check_fits(name, n + part.height)
        _write_rows(ws, f, cols, kinds, styles, part, n + 1)
        n += part.height
    # The filter and the rules are kept by xlsxwriter and written when the sheet is closed: set after the
    # rows, when their number is known.
    last = max(n, 1)
    ws.autofilter(0, 0, last, len(cols) - 1)
    if n:  # an empty sheet has no cells to colour
        for header in gap_cols:
            c = next(i for i, col in enumerate(cols) if col.header == header)
            ws.conditional_format(1, c, last, c, {"type": "cell", "criteria": ">", "value": 1, "format": f.bad})
            ws.conditional_format(1, c, last, c, {"type": "cell", "criteria": "between", "minimum": 0.0001,
                                                  "maximum": 1, "format": f.warn})
            ws.conditional_format(1, c, last, c, {"type": "cell", "criteria": "<=", "value": 0, "format": f.good})
        for header in overdue_cols:
            c = next(i for i, col in enumerate(cols) if col.header == header)
            ws.conditional_format(1, c, last, c, {"type": "cell", "criteria": "<", "value": 0, "format": f.bad})
            ws.conditional_format(1, c, last, c, {"type": "cell", "criteria": "between", "minimum": 0,
                                                  "maximum": 30, "format": f.warn})
    if hide:
        ws.hide()
    return n


def _check_fits(name: str, rows: int) -> None:
    if rows + 1 > EXCEL_ROWS:
        raise ValidationError([f"{name}: {rows:,} rows do not fit in one Excel sheet; filter by division "
                               "or unit"], "auditor pack")


def _write_rows(ws, f: Formats, cols: list[Col], kinds: list[str], styles: list, df: pl.DataFrame,
                first_row: int) -> None:
    """df's rows from first_row on: column-wise (excel.rows) when it applies, else cell by cell."""
    if df.height == 0:
        return
    picked = df.select([pl.col(col.key).alias(f"c{i}") for i, col in enumerate(cols)])
    if fast_rows.supported(ws, picked, kinds):  # the same cells, rendered column-wise (excel.rows)
        fast_rows.write(ws, picked, kinds, styles, first_row)
        return
    writers = [_writer(ws, f, col.kind) for col in cols]
    for r, row in enumerate(picked.iter_rows(), start=first_row):
        for c, v in enumerate(row):
            if v is not None and v == v:  # skip nulls and NaN
                writers[c](r, c, v)


def write_key_values(wb: xlsxwriter.Workbook, f: Formats, name: str, title: str | None,
                     rows: list[tuple[str, Any]], hide: bool = False) -> None:
    """A two-column sheet of (key, value) rows, each value written with its typed call."""
    _key_values(wb.add_worksheet(name), f, title, rows, hide)


def _key_values(ws, f: Formats, title: str | None, rows: list[tuple[str, Any]], hide: bool = False) -> None:
    ws.set_column(0, 0, 32)
    ws.set_column(1, 1, 90, f.wrap)
    r = 0
    if title:
        ws.write_string(0, 0, title, f.title)
        r = 2
    for key, value in rows:
        write_text(ws, r, 0, key, f.key)
        if value is None:
            pass
        elif isinstance(value, bool):
            ws.write_string(r, 1, "yes" if value else "no")
        elif isinstance(value, int | float):
            ws.write_number(r, 1, value)
        elif isinstance(value, datetime):
            ws.write_datetime(r, 1, value, f.datetime)
        elif isinstance(value, date):
            ws.write_datetime(r, 1, datetime.combine(value, time()), f.date)
        else:
            write_text(ws, r, 1, cell_text(value))
        r += 1
    if hide:
        ws.hide()


# --------------------------------------------------------------------------------------------- the sheets

ANSWER_COLS = [
    Col(COL_UNIT, "unit_id", width=12), Col("Unit", "unit", width=24), Col("Division", "division", width=20),
    Col("Tier", "tier", "int", 6), Col("Assessment status", "assessment_status", width=12),
    Col(COL_QUESTION, "question_id", width=10), Col("Domain", "domain", width=22),
    Col("Question", "question", width=50), Col(COL_LEVEL, "level_cell", "level", 8),
    Col(COL_REASON, "na_reason", width=28), Col(COL_EVIDENCE, "evidence", width=36),
    Col(COL_URL, "evidence_url", width=30), Col(COL_DATE, "evidence_date", "date", 12),
    Col(COL_COMMENT, "comment", width=30), Col("Answered by", "answered_by", width=16),
    Col("Answered at (UTC)", "answered_at", "datetime", 17), Col("Score after rules", "score", "float", 9),
    Col("Score status", "score_status", width=10), Col("Target", "target", "float", 8),
    Col("Gap", "gap", "float", 8), Col("Priority", "priority", "float", 9),
    Col("Explanation", "explanation", width=60),
    Col(ID_CAMPAIGN, "id_campaign", "id", 10, True), Col(ID_UNIT, "unit_id", "id", 10, True),
    Col(ID_QUESTION, "question_id", "id", 10, True), Col(ID_EVENT, "id_event", "id", 10, True),
    Col(ID_FORMAT, "id_format", "id", 6, True),
]
SCORE_COLS = [
    Col("Division", "division", width=20), Col(COL_UNIT, "unit_id", width=12), Col("Unit", "unit", width=24),
    Col("Tier", "tier", "int", 6), Col("Assessment status", "assessment_status", width=12),
    Col("Domain ID", "domain_id", width=9), Col("Domain", "domain", width=26),
    Col("Domain score", "score", "float", 9), Col("Target", "target", "float", 8), Col("Gap", "gap", "float", 8),
    Col("Priority", "priority", "float", 9), Col("Answered", "answered", "int", 9), Col("N/A", "na", "int", 6),
    Col("Capped", "capped", "int", 8), Col("Unit score", "unit_score", "float", 9),
    Col("Unit target", "unit_target", "float", 9), Col("Unit gap", "unit_gap", "float", 9),
    Col("Unit band", "unit_band", width=11), Col("Scored at (UTC)", "scored_at", "datetime", 17),
]
GAP_COLS = [
    Col("Rank", "rank", "int", 6), Col("Priority", "priority", "float", 9), Col("Gap", "gap", "float", 8),
    Col("Division", "division", width=20), Col(COL_UNIT, "unit_id", width=12), Col("Unit", "unit", width=24),
    Col("Tier", "tier", "int", 6), Col(COL_QUESTION, "question_id", width=10), Col("Domain", "domain", width=22),
    Col("Question", "question", width=50), Col(COL_LEVEL, "level_cell", "level", 8),
    Col("Score after rules", "score", "float", 9), Col("Target", "target", "float", 8),
    Col("Score status", "score_status", width=10), Col("Explanation", "explanation", width=60),
]
DEADLINE_COLS = [
    Col("Bucket", "bucket", width=16), Col("Days left", "days_left", "int", 9), Col("Due on", "due_on", "date", 12),
    Col("Kind", "kind", width=16), Col("Division", "division", width=20), Col(COL_UNIT, "unit_id", width=12),
    Col("Unit", "unit", width=24), Col("Tier", "tier", "int", 6), Col("Item", "item", width=50),
    Col("Owner", "owner", width=18), Col("Since", "since", "date", 12),
]
TREND_COLS = [
    Col("Level", "level", width=13), Col("Series", "series", width=26), Col("Campaign ID", "campaign_id", width=12),
    Col("Campaign", "campaign", width=32), Col("Opens on", "opens_on", "date", 12),
    Col("Score", "score", "float", 8), Col("Target", "target", "float", 8), Col("Gap", "gap", "float", 8),
    Col("Units scored", "units", "int", 8),
]
AUDIT_COLS = [
    Col("Seq", "seq", "int", 8), Col("Logged at (UTC)", "logged_at", "datetime", 17), Col("Actor", "actor", width=18),
    Col("Source", "source", width=9), Col("Action", "action", width=20), Col("Object type", "object_type", width=12),
    Col("Object ID", "object_id", width=22), Col("Before", "before_json", width=40),
    Col("After", "after_json", width=40), Col("Hash", "hash", width=66),
]


def _questionnaire_frame(q: Questionnaire) -> tuple[list[Col], pl.DataFrame]:
    refs = references_text(q)
    checklist = {c.id: c.text for c in q.checklist}
    rows = []
    for d in q.domains:
        for x in d.questions:
            row = {"domain_id": d.id, "domain": d.name, "domain_weight": d.weight, "question_id": x.id,
                   "question": x.text, "guidance": x.guidance, "weight": x.weight, "na_allowed": x.na_allowed,
                   "evidence": x.evidence, "checklist": "; ".join(f"{c} {checklist.get(c, '')}".strip()
                                                                 for c in x.checklist),
                   "references": refs[x.id]}
            for i, text in enumerate(x.levels):
                row[f"level_{i}"] = text
            rows.append(row)
    cols = [Col("Domain ID", "domain_id", width=9), Col("Domain", "domain", width=24),
            Col("Domain weight", "domain_weight", "float", 8), Col(COL_QUESTION, "question_id", width=10),
            Col("Question", "question", width=50), Col("Guidance", "guidance", width=40),
            Col("Weight", "weight", "float", 8), Col("N/A allowed", "na_allowed", "bool", 8),
            Col("Evidence expected", "evidence", width=36)]
    cols += [Col(f"Level {lv.level} - {lv.name}", f"level_{lv.level}", width=30) for lv in q.scale]
    cols += [Col("Checklist items", "checklist", width=40), Col("Standard references", "references", width=50)]
    return cols, pl.DataFrame(rows)


def _level_cell() -> pl.Expr:
    return (pl.when(pl.col("is_na")).then(pl.lit(NA))
            .otherwise(pl.col("level").cast(pl.String)).alias("level_cell"))


@dataclass(frozen=True)
class PackResult:
    sheets: dict[str, int]      # sheet -> data rows
    digest: str
    filename: str


BATCH_ROWS = 10_000  # answer rows read from the database at a time (the Answers and Gaps sheets stream)


@dataclass(frozen=True)
class Streamed:
    """A sheet's rows read from the database batch by batch while the sheet is written, never all held:
    read(cursor) yields frames of consecutive rows; about: the rows expected (sizing and progress only)."""

    read: Callable[[Any], Iterator[pl.DataFrame]]
    about: int


@dataclass(frozen=True)
class PackData:
    """What an auditor pack shows, read before any cell is written (gather), in the pack's terms; the answer
    rows (the Answers, Gaps and _ids sheets, the digest) are only described here and streamed by write_pack."""

    campaign: dict
    questionnaire: Questionnaire
    actor: Actor
    filters: reports.Filters | None
    generated: datetime
    db: Database
    scope: reports.Scope
    answer_rows: int                # units x questions in scope: what the Answers sheet will hold
    domains: pl.DataFrame
    deadlines: pl.DataFrame
    trends: pl.DataFrame
    audit_log: pl.DataFrame | None  # None when the actor may not read the audit trail
    audit_head: tuple[int, str]
    checkpoint: str | None = None   # the latest signed audit checkpoint, as text (audit.latest_checkpoint)
    review: ReviewPack | None = None  # the management-review figures (review_sheets), when the actor may read them
    records: tuple = ()             # the continuity-record sheets (records_sheets.record_tables)
    records_as_of: datetime | None = None
    standards: standards_view.StandardsView | None = None  # the Standards sheet
    actions: pl.DataFrame | None = None  # the Actions sheet (excel.actions_sheet.rows)

    @property
    def campaign_id(self) -> str:
        return self.campaign["campaign_id"]

    def tables(self) -> list[tuple[str, list[Col], pl.DataFrame | Streamed, dict]]:
        """(sheet, columns, rows, write_table options) of every table sheet, in order (built once)."""
        return self._tables

    @functools.cached_property
    def _tables(self) -> list[tuple[str, list[Col], pl.DataFrame | Streamed, dict]]:
        q_cols, q_frame = _questionnaire_frame(self.questionnaire)
        cid, scope = self.campaign_id, self.scope
        tables: list[tuple[str, list[Col], pl.DataFrame | Streamed, dict]]
        tables = [
            ("Scores", SCORE_COLS, self.domains, {"freeze_cols": 3, "gap_cols": ("Gap", "Unit gap")}),
            (ANSWERS_SHEET, ANSWER_COLS,
             Streamed(lambda cur: exports_sql.answer_batches(cur, cid, scope, BATCH_ROWS), self.answer_rows),
             {"freeze_cols": 1, "gap_cols": ("Gap",)}),
            ("Gaps", GAP_COLS,
             Streamed(lambda cur: exports_sql.gap_batches(cur, cid, scope, BATCH_ROWS), self.answer_rows),
             {"freeze_cols": 1, "gap_cols": ("Gap",)}),
            ("Deadlines", DEADLINE_COLS, self.deadlines, {"freeze_cols": 1, "overdue_cols": ("Days left",)}),
            ("Trends", TREND_COLS, self.trends, {"freeze_cols": 2, "gap_cols": ("Gap",)}),
            ("Questionnaire", q_cols, q_frame, {"freeze_cols": 4}),
            *self.records,
        ]
        if self.standards is not None:
            tables.append((standards_sheet.SHEET, [Col(*c) for c in standards_sheet.columns()],
                           standards_sheet.rows(self.standards), {"freeze_cols": 3}))
        if self.actions is not None:
            from .actions_sheet import ACTION_COLS, SHEET_OPTIONS  # it builds on this module's writers

            tables.append((ACTIONS_SHEET, ACTION_COLS, self.actions, SHEET_OPTIONS))
        if self.audit_log is not None:
            tables.append(("Audit log", AUDIT_COLS, self.audit_log, {"freeze_cols": 1}))
        if self.review is not None:
            from . import review_sheets

            tables += review_sheets.tables(self.review)
        return tables


@dataclass
class Written:
    """What writing the pack learnt from the streamed rows: each sheet's rows, the units and divisions of the
    answers, the digest of their ids."""

    counts: dict[str, int]
    units: pl.DataFrame   # unit_id, division (one row per unit)
    digest: str


Progress = Callable[[float, str], None]
"""progress(fraction done 0..1, what is being done): how a long pack build reports its steps (the UI shows a bar)."""


def _no_progress(done: float, step: str) -> None:
    return None


def gather(db: Database, actor: Actor, campaign_id: str, filters: reports.Filters | None = None,
           today: date | None = None, progress: Progress | None = None) -> PackData:
    """Read what the pack of a campaign shows, within the actor's scope."""
    report = progress or _no_progress
    access.require(actor, "export")
    report(0.0, "Reading the answers, scores, audit log, review figures, continuity records, standards "
                "and actions")
    today = today or clock.today()
    generated = generated_now()
    camp = campaign_row(db, campaign_id)
    if camp is None:
        raise NotFound(f"unknown campaign {campaign_id!r}")
    q = campaign_questionnaire(db, campaign_id)
    scope = reports.scope_for(actor, filters)
    as_of = services.cycle_as_of(db, campaign_id)
    from .actions_sheet import rows as action_rows  # it builds on this module's writers
    from .records_sheets import record_tables  # it builds on this module's Col

    def domain_rows() -> pl.DataFrame:
        with db.read() as cur:
            return exports_sql.domain_rows(cur, campaign_id, scope)

    def trend_rows() -> pl.DataFrame:
        with db.read() as cur:
            return exports_sql.trend_rows(cur, scope).with_columns((pl.col("target") - pl.col("score")).alias("gap"))

    def audit_trail() -> tuple[pl.DataFrame | None, str | None, tuple]:
        log = None
        if access.allowed(actor, "read_audit"):
            log = (audit.entries_about(db, actor, scope, limit=AUDIT_LIMIT) if _narrowed(filters)
                   else audit.entries(db, actor, limit=AUDIT_LIMIT)).sort("seq")
        cp = audit.latest_checkpoint(db)
        return log, cp.text() if cp else None, audit.head(db)  # the head after the log: it covers every entry

    # Independent reads, side by side (each is mostly a query's fixed cost); the review figures and the record
    # sheets share theirs through reuse.one_build.
    domains, trends, (audit_log, checkpoint, head), review, records, deadlines, standards, action_table = \
        parallel.run(
            domain_rows, trend_rows, audit_trail,
            lambda: review_pack.gather(db, actor, campaign_id, filters)
            if access.allowed(actor, "review_pack") else None,
            lambda: tuple(record_tables(db, actor, filters, as_of, min(today, as_of.date()))),
            lambda: reports.deadlines(db, actor, campaign_id, filters, today),
            lambda: standards_view.view(db, actor, campaign_id, filters),
            lambda: action_rows(db, actor, filters, today))
    answer_rows = domains["unit_id"].n_unique() * len(q.questions)
    return PackData(camp, q, actor, filters, generated, db, scope, answer_rows, domains, deadlines, trends,
                    audit_log, head, checkpoint, review=review, records=records, records_as_of=as_of,
                    standards=standards, actions=action_table)


def about_rows(data: PackData, written: Written) -> list[tuple[str, Any]]:
    """The About sheet: what the pack covers, who made it when, how to verify and re-import it."""
    camp, q, actor = data.campaign, data.questionnaire, data.actor
    head_seq, head_hash = data.audit_head
    units = written.units
    rows: list[tuple[str, Any]] = [
        ("Document", "ITSCM maturity assessment - auditor pack"),
        ("Organisation", f"{units['unit_id'].n_unique()} business unit(s) in {units['division'].n_unique()} "
                         f"division(s): {', '.join(sorted(units['division'].unique().to_list()))}"),
        ("Scope", _scope_text(data.filters, actor)),
        ("Campaign", f"{data.campaign_id} - {camp['name']}"),
        ("Campaign status", camp["status"]),
        ("Opens on", camp["opens_on"]), ("Due on", camp["due_on"]), ("Closes on", camp["closes_on"]),
        ("Generated at (UTC)", data.generated),
        ("Generated by", f"{actor.username} ({access.ROLE_LABELS.get(actor.role, actor.role)})"),
        ("Application version", f"itscm {__version__}"),
        ("Questionnaire", f"{q.id} {q.title}"),
        ("Questionnaire version", q.version),
        ("Questionnaire content hash (SHA-256)", q.content_hash),
        ("Audit log head sequence", head_seq),
        ("Audit log head hash (SHA-256)", head_hash),
        ("Verify the audit trail", f"itscm audit verify --expected-head {head_hash}"),
        ("Latest audit checkpoint (HMAC-signed; check it with itscm audit verify --checkpoint '<this text>')",
         data.checkpoint or "none yet"),
        ("Scores", "Persisted at submission, as of the submission date, with the questionnaire's evidence rule; "
                   "draft assessments have no score yet."),
        ("Literal text", "Text that begins with = + - @, a tab or a line break is shown with a leading "
                         "apostrophe: it is data, never a formula."),
        ("Continuity records", f"The service register as it stood on {data.records_as_of:%Y-%m-%d %H:%M} UTC "
                               "(a closed cycle's close date; now while a cycle is open), with the exercises and "
                               "incidents over RTO of the 12 months before it." if data.records_as_of
         else "not included"),
        ("Re-import", "The Answers sheet can be imported back (hidden id columns match every row); rows that "
                      "changed in the application after this export are reported as conflicts."),
    ]
    rows += [(f"Sheet: {name}", f"{n} row(s)") for name, n in written.counts.items()]
    if data.standards is not None:
        rows.append(standards_sheet.about(data.standards))
    if data.audit_log is None:
        rows.append(("Sheet: Audit log", "omitted: your role may not read the audit trail"))
    elif _narrowed(data.filters):
        rows.append(("Audit log scope", "the entries about the units in this pack only (their assessments, "
                     "services, exercises and incidents); the head above verifies the whole trail"))
    if data.audit_log is not None and data.audit_log.height >= AUDIT_LIMIT:
        rows.append(("Audit log", f"only the latest {AUDIT_LIMIT:,} entries are included"))
    return rows


def _narrowed(filters: reports.Filters | None) -> bool:
    """A division's, tier's or unit's pack carries the audit entries about its units only; a whole-campaign
    pack carries the whole trail (up to AUDIT_LIMIT)."""
    return filters is not None and any(v is not None for v in (filters.division_ids, filters.tiers,
                                                               filters.unit_ids))


def _answer_batch(df: pl.DataFrame, campaign_id: str) -> pl.DataFrame:
    """The Answers sheet's computed columns of a batch of answer rows: the level cell and the hidden ids."""
    return df.with_columns(_level_cell(), pl.lit(campaign_id, pl.String).alias("id_campaign"),
                           pl.col("event_id").cast(pl.String).alias("id_event"),
                           pl.lit(FORMAT_VERSION, pl.String).alias("id_format"))


_IDS = ("unit_id", "question_id", "id_event")


def write_pack(data: PackData, out: str | Path | BinaryIO, progress: Progress | None = None) -> Written:
    """Write the workbook: About, the table sheets, then the hidden _meta and _ids sheets.

    The answer rows are read batch by batch while the Answers and Gaps sheets are written, so memory does
    not grow with the campaign: only their ids are kept (for the _ids sheet and the digest) and the units.
    The About sheet comes first but is written last, when every sheet's rows are known.

    progress (if given) hears of each sheet before it is written, with the share of rows written so far
    (from 0.3 to 0.9), then of the compression."""
    report = progress or _no_progress
    tables = data.tables()

    def size(rows: pl.DataFrame | Streamed) -> int:
        return rows.about if isinstance(rows, Streamed) else rows.height

    total = sum(size(rows) for _, _, rows, _ in tables) + data.answer_rows  # + the _ids sheet
    # A small pack is assembled in memory: no temporary file per sheet and for the zip (a third of a one-unit
    # pack's writing); a large one streams row by row (constant memory, excel.rows).
    memory = {"in_memory": True} if total <= IN_MEMORY_ROWS else {"constant_memory": True}
    wb = xlsxwriter.Workbook(out if not isinstance(out, Path) else str(out), {
        **memory, "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False, "remove_timezone": True})
    q, cid = data.questionnaire, data.campaign_id
    counts: dict[str, int] = {}
    ids: list[pl.DataFrame] = []
    units: list[pl.DataFrame] = []

    def answers(batches: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        for batch in batches:
            batch = _answer_batch(batch, cid)
            ids.append(batch.select(_IDS))
            units.append(batch.select("unit_id", "division").unique())
            yield batch

    def gaps(batches: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        rank = 1
        for batch in batches:
            yield batch.with_columns(_level_cell(), pl.int_range(rank, rank + batch.height, dtype=pl.Int64)
                                     .alias("rank"))
            rank += batch.height

    def share() -> float:
        return min(0.9, 0.3 + 0.6 * sum(counts.values()) / max(total, 1))

    try:
        wb.set_properties({"title": f"ITSCM auditor pack {cid}", "author": data.actor.username,
                           "comments": f"itscm {__version__}; questionnaire {q.policy_label}"})
        f = Formats(wb)
        about = wb.add_worksheet("About")  # first in the workbook, filled in last
        for name, cols, rows, options in tables:
            if name == "Review divisions" and data.review is not None:  # headline figures and decisions first
                from . import review_sheets

                write_key_values(wb, f, review_sheets.SUMMARY_SHEET, f"Management review - {cid}",
                                 review_sheets.summary_rows(data.review))
            if isinstance(rows, Streamed):
                report(share(), f"Writing the {name} sheet" + (f" ({rows.about:,} rows)" if name == ANSWERS_SHEET
                                                               else ""))
                wrap = answers if name == ANSWERS_SHEET else gaps
                with data.db.read() as cur:
                    counts[name] = write_table(wb, f, name, cols, wrap(rows.read(cur)), **options)
            else:
                report(share(), f"Writing the {name} sheet ({rows.height:,} rows)")
                counts[name] = write_table(wb, f, name, cols, rows, **options)
        id_frame = (pl.concat(ids) if ids else
                    pl.DataFrame(schema={"unit_id": pl.String, "question_id": pl.String, "id_event": pl.String}))
        ids.clear()
        digest = manifest_digest_frame(PACK_KIND, cid, "", id_frame)
        written = Written(counts, pl.concat(units).unique() if units else
                          pl.DataFrame(schema={"unit_id": pl.String, "division": pl.String}), digest)
        write_key_values(wb, f, META_SHEET, None, meta_rows(
            PACK_KIND, campaign_id=cid, questionnaire=q.policy_label, generated_at=data.generated,
            generated_by=data.actor.username, digest=digest), hide=True)
        report(share(), "Writing the hidden id sheet")
        write_table(wb, f, IDS_SHEET, [Col(h, k, "id") for h, k in zip(IDS_HEADER, (
            "id_campaign", "unit_id", "question_id", "id_event"))],
            id_frame.with_columns(pl.lit(cid, pl.String).alias("id_campaign")), hide=True)
        del id_frame
        _key_values(about, f, f"ITSCM auditor pack - {cid}", about_rows(data, written))
        report(0.9, "Compressing the workbook")
    finally:
        wb.close()
    report(1.0, "Done")
    return written


def auditor_pack(db: Database, actor: Actor, campaign_id: str, out: str | Path | BinaryIO,
                 filters: reports.Filters | None = None, today: date | None = None,
                 progress: Progress | None = None) -> PackResult:
    """Write the auditor pack of a campaign to out (a path or a binary stream); progress(fraction, step) hears
    of each step (reading, each sheet, compressing) as it starts."""
    with reuse.one_build():  # the review figures and the record sheets read some things alike
        data = gather(db, actor, campaign_id, filters, today, progress)
    written = write_pack(data, out, progress)
    return PackResult(written.counts, written.digest, pack_filename(campaign_id, data.generated))


def auditor_pack_bytes(db: Database, actor: Actor, campaign_id: str, filters: reports.Filters | None = None,
                       today: date | None = None, progress: Progress | None = None) -> tuple[bytes, PackResult]:
    buf = io.BytesIO()
    result = auditor_pack(db, actor, campaign_id, buf, filters, today, progress)
    return buf.getvalue(), result


def pack_filename(campaign_id: str, at: datetime) -> str:
    return f"itscm-auditor-pack-{campaign_id}-{at:%Y%m%d-%H%M}.xlsx"


def _scope_text(filters: reports.Filters | None, actor: Actor) -> str:
    parts = []
    if filters and filters.division_ids:
        parts.append("divisions " + ", ".join(filters.division_ids))
    if filters and filters.unit_ids:
        parts.append("units " + ", ".join(filters.unit_ids))
    if filters and filters.tiers:
        parts.append("tiers " + ", ".join(map(str, filters.tiers)))
    scope = "; ".join(parts) or "all units of the campaign"
    if access.readable_units(actor) is not None:
        scope += f" (limited to the units {actor.username} may read)"
    return scope
