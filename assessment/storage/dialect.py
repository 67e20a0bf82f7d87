"""The few SQL expressions that differ between DuckDB and PostgreSQL, named in one place."""

from __future__ import annotations


def add_months(date_expr: str, months_expr: str, dialect: str = "duckdb") -> str:
    if dialect == "postgresql":
        return f"(({date_expr}) + make_interval(months => ({months_expr})::int))::date"
    return f"CAST(({date_expr}) + to_months(CAST({months_expr} AS INTEGER)) AS DATE)"

