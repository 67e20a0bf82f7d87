"""Excel steps of the benchmark: the product's auditor pack export and answers import (when those modules
exist with usable functions), and their floors (xlsxwriter constant_memory writing the same cells; fastexcel
reading the same sheet).

assessment.excel.export / assessment.excel.importer are written alongside this harness; whatever is missing
is reported as "not available" (with the reason) instead of failing the run.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import polars as pl

ANSWERS_SHEET = "Answers"


@dataclass
class Step:
    """A callable to time, or the reason it cannot be timed."""

    fn: Callable[[], Any] | None
    reason: str = ""
    detail: str = ""


def _module(name: str):
    try:
        return importlib.import_module(name), ""
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None, f"{name} does not exist yet"
        return None, f"{name} cannot be imported: {exc}"
    except Exception as exc:  # noqa: BLE001 - a half-written module must not stop the benchmark
        return None, f"{name} cannot be imported: {type(exc).__name__}: {exc}"


def export_step(db, actor, campaign_id: str, path: Path, today: date) -> Step:
    """Write the auditor pack of one campaign to path."""
    mod, why = _module("assessment.excel.export")
    if mod is None:
        return Step(None, why)
    fn = getattr(mod, "auditor_pack", None)
    if not callable(fn):
        return Step(None, "assessment.excel.export has no auditor_pack() function")
    params = inspect.signature(fn).parameters
    kwargs = {"today": today} if "today" in params else {}
    return Step(lambda: fn(db, actor, campaign_id, path, **kwargs), detail="assessment.excel.export.auditor_pack")


# Function names that (by their name or a dry_run parameter) validate and diff without committing.
_IMPORT_CANDIDATES = ("analyse", "dry_run", "preview", "plan_import", "validate_and_diff", "diff")


def lifted_limits(path: Path):
    """excel.safety.Limits with the size limits lifted to fit this file, so a large pack's import cost can be
    measured (max_bytes is also a read() size, so it is the file's size, not "infinite")."""
    try:
        from assessment.excel.safety import Limits
    except ImportError:
        return None
    big = 1 << 40
    return Limits(max_bytes=path.stat().st_size + 1024, max_uncompressed=big, max_cells=big)


def import_step(db, actor, path: Path, today: date) -> Step:
    """Validate the exported workbook and compute the dry-run diff of its answers (nothing is committed).

    Limits are lifted (when the function takes them) and the result must be a clean diff: a run that reports
    problems is a failure, not a figure.
    """
    mod, why = _module("assessment.excel.importer")
    if mod is None:
        return Step(None, why)
    for name in _IMPORT_CANDIDATES:
        fn = getattr(mod, name, None)
        if not callable(fn):
            continue
        params = inspect.signature(fn).parameters
        args = _bind(params, db, actor, path)
        if args is None:
            continue
        if "today" in params:
            args["today"] = today
        if "limits" in params:
            args["limits"] = lifted_limits(path)

        def call(f=fn, a=args):
            result = f(**a)
            _require_clean(result)
            return result

        return Step(call, detail=f"assessment.excel.importer.{name} (size limits lifted)")
    names = sorted(n for n, v in vars(mod).items() if callable(v) and not n.startswith("_"))
    return Step(None, "assessment.excel.importer has no recognised dry-run function (found: "
                      + ", ".join(names) + ")")


def default_limits_verdict(db, actor, path: Path, today: date) -> str:
    """Whether the product's default import limits accept this file (one untimed call)."""
    mod, why = _module("assessment.excel.importer")
    fn = getattr(mod, "analyse", None) if mod else None
    if fn is None:
        return why or "no analyse()"
    try:
        result = fn(db, actor, path, today=today)
    except Exception as exc:  # noqa: BLE001
        return f"refused: {type(exc).__name__}: {exc}"
    problems = getattr(result, "problems", [])
    return "accepted" if not problems else "refused: " + "; ".join(str(p) for p in problems[:3])


def _require_clean(result: Any) -> None:
    problems = getattr(result, "problems", None)
    if problems:
        raise RuntimeError(f"the import reported {len(problems)} problem(s): "
                           + "; ".join(str(p) for p in problems[:3]))


def _bind(params, db, actor, path: Path) -> dict | None:
    out: dict[str, Any] = {}
    for name, p in params.items():
        if name in ("db", "database"):
            out[name] = db
        elif name == "actor":
            out[name] = actor
        elif name in ("path", "source", "file_path", "upload", "workbook", "src"):
            out[name] = path
        elif name in ("data", "content"):
            out[name] = path.read_bytes()
        elif name == "dry_run":
            out[name] = True
        elif p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            return None  # a required parameter we cannot supply
    return out


# ------------------------------------------------------------------------------------------------ floors


def read_sheets(path: Path) -> dict[str, pl.DataFrame]:
    """Every sheet of a workbook as raw cells (no header row), read with fastexcel; not timed."""
    import fastexcel

    reader = fastexcel.read_excel(str(path))
    return {name: reader.load_sheet(name, header_row=None).to_polars() for name in reader.sheet_names}


def answers_frame_from_db(db, campaign_id: str) -> pl.DataFrame:
    """The campaign's answer rows (one per unit x question, as an auditor pack has them), used for the
    floors when the product export is not available."""
    with db.read() as cur:
        return cur.sql("""
            WITH cur AS (
              SELECT e.* FROM answer_events e JOIN (
                SELECT max(event_id) AS event_id FROM answer_events WHERE campaign_id = ?
                GROUP BY unit_id, question_id) m ON m.event_id = e.event_id)
            SELECT u.division_id, u.unit_id, u.name AS unit, u.tier, qs.question_id, qs.domain_id,
                   CASE WHEN qs.is_na THEN 'N/A' ELSE CAST(qs.level AS VARCHAR) END AS level, cur.na_reason,
                   cur.evidence, cur.evidence_url, cur.evidence_date, cur.answered_by, cur.answered_at,
                   qs.score, qs.status, qs.explanation, qs.target, qs.gap, qs.priority, cur.event_id
            FROM question_scores qs JOIN business_units u ON u.unit_id = qs.unit_id
            LEFT JOIN cur ON cur.unit_id = qs.unit_id AND cur.question_id = qs.question_id
            WHERE qs.campaign_id = ? ORDER BY u.division_id, u.unit_id, qs.question_id""",
            params=[campaign_id, campaign_id]).pl()


def _cell_writer(ws, dtype: pl.DataType, date_fmt, dt_fmt):
    if dtype in (pl.String, pl.Categorical):
        return ws.write_string
    if dtype.is_numeric():
        return ws.write_number
    if dtype == pl.Boolean:
        return ws.write_boolean
    if dtype == pl.Date:
        return lambda r, c, v: ws.write_datetime(r, c, datetime.combine(v, time()), date_fmt)
    if dtype == pl.Datetime or isinstance(dtype, pl.Datetime):
        return lambda r, c, v: ws.write_datetime(r, c, v, dt_fmt)
    return lambda r, c, v: ws.write_string(r, c, str(v))


def xlsxwriter_floor(sheets: dict[str, pl.DataFrame], path: Path, header: bool = False) -> int:
    """Write the same cells with raw xlsxwriter in constant_memory mode (typed writes, no styling)."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                         "strings_to_urls": False, "strings_to_numbers": False})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    dt_fmt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    cells = 0
    try:
        for name, df in sheets.items():
            ws = wb.add_worksheet(name[:31])
            start = 0
            if header:
                for c, col in enumerate(df.columns):
                    ws.write_string(0, c, col)
                start = 1
            writers = [_cell_writer(ws, dt, date_fmt, dt_fmt) for dt in df.dtypes]
            for r, row in enumerate(df.iter_rows(), start=start):
                for c, v in enumerate(row):
                    if v is not None:
                        writers[c](r, c, v)
                        cells += 1
    finally:
        wb.close()
    return cells


def fastexcel_floor(path: Path, sheets: tuple[str, ...] = (ANSWERS_SHEET,)) -> int:
    """Read the answers sheet with fastexcel into a polars frame (what any import must at least do)."""
    import fastexcel

    reader = fastexcel.read_excel(str(path))
    rows = 0
    for name in sheets:
        if name in reader.sheet_names:
            rows += reader.load_sheet(name).to_polars().height
    return rows
