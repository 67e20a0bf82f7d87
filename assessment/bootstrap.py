"""First start: make sure the data folder and database exist, then load the demo when it is empty."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from . import access, catalog, clock, demo, users
from .errors import DatabaseError
from .folders import ensure_writable
from .questionnaire import SHIPPED_QUESTIONNAIRES, load_default, load_file
from .settings import Settings
from .storage import Database
from .storage.backends import is_postgres, open_url
from .storage.db import open_database


@dataclass(frozen=True)
class Startup:
    db: Database
    demo_loaded: bool
    credentials: list[tuple[str, str, str]]


def check_data_dir(path: Path) -> None:
    ensure_writable(path, "data folder", "create it or make it writable, or point ITSCM_DATA_DIR at a writable folder")


def start(settings: Settings, today: date | None = None) -> Startup:
    """Open the database (migrating it); on an empty one, store the questionnaire and the demo."""
    path = settings.database_path
    if path is not None:
        check_data_dir(path.parent)
        db = open_database(path)
    elif is_postgres(settings.database_url):
        db = open_url(settings.database_url)
    else:
        raise DatabaseError(f"unsupported database URL {settings.database_url!r}: use a file path, "
                            "duckdb:///path or postgresql://user@host/db")
    q = load_default()
    for path in SHIPPED_QUESTIONNAIRES:
        catalog.register_questionnaire(db, access.SYSTEM.with_source("startup"), load_file(path))
    loaded, creds = False, []
    if settings.demo_on_first_start and not catalog.organisation_exists(db):
        demo.load(db, access.SYSTEM.with_source("startup"), q, today or clock.today())
        try:
            creds = users.create_demo_users(db, settings.data_dir)
        except OSError as exc:
            raise DatabaseError(f"cannot write to the data folder {settings.data_dir}: {exc.strerror}; "
                                "free disk space or fix its permissions") from exc
        loaded = True
    return Startup(db, loaded, creds)


def print_credentials(creds: list[tuple[str, str, str]], data_dir: Path) -> None:
    if not creds:
        return
    print("\nDemo accounts (shown once; also in", data_dir / "demo-credentials.txt", "readable only by you):")
    for username, role, pw in creds:
        print(f"  {username:<24} {role:<20} {pw}")
    print()
