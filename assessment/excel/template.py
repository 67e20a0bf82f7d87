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

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation

from .. import access, audit, clock
from ..catalog import campaign_questionnaire
from ..errors import NotFound
from ..model import Actor
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
    ID_COLUMNS,
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


@dataclass(frozen=True)
class TemplateResult:
    template_id: str
    digest: str
    filename: str
    questions: int
    answered: int


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
    answers = {r["question_id"]: r for r in current.to_dicts()}
    template_id = uuid.uuid4().hex
    generated = generated_now()
    rows = [(unit_id, x.id, answers[x.id]["event_id"] if x.id in answers else None) for x in q.questions]
    digest = manifest_digest(TEMPLATE_KIND, campaign_id, template_id, rows)
    answered = sum(1 for r in answers.values() if r["level"] is not None or r["is_na"])

    def record(cur) -> None:
        audit.record(cur, actor, TEMPLATE_ACTION, "template", template_id,
                     after={"campaign_id": campaign_id, "unit_id": unit_id, "digest": digest,
                      "questions": len(rows), "answered": answered, "format_version": FORMAT_VERSION})

    db.transaction(record)

    wb = Workbook()
    _instructions(wb.active, q, camp, unit, assessment, actor, generated, template_id, today or clock.today())
    ws = wb.create_sheet(ANSWERS_SHEET)
    lists = wb.create_sheet(LIST_SHEET)
    for i, value in enumerate([*range(6), NA], start=1):
        lists.cell(row=i, column=1, value=value)
    lists.sheet_state = "hidden"
    wb.defined_names[LEVELS_ALL] = DefinedName(LEVELS_ALL, attr_text=f"{LIST_SHEET}!$A$1:$A$7")
    wb.defined_names[LEVELS_NO_NA] = DefinedName(LEVELS_NO_NA, attr_text=f"{LIST_SHEET}!$A$1:$A$6")
    _answers_sheet(ws, q, campaign_id, unit_id, answers)
    meta = wb.create_sheet(META_SHEET)
    for i, (k, v) in enumerate(meta_rows(
            TEMPLATE_KIND, campaign_id=campaign_id, questionnaire=q.policy_label, generated_at=generated,
            generated_by=actor.username, digest=digest, template_id=template_id, unit_id=unit_id), start=1):
        _text(meta, i, 1, k)
        _text(meta, i, 2, v)
    meta.sheet_state = "hidden"
    ids = wb.create_sheet(IDS_SHEET)
    for c, h in enumerate(IDS_HEADER, start=1):
        _text(ids, 1, c, h)
    for r, (u, qid, ev) in enumerate(rows, start=2):
        for c, v in enumerate((campaign_id, u, qid, None if ev is None else str(ev)), start=1):
            _text(ids, r, c, v)
    ids.sheet_state = "hidden"
    for sheet in (meta, ids, lists):
        sheet.protection.sheet = True
    wb.security = WorkbookProtection(lockStructure=True)
    wb.active = 1
    target = str(out) if isinstance(out, Path) else out
    wb.save(target)
    return TemplateResult(template_id, digest, template_filename(campaign_id, unit_id), len(rows), answered)


def unit_template_bytes(db: Database, actor: Actor, campaign_id: str, unit_id: str,
                        today: date | None = None) -> tuple[bytes, TemplateResult]:
    buf = io.BytesIO()
    result = unit_template(db, actor, campaign_id, unit_id, buf, today)
    return buf.getvalue(), result


def _instructions(ws, q, camp: dict, unit: dict, assessment: dict, actor: Actor, generated: datetime,
                  template_id: str, today: date) -> None:
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
        ("Assessment status", assessment["status"]),
        ("Questionnaire", f"{q.id} {q.version} ({q.title}), content hash {q.content_hash}"),
        ("Generated at (UTC)", generated),
        ("Generated by", actor.username),
        ("Template id", template_id),
    ]
    steps = [
        "Fill in the yellow cells of the Answers sheet only; every other cell is locked.",
        "Level: pick 0-5 from the list (the six level descriptors are beside each question), or N/A where the "
        "question allows it" + (" - N/A needs a reason." if q.policy.na_reason_required else "."),
        f"Evidence: a level of {rule.min_level} or more needs evidence (a description or a link) dated within "
        f"{rule.max_age_months} months, otherwise it is scored as {rule.cap_level}.",
        "Evidence date: a date (YYYY-MM-DD), not in the future.",
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


def _answers_sheet(ws, q, campaign_id: str, unit_id: str, answers: dict[str, dict]) -> None:
    visible = [
        (COL_QUESTION, 11, False), ("Domain", 20, False), ("Question", 48, False), ("N/A allowed", 8, False),
        (COL_LEVEL, 8, True), (COL_REASON, 26, True), (COL_EVIDENCE, 36, True), (COL_URL, 30, True),
        (COL_DATE, 13, True), (COL_COMMENT, 28, True), ("Evidence expected", 30, False),
        ("Guidance", 36, False), ("Current answer by", 16, False), ("Current answer at (UTC)", 17, False),
    ]
    scale = [(f"Level {lv.level} - {lv.name}", 28, False) for lv in q.scale]
    hidden = [(h, 12, False) for h in ID_COLUMNS]
    cols = visible + scale + hidden
    index = {h: i for i, (h, _, _) in enumerate(cols, start=1)}
    for i, (h, width, _) in enumerate(cols, start=1):
        c = _text(ws, 1, i, h)
        c.font = Font(bold=True, color="FFFFFF")
        c.fill = HEADER_FILL
        c.alignment = WRAP
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = width
        if h in ID_COLUMNS:
            ws.column_dimensions[letter].hidden = True
    domains = {d.id: d.name for d in q.domains}
    n = len(q.questions)
    for r, x in enumerate(q.questions, start=2):
        a = answers.get(x.id)
        values = {COL_QUESTION: x.id, "Domain": domains[x.domain_id], "Question": x.text,
                  "N/A allowed": "yes" if x.na_allowed else "no", "Evidence expected": x.evidence,
                  "Guidance": x.guidance}
        for lv, text in zip(q.scale, x.levels):
            values[f"Level {lv.level} - {lv.name}"] = text
        values.update({"id:campaign": campaign_id, "id:unit": unit_id, "id:question": x.id,
                       "id:base_event": None if a is None else str(a["event_id"]), "id:format": FORMAT_VERSION})
        if a is not None:
            values.update({COL_REASON: a["na_reason"] if a["is_na"] else None, COL_EVIDENCE: a["evidence"],
                           COL_URL: a["evidence_url"], COL_COMMENT: a["comment"],
                           "Current answer by": a["answered_by"]})
        for h, col in index.items():
            if h in values:
                _text(ws, r, col, values[h]).alignment = WRAP
        level = ws.cell(row=r, column=index[COL_LEVEL])
        if a is not None and a["is_na"]:
            level.value = NA
        elif a is not None and a["level"] is not None:
            level.value = int(a["level"])
        ev_date = ws.cell(row=r, column=index[COL_DATE])
        ev_date.number_format = "yyyy-mm-dd"
        if a is not None and a["evidence_date"] is not None:
            ev_date.value = a["evidence_date"]
        at = ws.cell(row=r, column=index["Current answer at (UTC)"])
        at.number_format = "yyyy-mm-dd hh:mm"
        if a is not None:
            at.value = a["answered_at"]
        for h, _, is_input in cols:
            if is_input:
                cell = ws.cell(row=r, column=index[h])
                cell.protection = Protection(locked=False)
                cell.fill = INPUT_FILL
                if cell.alignment is None or not cell.alignment.wrap_text:
                    cell.alignment = WRAP
        ws.row_dimensions[r].height = 75
    last = n + 1
    lvl = get_column_letter(index[COL_LEVEL])
    with_na = [f"{lvl}{r}" for r, x in enumerate(q.questions, start=2) if x.na_allowed]
    without_na = [f"{lvl}{r}" for r, x in enumerate(q.questions, start=2) if not x.na_allowed]
    for name, cells, allowed in ((LEVELS_ALL, with_na, "0-5 or N/A"), (LEVELS_NO_NA, without_na, "0-5")):
        if not cells:
            continue
        dv = DataValidation(type="list", formula1=name, allow_blank=True, showDropDown=False,
                            showErrorMessage=True, errorTitle="Level",
                            error=f"Choose a level {allowed} from the list.",
                            showInputMessage=True, promptTitle="Level", prompt=f"Maturity level {allowed}")
        for cell in cells:
            dv.add(cell)
        ws.add_data_validation(dv)
    dcol = get_column_letter(index[COL_DATE])
    dv = DataValidation(type="date", operator="between", formula1="DATE(2000,1,1)", formula2="TODAY()",
                        allow_blank=True, showErrorMessage=True, errorTitle="Evidence date",
                        error="Enter a date (YYYY-MM-DD) that is not in the future.",
                        showInputMessage=True, promptTitle="Evidence date", prompt="YYYY-MM-DD, not in the future")
    dv.add(f"{dcol}2:{dcol}{last}")
    ws.add_data_validation(dv)
    ws.freeze_panes = "D2"
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    ws.protection.selectLockedCells = False
    ws.protection.selectUnlockedCells = False
    ws.protection.sort = True
    ws.protection.insertRows = True
    ws.protection.deleteRows = True
