"""Storage layer: the only place that holds SQL."""

from ..errors import DatabaseError, DatabaseLocked
from .db import Database, open_database

__all__ = ["Database", "DatabaseError", "DatabaseLocked", "open_database"]
