"""The Actions sheet (in the auditor pack and in the action register workbook) and the bulk status update that
reads it back: the import's safety checks, every problem at once, a dry-run diff, all-or-nothing commit.

Owners change Status (open, in_progress, done), Closure evidence, Evidence link and Evidence date; every
other column is information. Rows are matched by Action ID and the hidden revision they were exported at: a
row whose action changed in the application since then is a conflict and is never overwritten. The checks of
each change are actions.progress_problems, the same rule as the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
import xlsxwriter

from .. import access, actions, audit, clock
from ..errors import EngineError
from ..model import Actor
from ..reports import Filters
from ..storage import Database
from ..storage import actions as actions_sql
from .export import Col, Formats, write_key_values, write_table
from .format import ACTIONS_KIND, ACTIONS_SHEET, KIND_NAMES, META_SHEET, SHEETS, generated_now, meta_rows
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
from .safety import Limits, UnsafeWorkbook, check_workbook, from_literal, from_literal_expr

COL_ID, COL_STATUS, COL_EVIDENCE, COL_URL, COL_DATE, ID_REVISION = (
    "Action ID", "Status", "Closure evidence", "Evidence link", "Evidence date", "id:revision")
EDITABLE = {"status": COL_STATUS, "evidence_text": COL_EVIDENCE, "evidence_url": COL_URL, "evidence_date": COL_DATE}
ACTION_COLS = [
    Col(COL_ID, "action_id", "id", 12), Col(COL_STATUS, "status", width=13), Col("Title", "title", width=50),
    Col("Owner", "owner", width=16), Col("Due on", "due_on", "date", 12), Col("Overdue", "overdue", "bool", 8),
    Col("Priority", "priority", "float", 9), Col("Division", "division", width=20),
    Col("Unit ID", "unit_id", width=12), Col("Unit", "unit", width=24), Col("Questions", "question_ids", width=14),
    Col("Source", "source", width=14), Col("From", "source_ref", width=12), Col("Service", "service_id", width=12),
    Col(COL_EVIDENCE, "evidence_text", width=40), Col(COL_URL, "evidence_url", width=30),
    Col(COL_DATE, "evidence_date", "date", 12), Col("Verified by", "verified_by", width=16),
    Col("Verified on", "verified_on", "date", 12), Col("Risk accepted because", "risk_reason", width=36),
    Col("Risk approver", "risk_approver", width=16), Col("Risk acceptance expires", "risk_expires_on", "date", 12),
    Col("Updated by", "updated_by", width=16), Col("Updated at (UTC)", "updated_at", "datetime", 17),
    Col(ID_REVISION, "revision_id", "id", 8, True),
]
SHEET_OPTIONS: dict[str, Any] = {"freeze_cols": 2}
CHANGES = ("changed", "unchanged", "conflict")


def rows(db: Database, actor: Actor, filters: Filters | None = None, today: date | None = None) -> pl.DataFrame:
    """The Actions sheet's rows: every action of the actor's units (any status), soonest due first."""
    return actions.list_actions(db, actor, filters, today=today).with_columns(
        pl.col("revision").cast(pl.String).alias("revision_id"))


def write_register(db: Database, actor: Actor, out: str | Path | BinaryIO, filters: Filters | None = None,
                   today: date | None = None) -> int:
    """The action register workbook (the Actions sheet and its hidden _meta) for owners to update offline."""
    access.require(actor, "read")
    data = rows(db, actor, filters, today)
    wb = xlsxwriter.Workbook(out if not isinstance(out, Path) else str(out), {
        "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False, "remove_timezone": True})
    try:
        f = Formats(wb)
        write_table(wb, f, ACTIONS_SHEET, ACTION_COLS, data, **SHEET_OPTIONS)
        write_key_values(wb, f, META_SHEET, None, meta_rows(
            ACTIONS_KIND, campaign_id="", questionnaire="", generated_at=generated_now(),
            generated_by=actor.username, digest=""), hide=True)
    finally:
        wb.close()
    return data.height


# ------------------------------------------------------------------------------------------------ import

@dataclass
class StatusImport:
    """What a bulk status update found (problems) or would do / did (diff: row, action_id, before, status,
    change)."""

    file: str
    sha256: str | None = None
    problems: list[Problem] = field(default_factory=list)
    diff: pl.DataFrame = field(default_factory=pl.DataFrame)
    committed: bool = False
    written: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> dict[str, int]:
        counts = dict(self.diff.group_by("change").len().iter_rows()) if self.diff.height else {}
        return {c: int(counts.get(c, 0)) for c in CHANGES}

    def problems_frame(self) -> pl.DataFrame:
        return problems_frame(self.problems)


class _Refused(EngineError):
    def __init__(self, result: StatusImport):
        self.result = result
        super().__init__("; ".join(str(p) for p in result.problems[:5]))


def _read(source, file: str | None, limits: Limits | None) -> tuple[StatusImport, Sheet | None, pl.DataFrame]:
    """Safety checks, then the Actions sheet as typed rows (row, action_id, revision, the editable fields)."""
    name = file or (Path(source).name if isinstance(source, str | Path) else "upload.xlsx")
    result = StatusImport(name)
    empty = pl.DataFrame()
    try:
        checked = check_workbook(source, name, limits)
        result.sha256 = checked.sha256
        reader = open_reader(checked)
        names = reader.sheet_names
        if ACTIONS_SHEET not in names or META_SHEET not in names:
            missing = [s for s in (ACTIONS_SHEET, META_SHEET) if s not in names]
            result.problems += [Problem(s, None, None, f"missing sheet {s!r}: export the action register (or "
                                                       "an auditor pack) from this application") for s in missing]
            return result, None, empty
        meta = read_sheet(reader, checked, META_SHEET, header=False).frame
        kind = next((from_literal(v or "").strip() for k, v in meta.select(meta.columns[1:3]).iter_rows()
                     if (k or "").strip() == "kind"), "")
        sheet = read_sheet(reader, checked, ACTIONS_SHEET)
    except UnsafeWorkbook as exc:
        result.problems.append(Problem(FILE, None, None, exc.reason))
        return result, None, empty
    result.problems += unexpected_sheets(checked, SHEETS.get(kind) or SHEETS[ACTIONS_KIND],
                                         KIND_NAMES.get(kind, "an action register"), f"the {ACTIONS_SHEET} sheet")
    result.problems += formula_problems(checked, {ACTIONS_SHEET: sheet})
    absent = [h for h in (COL_ID, *EDITABLE.values(), ID_REVISION) if h not in sheet.frame.columns]
    result.problems += [sheet.at(sheet.header_row, h, f"missing column {h!r}") for h in absent]
    if absent:
        return result, sheet, empty
    clean = {k: from_literal_expr(pl.col(h)).str.strip_chars().replace("", None) for k, h in EDITABLE.items()}
    df = sheet.frame.filter(pl.col(COL_ID).str.strip_chars().fill_null("") != "").select(
        "row", from_literal_expr(pl.col(COL_ID)).str.strip_chars().alias("action_id"),
        whole_number(pl.col(ID_REVISION), signed=False).alias("revision"), pl.col(ID_REVISION).alias("_rev"),
        clean["status"].str.to_lowercase().str.replace_all(" ", "_").alias("status"),
        clean["evidence_text"].alias("evidence_text"), clean["evidence_url"].alias("evidence_url"),
        clean["evidence_date"].alias("_date"),
        clean["evidence_date"].str.extract(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[ T][0-9:.]+)?$")
        .str.to_date("%Y-%m-%d", strict=False).alias("evidence_date"))
    for r in df.filter(pl.col("revision").is_null()).iter_rows(named=True):
        result.problems.append(sheet.at(r["row"], ID_REVISION, f"hidden revision {r['_rev']!r} is not a number "
                                                              "(the hidden column was edited)"))
    for r in df.filter(pl.col("_date").is_not_null() & pl.col("evidence_date").is_null()).iter_rows(named=True):
        result.problems.append(sheet.at(r["row"], COL_DATE, f"cannot read {r['_date']!r} as a date (YYYY-MM-DD)"))
    for r in df.filter(pl.col("action_id").is_duplicated()).iter_rows(named=True):
        result.problems.append(sheet.at(r["row"], COL_ID, f"{r['action_id']} is listed more than once"))
    return result, sheet, df.drop("_rev", "_date")


def _analyse(cur, actor: Actor, result: StatusImport, sheet: Sheet, df: pl.DataFrame, today: date) -> pl.DataFrame:
    """The diff against the stored actions (and its problems added to result); the rows to write."""
    stored = actions_sql.import_targets(cur, df)
    joined = df.join(stored.select("action_id", pl.col("revision").alias("stored_revision"),
                                   pl.col("status").alias("before_status"), "owner", "unit_id",
                                   pl.col("evidence_text").alias("s_text"), pl.col("evidence_url").alias("s_url"),
                                   pl.col("evidence_date").alias("s_date"), "updated_by", "updated_at"),
                     on="action_id", how="left")
    for r in joined.filter(pl.col("stored_revision").is_null()).iter_rows(named=True):
        result.problems.append(sheet.at(r["row"], COL_ID, f"unknown action {r['action_id']!r}"))
    readable = access.readable_units(actor)
    visible = pl.lit(True) if readable is None else pl.col("unit_id").is_in(list(readable))
    known = joined.filter(pl.col("stored_revision").is_not_null()).with_columns(visible.alias("visible"))
    same = lambda a, b: (pl.col(a) == pl.col(b)) | (pl.col(a).is_null() & pl.col(b).is_null())  # noqa: E731
    moved = ~same("status", "before_status")
    edited = moved | ((pl.col("status") == actions.DONE) & ~(same("evidence_text", "s_text")
                                                             & same("evidence_url", "s_url")
                                                             & (same("evidence_date", "s_date")
                                                                | pl.col("evidence_date").is_null())))
    # Rows of other units' actions (a register shared by the continuity office) count only when edited.
    for r in known.filter(~pl.col("visible") & edited).iter_rows(named=True):
        result.problems.append(sheet.at(r["row"], COL_STATUS, f"{actor.username} may not change {r['action_id']}: "
                                                              "it belongs to a unit they do not hold"))
    diff = known.filter(pl.col("visible")).with_columns(
        pl.when(~edited).then(pl.lit("unchanged")).when(pl.col("revision") != pl.col("stored_revision"))
        .then(pl.lit("conflict")).otherwise(pl.lit("changed")).alias("change"))
    result.diff = diff.select("row", "action_id", pl.col("before_status").alias("before"), "status", "change")
    for r in diff.filter(pl.col("change") == "conflict").iter_rows(named=True):
        result.problems.append(sheet.at(r["row"], COL_STATUS, f"conflict: {r['action_id']} was changed by "
                                        f"{r['updated_by']} at {r['updated_at']:%Y-%m-%d %H:%M} UTC after this file "
                                        "was exported; it is not overwritten (export the register again)"))
    changed = diff.filter(pl.col("change") == "changed")
    # A row that only re-states the status (with evidence changes on a done action) is a change too.
    checks = changed.with_columns(pl.when(moved).then(pl.col("before_status")).otherwise(pl.lit("_edit"))
                                  .alias("before_status"))
    for row, name, problem in actions.progress_problems(checks, actor, today).iter_rows():
        header = EDITABLE.get(name, COL_STATUS if name in ("status", "owner", "closed") else COL_EVIDENCE)
        result.problems.append(sheet.at(row, header, problem))
    result.problems.sort(key=lambda p: (p.sheet != FILE, p.row or 0, p.column or ""))
    return changed


def analyse(db: Database, actor: Actor, source, file: str | None = None, today: date | None = None,
            limits: Limits | None = None) -> StatusImport:
    """Dry run of a bulk status update: every problem, or the diff of what commit would write."""
    access.require(actor, "update_own_actions")
    result, sheet, df = _read(source, file, limits)
    if sheet is None or df.height == 0:
        return result
    with db.read() as cur:
        _analyse(cur, actor, result, sheet, df, today or clock.today())
    return result


def commit(db: Database, actor: Actor, source, file: str | None = None, today: date | None = None,
           limits: Limits | None = None) -> StatusImport:
    """Write every changed row in ONE transaction (history and one audit entry per action, one for the
    file), or nothing when any row has a problem or a conflict."""
    access.require(actor, "update_own_actions")
    opened, sheet, df = _read(source, file, limits)
    if sheet is None or df.height == 0:
        return opened
    day = today or clock.today()

    def work(cur) -> StatusImport:
        result = StatusImport(opened.file, opened.sha256, list(opened.problems))
        changed = _analyse(cur, actor, result, sheet, df, day)
        if result.problems:
            raise _Refused(result)
        if changed.height:
            _write(cur, actor, changed, day)
            audit.record(cur, actor, "excel.import_actions", "file", result.file, after={
                "sha256": result.sha256, **result.summary,
                "actions": changed.select("action_id", "before_status", "status").to_dicts()})
        result.written, result.committed = changed.height, True
        return result

    try:
        return db.transaction(work)
    except _Refused as refused:
        return refused.result


def _write(cur, actor: Actor, changed: pl.DataFrame, day: date) -> None:
    at = clock.now()
    done = pl.col("status") == actions.DONE
    keep = {c: pl.when(done).then(pl.col(c)).otherwise(pl.col(s)) for c, s in (
        ("evidence_text", "s_text"), ("evidence_url", "s_url"))}
    new = changed.select(
        "action_id", "status", (pl.col("stored_revision") + 1).alias("revision"), keep["evidence_text"].alias(
            "evidence_text"), keep["evidence_url"].alias("evidence_url"),
        pl.when(done).then(pl.col("evidence_date").fill_null(pl.lit(day))).otherwise(pl.col("s_date"))
        .alias("evidence_date"),
        *[pl.lit(None, dtype=actions_sql.ACTION_SCHEMA[c]).alias(c) for c in (
            "verified_by", "verified_on", "closed_on", "risk_reason", "risk_approver", "risk_expires_on")],
        pl.lit(at).alias("updated_at"), pl.lit(actor.username).alias("updated_by"))
    events = new.select("action_id", pl.col("revision").cast(pl.Int64), "status", pl.lit(at).alias("changed_at"),
                        pl.lit(actor.username).alias("changed_by"), pl.lit("Excel bulk update").alias("note"))
    actions_sql.apply_changes(cur, new, events)
    for r in changed.iter_rows(named=True):  # the audit trail keeps one entry per changed action
        audit.record(cur, actor, f"action.{r['status']}", "action", r["action_id"],
                     before={"status": r["before_status"], "revision": r["stored_revision"]},
                     after={"status": r["status"], "revision": r["stored_revision"] + 1, "source": "excel"})
