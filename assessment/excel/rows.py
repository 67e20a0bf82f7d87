"""Typed data rows of a constant-memory xlsxwriter sheet, rendered column-wise by polars instead of cell by cell.

xlsxwriter spends about 7 microseconds of Python per cell (argument checks, a row table, attribute escaping,
string formatting). In constant_memory mode it streams each finished row as XML to a temporary file; this
module writes the data rows to that same file, rendered as whole columns by polars, with exactly the cell
XML xlsxwriter's typed calls produce (write_string: an inline string with control characters as _xHHHH_ and
XML escapes; write_number; write_datetime: the Excel serial number), the same style index (the cell's format,
else the column's), and the sheet's dimension updated. The header, column settings, panes, filters and
conditional formats are still xlsxwriter's.

One difference, on purpose: xlsxwriter writes a string that begins with "<r>" and ends with "</r>" as raw
rich-text XML; here every text is escaped, so user text can never become markup (let alone a formula cell).

`supported()` says when the fast path applies; otherwise the caller writes cell by cell as before (a text over
16,383 characters, which xlsxwriter measures in UTF-16 units, or a date before 1900-03-01, where Excel's
1900 leap-year bug makes the serial number irregular).
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from .safety import FORMULA_TRIGGERS, MAX_CELL, QUOTE, TRUNCATED

CHUNK_CELLS = 60_000      # cells rendered at once: bounds the memory of one chunk's XML text and of the polars
                          # intermediates (27 columns of 50,000 rows took ~400 MB); ~2,200 rows of the Answers sheet
LONG_TEXT = 32767 // 2    # longer texts may need xlsxwriter's UTF-16 truncation: cell by cell instead
_EPOCH = datetime(1899, 12, 31)
_FIRST_REGULAR = date(1900, 3, 1)
_CONTROLS = [chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20), 0xFFFE, 0xFFFF]]
MIN_CELLS = 2_000         # below this, polars' fixed cost per query exceeds xlsxwriter's per-cell cost (the S
                          # pack's sheets of 2,000-14,000 cells: 349 ms in all at 2,000, 392 at 8,000, 541 at 20,000)
_US_PER_DAY = 86_400_000_000


def literal_text(expr: pl.Expr) -> pl.Expr:
    """safety.cell_text for a column: an apostrophe before a formula trigger or an apostrophe, then the
    32,767-character cap with the truncation note."""
    starts = pl.any_horizontal([expr.str.starts_with(t) for t in (*FORMULA_TRIGGERS, QUOTE)])
    text = pl.when(starts).then(pl.lit(QUOTE) + expr).otherwise(expr)
    keep = MAX_CELL - len(TRUNCATED)
    return pl.when(text.str.len_chars() > MAX_CELL).then(text.str.slice(0, keep) + pl.lit(TRUNCATED)).otherwise(text)


def _escape(expr: pl.Expr, controls: bool, underscores: bool) -> pl.Expr:
    """xlsxwriter's _escape_control_characters then _escape_data, for a String column."""
    if underscores:
        expr = expr.str.replace_all(r"(_x[0-9a-fA-F]{4}_)", "_x005F${1}")
    if controls:
        for char in _CONTROLS:
            expr = expr.str.replace_all(char, f"_x{ord(char):04X}_", literal=True)
    return (expr.str.replace_all("&", "&amp;", literal=True).str.replace_all("<", "&lt;", literal=True)
            .str.replace_all(">", "&gt;", literal=True))


def _string_cell(expr: pl.Expr, head: str, controls: bool, underscores: bool) -> pl.Expr:
    """An inline string cell; xml:space="preserve" when the text (control characters escaped) begins or
    ends with white space, as xlsxwriter's _preserve_whitespace."""
    if controls or underscores:
        probe = _escape(expr, controls, underscores=False) if controls else expr
    else:
        probe = expr
    preserve = (probe.str.strip_chars_start() != probe) | (probe.str.strip_chars_end() != probe)
    body = _escape(expr, controls, underscores)
    return (pl.when(preserve).then(pl.lit(head + ' t="inlineStr"><is><t xml:space="preserve">'))
            .otherwise(pl.lit(head + ' t="inlineStr"><is><t>')) + body + pl.lit("</t></is></c>"))


def _number_cell(text: pl.Expr, head: str) -> pl.Expr:
    return pl.lit(head + "><v>") + text + pl.lit("</v></c>")


def _as_string(df: pl.DataFrame, name: str) -> pl.Expr:
    """str(v) of a column's values: native casts for the types whose text polars and Python agree on."""
    dtype = df.schema[name]
    if dtype == pl.String:
        return pl.col(name)
    if dtype.is_integer() or dtype in (pl.Categorical, pl.Null) or isinstance(dtype, pl.Enum):
        return pl.col(name).cast(pl.String)
    return pl.col(name).map_elements(str, return_dtype=pl.String, skip_nulls=True)


def _serial_days(expr: pl.Expr) -> pl.Expr:
    """write_datetime(datetime.combine(d, time())) of a date: whole days from 1899-12-31, plus Excel's 29 Feb 1900."""
    days = (expr.cast(pl.Date) - pl.lit(_EPOCH.date())).dt.total_days()
    return pl.when(days > 59).then(days + 1).otherwise(days)


def _serial_datetime(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """write_datetime of a datetime (time zone removed, as remove_timezone): xlsxwriter's float arithmetic."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        expr = expr.dt.replace_time_zone(None)
    us = (expr.cast(pl.Datetime("us")) - pl.lit(_EPOCH)).dt.total_microseconds()
    days = us.floordiv(_US_PER_DAY)
    rest = us - days * _US_PER_DAY
    seconds, micros = rest.floordiv(1_000_000), rest % 1_000_000
    serial = days.cast(pl.Float64) + (seconds.cast(pl.Float64) + micros.cast(pl.Float64) / 1e6) / 86400.0
    return pl.when(serial > 59).then(serial + 1).otherwise(serial)


def _float_text(expr: pl.Expr) -> pl.Expr:
    value = expr.cast(pl.Float64)
    return pl.when(value.is_finite()).then(value.cast(pl.String))


def supported(ws: Worksheet, df: pl.DataFrame, kinds: list[str]) -> bool:
    """Whether the rows of df can be rendered here: a constant-memory sheet, no text xlsxwriter would have to
    truncate in UTF-16 units, no date before 1900-03-01."""
    if not getattr(ws, "constant_memory", False) or ws.row_data_fh is None or df.height * df.width < MIN_CELLS:
        return False
    checks = []
    for name, kind in zip(df.columns, kinds):
        dtype = df.schema[name]
        if kind in ("text", "id", "level") and dtype == pl.String:
            checks.append(pl.col(name).str.len_chars().max() > LONG_TEXT)
        elif kind in ("date", "datetime"):
            if dtype not in (pl.Date, pl.Null) and not isinstance(dtype, pl.Datetime):
                return False
            checks.append(pl.col(name).cast(pl.Date).min() < pl.lit(_FIRST_REGULAR))
        elif kind in ("text", "id") and df.schema[name] not in (pl.Null,) and df.height:
            checks.append(_as_string(df, name).str.len_chars().max() > LONG_TEXT)
    if not checks or df.height == 0:
        return True
    return not any(df.select(checks).row(0))


def _escapes(df: pl.DataFrame, kinds: list[str]) -> dict[str, tuple[bool, bool]]:
    """Per text column: whether any value holds a control character, and whether any holds "_x" (which
    xlsxwriter escapes when it looks like _xHHHH_); one pass, literal matching (no regular expression)."""
    names = [n for n, k in zip(df.columns, kinds) if k in ("text", "id")]
    if not names or df.height == 0:
        return {}
    probes = []
    for n in names:
        text = _as_string(df, n)
        probes += [text.str.contains_any(_CONTROLS).any().alias(f"{n}.c"),
                   text.str.contains("_x", literal=True).any().alias(f"{n}.u")]
    row = df.select(probes).row(0, named=True)
    return {n: (bool(row[f"{n}.c"]), bool(row[f"{n}.u"])) for n in names}


def _cell(df: pl.DataFrame, name: str, kind: str, col: int, xf: int | None,
          escapes: dict[str, tuple[bool, bool]]) -> pl.Expr:
    """The XML of one column's cells (null where xlsxwriter writes no cell), without the row number."""
    letter = xl_col_to_name(col)
    style = f' s="{xf}"' if xf else ""
    dtype = df.schema[name]
    src = pl.col(name)
    ref = pl.lit(f'<c r="{letter}') + pl.col("__r") + pl.lit(f'"{style}')
    if kind in ("text", "id", "bool"):
        controls, underscores = escapes.get(name, (False, False))
        cell = ref + _string_cell(pl.col(_TEXT + name), "", controls, underscores)
    elif kind == "int":
        value = src.cast(pl.Float64) if dtype.is_float() else src
        value = pl.when(value.is_nan()).then(None).otherwise(value) if dtype.is_float() else value
        cell = ref + _number_cell(value.cast(pl.Int64).cast(pl.String), "")
    elif kind == "float":
        cell = ref + _number_cell(_float_text(src), "")
    elif kind == "date":
        cell = ref + _number_cell(_serial_days(src).cast(pl.String), "")
    elif kind == "datetime":
        cell = ref + _number_cell(_serial_datetime(src, dtype).cast(pl.String), "")
    elif kind == "level":
        na = src.cast(pl.String) == "N/A"
        number = ref + _number_cell(src.cast(pl.String).cast(pl.Int64).cast(pl.String), "")
        cell = pl.when(na).then(ref + pl.lit(' t="inlineStr"><is><t>N/A</t></is></c>')).otherwise(number)
    else:
        raise ValueError(kind)
    empty = src.is_null()
    if dtype.is_float():
        empty = empty | src.is_nan()
    return pl.when(empty).then(None).otherwise(cell)


_STR, _TEXT = "__s.", "__t."  # a chunk's prepared columns: str(v), then the cell's text


def _texts(df: pl.DataFrame, names: list[str], kinds: list[str]) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """The text of each text, id and bool column's cells, as two steps of columns added to a chunk: str(v)
    where it is not a String already, then the literal text. Each step reads plain columns, so polars
    evaluates every source once (one nested expression per cell repeated it dozens of times, and
    planning it cost about 7 ms per column and chunk)."""
    strings, texts = [], []
    for n, kind in zip(names, kinds):
        if kind == "bool":
            texts.append(pl.when(pl.col(n).cast(pl.Boolean)).then(pl.lit("yes")).otherwise(pl.lit("no"))
                         .alias(_TEXT + n))
        elif kind in ("text", "id"):
            src = n
            if df.schema[n] != pl.String:
                strings.append(_as_string(df, n).alias(_STR + n))
                src = _STR + n
            texts.append((literal_text(pl.col(src)) if kind == "text" else pl.col(src)).alias(_TEXT + n))
    return strings, texts


def chunk_rows(ncols: int) -> int:
    """Rows rendered at once for a sheet of ncols columns (CHUNK_CELLS cells, at least 500 rows)."""
    return max(500, CHUNK_CELLS // max(ncols, 1))


def write(ws: Worksheet, df: pl.DataFrame, kinds: list[str], formats: list[Format | None],
          first_row: int = 1) -> None:
    """Write df's rows from first_row on (call supported() first); formats: each column's style (the cell's
    explicit format, else the column's), None for none. It may be called again for the next rows (a sheet
    written in batches), with first_row after the rows written before."""
    if df.height == 0:
        return
    ncols = len(kinds)
    chunk = chunk_rows(ncols)
    # Flush the rows xlsxwriter holds (the header) and take over from first_row.
    ws._write_single_row(first_row)
    xfs = [f._get_xf_index() if f is not None else None for f in formats]  # registers them, in column order
    names = [f"c{i}" for i in range(ncols)]
    frame = df.rename(dict(zip(df.columns, names)))
    escapes = _escapes(frame, kinds)
    cells = [_cell(frame, n, k, i, xf, escapes) for i, (n, k, xf) in enumerate(zip(names, kinds, xfs))]
    strings, texts = _texts(frame, names, kinds)
    last = first_row
    for start in range(0, frame.height, chunk):
        part = frame.slice(start, chunk)
        if strings:
            part = part.with_columns(strings)
        part = part.with_columns(
            *texts, pl.int_range(first_row + start + 1, first_row + start + 1 + min(chunk, frame.height - start))
            .cast(pl.String).alias("__r"))
        rows = part.select(pl.concat_str(cells, ignore_nulls=True).alias("cells"), pl.col("__r")).filter(
            pl.col("cells") != "")
        if rows.height == 0:
            continue
        xml = rows.select(pl.concat_str([pl.lit('<row r="'), pl.col("__r"), pl.lit('">'), pl.col("cells"),
                                         pl.lit("</row>")]).str.join("")).item()
        ws.row_data_fh.write(xml)
        last = int(rows["__r"][-1]) - 1
    if last >= first_row:
        ws._check_dimensions(last, ncols - 1)  # the sheet's <dimension> and the rows Excel allocates
    ws.previous_row = last + 1
