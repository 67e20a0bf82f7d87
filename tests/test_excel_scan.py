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


def test_a_real_workbook_is_described_the_same_as_before(tmp_path):
    import xlsxwriter

    path = tmp_path / "w.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Answers")
    for r in range(3000):
        for c in range(12):
            ws.write(r, c, f"v{r}-{c}")
    ws.write_formula(5, 40, "=1+1")
    wb.close()
    info = safety.check_workbook(path.read_bytes(), "w.xlsx").sheet("Answers")
    assert (info.max_row, info.max_col, info.formula_cells, info.min_row) == (3000, 41, ("AO6",), 1)
