"""Choose the backend from one database URL: a DuckDB file path (default) or postgresql://..."""

from __future__ import annotations

from pathlib import Path

from .db import open_database
from .types import Store


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def open_url(url: str, schema: str | None = None):
    """Open and migrate the database a URL names; a plain path or duckdb:///path is a DuckDB file."""
    if is_postgres(url):
        from .migrations import migrate
        from .pg import PgDatabase

        db = PgDatabase(url, schema=schema)
        try:
            migrate(db)
        except Exception:
            db.close()
            raise
        return db
    return open_database(Path(url.removeprefix("duckdb:///")))


def describe(db: Store) -> str:
    if db.dialect == "postgresql":
        from .pg import _redact

        return f"PostgreSQL {_redact(getattr(db, 'url', ''))}"
    return f"DuckDB file {getattr(db, 'path', '?')}"
