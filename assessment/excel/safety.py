"""Excel safety: checks an uploaded workbook BEFORE any parser sees it, and keeps user text literal on export.

Import side (check_workbook): every limit is checked on the raw bytes, and every zip member is inflated
by this module (not by a parser) with a hard cap, so nothing downstream can be made to allocate more than
the limits allow:

- size: at most ``Limits.max_bytes`` (settings.import_max_bytes, 10 MB by default), checked before reading on;
- file kind: an encrypted/password-protected workbook or an old binary .xls (OLE compound file), a PDF, a
  text/CSV file or an OpenDocument/Word/PowerPoint file renamed .xlsx is named as such and refused;
- zip: member count, declared and *actual* uncompressed size (a member that inflates past its declared size
  is refused, as is a wrong CRC), per-member and overall compression ratio, encrypted members, compression
  methods other than stored/deflate, duplicate or absolute member names;
- content: the xlsx content types must be present; macros (vbaProject.bin, .xlsm/.xltm/.xlam/.xlsb content
  types, Excel 4 macro sheets), ActiveX controls and embedded OLE objects are refused; any member containing
  ``<!DOCTYPE`` or ``<!ENTITY`` (entity expansion, external entities) is refused, and so is UTF-16/32 XML,
  which would hide those markers from a byte scan;
- worksheets: the cell area (rows x columns a reader allocates) is capped, which stops a tiny file with two
  far-apart cells from making a reader allocate gigabytes; cells holding formulas are listed so the import
  can report them (formulas are never evaluated).

Sheets a caller never opens (check_workbook's `skip`: an auditor pack's report sheets, over half its bytes) are
listed but their parts are neither inflated nor scanned, and they are not in the bytes handed to the parser
(CheckedWorkbook.data): every other part is copied there as it was, so what the import reads cannot depend on
them. The zip checks (sizes, ratios, names, macros, encryption) still cover every part.

Export side (literal_text): no cell written from user text can become a formula. Text whose first character
is one of ``= + - @``, tab or carriage return (or the full-width ``＝ ＋ － ＠``, which some Excel input
methods treat the same way) is written with the *string* cell type AND prefixed with one apostrophe ``'``.
The string type alone already stops Excel evaluating the cell when the file opens; the visible apostrophe
keeps it literal when someone edits the cell and presses Enter, when the sheet is copied to CSV, or when it
is opened by a tool that re-parses cell text. We deliberately do not rely on Excel's hidden "quotePrefix"
style, which CSV exports, LibreOffice round trips and other readers drop. Text that already starts with an
apostrophe gets one more, so ``from_literal`` (used by the import) restores every value exactly.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl
from defusedxml import ElementTree as SafeET
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import EngineError
from ..settings import load as load_settings

# ---------------------------------------------------------------------------------------------- export side

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
QUOTE = "'"


def literal_text(value: object) -> str:
    """Text safe to store in a cell: never a formula, and reversible with from_literal()."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_TRIGGERS) or text.startswith(QUOTE):
        return QUOTE + text
    return text


MAX_CELL = 32767  # characters Excel keeps in one cell
TRUNCATED = " [truncated: the full text is in the application]"


def cell_text(value: object) -> str:
    """User text for a cell: literal (never a formula) and within Excel's 32,767 characters."""
    text = literal_text(value)
    if len(text) > MAX_CELL:
        text = text[:MAX_CELL - len(TRUNCATED)] + TRUNCATED
    return text


def from_literal(text: str) -> str:
    """Undo literal_text(): drop the one apostrophe it added (and only that one)."""
    if len(text) > 1 and text[0] == QUOTE and (text[1] == QUOTE or text[1:].startswith(FORMULA_TRIGGERS)):
        return text[1:]
    return text


_LITERAL = "^" + re.escape(QUOTE) + "[" + "".join(re.escape(c) for c in (QUOTE, *FORMULA_TRIGGERS)) + "]"


_NEEDS_QUOTE = "^[" + "".join(re.escape(c) for c in (QUOTE, *FORMULA_TRIGGERS)) + "]"


def literal_text_expr(expr: pl.Expr) -> pl.Expr:
    """literal_text over a polars column (nulls become '')."""
    text = expr.cast(pl.String).fill_null("")
    return pl.when(text.str.contains(_NEEDS_QUOTE)).then(QUOTE + text).otherwise(text).name.keep()


def from_literal_expr(expr: pl.Expr) -> pl.Expr:
    """from_literal over a polars column of cell text."""
    return pl.when(expr.str.contains(_LITERAL)).then(expr.str.slice(1)).otherwise(expr)


# ---------------------------------------------------------------------------------------------- import side

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
WORKBOOK_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
}
MACRO_TYPES = ("macroenabled", "vbaproject", "activex", "macrosheet", "oleobject", "sheet.binary")
MACRO_NAMES = re.compile(
    r"(^|/)(vbaProject\.bin|vbaProjectSignature[^/]*\.bin|vbaData\.xml)$|(^|/)(macrosheets|activeX)/"
    r"|(^|/)embeddings/oleObject[^/]*$", re.IGNORECASE)
DTD_MARKER = re.compile(rb"<!\s*(doctype|entity)", re.IGNORECASE)
CELL_OR_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(c|f)[\s>/]([^>]*)")
R_ATTR = re.compile(rb"\sr=\"([A-Z]{1,3}\d+)\"")
NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
NS_CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
CHUNK = 1 << 16
SCAN_BATCH = 1 << 22    # bytes of inflated XML scanned at once: few calls into polars, bounded memory
# What the scan counts, in the syntax of polars' regex engine, ASCII only: \w and \s spelled out, since Rust's are
# Unicode-aware and Python's bytes patterns are not.
_PREFIX = "(?:[A-Za-z_][A-Za-z0-9_.-]*:)?"
_SP = "[ \\t\\n\\r\\f\\v]"
SCAN_PATTERNS = {
    # Python's `row\b[^>]*?\s`: the character after the name is a non-word one, and not the tag's end.
    "row_ref": "<" + _PREFIX + "row(?:[^A-Za-z0-9_>][^>]*?)?" + _SP + 'r="[0-9]+"',
    "row_tag": "<" + _PREFIX + "row(?:" + _SP + "|[>/])",
    "cell_ref": "<" + _PREFIX + "c(?:[^A-Za-z0-9_>][^>]*?)?" + _SP + 'r="[A-Z]{1,3}[0-9]+"',
    "cell_tag": "<" + _PREFIX + "c(?:" + _SP + "|[>/])",
    "formula": "<" + _PREFIX + "f(?:" + _SP + "|[>/])",
}


class UnsafeWorkbook(EngineError):
    """The file was refused before any parser ran; the message says why, in terms a user can act on."""

    def __init__(self, file: str, reason: str):
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: {reason}")


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * 1024 * 1024
    max_members: int = 1000
    max_uncompressed: int = 200 * 1024 * 1024   # all members together, actually inflated
    max_ratio: float = 200.0                     # per member and overall (deflate tops out near 1030)
    ratio_floor: int = 1024 * 1024               # members smaller than this may compress as well as they like
    max_cells: int = 5_000_000                   # rows x columns a reader would allocate for one sheet

    @classmethod
    def from_settings(cls) -> Limits:
        settings = load_settings()
        return cls(max_bytes=settings.import_max_bytes, max_uncompressed=settings.import_max_uncompressed,
                   max_cells=settings.import_max_cells)


@dataclass(frozen=True)
class SheetInfo:
    name: str
    member: str
    state: str                      # visible, hidden or veryHidden
    max_row: int
    max_col: int
    formula_cells: tuple[str, ...]  # A1 references of cells that hold a formula
    min_row: int = 1                # first row holding a cell (where a reader's range starts)
    scanned: bool = True            # False: a sheet the caller said it never opens (its cells were not scanned)


@dataclass(frozen=True)
class CheckedWorkbook:
    """A workbook that passed every check: the bytes to parse (the upload without the parts of sheets nobody
    reads) and what was learnt about them; sha256 and size are the upload's."""

    file: str
    data: bytes = field(repr=False)
    sha256: str
    size: int
    sheets: tuple[SheetInfo, ...]

    def sheet(self, name: str) -> SheetInfo | None:
        for s in self.sheets:
            if s.name == name:
                return s
        return None


def read_capped(source: str | Path | BinaryIO | bytes, limit: int, file: str = "upload") -> bytes:
    """Read at most limit bytes; refuse (without reading the rest) anything larger."""
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    elif isinstance(source, str | Path):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise UnsafeWorkbook(file, f"cannot read the file: {exc.strerror or exc}") from exc
        if size > limit:
            raise UnsafeWorkbook(file, _too_big(size, limit))
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    else:
        data = source.read(limit + 1)
    if len(data) > limit:
        raise UnsafeWorkbook(file, _too_big(len(data), limit, at_least=not isinstance(source, bytes | bytearray)))
    return data


def _too_big(size: int, limit: int, at_least: bool = False) -> str:
    more = "more than " if at_least else ""
    return (f"the file is {more}{_mb(size)}, over the import limit of {_mb(limit)} "
            "(ITSCM_IMPORT_MAX_BYTES); split it by division or unit")


def _mb(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def check_workbook(source: str | Path | BinaryIO | bytes, file: str | None = None,
                   limits: Limits | None = None, *, skip: Collection[str] = ()) -> CheckedWorkbook:
    """Every check that must pass before a parser may open the file; raise UnsafeWorkbook on the first failure.

    Every part is inflated under its cap and checked for DTDs, entities and encoding, once, and the cell area and
    formulas of each sheet are counted in the same pass; except the parts of the sheets named in `skip`, sheets the
    caller never opens (listed in the result with scanned=False): those are left out of CheckedWorkbook.data,
    the bytes the parser gets, unless a sheet that is read shares the part.
    """
    limits = limits or Limits.from_settings()
    file = file or (Path(source).name if isinstance(source, str | Path) else "upload")
    data = read_capped(source, limits.max_bytes, file)
    _check_kind(data, file)
    zf = _open_zip(data, file)
    infos = zf.infolist()
    _check_members(infos, file, limits)
    parts = _Parts(data, infos, file)
    types = _content_types(parts)
    listed = _sheet_parts(parts, types)
    read = {member for name, member, _ in listed if name not in skip}
    unread = {member for name, member, _ in listed if name in skip} - read
    for info in infos:
        if info.filename not in unread:
            parts.scan(info.filename, cells=info.filename in read)
    _check_total(parts.sizes(), file, limits)
    sheets = _sheets(parts, listed, limits, skip)
    # The parser gets only the parts checked here: an unread sheet's part is not in the bytes it is given.
    parse = _without(data, infos, unread, file) if unread else data
    return CheckedWorkbook(file, parse, hashlib.sha256(data).hexdigest(), len(data), tuple(sheets))


def _check_kind(data: bytes, file: str) -> None:
    if not data:
        raise UnsafeWorkbook(file, "the file is empty (0 bytes)")
    head = data[:8]
    if head.startswith(OLE_MAGIC):
        raise UnsafeWorkbook(file, "this is an encrypted (password-protected) workbook or an old binary .xls "
                                   "file; remove the password and save it as an Excel Workbook (.xlsx)")
    if head.startswith(ZIP_MAGICS):
        return
    if head.startswith(b"%PDF"):
        kind = "a PDF document"
    elif head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        kind = "an image"
    elif head.lstrip().startswith((b"<?xml", b"<html", b"<!DOCTYPE", b"<")):
        kind = "an XML or HTML file"
    elif _looks_like_text(data[:4096]):
        kind = "a text file (CSV?)"
    else:
        kind = "not a zip archive"
    raise UnsafeWorkbook(file, f"not an Excel .xlsx workbook ({kind}, perhaps renamed to .xlsx); "
                               "export it from Excel or LibreOffice as an Excel Workbook (.xlsx)")


def _looks_like_text(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:
            return False
    return b"\x00" not in sample


def _open_zip(data: bytes, file: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, struct.error,
            NotImplementedError) as exc:  # NotImplementedError: "zip file version 22.7" in a mangled entry
        raise UnsafeWorkbook(file, f"the file is damaged or not an Excel workbook (zip: {exc})") from exc


def _check_members(infos: list[zipfile.ZipInfo], file: str, limits: Limits) -> None:
    if not infos:
        raise UnsafeWorkbook(file, "the zip archive is empty: not an Excel workbook")
    if len(infos) > limits.max_members:
        raise UnsafeWorkbook(file, f"the archive holds {len(infos)} parts, more than the {limits.max_members} "
                                   "an Excel workbook needs")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise UnsafeWorkbook(file, f"the archive holds the part {dup[0]!r} twice (tampered archive)")
    total_declared = 0
    total_compressed = 0
    for i in infos:
        name = i.filename
        if name.startswith(("/", "\\")) or ".." in name.split("/"):
            raise UnsafeWorkbook(file, f"the archive holds a part with an unsafe path {name!r}")
        if MACRO_NAMES.search(name):
            raise UnsafeWorkbook(file, f"the workbook contains macros or active content ({name}); "
                                       "save it as a macro-free Excel Workbook (.xlsx)")
        if i.flag_bits & 0x1:
            raise UnsafeWorkbook(file, f"the part {name} is encrypted; remove the password and save again")
        if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnsafeWorkbook(file, f"the part {name} uses an unsupported compression method "
                                       f"({i.compress_type}); save the file again from Excel or LibreOffice")
        if i.file_size > limits.max_uncompressed:
            raise UnsafeWorkbook(file, f"the part {name} would expand to {_mb(i.file_size)}, over the limit of "
                                       f"{_mb(limits.max_uncompressed)} (zip bomb?)")
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size > limits.ratio_floor and ratio > limits.max_ratio:
            raise UnsafeWorkbook(file, f"the part {name} is compressed {ratio:.0f}:1 ({_mb(i.compress_size)} "
                                       f"expanding to {_mb(i.file_size)}), beyond the {limits.max_ratio:.0f}:1 "
                                       "a real workbook reaches (zip bomb?)")
        total_declared += i.file_size
        total_compressed += i.compress_size
    if total_declared > limits.max_uncompressed:
        raise UnsafeWorkbook(file, f"the parts would expand to {_mb(total_declared)} in total, over the limit of "
                                   f"{_mb(limits.max_uncompressed)} (zip bomb?)")
    overall = total_declared / max(total_compressed, 1)
    if total_declared > limits.ratio_floor and overall > limits.max_ratio:
        raise UnsafeWorkbook(file, f"the archive is compressed {overall:.0f}:1 overall, beyond the "
                                   f"{limits.max_ratio:.0f}:1 a real workbook reaches (zip bomb?)")


@dataclass
class _Stats:
    size: int = 0
    max_row: int = 0
    min_row: int = 0
    max_col: int = 0
    row_tags: int = 0
    rows_with_ref: int = 0
    cells: int = 0
    cells_with_ref: int = 0
    has_formula: bool = False


def _span(data: bytes, info: zipfile.ZipInfo, file: str) -> tuple[int, int]:
    """Where the member's compressed bytes are in the archive."""
    off = info.header_offset
    header = data[off:off + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise UnsafeWorkbook(file, f"the part {info.filename} is damaged (bad local header)")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    start = off + 30 + name_len + extra_len
    end = start + info.compress_size
    if end > len(data):
        raise UnsafeWorkbook(file, f"the part {info.filename} is truncated: the file is damaged")
    return start, end


def _inflate(data: bytes, info: zipfile.ZipInfo, file: str):
    """Yield the member's bytes, inflating it ourselves with a hard cap at its declared size and a CRC check."""
    name = info.filename
    start, end = _span(data, info, file)
    produced, crc = 0, 0

    def take(chunk: bytes) -> bytes:
        nonlocal produced, crc
        produced += len(chunk)
        if produced > info.file_size:
            raise UnsafeWorkbook(file, f"the part {name} expands beyond its declared size of "
                                       f"{_mb(info.file_size)} (zip bomb or tampered archive)")
        crc = zlib.crc32(chunk, crc)
        return chunk

    if info.compress_type == zipfile.ZIP_STORED:
        for pos in range(start, end, CHUNK):
            yield take(data[pos:min(pos + CHUNK, end)])
    else:
        d = zlib.decompressobj(-15)
        try:
            for pos in range(start, end, CHUNK):
                out = d.decompress(data[pos:min(pos + CHUNK, end)], CHUNK)
                yield take(out)
                while d.unconsumed_tail:
                    yield take(d.decompress(d.unconsumed_tail, CHUNK))
            rest = d.flush(CHUNK)
            if rest:
                yield take(rest)
        except zlib.error as exc:
            raise UnsafeWorkbook(file, f"the part {name} is damaged ({exc})") from exc
        if not d.eof:
            raise UnsafeWorkbook(file, f"the part {name} is truncated: the file is damaged")
    if produced != info.file_size or (crc & 0xFFFFFFFF) != info.CRC:
        raise UnsafeWorkbook(file, f"the part {name} is damaged (its size or checksum does not match)")


def _scan_member(data: bytes, info: zipfile.ZipInfo, file: str, *, cells: bool = True,
                 keep: list[bytes] | None = None) -> _Stats:
    """Inflate one member under the cap; refuse DTDs/entities and non-UTF-8 XML; with `cells`, gather worksheet
    stats (rows, cells, references, formulas); with `keep`, append the member's bytes to it."""
    st = _Stats()
    pending: list[bytes] = []
    held = 0
    first = True
    xmlish = info.filename.lower().endswith((".xml", ".rels", ".vml"))
    for chunk in _inflate(data, info, file):
        st.size += len(chunk)
        if first and chunk:
            first = False
            if chunk.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")) or \
                    (xmlish and b"\x00" in chunk[:4]):
                raise UnsafeWorkbook(file, f"the part {info.filename} is UTF-16/32 encoded XML, which Excel does not "
                                           "write; save the file again from Excel or LibreOffice")
        pending.append(chunk)
        if keep is not None:
            keep.append(chunk)
        held += len(chunk)
        if held < SCAN_BATCH:
            continue
        # Scan up to the last tag start, so no tag is split between two scans.
        buf = b"".join(pending)
        cut = buf.rfind(b"<")
        if cut <= 0:
            pending, held = [buf], len(buf)
            continue
        _scan_text(buf[:cut], info.filename, file, st, cells)
        pending, held = [buf[cut:]], len(buf) - cut
    if held:
        _scan_text(b"".join(pending), info.filename, file, st, cells)
    return st


def _scan_text(text: bytes, member: str, file: str, st: _Stats, cells: bool = True) -> None:
    # "<!" starts every DOCTYPE and ENTITY declaration, so only a part holding it needs the regex. A sheet's
    # tag positions are found once for the cell pass; the byte after each "<" answers this too, where a bytes
    # search over a sheet of inline strings (a "<" every few bytes) cost as much as the cell pass itself.
    tags = _tags(text) if cells else None
    bang = bool(np.any(tags[0][tags[1] + 1] == 0x21)) if tags is not None else b"<!" in text
    if bang and DTD_MARKER.search(text):
        raise UnsafeWorkbook(file, f"the part {member} declares a DOCTYPE or ENTITY (XML entity expansion or "
                                   "external entity attack); real workbooks never do")
    # The vectorised pass covers sheets as spreadsheet programs write them (every cell tag `<c r="A1" ...`, no
    # namespace prefix on c, row or f); anything else takes the regex pass, exact for any bytes. Both count
    # exactly what the plain Python regexes of tests/test_excel_scan.py count.
    if cells and not _scan_cells_fast(text, st, tags):
        _scan_cells_regex(text, st)


# The fast pass, in numpy over the positions of "<": no regex pass per quantity and no int() per reference.
_WORD = np.zeros(256, dtype=bool)
_WORD[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_", np.uint8)] = True
_TAG_END = np.zeros(256, dtype=bool)   # what may follow a tag name in the scan's tag patterns: [\s>/]
_TAG_END[np.frombuffer(b" \t\n\r\x0b\x0c>/", np.uint8)] = True
# A c, f or row element with a namespace prefix (`<x:c `) is the only way the patterns' prefix branch can match:
# it ends like this, and the prefix runs from the last "<" before the colon.
_PREFIXED = re.compile(rb":(?:c|f|row)(?![A-Za-z0-9_])")
_PREFIX_NAME = re.compile(rb"[A-Za-z_][\w.-]*")
_REF_WINDOW = 12                       # up to 3 letters, 8 digits and the closing quote
_PAD = bytes(_REF_WINDOW + 8)
_COL = np.arange(_REF_WINDOW)
_COL8 = _COL.astype(np.uint8)


def _tags(text: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The text as bytes with zero padding (a look-ahead past the end reads a non-name byte), and the
    positions of its "<"."""
    a = np.frombuffer(text + _PAD, np.uint8)
    return a, np.flatnonzero(a == 0x3C)


def _scan_cells_fast(text: bytes, st: _Stats, tags: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
    r"""The stats of _scan_cells_regex, or False (st untouched) when the text is not in the shape this pass covers:
    a namespace-prefixed c, f or row tag, a cell tag not written `<c r="A1"`, a row tag not written `<row r="1"`,
    or a reference past row 99,999,999.

    Why it counts the same: without a prefix, the tag patterns match `<c`, `<row` or `<f` followed by one of
    [\s>/], and the reference patterns start at `<c` or `<row` followed by a non-name byte, then take the first
    `\sr="..."` of the tag. When every such tag is followed by exactly ` r="` and a well-formed reference, each is
    one tag and one reference, and that reference is the one right there."""
    a, lt = tags if tags is not None else _tags(text)
    for m in _PREFIXED.finditer(text):          # a colon in cell text ("ratio:c") is not a prefix
        before = int(np.searchsorted(lt, m.start())) - 1
        if before >= 0 and _PREFIX_NAME.fullmatch(text, int(lt[before]) + 1, m.start()):
            return False
    after = a[lt + 1]
    pc = lt[after == 0x63]                      # <c
    pc = pc[~_WORD[a[pc + 2]]] + 2
    pr = lt[after == 0x72]                      # <row
    pr = pr[(a[pr + 2] == 0x6F) & (a[pr + 3] == 0x77)]
    pr = pr[~_WORD[a[pr + 4]]] + 4
    cells = _references(a, pc, letters=True)
    rows = _references(a, pr, letters=False)
    if cells is None or rows is None:
        return False
    pf = lt[after == 0x66]                      # <f
    st.rows_with_ref += pr.size
    st.row_tags += pr.size
    st.cells += pc.size
    st.cells_with_ref += pc.size
    if pr.size:
        st.max_row = max(st.max_row, int(rows[1].max()))
    if pc.size:
        st.max_col = max(st.max_col, int(cells[0].max()))
        st.max_row = max(st.max_row, int(cells[1].max()))
        low = int(cells[1].min())
        st.min_row = min(st.min_row or low, low)
    if not st.has_formula and np.any(_TAG_END[a[pf + 2]]):
        st.has_formula = True
    return True


def _references(a: np.ndarray, at: np.ndarray, *, letters: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """Column and row numbers of the references `␣r="A1"` (`␣r="1"` without letters) starting at each position;
    None if any position holds something else."""
    if not at.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not (np.all(a[at] == 0x20) and np.all(a[at + 1] == 0x72) and np.all(a[at + 2] == 0x3D)
            and np.all(a[at + 3] == 0x22)):
        return None
    w = sliding_window_view(a, _REF_WINDOW)[at + 4]     # the bytes after `r="`, one reference a row
    end = np.argmax(w == 0x22, axis=1).astype(np.uint8)  # the closing quote (0 if none: refused below)
    n = (np.argmax((w < 0x41) | (w > 0x5A), axis=1).astype(np.uint8) if letters
         else np.zeros(len(w), np.uint8))                # leading capitals
    inside = (_COL8 >= n[:, None]) & (_COL8 < end[:, None])
    if (np.any(end <= n) or np.any(w[np.arange(len(w)), end] != 0x22) or np.any(inside & ((w < 0x30) | (w > 0x39)))
            or (letters and (n.min() < 1 or n.max() > 3))):
        return None
    rows = np.zeros(len(w), np.int64)
    for j in range(int(n.min()), int(end.max())):       # Horner's rule, one column of digits at a time
        rows = np.where(inside[:, j], rows * 10 + (w[:, j].astype(np.int64) - 0x30), rows)
    cols = np.zeros(len(w), np.int64)
    for j in range(int(n.max()) if letters else 0):
        cols = np.where(j < n, cols * 26 + (w[:, j].astype(np.int64) - 0x40), cols)
    return cols, rows


def _scan_cells_regex(text: bytes, st: _Stats) -> None:
    # One set-based pass in polars' regex engine (Rust) instead of five Python regex passes and an int() per
    # cell reference: the scan was 70 % of an import. Latin-1 maps every byte to one character, so the
    # patterns (ASCII only, see SCAN_PATTERNS) see exactly the bytes the parser will.
    t = pl.lit(text.decode("latin-1"))
    row = SCAN_PATTERNS
    got = pl.select(
        row_refs=t.str.extract_all(row["row_ref"]).list.eval(
            pl.element().str.extract(r'r="([0-9]+)"$', 1).cast(pl.Float64)),
        row_tags=t.str.count_matches(row["row_tag"]),
        cell_refs=t.str.extract_all(row["cell_ref"]).list.eval(
            pl.element().str.extract(r'r="([A-Z]{1,3}[0-9]+)"$', 1)),
        cells=t.str.count_matches(row["cell_tag"]),
        formula=t.str.contains(row["formula"]),
    ).row(0, named=True)
    rows = got["row_refs"]
    st.rows_with_ref += len(rows)
    if rows:
        st.max_row = max(st.max_row, _whole(max(rows)))
    st.row_tags += got["row_tags"]
    refs = got["cell_refs"]
    st.cells += got["cells"]
    st.cells_with_ref += len(refs)
    if refs:
        cells = pl.DataFrame({"ref": refs}).select(
            letters=pl.col("ref").str.extract(r"^([A-Z]+)", 1),
            row=pl.col("ref").str.extract(r"([0-9]+)$", 1).cast(pl.Float64))
        widest = cells.sort(pl.col("letters").str.len_bytes(), "letters").item(-1, "letters")
        st.max_col = max(st.max_col, _col_number(widest.encode()))
        st.max_row = max(st.max_row, _whole(cells["row"].max()))  # type: ignore[arg-type]  # a Float64 column
        low = _whole(cells["row"].min())  # type: ignore[arg-type]
        st.min_row = min(st.min_row or low, low)
    if not st.has_formula and got["formula"]:
        st.has_formula = True


def _whole(value: float) -> int:
    # Row numbers beyond 2**53 lose precision as floats; they are refused as too many rows either way.
    return int(min(value, 2.0 ** 62))


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _check_total(sizes: dict[str, int], file: str, limits: Limits) -> None:
    total = sum(sizes.values())
    if total > limits.max_uncompressed:
        raise UnsafeWorkbook(file, f"the parts expand to {_mb(total)}, over the limit of "
                                   f"{_mb(limits.max_uncompressed)} (zip bomb?)")


class _Parts:
    """The archive's members, each inflated under its cap and checked (DTD, entities, encoding) at most once."""

    def __init__(self, data: bytes, infos: list[zipfile.ZipInfo], file: str):
        self.data, self.file = data, file
        self.infos = {i.filename: i for i in infos}
        self.stats: dict[str, _Stats] = {}
        self.cells: set[str] = set()   # members whose cells were scanned

    def __contains__(self, name: str) -> bool:
        return name in self.infos

    def scan(self, name: str, *, cells: bool = False) -> _Stats:
        if name not in self.stats or (cells and name not in self.cells):
            self.stats[name] = _scan_member(self.data, self.infos[name], self.file, cells=cells)
            if cells:
                self.cells.add(name)
        return self.stats[name]

    def read(self, name: str) -> bytes:
        """The member's bytes, after the same checks as scan()."""
        chunks: list[bytes] = []
        st = _scan_member(self.data, self.infos[name], self.file, cells=False, keep=chunks)
        self.stats.setdefault(name, st)
        return b"".join(chunks)

    def sizes(self) -> dict[str, int]:
        return {name: st.size for name, st in self.stats.items()}

    def xml(self, name: str):
        try:
            return SafeET.fromstring(self.read(name))
        except UnsafeWorkbook:
            raise
        except Exception as exc:  # defusedxml / expat errors: a damaged part
            raise UnsafeWorkbook(self.file, f"the part {name} is not valid XML ({exc})") from exc


def _content_types(parts: _Parts) -> dict[str, str]:
    file = parts.file
    names = set(parts.infos)
    if "[Content_Types].xml" not in names:
        if "mimetype" in names:
            kind = "an OpenDocument file (.ods?): save it as an Excel Workbook (.xlsx)"
        elif any(n.startswith("word/") for n in names):
            kind = "a Word document renamed .xlsx"
        else:
            kind = "a zip archive, not an Excel workbook"
        raise UnsafeWorkbook(file, f"not an Excel .xlsx workbook ({kind})")
    root = parts.xml("[Content_Types].xml")
    types: dict[str, str] = {}
    defaults: dict[str, str] = {}
    for el in root:
        ctype = (el.get("ContentType") or "").strip()
        low = ctype.lower()
        if any(m in low for m in MACRO_TYPES):
            raise UnsafeWorkbook(file, f"the workbook contains macros or active content (content type {ctype}); "
                                       "save it as a macro-free Excel Workbook (.xlsx)")
        if el.tag == f"{NS_CT}Override":
            types[(el.get("PartName") or "").lstrip("/")] = ctype
        elif el.tag == f"{NS_CT}Default":
            defaults[(el.get("Extension") or "").lower()] = ctype
    if not any(t in WORKBOOK_TYPES for t in types.values()):
        if any("wordprocessingml" in t for t in types.values()):
            kind = "a Word document renamed .xlsx"
        elif any("presentationml" in t for t in types.values()):
            kind = "a PowerPoint file renamed .xlsx"
        else:
            kind = "it has no spreadsheet workbook part"
        raise UnsafeWorkbook(file, f"not an Excel .xlsx workbook ({kind})")
    return types


def _sheet_parts(parts: _Parts, types: dict[str, str]) -> list[tuple[str, str, str]]:
    """The workbook's sheets as (name, member, state), in workbook order, those with a part only."""
    main = next(p for p, t in types.items() if t in WORKBOOK_TYPES)
    if main not in parts:
        raise UnsafeWorkbook(parts.file, f"the workbook part {main} is missing: the file is damaged")
    base = posixpath.dirname(main)
    rels_name = posixpath.join(base, "_rels", posixpath.basename(main) + ".rels")
    targets: dict[str, str] = {}
    if rels_name in parts:
        for rel in parts.xml(rels_name):
            target = rel.get("Target") or ""
            if rel.get("TargetMode") == "External":
                continue
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(base, target))
            targets[rel.get("Id") or ""] = path
    listed = []
    for sh in parts.xml(main).iter(f"{NS_MAIN}sheet"):
        member = targets.get(sh.get(f"{NS_REL}id") or "", "")
        if member in parts:  # a sheet without a part: readers show it empty
            listed.append((sh.get("name") or "", member, sh.get("state") or "visible"))
    return listed


def _sheets(parts: _Parts, listed: list[tuple[str, str, str]], limits: Limits,
            skip: Collection[str]) -> list[SheetInfo]:
    out = []
    for name, member, state in listed:
        if name in skip:
            out.append(SheetInfo(name, member, state, 0, 0, (), 1, scanned=False))
            continue
        # Whatever the part's name: a worksheet part may be named anything its relationship points to.
        st = parts.scan(member, cells=True)
        # Rows and cells without an explicit reference follow the previous one: count them on top.
        rows = st.max_row + (st.row_tags - st.rows_with_ref)
        cols = st.max_col + (st.cells - st.cells_with_ref)
        if rows * max(cols, 1) > limits.max_cells:
            raise UnsafeWorkbook(parts.file, f"the sheet {name!r} spans {rows:,} rows x {cols:,} columns, more than "
                                             f"the {limits.max_cells:,} cells an import may hold; delete the unused "
                                             "area or split the file")
        formulas = _formula_cells(parts.read(member)) if st.has_formula else ()
        out.append(SheetInfo(name, member, state, rows, cols, formulas, st.min_row or 1))
    return out


def _formula_cells(text: bytes) -> tuple[str, ...]:
    """A1 references of the cells holding a formula (each <f> belongs to the <c> opened just before it)."""
    refs, last = [], None
    for m in CELL_OR_FORMULA.finditer(text):
        if m.group(1) == b"c":
            r = R_ATTR.search(b" " + m.group(2))
            last = r.group(1).decode() if r else "?"
        elif last is not None:
            refs.append(last)
            last = None
    return tuple(dict.fromkeys(refs))


def _without(data: bytes, infos: list[zipfile.ZipInfo], left_out: Collection[str], file: str) -> bytes:
    """The archive again without the members left out: each kept member's local header and compressed bytes
    copied as they are (nothing inflated or compressed again), then a new central directory."""
    out = bytearray()
    central = bytearray()
    kept = 0
    for info in infos:
        if info.filename in left_out:
            continue
        start, end = _span(data, info, file)
        name = info.filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
        flags = info.flag_bits & 0x800                    # sizes and CRC go in the header, no data descriptor
        y, mo, d, h, mi, sec = info.date_time
        dostime, dosdate = (h << 11) | (mi << 5) | (sec // 2), (max(y, 1980) - 1980) << 9 | (mo << 5) | d
        offset = len(out)
        if max(offset, info.compress_size, info.file_size) >= 0xFFFFFFFF:
            raise UnsafeWorkbook(file, "the workbook is too large to import (over 4 GB)")
        out += struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, flags, info.compress_type, dostime, dosdate, info.CRC,
                           info.compress_size, info.file_size, len(name), 0) + name
        out += data[start:end]
        central += struct.pack("<4s6H3I5HII", b"PK\x01\x02", 20, 20, flags, info.compress_type, dostime, dosdate,
                               info.CRC, info.compress_size, info.file_size, len(name), 0, 0, 0, 0,
                               info.external_attr & 0xFFFFFFFF, offset) + name
        kept += 1
    if len(out) >= 0xFFFFFFFF or kept > 0xFFFF:
        raise UnsafeWorkbook(file, "the workbook is too large to import (over 4 GB)")
    return bytes(out + central + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, kept, kept, len(central), len(out), 0))
