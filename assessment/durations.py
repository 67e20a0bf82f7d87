"""Recovery objectives as durations: stored in whole minutes, read from "30m", "4h", "2d", "1w", "1h30m" or
ISO 8601 ("PT4H", "P2D", "P1W", "P1DT4H"), printed as "30 min", "4 h", "1 d 4 h", "2 w".

Parsing works on a whole polars column at once (the service workbook import reads thousands of cells);
`parse` is the one-value form of the same rule. Printing has a column form too (`expr`), used by scoring
explanations, with the same output as `format`.
"""

from __future__ import annotations

import polars as pl

from .errors import ValidationError

MINUTE, HOUR, DAY, WEEK = 1, 60, 1440, 10080
# Compact form: optional week, day, hour and minute parts in that order, spaces allowed ("1 d 4 h").
_COMPACT = (r"^\s*(?:(?<w>\d+)\s*(?:w|wk|wks|week|weeks))?\s*(?:(?<d>\d+)\s*(?:d|day|days))?\s*"
            r"(?:(?<h>\d+)\s*(?:h|hr|hrs|hour|hours))?\s*(?:(?<m>\d+)\s*(?:m|min|mins|minute|minutes))?\s*$")
# ISO 8601 durations without years, months or seconds (they have no fixed length, or are below a minute).
_ISO = r"^\s*P(?:(?<w>\d+)W)?(?:(?<d>\d+)D)?(?:T(?:(?<h>\d+)H)?(?:(?<m>\d+)M)?)?\s*$"
_PARTS = (("w", WEEK), ("d", DAY), ("h", HOUR), ("m", MINUTE))
_HINT = 'write it like "30m", "4h", "2d", "1w", "1h30m" or ISO 8601 "PT4H"'


def parse_column(text: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(minutes, problem) for a column of texts: minutes is null where the text is empty or unreadable, and
    problem says why a non-empty text could not be read (null where it was fine)."""
    s = text.cast(pl.String).str.strip_chars()
    df = pl.DataFrame({"t": s}).with_columns(
        pl.col("t").str.to_lowercase().str.extract_groups(_COMPACT).alias("c"),
        pl.col("t").str.to_uppercase().str.extract_groups(_ISO).alias("i"),
    )

    def total(src: str) -> pl.Expr:
        parts = [pl.col(src).struct.field(k).cast(pl.Int64, strict=False).fill_null(0) * n for k, n in _PARTS]
        some = pl.any_horizontal(pl.col(src).struct.field(k).is_not_null() for k, _ in _PARTS)
        return pl.when(some).then(pl.sum_horizontal(parts))

    df = df.with_columns(pl.coalesce(total("c"), total("i")).alias("minutes"))
    blank = pl.col("t").is_null() | (pl.col("t") == "")
    problem = (
        pl.when(blank).then(None)
        .when(pl.col("minutes").is_not_null()).then(None)
        .when(pl.col("t").str.contains(r"^\d+$")).then(pl.format("{} has no unit: {}", "t", pl.lit(_HINT)))
        .when(pl.col("t").str.to_uppercase().str.contains(r"^P[^T]*\d+[YM]"))
        .then(pl.format("{} uses years or months, which have no fixed length: {}", "t", pl.lit(_HINT)))
        .otherwise(pl.format("cannot read {} as a duration: {}", "t", pl.lit(_HINT)))
    )
    out = df.select(pl.when(blank).then(None).otherwise(pl.col("minutes")).alias("minutes"), problem.alias("p"))
    return out["minutes"].alias(text.name), out["p"].alias(text.name)


def parse(text: str | None, field: str = "duration") -> int | None:
    """Minutes in `text`, None when it is empty; ValidationError naming `field` when it cannot be read."""
    minutes, problem = parse_column(pl.Series(field, [text], dtype=pl.String))
    if problem[0] is not None:
        raise ValidationError([f"{field}: {problem[0]}"])
    return minutes[0]


def format(minutes: int | None) -> str:
    """"1 d 4 h" for 1680; "" for None. parse(format(m)) == m for every m >= 0."""
    if minutes is None:
        return ""
    if minutes == 0:
        return "0 min"
    out, rest = [], int(minutes)
    for unit, size in (("w", WEEK), ("d", DAY), ("h", HOUR), ("min", MINUTE)):
        n, rest = divmod(rest, size)
        if n:
            out.append(f"{n} {unit}")
    return " ".join(out)


def iso(minutes: int | None) -> str:
    """ISO 8601 form, e.g. "PT4H", "P2D", "P1DT4H30M"; "" for None."""
    if minutes is None:
        return ""
    days, rest = divmod(int(minutes), DAY)
    hours, mins = divmod(rest, HOUR)
    time = (f"{hours}H" if hours else "") + (f"{mins}M" if mins else "")
    if not days and not time:
        return "PT0M"
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def expr(minutes: pl.Expr) -> pl.Expr:
    """format() as a polars expression over a column of minutes (null stays null)."""
    m = minutes.cast(pl.Int64)
    parts = []
    for unit, size, above in (("w", WEEK, None), ("d", DAY, WEEK), ("h", HOUR, DAY), ("min", MINUTE, HOUR)):
        n = (m // size) if above is None else (m % above) // size
        parts.append(pl.when(n > 0).then(pl.format("{} " + unit, n)).otherwise(pl.lit(None, dtype=pl.String)))
    text = pl.concat_str(parts, separator=" ", ignore_nulls=True)
    return pl.when(m.is_null()).then(None).when(m == 0).then(pl.lit("0 min")).otherwise(text)
