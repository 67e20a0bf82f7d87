"""Hostile and broken files: each refused with a clear message (naming sheet, row and column where there is one)
and the database left exactly as it was (row counts and content hashes of every table an import touches)."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from datetime import date

import fastexcel
import openpyxl
import pytest

from assessment.excel import export as excel_export
from assessment.excel import importer as excel_import
from assessment.excel import template as excel_template
from assessment.excel.safety import Limits, UnsafeWorkbook, check_workbook
from assessment.model import Answer

from .helpers.excel import (
    ADMIN,
    TODAY,
    edit,
    fingerprint,
    member,
    rezip,
    save,
    save_workbook,
    sheet_member,
    workbook,
)


@pytest.fixture
def dbx(org):
    save(org, "U1", [Answer("GOV-01", 2, evidence="policy", evidence_date=date(2026, 1, 1))])
    save(org, "U2", [Answer("GOV-01", 1)])
    return org


def template(db, unit="U1") -> bytes:
    buf = io.BytesIO()
    excel_template.unit_template(db, ADMIN, "C1", unit, buf, today=TODAY)
    return buf.getvalue()


def pack(db) -> bytes:
    buf = io.BytesIO()
    excel_export.auditor_pack(db, ADMIN, "C1", buf, today=TODAY)
    return buf.getvalue()


def refused(db, data: bytes, *expected: str, name: str = "hostile.xlsx", **kw) -> list[str]:
    """Commit the file: it must be refused with every expected message, and nothing may change."""
    before = fingerprint(db)
    result = excel_import.commit(db, ADMIN, data, name, today=TODAY, **kw)
    problems = [str(p) for p in result.problems]
    assert not result.committed and result.written == 0
    for text in expected:
        assert any(text in p for p in problems), (text, problems)
    assert fingerprint(db) == before
    return problems


# ---- before any parser: zip bombs, entities, macros, non-Excel files -------------------------------------------

def test_zip_bomb_with_a_huge_compression_ratio(dbx):
    big = b"<x>" + b" " * (40 * 1024 * 1024) + b"</x>"
    data = rezip(template(dbx), add={"xl/media/padding.xml": big})
    assert len(data) < 200 * 1024
    refused(dbx, data, "(file): the part xl/media/padding.xml is compressed", "zip bomb?")


def _lie_about_size(data: bytes, name: str, declared: int) -> bytes:
    """Patch both zip headers of a member so it claims to inflate to `declared` bytes."""
    buf = bytearray(data)
    raw = name.encode()
    local = buf.find(b"PK\x03\x04")
    while local != -1:
        n = struct.unpack("<H", buf[local + 26:local + 28])[0]
        if bytes(buf[local + 30:local + 30 + n]) == raw:
            struct.pack_into("<I", buf, local + 22, declared)
            break
        local = buf.find(b"PK\x03\x04", local + 4)
    central = buf.find(b"PK\x01\x02")
    while central != -1:
        n = struct.unpack("<H", buf[central + 28:central + 30])[0]
        if bytes(buf[central + 46:central + 46 + n]) == raw:
            struct.pack_into("<I", buf, central + 24, declared)
            break
        central = buf.find(b"PK\x01\x02", central + 4)
    return bytes(buf)


def test_zip_bomb_that_lies_about_its_size(dbx):
    body = b"<x>" + b"A" * (3 * 1024 * 1024) + b"</x>"
    data = _lie_about_size(rezip(template(dbx), add={"xl/media/lie.xml": body}), "xl/media/lie.xml", 1000)
    assert zipfile.ZipFile(io.BytesIO(data)).getinfo("xl/media/lie.xml").file_size == 1000
    refused(dbx, data, "the part xl/media/lie.xml expands beyond its declared size")


def test_sparse_sheet_that_would_make_a_reader_allocate_gigabytes(dbx):
    data = template(dbx)
    sheet = sheet_member(data, "Answers")
    xml = member(data, sheet).replace(
        b"</sheetData>", b'<row r="900000"><c r="XFD900000" t="inlineStr"><is><t>far</t></is></c></row></sheetData>')
    refused(dbx, rezip(data, {sheet: xml}), "the sheet 'Answers' spans 900,000 rows x 16,384 columns")
    # The same sheet under a part name that does not end in .xml (readers follow the relationship, so do we).
    renamed = sheet.replace(".xml", ".bin")
    rels = member(data, "xl/_rels/workbook.xml.rels").replace(sheet.split("/", 1)[1].encode(),
                                                             renamed.split("/", 1)[1].encode())
    types = member(data, "[Content_Types].xml").replace(f"/{sheet}".encode(), f"/{renamed}".encode())
    moved = rezip(data, {sheet: None, "xl/_rels/workbook.xml.rels": rels, "[Content_Types].xml": types},
                  {renamed: xml})
    refused(dbx, moved, "the sheet 'Answers' spans 900,000 rows x 16,384 columns")


LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b"]>")


def _with_shared_strings(data: bytes, sst: bytes) -> bytes:
    """Add a shared-strings part (as Excel and LibreOffice write them) with its content type and relationship."""
    types = member(data, "[Content_Types].xml").replace(b"</Types>", (
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        b'spreadsheetml.sharedStrings+xml"/></Types>'))
    rels = member(data, "xl/_rels/workbook.xml.rels").replace(b"</Relationships>", (
        b'<Relationship Id="rIdSst" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        b'sharedStrings" Target="sharedStrings.xml"/></Relationships>'))
    return rezip(data, {"[Content_Types].xml": types, "xl/_rels/workbook.xml.rels": rels},
                 {"xl/sharedStrings.xml": sst})


SST = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
       b"<si><t>&lol9;</t></si></sst>")


def test_billion_laughs_in_shared_strings(dbx):
    data = template(dbx)
    assert excel_import.analyse(dbx, ADMIN, _with_shared_strings(data, SST.replace(b"&lol9;", b"ok")), "x.xlsx",
                                today=TODAY).ok
    refused(dbx, _with_shared_strings(data, LAUGHS + SST),
            "the part xl/sharedStrings.xml declares a DOCTYPE or ENTITY")


def test_entity_declaration_in_a_sheet(dbx):
    data = pack(dbx)
    sheet = sheet_member(data, "Answers")
    xml = member(data, sheet)
    evil = xml.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', 1)
    refused(dbx, rezip(data, {sheet: evil}), f"the part {sheet} declares a DOCTYPE or ENTITY")


def test_utf16_xml_that_would_hide_a_doctype_is_refused(dbx):
    data = template(dbx)
    sheet = sheet_member(data, "Answers")
    xml = (b'<?xml version="1.0" encoding="UTF-16"?>' + member(data, sheet)).decode("utf-8")
    refused(dbx, rezip(data, {sheet: xml.encode("utf-16")}), f"the part {sheet} is UTF-16/32 encoded XML")


def test_workbook_with_macros(dbx):
    data = template(dbx)
    types = member(data, "[Content_Types].xml").replace(
        b"</Types>", b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>')
    evil = rezip(data, {"[Content_Types].xml": types}, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" + os.urandom(512)})
    refused(dbx, evil, "the workbook contains macros or active content (xl/vbaProject.bin)")
    xlsm = member(data, "[Content_Types].xml").replace(
        b"spreadsheetml.sheet.main+xml", b"ms-excel.sheet.macroEnabled.main+xml")
    refused(dbx, rezip(data, {"[Content_Types].xml": xlsm}), "macros or active content (content type")
    refused(dbx, rezip(data, add={"xl/activeX/activeX1.xml": b"<ax/>"}), "(xl/activeX/activeX1.xml)")


@pytest.mark.parametrize("content, reason", [
    (b"unit,question,level\nU1,GOV-01,5\n", "not an Excel .xlsx workbook (a text file (CSV?)"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "not an Excel .xlsx workbook (a PDF document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "encrypted (password-protected) workbook or an old binary .xls"),
    (os.urandom(2048).replace(b"PK", b"pk"), "not an Excel .xlsx workbook"),
    (b"", "the file is empty (0 bytes)"),
])
def test_files_that_are_not_excel_workbooks(dbx, content, reason):
    refused(dbx, content, reason)


def test_other_zip_files_renamed_xlsx(dbx):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("word/document.xml", "<w:document/>")
    refused(dbx, out.getvalue(), "not an Excel .xlsx workbook (a Word document renamed .xlsx)")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("notes.txt", "hello")
    refused(dbx, out.getvalue(), "not an Excel .xlsx workbook (a zip archive, not an Excel workbook)")


def test_file_over_the_size_limit(dbx, monkeypatch):
    data = template(dbx)
    monkeypatch.setenv("ITSCM_IMPORT_MAX_BYTES", str(len(data) - 1))
    refused(dbx, data, "over the import limit of")
    monkeypatch.setenv("ITSCM_IMPORT_MAX_BYTES", str(len(data)))
    assert excel_import.analyse(dbx, ADMIN, data, "ok.xlsx", today=TODAY).ok


def test_size_limit_stops_reading_a_stream_early():
    class Endless(io.RawIOBase):
        read_bytes = 0

        def read(self, n=-1):
            self.read_bytes += n
            return b"x" * n

    stream = Endless()
    with pytest.raises(UnsafeWorkbook, match="more than 1.0 MB"):
        check_workbook(stream, "stream.xlsx", Limits(max_bytes=1024 * 1024))
    assert stream.read_bytes <= 1024 * 1024 + 1


# ---- parsed but wrong: every problem with sheet, row and column -----------------------------------------------

def test_empty_workbook(dbx):
    refused(dbx, save_workbook(openpyxl.Workbook()), "(file): the workbook is empty")


def test_missing_sheet_and_missing_columns(dbx):
    wb = workbook(template(dbx))
    del wb["_ids"]
    refused(dbx, save_workbook(wb), "_ids: missing sheet '_ids' (hidden sheet")
    wb = workbook(template(dbx))
    wb["Answers"].delete_cols(5)  # Level
    refused(dbx, save_workbook(wb), "Answers, row 1, column 'Level': missing column 'Level'")


def test_levels_out_of_range_and_not_levels(dbx):
    data = edit(template(dbx), [("GOV-01", "Level", 7), ("GOV-02", "Level", -1), ("TEST-01", "Level", 3.5),
                               ("TEST-02", "Level", "high")])
    refused(dbx, data,
            "Answers, row 2, column 'Level' (E2): level 7 is out of range",
            "Answers, row 3, column 'Level' (E3): level -1 is out of range",
            "Answers, row 4, column 'Level' (E4): '3.5' is not a level",
            "Answers, row 5, column 'Level' (E5): 'high' is not a level")


def test_text_where_a_date_belongs_and_dates_in_the_future(dbx):
    data = edit(template(dbx), [("GOV-01", "Evidence date", "last spring"),
                                ("GOV-02", "Evidence date", "31/12/2025"),
                                ("TEST-02", "Evidence date", date(2027, 1, 1)),
                                ("TEST-01", "Evidence date", "2026-02-30")])
    refused(dbx, data,
            "Answers, row 2, column 'Evidence date' (I2): 'last spring' is not a date",
            "Answers, row 3, column 'Evidence date' (I3): '31/12/2025' is not a date",
            "Answers, row 4, column 'Evidence date' (I4): '2026-02-30' is not a date",
            "Answers, row 5, column 'Evidence date' (I5): evidence date 2027-01-01 is in the future")


def test_na_rules(dbx):
    data = edit(template(dbx), [("GOV-01", "Level", "N/A"), ("GOV-01", "N/A reason", "why not"),
                               ("TEST-01", "Level", "N/A"), ("TEST-02", "Level", 2),
                               ("TEST-02", "N/A reason", "stray reason"), ("GOV-02", "Evidence URL", "javascript:x")])
    refused(dbx, data,
            "row 2, column 'Level' (E2): N/A is not allowed for question GOV-01",
            "row 4, column 'N/A reason' (F4): N/A needs a reason",
            "row 5, column 'N/A reason' (F5): an N/A reason is given but the level is not N/A",
            "row 3, column 'Evidence URL' (H3): 'javascript:x' is not a link")


def test_formula_in_a_value_cell_is_reported_never_evaluated(dbx):
    wb = workbook(template(dbx))
    ws = wb["Answers"]
    ws["E2"] = "=2+2"  # openpyxl stores a real formula (no cached value)
    refused(dbx, save_workbook(wb), "Answers, row 2, column 'Level' (E2): the cell holds a formula")


def _ids_rows(wb) -> list[tuple]:
    ws = wb["_ids"]
    return [tuple("" if v is None else str(v) for v in r) for r in ws.iter_rows(min_row=2, values_only=True)]


def _reseal(wb) -> None:
    """Recompute the _meta digest from the (edited) _ids sheet, as a careful forger would."""
    meta = {r[0].value: r[1] for r in wb["_meta"].iter_rows() if r[0].value}
    rows = [(u, q, e) for _, u, q, e in _ids_rows(wb)]
    meta["digest"].value = excel_export.manifest_digest(meta["kind"].value, meta["campaign_id"].value,
                                                        meta["template_id"].value or "", rows)


def _retarget(data: bytes, old: tuple[str, str], new: tuple[str, str]) -> bytes:
    """Consistently rename a row's unit/question everywhere (visible, hidden columns, _ids) and reseal."""
    wb = workbook(data)
    ws = wb["Answers"]
    h = {c.value: c.column for c in ws[1]}
    for r in range(2, ws.max_row + 1):
        if (ws.cell(r, h["id:unit"]).value, ws.cell(r, h["id:question"]).value) == old:
            ws.cell(r, h["id:unit"]).value, ws.cell(r, h["id:question"]).value = new
            ws.cell(r, h["Question ID"]).value = new[1]
            if "Unit ID" in h:
                ws.cell(r, h["Unit ID"]).value = new[0]
    for row in wb["_ids"].iter_rows(min_row=2):
        if (row[1].value, row[2].value) == old:
            row[1].value, row[2].value = new
    _reseal(wb)
    return save_workbook(wb)


def test_unknown_question_and_unit_ids(dbx):
    data = _retarget(pack(dbx), ("U1", "GOV-02"), ("U1", "GOV-99"))
    data = _retarget(data, ("U3", "TEST-01"), ("U9", "TEST-01"))
    problems = refused(dbx, data, "column 'id:question'", "unknown question id 'GOV-99': not in mini@1.0.0",
                       "unknown unit id 'U9': not a unit of campaign C1")
    assert not any("digest" in p for p in problems)  # a consistent forgery: only the ids themselves are wrong


def test_tampered_hidden_ids(dbx):
    data = template(dbx)
    # 1. a row's hidden question id changed: it no longer matches its visible id nor the issued ids
    one = edit(data, [("GOV-01", "id:question", "TEST-02")])
    refused(dbx, one, "Answers, row 2, column 'Question ID' (A2): the question id 'GOV-01' does not match",
            "row 2, column 'id:question' (W2): the hidden ids of this row (U1/TEST-02, event 1) are not the ones",
            "duplicate row: U1/TEST-02 appears in rows 2, 5")
    # 2. the hidden _ids sheet edited: its digest no longer matches
    wb = workbook(data)
    wb["_ids"]["D2"] = "12345"
    refused(dbx, save_workbook(wb), "_ids: the hidden ids were edited")
    # 3. everything edited and resealed: the template's issue record in the audit trail still disagrees
    wb = workbook(data)
    ws = wb["Answers"]
    h = {c.value: c.column for c in ws[1]}
    ws.cell(2, h["id:base_event"]).value = "999"
    wb["_ids"]["D2"] = "999"
    _reseal(wb)
    refused(dbx, save_workbook(wb), "_meta, column 'digest': the hidden ids differ from those recorded when template")
    # 4. a template id this database never issued
    wb = workbook(data)
    meta = {r[0].value: r[1] for r in wb["_meta"].iter_rows() if r[0].value}
    meta["template_id"].value = "0" * 32
    _reseal(wb)
    refused(dbx, save_workbook(wb), "was not issued by this application's database")
    # 5. a hidden event id that is not a number, and a row moved to another unit
    refused(dbx, edit(data, [("GOV-01", "id:base_event", "abc")]), "(X2): hidden id 'abc' is not an event number")
    refused(dbx, edit(data, [("GOV-01", "id:unit", "U2")]), "unit 'U2' in a template issued for unit 'U1'")


def test_duplicate_rows(dbx):
    wb = workbook(pack(dbx))
    ws = wb["Answers"]
    values = [c.value for c in ws[3]]
    ws.append(values)
    refused(dbx, save_workbook(wb), f"duplicate row: U1/{values[5]} appears in rows 3, {ws.max_row}")


def test_every_problem_is_reported_at_once(dbx):
    data = edit(template(dbx), [("GOV-01", "Level", 8), ("GOV-01", "Evidence date", "soon"),
                               ("GOV-02", "Level", "N/A"), ("TEST-01", "Level", "N/A"),
                               ("TEST-02", "Evidence date", date(2030, 1, 1)), ("TEST-02", "Evidence URL", "ftp:x")])
    problems = refused(dbx, data)
    assert len(problems) == 7, problems
    assert all(p.startswith("Answers, row ") and "column '" in p for p in problems)


def test_analyse_never_raises_for_a_broken_file(dbx):
    for content in (b"PK\x03\x04garbage", b"PK\x05\x06" + bytes(18), os.urandom(100)):
        result = excel_import.analyse(dbx, ADMIN, content, "broken.xlsx", today=TODAY)
        assert result.problems and result.problems[0].sheet == "(file)"


# ---- issue 13 items 7 and 14: unusual digits, extra sheets ------------------------------------------------------

UNUSUAL = [
    ("Level", "\uff13", "(E2): '\uff13' is not a level"),                          # full-width 3
    ("Level", "\u0663", "(E2): '\u0663' is not a level"),                          # Arabic-Indic 3
    ("Level", "12345678901234567890", "(E2): '12345678901234567890' is not a level"),
    ("Level", 12345678901234567890, "(E2): '"),                                    # a number cell
    ("Evidence date", "\uff12\uff10\uff12\uff16-01-01", "(I2): '\uff12\uff10\uff12\uff16-01-01' is not a date"),
    ("id:base_event", "\uff13", "(X2): hidden id '\uff13' is not an event number"),
    ("id:base_event", "\u0663", "(X2): hidden id '\u0663' is not an event number"),
    ("id:base_event", "12345678901234567890", "(X2): hidden id '12345678901234567890' is not an event number"),
]


@pytest.mark.parametrize("header, value, expected", UNUSUAL, ids=[f"{h}={v!r}" for h, v, _ in UNUSUAL])
def test_unusual_digits_get_a_named_cell_error_in_dry_run_and_commit(dbx, header, value, expected):
    data = edit(template(dbx), [("GOV-01", header, value)])
    dry = excel_import.analyse(dbx, ADMIN, data, "digits.xlsx", today=TODAY)
    assert any(p.startswith("Answers, row 2, column ") and expected in p for p in map(str, dry.problems)), dry.problems
    problems = refused(dbx, data, expected)
    assert all(p.startswith("Answers, row 2, column ") for p in problems if expected in p)


def test_an_extra_sheet_is_reported_never_silently_ignored(dbx):
    wb = workbook(template(dbx))
    notes = wb.create_sheet("Notes")
    notes["B3"] = "=HYPERLINK(\"http://evil\",\"x\")"
    refused(dbx, save_workbook(wb), "Notes: the sheet 'Notes' is not part of a unit template",
            "Notes, row 3, cell B3: the cell holds a formula")
    # A copy of the Answers sheet filled in instead of the original: its answers would be lost without a word.
    wb = workbook(template(dbx))
    copy = wb.copy_worksheet(wb["Answers"])
    copy["E2"] = 4
    refused(dbx, save_workbook(wb), f"{copy.title}: the sheet '{copy.title}' is not part of a unit template")
    # An auditor pack: its own sheets are expected (About, Scores, ...), a new one is not.
    wb = workbook(pack(dbx))
    wb.create_sheet("Working notes")["A1"] = "checked"
    refused(dbx, save_workbook(wb), "Working notes: the sheet 'Working notes' is not part of an auditor pack")


def test_a_zip_needing_a_newer_zip_version_is_refused_not_a_crash(dbx):
    """Found by the mutation fuzzer: a central directory entry claiming "needs zip version 22.7" made
    zipfile raise NotImplementedError (a traceback) instead of a named refusal."""
    buf = bytearray(template(dbx))
    central = buf.find(b"PK\x01\x02")
    struct.pack_into("<H", buf, central + 6, 227)  # version needed to extract
    refused(dbx, bytes(buf), "(file): the file is damaged or not an Excel workbook (zip: zip file version 22.7)")


# ---- sheets the import never reads: not inflated, not scanned, and not given to the parser ------------------------

def _unread_variants(data: bytes) -> dict[str, bytes]:
    """The pack with its Gaps sheet (a report sheet the answer import never opens) made hostile in every way."""
    gaps = sheet_member(data, "Gaps")
    xml = member(data, gaps)
    far = xml.replace(b"</sheetData>", b'<row r="900000"><c r="XFD900000" t="inlineStr"><is><t>far</t></is></c>'
                                       b'</row></sheetData>')
    return {
        "entities": rezip(data, {gaps: xml.replace(b"?>", b"?>" + LAUGHS, 1)}),
        "area": rezip(data, {gaps: far}),
        "formula": rezip(data, {gaps: xml.replace(b"</sheetData>", b'<row r="99999"><c r="B99999"><f>1+1</f>'
                                                                   b"</c></row></sheetData>")}),
        "size lie": _lie_about_size(rezip(data, {gaps: xml + b" " * 4096}), gaps, len(xml)),
        "utf-16": rezip(data, {gaps: xml.decode().encode("utf-16")}),
        "not xml": rezip(data, {gaps: b"\x00\x01 not xml at all <<<"}),
    }


def test_an_unread_sheet_cannot_change_what_is_imported(dbx):
    from assessment.excel.format import UNREAD_SHEETS
    from assessment.excel.reading import open_reader

    data = pack(dbx)
    gaps = sheet_member(data, "Gaps")
    clean = excel_import.analyse(dbx, ADMIN, data, "pack.xlsx", today=TODAY)
    assert clean.ok and clean.diff.height
    for what, hostile in _unread_variants(data).items():
        result = excel_import.analyse(dbx, ADMIN, hostile, "pack.xlsx", today=TODAY)
        assert result.ok, (what, [str(p) for p in result.problems])
        assert result.diff.equals(clean.diff), what
        # The parser is given every part but the unread sheets', byte for byte, so nothing it does can depend on them.
        checked = check_workbook(hostile, "pack.xlsx", skip=UNREAD_SHEETS)
        unread = {s.member for s in checked.sheets if not s.scanned}
        assert gaps in unread and {s.name for s in checked.sheets if s.scanned} == {"Answers", "_meta", "_ids"}
        assert checked.sha256 != clean.sha256
        given, sent = zipfile.ZipFile(io.BytesIO(checked.data)), zipfile.ZipFile(io.BytesIO(hostile))
        assert given.testzip() is None
        assert given.namelist() == [n for n in sent.namelist() if n not in unread]
        assert all(given.read(n) == sent.read(n) for n in given.namelist())
        assert [i.compress_type for i in given.infolist()] == [i.compress_type for i in sent.infolist()
                                                                 if i.filename not in unread]
        with pytest.raises(fastexcel.FastExcelError, match="not found"):
            open_reader(checked).load_sheet("Gaps")
        # Without skip (any other import), the same file is refused or scanned in full.
        if what in ("entities", "area", "size lie", "utf-16"):
            with pytest.raises(UnsafeWorkbook):
                check_workbook(hostile, "pack.xlsx")


def test_the_zip_checks_still_cover_an_unread_sheet(dbx):
    data = pack(dbx)
    gaps = sheet_member(data, "Gaps")
    refused(dbx, _lie_about_size(data, gaps, 300 * 1024 * 1024), f"the part {gaps} would expand to")
    refused(dbx, rezip(data, add={"xl/worksheets/vbaProject.bin": b"x"}), "contains macros")


def test_an_unread_sheet_sharing_its_part_with_a_read_sheet_is_scanned(dbx):
    data = pack(dbx)
    answers, gaps = sheet_member(data, "Answers"), sheet_member(data, "Gaps")
    rels = member(data, "xl/_rels/workbook.xml.rels")
    # Answers now reads the part issued for Gaps, which holds a far cell: the part is a read sheet's, so scanned.
    rels = rels.replace(f'Target="{answers[3:]}"'.encode(), f'Target="{gaps[3:]}"'.encode())
    far = member(data, gaps).replace(b"</sheetData>", b'<row r="900000"><c r="XFD900000"/></row></sheetData>')
    refused(dbx, rezip(data, {"xl/_rels/workbook.xml.rels": rels, gaps: far}),
            "the sheet 'Answers' spans 900,000 rows x 16,384 columns")


def test_a_report_sheet_in_a_template_is_still_refused(dbx):
    # Sheets are skipped by name (an auditor pack's report sheets); in a unit template such a sheet is not expected.
    wb = workbook(template(dbx))
    wb.create_sheet("Gaps")["C4"] = "=1+1"
    refused(dbx, save_workbook(wb), "Gaps: the sheet 'Gaps' is not part of a unit template")
