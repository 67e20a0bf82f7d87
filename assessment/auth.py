"""Login, throttling of failed attempts, and server-side sessions with idle and absolute timeouts."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import passwords
from .catalog import now
from .errors import EngineError
from .model import Actor
from .storage import Database, audit
from .storage import users as store

FREE_ATTEMPTS = 5
MAX_DELAY = timedelta(minutes=15)


class LoginFailed(EngineError):
    """Wrong user name or password, or a throttled attempt; never says which account exists."""

    def __init__(self, message: str, retry_after: float = 0.0):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


def token_hash(token: str) -> str:
    """What the sessions table stores instead of the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def throttle_delay(failed: int) -> timedelta:
    """Delay before the next attempt is checked: none for the first few, then doubling, capped.

    The cap keeps an attacker from locking the owner out for good: after at most MAX_DELAY the
    right password works again.
    """
    if failed < FREE_ATTEMPTS:
        return timedelta(0)
    exponent = min(failed - FREE_ATTEMPTS + 1, 20)  # 2**20 s is far above the cap; avoids overflow
    return min(timedelta(seconds=2**exponent), MAX_DELAY)


def login(db: Database, username: str, password: str, source: str = "page", at: datetime | None = None) -> str:
    """Check credentials; return a new session token. Failed attempts are counted and audited."""
    at = at or now()
    username = username.strip().lower()
    with db.read() as cur:
        u = store.user(cur, username)
    if u is not None and u["failed_logins"] and u["last_failed_at"] is not None:
        wait = u["last_failed_at"] + throttle_delay(u["failed_logins"]) - at
        if wait > timedelta(0):
            raise LoginFailed(f"too many failed attempts: try again in {int(wait.total_seconds()) + 1} s",
                              wait.total_seconds())
    ok = passwords.verify(u["password_hash"] if u else None, password)
    if not ok or not u["active"]:
        def fail(cur) -> None:
            if u is not None:
                store.update_user(cur, username, failed_logins=u["failed_logins"] + 1, last_failed_at=at)
            audit.append(cur, username or "(blank)", source, "login.failed", "user", username or "(blank)",
                         None, {"reason": "disabled" if u and ok else "bad credentials"})
        db.transaction(fail)
        raise LoginFailed("wrong user name or password, or the account is disabled")
    token = secrets.token_urlsafe(32)

    def succeed(cur) -> None:
        fields = {"failed_logins": 0, "last_failed_at": None}
        if passwords.needs_rehash(u["password_hash"]):
            fields["password_hash"] = passwords.hash_password(password)
        store.update_user(cur, username, **fields)
        store.insert_session(cur, token_hash(token), username, at)
        audit.append(cur, username, source, "login", "user", username, None, None)

    db.transaction(succeed)
    return token


def create_session(db: Database, username: str, at: datetime | None = None) -> str:
    """A session for an identity already proven elsewhere (single sign-on, tests)."""
    token = secrets.token_urlsafe(32)
    db.transaction(lambda cur: store.insert_session(cur, token_hash(token), username, at or now()))
    return token


def resolve(db: Database, token: str | None, policy: SessionPolicy | None = None,
            at: datetime | None = None, source: str = "page") -> Actor | None:
    """The acting user of a session token, or None when the session has ended, expired or the user is disabled."""
    if not token:
        return None
    policy, at = policy or SessionPolicy(), at or now()
    th = token_hash(token)
    with db.read() as cur:
        s = store.session(cur, th)
        u = store.user(cur, s["username"]) if s else None
        units = store.user_units(cur, s["username"]) if s else []
    if s is None or s["ended_at"] is not None:
        return None
    reason = None
    if u is None or not u["active"]:
        reason = "user disabled"
    elif at - s["created_at"] > policy.absolute:
        reason = "absolute lifetime reached"
    elif at - s["last_seen_at"] > policy.idle:
        reason = "idle timeout"
    if reason:
        db.transaction(lambda cur: store.end_session(cur, th, at, reason))
        return None
    if at - s["last_seen_at"] > timedelta(seconds=30):  # avoid a write on every rerun
        db.transaction(lambda cur: store.touch_session(cur, th, at))
    return Actor(u["username"], u["role"], frozenset(units), bool(u["can_import"]), source)


def session_end_reason(db: Database, token: str) -> str | None:
    with db.read() as cur:
        s = store.session(cur, token_hash(token))
    return s["end_reason"] if s else None


def logout(db: Database, token: str) -> None:
    th = token_hash(token)

    def work(cur) -> None:
        s = store.session(cur, th)
        if s and s["ended_at"] is None:
            store.end_session(cur, th, now(), "logout")
            audit.append(cur, s["username"], "page", "logout", "user", s["username"], None, None)

    db.transaction(work)
