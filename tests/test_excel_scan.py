"""The pre-parse scan of workbook XML (rows, cells, references, formulas, DTDs) finds exactly what the plain
Python regular expressions it replaced found, on real workbooks and on hostile, oddly written XML."""

from __future__ import annotations

import random
import re

import pytest

from assessment.excel import safety

# The scan as it was written before (Python bytes regexes, one pass each): the oracle.
ROW_REF = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row\b[^>]*?\sr=\"(\d+)\"")
ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s>/]")
CELL_REF = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c\b[^>]*?\sr=\"([A-Z]{1,3})(\d+)\"")
CELL_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s>/]")
FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
DTD = re.compile(rb"<!\s*(doctype|entity)", re.IGNORECASE)


def oracle(text: bytes) -> tuple:
    rows = [int(r) for r in ROW_REF.findall(text)]
    refs = CELL_REF.findall(text)
    cols = [safety._col_number(c) for c, _ in refs]
    nums = [int(r) for _, r in refs]
    # The new scan caps absurd row numbers at 2**62 (refused as too many rows either way).
    return (bool(DTD.search(text)), len(rows), min(max(rows + nums, default=0), 2 ** 62), len(ROW_TAG.findall(text)),
            len(CELL_TAG.findall(text)), len(refs), max(cols, default=0), min(nums, default=0),
            bool(FORMULA_TAG.search(text)))


def scanned(text: bytes) -> tuple:
    st = safety._Stats()
    try:
        safety._scan_text(text, "xl/worksheets/sheet1.xml", "t.xlsx", st)
    except safety.UnsafeWorkbook:
        return ("dtd",)
    return (False, st.rows_with_ref, st.max_row, st.row_tags, st.cells, st.cells_with_ref, st.max_col, st.min_row,
            st.has_formula)


def expected(text: bytes) -> tuple:
    o = oracle(text)
    return ("dtd",) if o[0] else o


CASES = [
    b'<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><f>SUM(1)</f></c></row></sheetData>',
    b'<x:row spans="1:3" r="7"><x:c s="1" r="AB7"/><x:c r="ZZZ1048576"/></x:row>',
    b'<row>\n<c\tr="C3"></c><c t="n"/><rows r="9"/><cx r="A1"/><row/><c/></row>',
    b'<row r="12"><c r="a1"/><c r="A01"/><c\x0br="Q5"/><c\x85 r="D4"/><c\xe9 r="E4"/></row>',
    b'<!DOCTYPE x [<!ENTITY a "b">]><row r="1"/>',
    b'<! entity x><row r="1"/>',
    b'<row>><c r="A1"><row x="1" r="2"><c>r="B2"</c>',
    b'<f>1</f>', b'<ns.1-a:f t="shared"/>', b'<row r="99999999999999999999"/>',
    b"\xff\xfe<row r=\"3\">\xc3\xa9<c r=\"B3\"/>",
]


@pytest.mark.parametrize("text", CASES)
def test_hand_written_cases_match_the_old_scan(text):
    assert scanned(text) == expected(text)


def test_random_xml_soup_matches_the_old_scan():
    rng = random.Random(20261202)
    pieces = [b"<row", b"<c", b"<f", b"<x:row", b"<x:c", b"<a.b:f", b" r=\"", b"r=\"", b"\"", b">", b"/>", b"<",
              b" ", b"\t", b"\n", b"A", b"ZZ", b"12", b"0", b"7", b"=", b"s=\"1\"", b"\xe9", b"\x85", b"_", b"rows",
              b"<!doctype", b"<!ENTITY", b"<!--", b"cx"]
    for _ in range(400):
        text = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 60)))
        assert scanned(text) == expected(text), text


def _workbook(path, rows: int, cols: int, cell) -> None:
    """An xlsxwriter workbook with one Answers sheet of rows x cols values cell(r, c) and a formula at AO6."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Answers")
    for r in range(rows):
        for c in range(cols):
            ws.write(r, c, cell(r, c))
    ws.write_formula(5, 40, "=1+1")
    wb.close()


def test_a_real_workbook_is_described_the_same_as_before(tmp_path):
    path = tmp_path / "w.xlsx"
    _workbook(path, 3000, 12, lambda r, c: f"v{r}-{c}")
    info = safety.check_workbook(path.read_bytes(), "w.xlsx").sheet("Answers")
    assert (info.max_row, info.max_col, info.formula_cells, info.min_row) == (3000, 41, ("AO6",), 1)


# ---- the vectorised pass (safety._scan_cells_fast): sheets as spreadsheet programs write them ---------------------

def fast(text: bytes) -> tuple | None:
    """The fast pass's stats, or None when it declines the text (the regex pass then scans it)."""
    st = safety._Stats()
    if not safety._scan_cells_fast(text, st):
        assert st == safety._Stats(), "a declined text must leave the stats untouched"
        return None
    return (st.rows_with_ref, st.max_row, st.row_tags, st.cells, st.cells_with_ref, st.max_col, st.min_row,
            st.has_formula)


def counted(text: bytes) -> tuple:
    """The oracle's counts (the DTD check is _scan_text's, before either pass)."""
    return oracle(text)[1:]


def canonical(rng: random.Random) -> bytes:
    """A sheet the way Excel, LibreOffice, openpyxl and xlsxwriter write one, rows and cells in any order."""
    out = [b'<?xml version="1.0"?><worksheet><dimension ref="A1:C3"/><cols><col min="1"/></cols><sheetData>']
    for _ in range(rng.randint(0, 12)):
        r = rng.choice([1, 2, 9, 10, 99, 1000, 65536, 1048576, 99999999, rng.randint(1, 10 ** 7)])
        out.append(b'<row r="%d" spans="1:3">' % r if rng.random() < 0.7 else b'<row r="%d">' % r)
        for _ in range(rng.randint(0, 6)):
            col = rng.choice(["A", "Z", "AA", "AZ", "ZZ", "AAA", "XFD", "ZZZ", "Q"])
            row = rng.choice([r, rng.randint(1, 10 ** 6)])
            body = rng.choice([b'<c r="%s%d" s="1" t="inlineStr"><is><t>x &lt;c r="ZZZ9"&gt; :c</t></is></c>',
                               b'<c r="%s%d"><v>1</v></c>', b'<c r="%s%d"/>', b'<c r="%s%d" t="s"><v>0</v></c>',
                               b'<c r="%s%d"><f>SUM(A1)</f><v>2</v></c>', b'<c r="%s%d" s="3"></c>'])
            out.append(body % (col.encode(), row))
        out.append(b"</row>")
    out.append(b'</sheetData><mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells>'
               b'<conditionalFormatting><cfRule type="x"/></conditionalFormatting></worksheet>')
    return b"".join(out)


def test_the_fast_pass_covers_spreadsheet_programs_sheets_and_counts_what_the_old_scan_counted():
    rng = random.Random(17)
    for _ in range(300):
        text = canonical(rng)
        assert fast(text) == counted(text), text
        assert scanned(text) == expected(text), text


def test_the_fast_pass_declines_what_it_does_not_cover_and_the_regex_pass_scans_it_exactly():
    rng = random.Random(18)
    edits = [(b'<c r="', b'<c s="1" r="'), (b'<c r="', b'<x:c r="'), (b'<row r="', b'<row>'), (b'<c r="', b'<c>'),
             (b'<c r="', b'<c\tr="'), (b'"1" s', b'"01" s'), (b'<row r="', b'<row spans="1:2" r="'),
             (b'</t>', b'</t><c r="AAAA1"/>'), (b'</t>', b'</t><c r="a1"/>'), (b'</t>', b'</t><c r="A123456789"/>'),
             (b'</t>', b'</t><c r="A"/>'), (b'</t>', b'</t><c r=""/>'), (b'<c r="', b'<c  r="'),
             (b'<f>', b'<ns:f>'), (b'</t>', b'</t><x:row r="5"/>'), (b'</t>', b'</t><c\xe9 r="E4"/>'),
             (b'</t>', b'</t><c r="A1'), (b'</t>', b'</t><c/>'), (b'</t>', b'</t><row/>')]
    declined = 0
    for _ in range(400):
        text = canonical(rng)
        old, new = rng.choice(edits)
        text = text.replace(old, new, rng.randint(1, 3))
        got = fast(text)
        declined += got is None
        if got is not None:
            assert got == counted(text), (old, new, text)
        assert scanned(text) == expected(text), (old, new, text)
    assert declined > 100   # the edits above mostly leave the covered shape


@pytest.mark.parametrize("text", CASES)
def test_the_fast_pass_agrees_on_the_hand_written_cases_it_takes(text):
    got = fast(text)
    assert got is None or got == counted(text)


def test_a_real_workbook_takes_the_fast_pass(tmp_path):
    import zipfile

    path = tmp_path / "w.xlsx"
    _workbook(path, 200, 30, lambda r, c: f"v{r}-{c}" if c % 2 else r * c)
    text = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    assert fast(text) == counted(text) and counted(text)[5:] == (41, 1, True)
