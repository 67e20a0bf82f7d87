"""Storage layer: the only place that holds SQL."""

from .db import Database, DatabaseError, DatabaseLocked, StaleWrite, open_database

__all__ = ["Database", "DatabaseError", "DatabaseLocked", "StaleWrite", "open_database"]
