"""Helpers shared by the Excel tests (no tests here): database fingerprints, cell edits, zip surgery."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import date

import openpyxl

from assessment import access, workflow
from assessment.model import Answer
from assessment.storage.db import frame

TODAY = date(2026, 6, 30)
ADMIN = access.SYSTEM
TABLES = {"answer_events": "event_id", "audit_log": "seq", "assessments": "campaign_id, unit_id",
          "audit_head": "id", "question_scores": "campaign_id, unit_id, question_id"}


def fingerprint(db) -> dict[str, tuple[int, str]]:
    """Row count and content hash of every table an import could touch."""
    out = {}
    with db.read() as cur:
        for table, order in TABLES.items():
            df = frame(cur, f"SELECT * FROM {table} ORDER BY {order}")
            out[table] = (df.height, hashlib.sha256(df.write_csv().encode()).hexdigest())
    return out


def save(db, unit: str, answers: list[Answer], campaign: str = "C1") -> None:
    workflow.save_answers(db, ADMIN, campaign, unit, answers, today=TODAY)


def headers(ws) -> dict[str, int]:
    return {c.value: c.column for c in ws[1] if c.value is not None}


def find_row(ws, question_id: str, unit_id: str | None = None) -> int:
    h = headers(ws)
    for r in range(2, ws.max_row + 1):
        if ws.cell(r, h["Question ID"]).value == question_id and (
                unit_id is None or ws.cell(r, h["id:unit"]).value == unit_id):
            return r
    raise KeyError((question_id, unit_id))


def edit(data: bytes, edits: list[tuple[str, str | int, str, object]], sheet: str = "Answers",
         unit: str | None = None) -> bytes:
    """edits: (question_id or row number, header, value) applied to the Answers sheet (or another sheet)."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb[sheet]
    h = headers(ws)
    for key, header, value in edits:
        row = key if isinstance(key, int) else find_row(ws, key, unit)
        cell = ws.cell(row, h[header])
        cell.value = value
        if isinstance(value, str):
            cell.data_type = "s"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def hidden_columns(ws) -> set[int]:
    """Column numbers hidden on a sheet (openpyxl groups equal neighbouring columns into one dimension)."""
    out = set()
    for dim in ws.column_dimensions.values():
        if dim.hidden:
            out.update(range(dim.min, dim.max + 1))
    return out


def workbook(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def save_workbook(wb: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def rezip(data: bytes, replace: dict[str, bytes | None] | None = None, add: dict[str, bytes] | None = None,
          compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Copy an xlsx zip, replacing (None = dropping) and adding members."""
    replace, add = replace or {}, add or {}
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compress) as dst:
        for info in src.infolist():
            if info.filename in replace:
                if replace[info.filename] is not None:
                    dst.writestr(info.filename, replace[info.filename])
                continue
            dst.writestr(info.filename, src.read(info.filename))
        for name, body in add.items():
            dst.writestr(name, body)
    return out.getvalue()


def member(data: bytes, name: str) -> bytes:
    return zipfile.ZipFile(io.BytesIO(data)).read(name)


def sheet_member(data: bytes, sheet: str) -> str:
    """Zip member of a sheet, found through workbook.xml and its relationships."""
    import re

    wb = member(data, "xl/workbook.xml").decode()
    rels = member(data, "xl/_rels/workbook.xml.rels").decode()
    rid = re.search(rf'<sheet [^>]*name="{re.escape(sheet)}"[^>]*r:id="([^"]+)"', wb)
    rid = rid or re.search(rf'<sheet [^>]*r:id="([^"]+)"[^>]*name="{re.escape(sheet)}"', wb)
    assert rid, sheet
    target = re.search(rf'<Relationship [^>]*Id="{rid.group(1)}"[^>]*Target="([^"]+)"', rels)
    target = target or re.search(rf'<Relationship [^>]*Target="([^"]+)"[^>]*Id="{rid.group(1)}"', rels)
    path = target.group(1)
    return path.lstrip("/") if path.startswith("/") else "xl/" + path
