"""Keyed audit checkpoints: the secret key kept outside the database, the HMAC, and the text form exported.

A checkpoint says "the audit chain had entry #seq with hash H at time T", signed with HMAC-SHA256 under a key
the database does not hold: ITSCM_AUDIT_KEY, or else the file `audit.key` in the data folder (0600, made on
first use). Whoever can rewrite the database can recompute the hash chain, but cannot sign a checkpoint, so
a checkpoint that no longer matches the log (or covers entries the log no longer has) proves tampering.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import settings
from .errors import SettingsError

EVERY = 100  # the storage layer signs a checkpoint whenever the chain has grown this many entries past the last
KEY_FILE = "audit.key"
KEY_ENV = "ITSCM_AUDIT_KEY"
TEXT_VERSION = "itscm-checkpoint/1"
_TEXT = re.compile(r"^itscm-checkpoint/1 seq=(?P<seq>\d{1,18}) at=(?P<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d) "
                   r"head=(?P<head>[0-9a-f]{64}|genesis) key=(?P<key>[0-9a-f]{16}) hmac=(?P<mac>[0-9a-f]{64})$")


@dataclass(frozen=True)
class AuditKey:
    secret: bytes = field(repr=False)
    source: str  # where it came from, for messages: the setting or the file path

    @property
    def key_id(self) -> str:
        """Names the key without revealing it: which key signed a checkpoint."""
        return hashlib.sha256(b"itscm-audit-key-id\x00" + self.secret).hexdigest()[:16]

    def mac(self, seq: int, head_hash: str, created_at: datetime) -> str:
        return hmac.new(self.secret, _message(seq, head_hash, created_at), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head_hash: str
    created_at: datetime
    key_id: str | None  # None for the unsigned baseline the migration wrote (entries before checkpoints)
    mac: str | None

    @property
    def signed(self) -> bool:
        return self.mac is not None

    def text(self) -> str:
        """The one-line form printed in auditor packs and backup manifests, accepted by `audit verify`."""
        return (f"{TEXT_VERSION} seq={self.seq} at={self.created_at:%Y-%m-%dT%H:%M:%S} head={self.head_hash} "
                f"key={self.key_id} hmac={self.mac}")

    def label(self) -> str:
        return f"checkpoint #{self.seq} of {self.created_at:%Y-%m-%d %H:%M} UTC"

    def problem(self, key: AuditKey | None) -> str | None:
        """Why this checkpoint cannot be trusted (None when its HMAC is right under this key)."""
        if not self.signed:
            return f"{self.label()} carries no HMAC"
        if key is None:
            return (f"{self.label()} cannot be checked: no audit key is available here (set {KEY_ENV} or put "
                    f"the {KEY_FILE} file of the installation that made it into the data folder)")
        if self.key_id != key.key_id:
            return (f"{self.label()} was signed with another key (id {self.key_id}), not this installation's "
                    f"(id {key.key_id}, from {key.source}): verify with the key that made it")
        if not hmac.compare_digest(self.mac or "", key.mac(self.seq, self.head_hash, self.created_at)):
            return f"{self.label()} is forged: its HMAC does not match (it was written or altered without the key)"
        return None


def sign(key: AuditKey, seq: int, head_hash: str, created_at: datetime) -> Checkpoint:
    at = created_at.replace(microsecond=0)  # the text form and the MAC cover whole seconds
    return Checkpoint(seq, head_hash, at, key.key_id, key.mac(seq, head_hash, at))


def parse(text: str) -> Checkpoint:
    """A checkpoint from its exported text form (ValueError names what is wrong)."""
    m = _TEXT.match(text.strip())
    if not m:
        raise ValueError(f"not a checkpoint: expected '{TEXT_VERSION} seq=N at=YYYY-MM-DDTHH:MM:SS head=<64 hex> "
                         f"key=<16 hex> hmac=<64 hex>' as printed in an auditor pack or backup manifest, got "
                         f"{text.strip()[:80]!r}")
    return Checkpoint(int(m["seq"]), m["head"], datetime.fromisoformat(m["at"]), m["key"], m["mac"])


def _message(seq: int, head_hash: str, created_at: datetime) -> bytes:
    return f"itscm-audit-checkpoint|{int(seq)}|{head_hash}|{created_at:%Y-%m-%dT%H:%M:%S}".encode()


def signing_key() -> AuditKey:
    """The key to sign with, made if missing (every append path signs its periodic checkpoints with it)."""
    key = load_key(create=True)
    if key is None:  # load_key(create=True) makes the file or raises
        raise SettingsError(f"no audit key could be made: set {KEY_ENV}")
    return key


def load_key(*, create: bool) -> AuditKey | None:
    """The checkpoint key: ITSCM_AUDIT_KEY, else <data folder>/audit.key, made (0600) when create is set.

    Without create (verification) a missing file gives None: verifying never writes.
    """
    configured = settings.read(KEY_ENV)
    if configured:
        return AuditKey(configured.encode(), KEY_ENV)
    folder = settings.load().data_dir
    path = Path(folder) / KEY_FILE
    if not path.exists():
        if not create:
            return None
        _create_key_file(path)
    return AuditKey(_read_key_file(path), str(path))


def _create_key_file(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it a moment ago: use theirs
    except OSError as exc:
        raise SettingsError(f"cannot create the audit key file {path}: {exc.strerror or exc}. Make the data "
                            f"folder writable, or set {KEY_ENV} (see README, 'Configuration').") from exc
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _read_key_file(path: Path) -> bytes:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read the audit key file {path}: {exc}. Restore it from your copy, or set "
                            f"{KEY_ENV}.") from exc
    if os.name == "posix" and mode & 0o077:
        raise SettingsError(f"the audit key file {path} is readable by other users (mode {mode:o}): run "
                            f"`chmod 600 {path}` (anyone who reads it can forge audit checkpoints)")
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise SettingsError(f"the audit key file {path} is damaged (expected 64 hexadecimal characters): restore "
                            f"it from your copy; checkpoints signed with the old key cannot be checked without it")
    return text.encode()
