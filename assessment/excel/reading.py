"""Reading a checked workbook as text, for any import: sheets with their column letters, problems that name
their sheet, row, column and cell, whole numbers from cell text, formulas and sheets nobody reads.

Only a workbook that passed safety.check_workbook is read here. fastexcel reads cell VALUES as text (a formula
is never evaluated, its cached value never used); turning text into numbers and dates is the caller's, with
whole_number for numbers so that a full-width or Arabic-Indic digit, or a number too large for 64 bits, is a
value to report, not an exception.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import fastexcel
import polars as pl
from openpyxl.utils import get_column_letter

from .safety import CheckedWorkbook, UnsafeWorkbook

FILE = "(file)"  # the sheet of a problem that concerns the whole file
_REF = re.compile(r"^([A-Z]{1,3})([0-9]+)$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an imported file, where a person can find it: sheet, row, column header, cell."""

    sheet: str
    row: int | None
    column: str | None
    message: str
    cell: str | None = None

    def __str__(self) -> str:
        where = [self.sheet]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'" + (f" ({self.cell})" if self.cell else ""))
        elif self.cell:
            where.append(f"cell {self.cell}")
        return ", ".join(where) + ": " + self.message


def problems_frame(problems: Iterable[Problem]) -> pl.DataFrame:
    """Problems as a table (sheet, row, column, cell, problem) for a page or a CLI."""
    return pl.DataFrame([{"sheet": p.sheet, "row": p.row, "column": p.column, "cell": p.cell,
                          "problem": p.message} for p in problems],
                        schema={"sheet": pl.String, "row": pl.Int64, "column": pl.String, "cell": pl.String,
                                "problem": pl.String})


@dataclass(frozen=True)
class Sheet:
    """One sheet read as text: `frame` has a column per header (every value a string or null) and `row`, the
    sheet row number of each line; `letters` maps each header to its column letter."""

    name: str
    frame: pl.DataFrame
    letters: dict[str, str]
    header_row: int

    def at(self, row: int | None, header: str | None, message: str) -> Problem:
        """A problem in this sheet's cell at (row, the column under header)."""
        letter = self.letters.get(header or "")
        return Problem(self.name, row, header, message, f"{letter}{row}" if letter and row else None)


def open_reader(checked: CheckedWorkbook) -> fastexcel.ExcelReader:
    """A fastexcel reader over the checked bytes; a file calamine cannot read is refused as damaged."""
    try:
        return fastexcel.read_excel(checked.data)
    except Exception as exc:  # calamine errors: a damaged workbook
        raise UnsafeWorkbook(checked.file, f"the workbook could not be read: {exc}") from exc


def read_sheet(reader: fastexcel.ExcelReader, checked: CheckedWorkbook, name: str, *, header: bool = True,
               columns: Collection[str] | None = None) -> Sheet:
    """Every cell of a sheet as text. With a header, columns are named by their (stripped) header text and
    `row` counts from the sheet's first row that holds a cell; without, columns are named column_1, ....
    With `columns` (header texts), only the columns under those headers are converted to text: the frame has
    just those (as many rows as without), `letters` still names every column of the sheet."""
    use = None if columns is None else (lambda c, wanted=frozenset(columns): c.name.strip() in wanted)
    try:
        sheet = reader.load_sheet(name, header_row=0 if header else None, dtypes="string", use_columns=use)
        letters = {c.name.strip(): get_column_letter(c.absolute_index + 1) for c in sheet.available_columns()}
        df = sheet.to_polars()
    except Exception as exc:
        raise UnsafeWorkbook(checked.file, f"the workbook could not be read: {exc}") from exc
    info = checked.sheet(name)
    first = info.min_row if info and info.min_row else 1
    if header:
        df = df.rename({c: c.strip() for c in df.columns})
    start = first + 1 if header else first
    df = df.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + start).alias("row"))
    return Sheet(name, df, letters, first)


def whole_number(text: pl.Expr, *, signed: bool = True) -> pl.Expr:
    """Cell text as a whole number: ASCII digits only ("3", or "3.0" from a number cell); null for anything
    else, including other scripts' digits and numbers beyond 64 bits (so the caller names the cell)."""
    sign = "-?" if signed else ""
    return text.str.strip_chars().str.extract(rf"^({sign}[0-9]+)(?:\.0+)?$").cast(pl.Int64, strict=False)


def formula_problems(checked: CheckedWorkbook, sheets: dict[str, Sheet] | None = None) -> list[Problem]:
    """Every cell of every sheet that holds a formula: files this application issues hold none, and an import
    never evaluates one. Cells of the sheets given are named by their column header."""
    sheets = sheets or {}
    out = []
    for info in checked.sheets:
        known = sheets.get(info.name)
        by_letter = {letter: h for h, letter in known.letters.items()} if known else {}
        for ref in info.formula_cells:
            m = _REF.match(ref)
            row = int(m.group(2)) if m else None
            header = by_letter.get(m.group(1)) if m else None
            out.append(Problem(info.name, row, header, "the cell holds a formula; formulas are never evaluated on "
                                                       "import: type the value itself", ref))
    return out


def unexpected_sheets(checked: CheckedWorkbook, expected: Iterable[str], what: str, read: str) -> list[Problem]:
    """A problem for every sheet the file was not issued with. `what` names the kind of file ("a unit
    template"), `read` the sheets the import reads; a sheet nobody reads is never silently accepted."""
    allowed = set(expected)
    out = []
    for info in checked.sheets:
        if info.name in allowed:
            continue
        hidden = "" if info.state == "visible" else f" ({info.state} sheet)"
        out.append(Problem(info.name, None, None,
                           f"the sheet {info.name!r}{hidden} is not part of {what} made by this application, and the "
                           f"import does not read it: delete it (answers are read from {read} only), then import "
                           "again"))
    return out
