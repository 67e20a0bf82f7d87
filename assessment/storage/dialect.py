"""SQL expressions whose spelling must work on both DuckDB and PostgreSQL, named in one place."""

from __future__ import annotations


def add_months(date_expr: str, months_expr: str) -> str:
    """date + n months as a DATE; interval arithmetic spelled the way both databases accept."""
    return f"CAST(({date_expr}) + INTERVAL '1 month' * CAST({months_expr} AS INTEGER) AS DATE)"


def median(expr: str) -> str:
    """The median of `expr` in a GROUP BY (the mean of the two middle values for an even count)."""
    return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {expr})"
