"""Offline answer template for one unit in one campaign (openpyxl: templates are small).

Sheets: Instructions; Answers (structure protected, only the answer cells unlocked, a level dropdown fed by
a named range on a hidden sheet, a date rule for the evidence date, the six level descriptors beside each
question, prefilled with the current answers); hidden Lists, _meta and _ids sheets. Every row carries its
stable ids (campaign, unit, question, the event id of the answer current at generation, format version) in
hidden columns AND in the hidden _ids sheet; a digest of those ids is recorded in the audit trail when the
template is issued, so the import can prove they were not edited and can detect answers changed since.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation

from .. import access, answer_rules, audit, clock
from ..catalog import campaign_questionnaire
from ..errors import NotFound
from ..model import LEVELS, MAX_LEVEL, MIN_LEVEL, Actor, Questionnaire
from ..storage import Database
from ..storage import answers as answers_sql
from ..storage import campaigns as campaigns_sql
from ..storage import catalog as catalog_sql
from ..storage.imports import TEMPLATE_ACTION
from .format import (
    ANSWERS_SHEET,
    COL_COMMENT,
    COL_DATE,
    COL_EVIDENCE,
    COL_LEVEL,
    COL_QUESTION,
    COL_REASON,
    COL_URL,
    FORMAT_VERSION,
    ID_CAMPAIGN,
    ID_EVENT,
    ID_FORMAT,
    ID_QUESTION,
    ID_UNIT,
    IDS_HEADER,
    IDS_SHEET,
    LIST_SHEET,
    META_SHEET,
    NA,
    TEMPLATE_KIND,
    generated_now,
    manifest_digest,
    meta_rows,
)
from .safety import cell_text

LEVELS_ALL, LEVELS_NO_NA = "LevelChoices", "LevelChoicesNoNA"
HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
WRAP = Alignment(wrap_text=True, vertical="top")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ESCAPE_LIKE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")
SCALE = f"{MIN_LEVEL}-{MAX_LEVEL}"


@dataclass(frozen=True)
class TemplateResult:
    template_id: str
    digest: str
    filename: str
    questions: int
    answered: int


@dataclass(frozen=True)
class Field:
    """One column of the Answers sheet: its header and width, the column of the row frame it shows, how the
    value is written (text, level, date, datetime) and whether the respondent fills it in (input: unlocked)."""

    header: str
    key: str
    width: float = 12
    kind: str = "text"
    input: bool = False
    hidden: bool = False


def answer_fields(q: Questionnaire) -> list[Field]:
    """The Answers sheet's columns, in order: question, the answer cells, guidance, the six level descriptors,
    then the hidden ids the importer matches rows by."""
    return [
        Field(COL_QUESTION, "question_id", 11), Field("Domain", "domain", 20), Field("Question", "question", 48),
        Field("N/A allowed", "na_allowed", 8),
        Field(COL_LEVEL, "level_cell", 8, "level", input=True), Field(COL_REASON, "na_reason", 26, input=True),
        Field(COL_EVIDENCE, "evidence", 36, input=True), Field(COL_URL, "evidence_url", 30, input=True),
        Field(COL_DATE, "evidence_date", 13, "date", input=True), Field(COL_COMMENT, "comment", 28, input=True),
        Field("Evidence expected", "expected", 30), Field("Guidance", "guidance", 36),
        Field("Current answer by", "answered_by", 16), Field("Current answer at (UTC)", "answered_at", 17, "datetime"),
        *[Field(f"Level {lv.level} - {lv.name}", f"level_{lv.level}", 28) for lv in q.scale],
        Field(ID_CAMPAIGN, "campaign_id", hidden=True), Field(ID_UNIT, "unit_id", hidden=True),
        Field(ID_QUESTION, "question_id", hidden=True), Field(ID_EVENT, "id_event", hidden=True),
        Field(ID_FORMAT, "id_format", hidden=True),
    ]


@dataclass(frozen=True)
class TemplateData:
    """What one unit's template shows, read (and its issue recorded) before the workbook is written."""

    questionnaire: Questionnaire
    campaign: dict
    unit: dict
    assessment: dict
    rows: pl.DataFrame      # one row per question: the question, its current answer and the hidden ids
    actor: Actor
    template_id: str
    generated: datetime
    digest: str
    today: date


def _xml_text(value: Any) -> str:
    """cell_text() plus the OOXML escapes openpyxl leaves out: control characters and literal _xHHHH_."""
    text = _ESCAPE_LIKE.sub(r"_x005F_\1", cell_text(value))
    return _ILLEGAL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text)


def _text(ws, row: int, col: int, value: Any):
    c = ws.cell(row=row, column=col)
    if value is None or value == "":
        return c
    c.value = _xml_text(value)
    c.data_type = "s"  # never a formula, whatever the text
    return c


def template_filename(campaign_id: str, unit_id: str) -> str:
    return f"itscm-template-{campaign_id}-{unit_id}.xlsx"


def unit_template(db: Database, actor: Actor, campaign_id: str, unit_id: str, out: str | Path | BinaryIO,
                  today: date | None = None) -> TemplateResult:
    """Write the offline template of one unit; record its issue (id and digest) in the audit trail."""
    data = gather(db, actor, campaign_id, unit_id, today)
    write_template(data, out)
    answered = data.rows.filter(answer_rules.answered()).height
    return TemplateResult(data.template_id, data.digest, template_filename(campaign_id, unit_id), data.rows.height,
                          answered)


def gather(db: Database, actor: Actor, campaign_id: str, unit_id: str, today: date | None = None) -> TemplateData:
    """Read the unit's questions and current answers, and record the template's issue in the audit trail."""
    access.require(actor, "template", unit_id)
    q = campaign_questionnaire(db, campaign_id)
    with db.read() as cur:
        camp = campaigns_sql.campaign(cur, campaign_id)
        unit = catalog_sql.unit(cur, unit_id)
        assessment = campaigns_sql.assessment(cur, campaign_id, unit_id)
        current = answers_sql.current(cur, campaign_id, [unit_id])
    if camp is None:
        raise NotFound(f"unknown campaign {campaign_id!r}")
    if unit is None or assessment is None:
        raise NotFound(f"unit {unit_id!r} is not part of campaign {campaign_id}")
    rows = _rows(q, campaign_id, unit_id, current)
    template_id = uuid.uuid4().hex
    digest = manifest_digest(TEMPLATE_KIND, campaign_id, template_id,
                             rows.select("unit_id", "question_id", "id_event").iter_rows())
    answered = rows.filter(answer_rules.answered()).height

    def record(cur) -> None:
        audit.record(cur, actor, TEMPLATE_ACTION, "template", template_id,
                     after={"campaign_id": campaign_id, "unit_id": unit_id, "digest": digest,
                            "questions": rows.height, "answered": answered, "format_version": FORMAT_VERSION})

    db.transaction(record)
    return TemplateData(q, camp, unit, assessment, rows, actor, template_id, generated_now(), digest,
                        today or clock.today())


def _rows(q: Questionnaire, campaign_id: str, unit_id: str, current: pl.DataFrame) -> pl.DataFrame:
    """Questions in questionnaire order joined with the unit's current answers (keys of answer_fields)."""
    domains = {d.id: d.name for d in q.domains}
    questions = pl.DataFrame([
        {"question_id": x.id, "domain": domains[x.domain_id], "question": x.text,
         "na_allowed": "yes" if x.na_allowed else "no", "expected": x.evidence, "guidance": x.guidance,
         **{f"level_{lv.level}": text for lv, text in zip(q.scale, x.levels)}} for x in q.questions])
    answer_cols = pl.Schema({"event_id": pl.Int64(), "level": pl.Int64(), "is_na": pl.Boolean(),
                             "na_reason": pl.String(),
                             "evidence": pl.String(), "evidence_url": pl.String(), "evidence_date": pl.Date(),
                             "comment": pl.String(), "answered_by": pl.String(), "answered_at": pl.Datetime("us")})
    answers = (current.select("question_id", *[pl.col(c).cast(t) for c, t in answer_cols.items()])
               if current.height else pl.DataFrame(schema={"question_id": pl.String, **answer_cols}))
    na = pl.col("is_na").fill_null(False)
    return questions.join(answers, on="question_id", how="left", maintain_order="left").with_columns(
        pl.when(na).then(pl.lit(NA)).otherwise(pl.col("level").cast(pl.String)).alias("level_cell"),
        pl.when(na).then(pl.col("na_reason")).alias("na_reason"),
        pl.lit(campaign_id).alias("campaign_id"), pl.lit(unit_id).alias("unit_id"),
        pl.col("event_id").cast(pl.String).alias("id_event"), pl.lit(FORMAT_VERSION).alias("id_format"))


def write_template(data: TemplateData, out: str | Path | BinaryIO) -> None:
    """Instructions, Answers, the hidden Lists, _meta and _ids sheets; structure and locked cells protected."""
    wb = Workbook()
    _instructions(wb.active, data)
    _answers_sheet(wb.create_sheet(ANSWERS_SHEET), data.questionnaire, data.rows)
    lists = wb.create_sheet(LIST_SHEET)
    for i, value in enumerate([*LEVELS, NA], start=1):
        lists.cell(row=i, column=1, value=value)
    last = len(LEVELS) + 1
    wb.defined_names[LEVELS_ALL] = DefinedName(LEVELS_ALL, attr_text=f"{LIST_SHEET}!$A$1:$A${last}")
    wb.defined_names[LEVELS_NO_NA] = DefinedName(LEVELS_NO_NA, attr_text=f"{LIST_SHEET}!$A$1:$A${last - 1}")
    meta = wb.create_sheet(META_SHEET)
    for i, (k, v) in enumerate(meta_rows(
            TEMPLATE_KIND, campaign_id=data.campaign["campaign_id"], questionnaire=data.questionnaire.policy_label,
            generated_at=data.generated, generated_by=data.actor.username, digest=data.digest,
            template_id=data.template_id, unit_id=data.unit["unit_id"]), start=1):
        _text(meta, i, 1, k)
        _text(meta, i, 2, v)
    ids = wb.create_sheet(IDS_SHEET)
    for c, h in enumerate(IDS_HEADER, start=1):
        _text(ids, 1, c, h)
    for r, row in enumerate(data.rows.select("campaign_id", "unit_id", "question_id", "id_event").iter_rows(),
                            start=2):
        for c, v in enumerate(row, start=1):
            _text(ids, r, c, v)
    for sheet in (meta, ids, lists):
        sheet.sheet_state = "hidden"
        sheet.protection.sheet = True
    wb.security = WorkbookProtection(lockStructure=True)
    wb.active = 1
    wb.save(str(out) if isinstance(out, Path) else out)


def unit_template_bytes(db: Database, actor: Actor, campaign_id: str, unit_id: str,
                        today: date | None = None) -> tuple[bytes, TemplateResult]:
    buf = io.BytesIO()
    result = unit_template(db, actor, campaign_id, unit_id, buf, today)
    return buf.getvalue(), result


def _instructions(ws, data: TemplateData) -> None:
    q, camp, unit = data.questionnaire, data.campaign, data.unit
    ws.title = "Instructions"
    ws.column_dimensions["A"].width = 26
    ws.column_dimensions["B"].width = 100
    rule = q.policy.evidence_rule
    _text(ws, 1, 1, f"ITSCM self-assessment - {unit['name']} ({unit['unit_id']})").font = Font(
        bold=True, size=14, color="1F4E79")
    facts = [
        ("Campaign", f"{camp['campaign_id']} - {camp['name']} ({camp['status']})"),
        ("Due on", camp["due_on"]),
        ("Business unit", f"{unit['unit_id']} - {unit['name']}, {unit['division']}, tier {unit['tier']}"),
        ("Assessment status", data.assessment["status"]),
        ("Questionnaire", f"{q.id} {q.version} ({q.title}), content hash {q.content_hash}"),
        ("Generated at (UTC)", data.generated),
        ("Generated by", data.actor.username),
        ("Template id", data.template_id),
    ]
    steps = [
        "Fill in the yellow cells of the Answers sheet only; every other cell is locked.",
        f"Level: pick {SCALE} from the list (the six level descriptors are beside each question), or N/A where the "
        "question allows it" + (" - N/A needs a reason." if q.policy.na_reason_required else "."),
        f"Evidence: a level of {rule.min_level} or more needs evidence (a description or a link) dated within "
        f"{rule.max_age_months} months, otherwise it is scored as {rule.cap_level}.",
        f"Evidence date: a date (YYYY-MM-DD), not in the future and not before {answer_rules.MIN_EVIDENCE_DATE}.",
        "Do not add, delete, move or rename rows, columns or sheets: hidden ids match every row to its "
        "question. Pasted values bypass the drop-down lists, so everything is checked again on import.",
        "Upload the file on the Excel page of the application (or `itscm import FILE`). You first see every "
        "problem, with its row and column, or a preview of what will change; nothing is saved until you confirm.",
        "If an answer was changed in the application after this template was generated, that row is shown as "
        "a conflict and is never overwritten: review it, then answer in the application or with a new template.",
    ]
    r = 3
    for k, v in facts:
        ws.cell(row=r, column=1, value=k).font = Font(bold=True)
        if isinstance(v, date | datetime):
            ws.cell(row=r, column=2, value=v).number_format = (
                "yyyy-mm-dd hh:mm" if isinstance(v, datetime) else "yyyy-mm-dd")
            ws.cell(row=r, column=2).alignment = Alignment(horizontal="left")
        else:
            _text(ws, r, 2, v)
        r += 1
    r += 1
    ws.cell(row=r, column=1, value="How to fill in").font = Font(bold=True, size=12)
    for i, s in enumerate(steps, start=1):
        r += 1
        ws.cell(row=r, column=1, value=f"Step {i}")
        _text(ws, r, 2, s).alignment = WRAP
    r += 2
    ws.cell(row=r, column=1, value="Maturity scale").font = Font(bold=True, size=12)
    for lv in q.scale:
        r += 1
        _text(ws, r, 1, f"{lv.level} - {lv.name}")
        _text(ws, r, 2, lv.description).alignment = WRAP
    ws.protection.sheet = True


def _write(ws, row: int, col: int, field: Field, value: Any):
    """One cell of the Answers sheet, written by its field's kind (text is always literal text)."""
    if field.kind == "date":
        c = ws.cell(row=row, column=col, value=value)
        c.number_format = "yyyy-mm-dd"
    elif field.kind == "datetime":
        c = ws.cell(row=row, column=col, value=value)
        c.number_format = "yyyy-mm-dd hh:mm"
    elif field.kind == "level":
        c = ws.cell(row=row, column=col, value=None if value is None else value if value == NA else int(value))
    else:
        c = _text(ws, row, col, value)
        c.alignment = WRAP
    if field.input:
        c.protection = Protection(locked=False)
        c.fill = INPUT_FILL
        c.alignment = WRAP
    return c


def _answers_sheet(ws, q: Questionnaire, rows: pl.DataFrame) -> None:
    fields = answer_fields(q)
    for i, f in enumerate(fields, start=1):
        c = _text(ws, 1, i, f.header)
        c.font = Font(bold=True, color="FFFFFF")
        c.fill = HEADER_FILL
        c.alignment = WRAP
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = f.width
        if f.hidden:
            ws.column_dimensions[letter].hidden = True
    values = rows.select([pl.col(f.key).alias(f"c{i}") for i, f in enumerate(fields)])
    for r, row in enumerate(values.iter_rows(), start=2):
        for i, (f, v) in enumerate(zip(fields, row), start=1):
            _write(ws, r, i, f, v)
        ws.row_dimensions[r].height = 75
    _validation(ws, fields, rows)
    ws.freeze_panes = "D2"
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    ws.protection.selectLockedCells = False
    ws.protection.selectUnlockedCells = False
    ws.protection.sort = True
    ws.protection.insertRows = True
    ws.protection.deleteRows = True


def _validation(ws, fields: list[Field], rows: pl.DataFrame) -> None:
    """The level drop-downs (with or without N/A, per question) and the evidence date rule, from the rules."""
    col = {f.header: get_column_letter(i) for i, f in enumerate(fields, start=1)}
    last = rows.height + 1
    allows = rows["na_allowed"].to_list()
    for name, with_na, allowed in ((LEVELS_ALL, "yes", f"{SCALE} or N/A"), (LEVELS_NO_NA, "no", SCALE)):
        cells = [f"{col[COL_LEVEL]}{r}" for r, a in enumerate(allows, start=2) if a == with_na]
        if not cells:
            continue
        dv = DataValidation(type="list", formula1=name, allow_blank=True, showDropDown=False,
                            showErrorMessage=True, errorTitle="Level",
                            error=f"Choose a level {allowed} from the list.",
                            showInputMessage=True, promptTitle="Level", prompt=f"Maturity level {allowed}")
        for cell in cells:
            dv.add(cell)
        ws.add_data_validation(dv)
    first = answer_rules.MIN_EVIDENCE_DATE
    dv = DataValidation(type="date", operator="between", formula1=f"DATE({first.year},{first.month},{first.day})",
                        formula2="TODAY()", allow_blank=True, showErrorMessage=True, errorTitle="Evidence date",
                        error=f"Enter a date (YYYY-MM-DD) from {first} up to today.",
                        showInputMessage=True, promptTitle="Evidence date",
                        prompt=f"YYYY-MM-DD, from {first}, not in the future")
    dv.add(f"{col[COL_DATE]}2:{col[COL_DATE]}{last}")
    ws.add_data_validation(dv)
