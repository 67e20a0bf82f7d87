"""Password policy (OWASP ASVS level 1) and argon2id hashing."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 1024  # long passphrases are welcome; argon2 hashes the whole string, nothing is truncated
COMMON = resources.files("assessment") / "resources" / "common-passwords.txt"  # package data (pyproject.toml)
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    return frozenset(line.strip().lower() for line in COMMON.read_text().splitlines() if line.strip())


def problems(password: str, username: str = "") -> list[str]:
    """Why a password is refused (empty when acceptable). No composition rules, by design (ASVS 2.1.9)."""
    out = []
    if len(password) < MIN_LENGTH:
        out.append(f"use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        out.append(f"use at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in _common():
        out.append("this password is on the list of commonly used passwords")
    if username and len(username) >= 3 and username.lower() in lowered:
        out.append("the password must not contain the user name")
    if password and len(set(password)) == 1:
        out.append("the password must not repeat a single character")
    return out


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        _HASHER.hash(password)  # spend the same time whether or not the account exists
        return False
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)



# A generated one-time password carries ~96 random bits, so a slow hash adds nothing against guessing it; a
# light one lets an organisation import create hundreds of accounts in seconds. needs_rehash is true for
# these hashes, so the first sign-in re-hashes with the full parameters.
_LIGHT = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # ~2 ms instead of ~200 ms


def hash_generated(password: str) -> str:
    """Hash a password this application generated (secrets.token_urlsafe), never one a person chose."""
    return _LIGHT.hash(password)
