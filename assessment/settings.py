"""Runtime settings from environment variables, with documented defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    demo_on_first_start: bool
    session_idle_minutes: int
    session_max_hours: int
    import_max_bytes: int
    scheduled_backups: bool = True

    @property
    def database_path(self) -> Path | None:
        """The DuckDB file, or None when the URL selects another backend."""
        url = self.database_url
        if url.startswith("duckdb:///"):
            return Path(url.removeprefix("duckdb:///"))
        if "://" in url:
            return None
        return Path(url)

    @property
    def backend(self) -> str:
        return "duckdb" if self.database_path is not None else "postgresql"


def load() -> Settings:
    """Read settings; every variable is optional (see README, 'Configuration')."""
    data_dir = Path(os.environ.get("ITSCM_DATA_DIR", ROOT / "data"))
    return Settings(
        database_url=os.environ.get("ITSCM_DATABASE_URL", str(data_dir / "itscm.duckdb")),
        data_dir=data_dir,
        demo_on_first_start=os.environ.get("ITSCM_DEMO", "1") not in {"0", "false", "no"},
        session_idle_minutes=int(os.environ.get("ITSCM_SESSION_IDLE_MINUTES", "30")),
        session_max_hours=int(os.environ.get("ITSCM_SESSION_MAX_HOURS", "12")),
        import_max_bytes=int(os.environ.get("ITSCM_IMPORT_MAX_BYTES", str(10 * 1024 * 1024))),
        scheduled_backups=os.environ.get("ITSCM_BACKUPS", "1") not in {"0", "false", "no"},
    )
