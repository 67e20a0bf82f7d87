"""Folders the app writes to (data, backups): created on demand, with a clear error when they cannot be."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DatabaseError


def ensure_writable(path: Path, what: str, hint: str) -> None:
    """Create the folder if missing; raise DatabaseError naming it and saying what to do otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create the {what} {path}: {exc.strerror}; {hint}") from exc
    if not os.access(path, os.W_OK):
        raise DatabaseError(f"the {what} {path} is read-only for this user; {hint}")
