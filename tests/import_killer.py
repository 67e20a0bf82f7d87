"""Subprocess for the crash test: commit one Excel import and print when done (it may be killed first)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from assessment import access
from assessment.excel import importer as excel_import
from assessment.storage.db import open_database


def main(db_path: str, xlsx: str) -> None:
    db = open_database(db_path)
    result = excel_import.commit(db, access.SYSTEM, Path(xlsx).read_bytes(), "killed.xlsx", today=date(2026, 6, 30))
    print(f"committed {result.committed} {result.written}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
