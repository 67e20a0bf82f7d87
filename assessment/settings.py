"""Every ITSCM_* environment variable, read and validated in one place (README, 'Configuration')."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SettingsError

TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _flag(raw: str) -> bool:
    low = raw.strip().lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def _positive_int(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError("expected a whole number") from None
    if value < 1:
        raise ValueError("expected a whole number of 1 or more")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("expected a number") from None
    if not value > 0:
        raise ValueError("expected a number above 0")
    return value


def _text(raw: str) -> str:
    return raw


def _secret(raw: str) -> str:
    if len(raw.strip()) < 32:
        raise ValueError("expected at least 32 characters (e.g. the output of `openssl rand -hex 32`)")
    return raw.strip()


def _port(raw: str) -> int:
    value = _positive_int(raw)
    if value > 65535:
        raise ValueError("expected a port number from 1 to 65535")
    return value


SMTP_SECURITY = ("starttls", "tls", "none")
# The port each SMTP security mode uses unless ITSCM_SMTP_PORT says otherwise (RFC 8314: 465 implicit TLS,
# 587 submission with STARTTLS; 25 plain relay).
SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}


def _smtp_security(raw: str) -> str:
    value = raw.strip().lower()
    if value not in SMTP_SECURITY:
        raise ValueError(f"expected one of {', '.join(SMTP_SECURITY)}")
    return value


def _base_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
        raise ValueError("expected the app's address, such as https://itscm.example.org")
    return value


def _address(raw: str) -> str:
    value = raw.strip()
    if "@" not in value or any(c in value for c in "\r\n"):
        raise ValueError("expected a mail address such as itscm@example.org or 'ITSCM <itscm@example.org>'")
    return value


def _path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("expected a path")
    return Path(raw)


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, the Settings field it fills, how it is parsed, its default."""

    name: str
    field: str
    parse: Callable[[str], Any]
    default: Any
    meaning: str
    secret: bool = False


VARIABLES: tuple[Variable, ...] = (
    Variable("ITSCM_DATA_DIR", "data_dir", _path, None, "folder of the DuckDB file, backups and demo credentials"),
    Variable("ITSCM_DATABASE_URL", "database_url", _text, None,
             "a DuckDB file path, or postgresql://user:password@host:5432/db", secret=True),
    Variable("ITSCM_DEMO", "demo_on_first_start", _flag, True, "load the demo organisation into an empty database"),
    Variable("ITSCM_SESSION_IDLE_MINUTES", "session_idle_minutes", _positive_int, 30,
             "minutes without activity after which a session ends"),
    Variable("ITSCM_SESSION_MAX_HOURS", "session_max_hours", _positive_int, 12, "hours after which a session ends"),
    Variable("ITSCM_IMPORT_MAX_BYTES", "import_max_bytes", _positive_int, 10 * 1024 * 1024,
             "Excel uploads larger than this are refused before parsing"),
    Variable("ITSCM_IMPORT_MAX_UNCOMPRESSED", "import_max_uncompressed", _positive_int, 200 * 1024 * 1024,
             "bytes an Excel upload may inflate to, all its parts together (zip-bomb guard)"),
    Variable("ITSCM_IMPORT_MAX_CELLS", "import_max_cells", _positive_int, 5_000_000,
             "rows x columns one sheet of an Excel upload may span"),
    Variable("ITSCM_BACKUPS", "scheduled_backups", _flag, True, "run scheduled online backups inside the app"),
    Variable("ITSCM_BACKUP_INTERVAL_HOURS", "backup_interval_hours", _positive_float, 24.0,
             "hours between scheduled backups"),
    Variable("ITSCM_BACKUP_KEEP", "backup_keep", _positive_int, 7, "online backups kept"),
    Variable("ITSCM_SSO_MAPPING", "sso_mapping", _path, None, "group-to-role mapping file for single sign-on"),
    Variable("ITSCM_SEPARATION_OF_DUTIES", "separation_of_duties", _flag, True,
             "refuse approving or returning an assessment you answered or submitted"),
    Variable("ITSCM_ADMIN_PASSWORD", "admin_password", _text, None,
             "password for `itscm create-admin` (asked for when unset)", secret=True),
    Variable("ITSCM_AUDIT_KEY", "audit_key", _secret, None,
             "secret key that signs audit checkpoints (default: the file audit.key in the data folder)",
             secret=True),
    Variable("ITSCM_BASE_URL", "base_url", _base_url, "http://localhost:8501",
             "the app's address, used for the links in reminder emails and calendar events"),
    Variable("ITSCM_SMTP_HOST", "smtp_host", _text, None, "mail server that sends reminder digests"),
    Variable("ITSCM_SMTP_PORT", "smtp_port", _port, None,
             "mail server port (default: 587 for starttls, 465 for tls, 25 for none)"),
    Variable("ITSCM_SMTP_SECURITY", "smtp_security", _smtp_security, "starttls",
             "starttls, tls (implicit TLS) or none"),
    Variable("ITSCM_SMTP_USER", "smtp_user", _text, None, "user name for the mail server (no login when unset)"),
    Variable("ITSCM_SMTP_PASSWORD", "smtp_password", _text, None, "password for the mail server", secret=True),
    Variable("ITSCM_SMTP_SENDER", "smtp_sender", _address, None,
             "From address of reminder digests, e.g. 'ITSCM <itscm@example.org>'"),
)


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    demo_on_first_start: bool = True
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    import_max_bytes: int = 10 * 1024 * 1024
    import_max_uncompressed: int = 200 * 1024 * 1024
    import_max_cells: int = 5_000_000
    scheduled_backups: bool = True
    backup_interval_hours: float = 24.0
    backup_keep: int = 7
    sso_mapping: Path | None = None
    separation_of_duties: bool = True
    admin_password: str | None = field(default=None, repr=False)
    audit_key: str | None = field(default=None, repr=False)
    base_url: str = "http://localhost:8501"
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_security: str = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_sender: str | None = None

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


def read(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """One variable's parsed value (its default when unset or empty); SettingsError explains a bad value."""
    var = next((v for v in VARIABLES if v.name == name), None)
    if var is None:
        raise KeyError(f"{name} is not a setting of this product")
    env = os.environ if environ is None else environ
    raw = env.get(name)
    if raw is None or raw == "":
        return var.default
    try:
        return var.parse(raw)
    except ValueError as exc:
        shown = "(hidden)" if var.secret else repr(raw)
        raise SettingsError(f"{name}={shown} is not usable: {exc}. It sets: {var.meaning}. "
                            "Fix or unset it (see README, 'Configuration').") from None


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting; all are optional. Every bad value is reported at once."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for var in VARIABLES:
        try:
            values[var.field] = read(var.name, environ)
        except SettingsError as exc:
            problems.append(str(exc))
    if problems:
        raise SettingsError("\n".join(problems))
    # data/ in the current directory, not beside the source: an installed package has no checkout around it
    # (`make run` starts from the checkout, so there it is the checkout's data/ folder).
    data_dir = values["data_dir"] or Path("data").absolute()
    values["data_dir"] = data_dir
    values["database_url"] = values["database_url"] or str(data_dir / "itscm.duckdb")
    return Settings(**values)
