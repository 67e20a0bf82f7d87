"""xlsxwriter against the Rust-backed rustpy-xlsxwriter, on the same Answers sheet (issue 17, "Auditor pack").

    python -m benchmarks.xlsx_writers [--sizes M,L] [--reps N]

Both writers get the cells of an auditor pack's Answers sheet (the pack's own columns, ANSWER_COLS: text, a
level that is a number or the text N/A, dates, datetimes, floats, hidden id columns) for M = 500 and
L = 5,000 units x 43 questions, with the same presentation: a styled header row, per-column number formats,
column widths, hidden id columns, frozen panes, an autofilter, a dropdown on the level column, and sheet
protection with the answer cells unlocked. Some text cells begin with '=' (a formula trigger).

Each file is then read back with openpyxl and checked for the guarantees the product's tests rely on:

- formats: the header is bold, floats carry 0.00 and dates yyyy-mm-dd;
- typed: a level is a number cell, N/A a text cell;
- validation: the level column has a list validation;
- protection: the sheet is protected, the input cells unlocked, the other cells locked;
- hidden ids: the hidden id columns are hidden;
- literal '=': text beginning with '=' is stored as a text cell, never as a formula.

rustpy-xlsxwriter is timed twice: from a polars frame (its fast path; a column has one type, so the level
column becomes text) and from row dicts (mixed types kept). No figure is asserted anywhere.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from datetime import time as dtime

import polars as pl

from assessment.excel.export import ANSWER_COLS, Col
from assessment.excel.format import (
    COL_COMMENT,
    COL_DATE,
    COL_EVIDENCE,
    COL_LEVEL,
    COL_REASON,
    COL_URL,
    ID_COLUMNS,
    NA,
)

SIZES = {"M": 500, "L": 5000}
QUESTIONS = 43
INPUT_COLS = (COL_LEVEL, COL_REASON, COL_EVIDENCE, COL_URL, COL_DATE, COL_COMMENT)
LEVELS = ["0", "1", "2", "3", "4", "5", NA]
GUARANTEES = ("formats", "typed", "validation", "protection", "hidden ids", "literal '='")


def answers(units: int) -> pl.DataFrame:
    """A deterministic Answers sheet of units x 43 rows, keyed like the pack's (one column per ANSWER_COLS)."""
    n = units * QUESTIONS
    i = pl.col("i")
    unit = (i // QUESTIONS).cast(pl.String).str.zfill(5)
    q = (i % QUESTIONS).cast(pl.String).str.zfill(2)
    na = i % 17 == 0
    return pl.DataFrame({"i": pl.int_range(0, n, eager=True)}).select(
        unit_id="U" + unit, unit="Unit " + unit, division="Division " + (i // 2150).cast(pl.String),
        tier=i // QUESTIONS % 3 + 1, assessment_status=pl.lit("submitted"),
        question_id="Q" + q, domain="Domain " + (i % QUESTIONS // 5).cast(pl.String),
        question="Is the continuity plan for this service reviewed and tested at least once a year? " + q,
        level_cell=pl.when(na).then(pl.lit(NA)).otherwise((i * 7 % 6).cast(pl.String)),
        na_reason=pl.when(na).then(pl.lit("Not applicable to this unit")),
        evidence=pl.when(i % 11 == 0).then(pl.lit('=HYPERLINK("http://x")')).otherwise(
            "Plan document v" + q + ", section 4"),
        evidence_url="https://intranet.example/plans/" + unit,
        evidence_date=pl.lit(date(2026, 1, 1)) + pl.duration(days=i % 120),
        comment=pl.when(i % 13 == 0).then(pl.lit("-see the annex")),
        answered_by="user" + unit,
        answered_at=pl.lit(datetime(2026, 5, 1, 9, 30)) + pl.duration(minutes=i % 5000),
        score=(i % 6).cast(pl.Float64), score_status=pl.lit("scored"), target=pl.lit(3.0),
        gap=(3 - i % 6).cast(pl.Float64), priority=(i % 9).cast(pl.Float64),
        explanation=pl.lit("level as answered"), id_campaign=pl.lit("C2026H1"),
        id_event=(i + 1).cast(pl.String), id_format=pl.lit("3"),
    )


def _frame_for(df: pl.DataFrame, cols: list[Col]) -> pl.DataFrame:
    """One column per sheet column, named by its header (the pack has two columns from unit_id)."""
    return df.select([pl.col(c.key).alias(c.header) for c in cols])


# ------------------------------------------------------------------------------------------------ writers


def write_xlsxwriter(df: pl.DataFrame, out: io.BytesIO) -> None:
    """The product's way: xlsxwriter constant_memory, typed calls, one format per column kind."""
    import xlsxwriter

    cols = ANSWER_COLS
    wb = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_formulas": False,
                                   "strings_to_urls": False, "strings_to_numbers": False})
    header = wb.add_format({"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E79", "text_wrap": True,
                            "valign": "top", "border": 1})
    fmt = {kind: {"text": {"num_format": "@"}, "id": {"num_format": "@"}, "float": {"num_format": "0.00"},
                  "int": {"num_format": "0"}, "date": {"num_format": "yyyy-mm-dd"},
                  "datetime": {"num_format": "yyyy-mm-dd hh:mm"}, "level": {}}[kind]
           for kind in {c.kind for c in cols}}
    formats = [wb.add_format({**fmt[c.kind], **({"locked": False} if c.header in INPUT_COLS else {})})
               for c in cols]
    ws = wb.add_worksheet("Answers")
    for c, col in enumerate(cols):
        ws.set_column(c, c, col.width, formats[c], {"hidden": True} if col.hidden else None)
        ws.write_string(0, c, col.header, header)
    ws.freeze_panes(1, 1)
    last = max(df.height, 1)
    ws.autofilter(0, 0, last, len(cols) - 1)
    lv = next(i for i, col in enumerate(cols) if col.header == COL_LEVEL)
    ws.data_validation(1, lv, last, lv, {"validate": "list", "source": LEVELS})
    ws.protect("", {"autofilter": True, "sort": True, "format_columns": True})
    writers: list[Callable] = []
    for c, col in enumerate(cols):
        f = formats[c]
        if col.kind in ("text", "id"):
            writers.append(lambda r, c, v, f=f: ws.write_string(r, c, v, f))
        elif col.kind == "level":
            writers.append(lambda r, c, v, f=f: ws.write_string(r, c, v, f) if v == NA
                           else ws.write_number(r, c, int(v), f))
        elif col.kind in ("int", "float"):
            writers.append(lambda r, c, v, f=f: ws.write_number(r, c, v, f))
        elif col.kind == "date":
            writers.append(lambda r, c, v, f=f: ws.write_datetime(r, c, datetime.combine(v, dtime()), f))
        else:
            writers.append(lambda r, c, v, f=f: ws.write_datetime(r, c, v, f))
    for r, row in enumerate(_frame_for(df, cols).iter_rows(), start=1):
        for c, v in enumerate(row):
            if v is not None:
                writers[c](r, c, v)
    wb.close()


def _rust_formats(cols: list[Col]):
    from rustpy_xlsxwriter import Format

    out = []
    for col in cols:
        f = Format()
        number = {"text": "@", "id": "@", "float": "0.00", "int": "0", "date": "yyyy-mm-dd",
                  "datetime": "yyyy-mm-dd hh:mm"}.get(col.kind)
        if number:
            f = f.set_num_format(number)
        if col.header in INPUT_COLS:
            f = f.set_unlocked()
        out.append(f)
    return out


def write_rustpy(df: pl.DataFrame, out: io.BytesIO, rows: bool = False) -> None:
    """The same sheet with rustpy-xlsxwriter's builder: what it offers for each of xlsxwriter's settings.

    It has no hidden columns and its protection is a workbook-wide password (an empty one is refused, so a
    fixed one is given); rows=True feeds it row dicts instead of the polars frame.
    """
    from rustpy_xlsxwriter import FastExcel, Format

    cols = ANSWER_COLS
    frame = _frame_for(df, cols).with_columns(pl.col(pl.Date).cast(pl.Datetime("us")))
    data = frame.iter_rows(named=True) if rows else frame
    if rows:
        data = ({k: (int(v) if k == COL_LEVEL and v not in (None, NA) else v) for k, v in row.items()}
                for row in frame.iter_rows(named=True))
    header = (Format().set_bold().set_font_color("#FFFFFF").set_background_color("#1F4E79").set_text_wrap()
              .set_align("top").set_border("thin"))
    (FastExcel(out, password="pack")
     .freeze(row=1, col=1)
     .sheet("Answers", data, column_widths=[c.width for c in cols], column_formats=_rust_formats(cols),
            header_format=header, autofilter=True,
            data_validations={COL_LEVEL: {"type": "list", "values": LEVELS}})
     .save())


# ------------------------------------------------------------------------------------------------ checks


def guarantees(data: bytes) -> dict[str, bool]:
    """Read a written sheet back with openpyxl and say which guarantees hold."""
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb["Answers"]
    head = [c.value for c in ws[1]]
    col = {h: i + 1 for i, h in enumerate(head)}
    rows = list(ws.iter_rows(min_row=2, max_row=min(ws.max_row, 400)))

    def cells(header: str):
        return [r[col[header] - 1] for r in rows if r[col[header] - 1].value is not None]

    floats = cells("Gap")
    dates = cells(COL_DATE)
    levels = cells(COL_LEVEL)
    texts = [c for r in rows for c in r if isinstance(c.value, str) and c.value.startswith("=")]
    inputs = [c for h in INPUT_COLS for c in cells(h)]
    others = cells("Question")
    validated = any(COL_LEVEL in str(dv.sqref) or _letter(col[COL_LEVEL]) in str(dv.sqref)
                    for dv in ws.data_validations.dataValidation if dv.type == "list")
    hidden = [h for h in head if h in ID_COLUMNS]
    return {
        "formats": bool(ws.cell(1, 1).font.b) and all(c.number_format == "0.00" for c in floats)
        and all(c.number_format == "yyyy-mm-dd" for c in dates),
        "typed": any(c.data_type == "n" for c in levels) and all(
            (c.data_type == "s") == (c.value == NA) for c in levels),
        "validation": validated,
        "protection": bool(ws.protection.sheet) and all(not c.protection.locked for c in inputs)
        and all(c.protection.locked for c in others),
        "hidden ids": bool(hidden) and all(ws.column_dimensions[_letter(col[h])].hidden for h in hidden),
        "literal '='": bool(texts) and all(c.data_type == "s" for c in texts),
    }


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


# ------------------------------------------------------------------------------------------------ run


def timed(fn: Callable[[io.BytesIO], None], reps: int) -> tuple[float, bytes]:
    runs, data = [], b""
    for _ in range(reps):
        buf = io.BytesIO()
        start = time.perf_counter()
        fn(buf)
        runs.append(time.perf_counter() - start)
        data = buf.getvalue()
    return statistics.median(runs), data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="M,L")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    try:
        import rustpy_xlsxwriter
        rust_version = rustpy_xlsxwriter.__version__
    except ImportError:
        print("rustpy-xlsxwriter is not installed (pip install rustpy-xlsxwriter); only xlsxwriter is timed")
        rust_version = None
    import xlsxwriter

    writers: list[tuple[str, Callable[[pl.DataFrame, io.BytesIO], None]]] = [
        (f"xlsxwriter {xlsxwriter.__version__}", write_xlsxwriter)]
    if rust_version:
        writers += [(f"rustpy-xlsxwriter {rust_version} (polars frame)", write_rustpy),
                    (f"rustpy-xlsxwriter {rust_version} (row dicts)",
                     lambda df, out: write_rustpy(df, out, rows=True))]
    print("| writer | size | rows | time | vs xlsxwriter | bytes | " + " | ".join(GUARANTEES) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(GUARANTEES))
    for size in args.sizes.split(","):
        df = answers(SIZES[size])
        base = None
        for name, fn in writers:
            seconds, data = timed(lambda out, fn=fn, df=df: fn(df, out), args.reps)
            base = base or seconds
            kept = guarantees(data)
            print(f"| {name} | {size} | {df.height:,} | {seconds:.2f} s | {seconds / base:.2f}x | {len(data):,} | "
                  + " | ".join("yes" if kept[g] else "**no**" for g in GUARANTEES) + " |")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
