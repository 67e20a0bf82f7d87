"""The column-wise row writer (excel.rows) writes the cells xlsxwriter's typed calls write, and no user text can
become markup or a formula on either path (issue 17)."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime

import openpyxl
import polars as pl
import pytest
import xlsxwriter

from assessment.excel import export
from assessment.excel import rows as fast_rows
from assessment.excel.safety import cell_text

HOSTILE = ["plain", "=1+1", "+x", "-y", "@z", "\tt", "\rr", "'q", "\uff1da", " lead", "trail ", 'a&b<c>d"e',
           '<r><t>a</t></r></is></c><c r="B2"><f>1+1</f></c><c r="C2" t="inlineStr"><is><r><t>b</t></r>',
           "ctl\x01\x1f", "_x0041_ esc", "\x0bvt", "line\nbreak", "\u00fc\u20ac\U0001d11e", "", None, "\u00a0nbsp"]
COLS = [export.Col("T", "t"), export.Col("I", "i", "id"), export.Col("N", "n", "int"),
        export.Col("F", "fl", "float"), export.Col("D", "d", "date"), export.Col("DT", "dt", "datetime"),
        export.Col("B", "b", "bool"), export.Col("L", "lv", "level")]


def _unescape(value: str | None) -> str | None:
    """Excel's _xHHHH_ escapes of control characters, which openpyxl leaves as they are."""
    if not value:
        return None
    out = re.sub(r"(?<!_x005F)_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), value)
    return out.replace("_x005F_x", "_x")


def _frame() -> pl.DataFrame:
    n = len(HOSTILE)
    return pl.DataFrame({
        "t": HOSTILE, "i": [f"E{k}" for k in range(n)], "n": list(range(n)),
        "fl": [k / 3 if k % 4 else None for k in range(n)],
        "d": [date(2026, 1, 1 + k) if k % 5 else None for k in range(n)],
        "dt": [datetime(2026, 5, 1, 9, k, k) for k in range(n)],
        "b": [bool(k % 2) if k % 3 else None for k in range(n)],
        "lv": ["N/A" if k % 4 == 0 else (str(k % 6) if k % 7 else None) for k in range(n)],
    })


def _book(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                   "strings_to_numbers": False, "remove_timezone": True})
    try:
        export.write_table(wb, export.Formats(wb), "T", COLS, df)
    finally:
        wb.close()
    return buf.getvalue()


@pytest.mark.parametrize("fast", [False, True], ids=["cell by cell", "column-wise"])
def test_cells_read_back_as_written(monkeypatch, fast):
    monkeypatch.setattr(fast_rows, "MIN_CELLS", 0 if fast else 10**12)
    df = _frame()
    used = []
    real = fast_rows.write
    monkeypatch.setattr(fast_rows, "write", lambda *a, **k: (used.append(1), real(*a, **k)))
    ws = openpyxl.load_workbook(io.BytesIO(_book(df)))["T"]
    assert bool(used) == fast
    got = list(ws.iter_rows(min_row=2, values_only=False))
    assert len(got) == df.height
    for row, src in zip(got, df.iter_rows(named=True)):
        assert all(c.data_type != "f" for c in row)
        text = row[0]
        assert _unescape(text.value) == (cell_text(src["t"]) if src["t"] else None)
        assert row[1].value == src["i"] and row[2].value == src["n"]
        assert row[3].value == (pytest.approx(src["fl"]) if src["fl"] is not None else None)
        assert (row[3].number_format == "0.00") if src["fl"] is not None else True
        assert (row[4].value.date() if row[4].value else None) == src["d"]
        assert row[5].value == src["dt"] and row[5].number_format == "yyyy-mm-dd hh:mm"
        assert row[6].value == (None if src["b"] is None else ("yes" if src["b"] else "no"))
        level = src["lv"]
        assert row[7].value == (None if level is None else level if level == "N/A" else int(level))


def test_column_wise_xml_matches_xlsxwriter_for_text(monkeypatch):
    """Text cells (escapes, control characters, preserved white space) are byte-identical to xlsxwriter's,
    except the one case xlsxwriter would have written as raw markup."""
    df = _frame().select("t").filter(~pl.col("t").fill_null("").str.starts_with("<r>"))
    cols = COLS[:1]

    def sheet(min_cells: int) -> str:
        monkeypatch.setattr(fast_rows, "MIN_CELLS", min_cells)
        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"constant_memory": True})
        export.write_table(wb, export.Formats(wb), "T", cols, df)
        wb.close()
        return zipfile.ZipFile(io.BytesIO(buf.getvalue())).read("xl/worksheets/sheet1.xml").decode()

    assert sheet(0) == sheet(10**12)


def test_a_sheet_written_in_batches_is_the_sheet_written_at_once(monkeypatch):
    """A streamed sheet (frames of consecutive rows, each rendered in chunks of a few cells) has exactly the
    cells of the same rows written as one frame, on both paths; the digest of its ids does not depend on how
    they were gathered."""
    df = pl.concat([_frame()] * 7)

    def sheet(parts, min_cells: int) -> str:
        monkeypatch.setattr(fast_rows, "MIN_CELLS", min_cells)
        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"constant_memory": True, "remove_timezone": True})
        assert export.write_table(wb, export.Formats(wb), "T", COLS, parts) == df.height
        wb.close()
        return zipfile.ZipFile(io.BytesIO(buf.getvalue())).read("xl/worksheets/sheet1.xml").decode()

    monkeypatch.setattr(fast_rows, "CHUNK_CELLS", 8)  # chunks of the minimum rows, several per batch
    monkeypatch.setattr(fast_rows, "chunk_rows", lambda ncols: 5)
    whole = sheet(df, 0)
    assert sheet(iter(df.iter_slices(33)), 0) == whole
    assert sheet(iter(df.iter_slices(33)), 10**12) == sheet(df, 10**12)
    assert '<row r="2">' in whole and f'<row r="{df.height + 1}">' in whole


def test_the_frame_digest_is_the_manifest_digest():
    from assessment.excel.format import manifest_digest, manifest_digest_frame

    rows = [("U1", "Q2", "10"), ("U1", "Q1", None), ("U\u00fc", "Q\U0001d11e", "9"), ("U1", "Q1", "2"),
            ('a"b\\', "\n", "x"), ("Z", "", None), ("U1", "Q10", "1")]
    ids = pl.DataFrame(rows, schema=["u", "q", "e"], orient="row")
    assert manifest_digest_frame("k", "C1", "r", ids) == manifest_digest("k", "C1", "r", rows)
    assert manifest_digest_frame("k", "C1", "r", ids.clear()) == manifest_digest("k", "C1", "r", [])
