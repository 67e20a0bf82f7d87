"""Login, throttling of failed attempts, and server-side sessions with idle and absolute timeouts."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import passwords, settings
from .clock import now
from .errors import EngineError, PermissionDenied
from .model import Actor
from .storage import Database
from .storage import audit as audit_sql
from .storage import users as users_sql

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

    @classmethod
    def from_settings(cls) -> SessionPolicy:
        s = settings.load()
        return cls(idle=timedelta(minutes=s.session_idle_minutes), absolute=timedelta(hours=s.session_max_hours))


class SessionEnded(PermissionDenied):
    """The page's session or rights changed after the page was drawn: the write is refused, nothing is saved."""


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
        u = users_sql.user(cur, username)
    if u is not None and u["failed_logins"] and u["last_failed_at"] is not None:
        wait = u["last_failed_at"] + throttle_delay(u["failed_logins"]) - at
        if wait > timedelta(0):
            raise LoginFailed(f"too many failed attempts: try again in {int(wait.total_seconds()) + 1} s",
                              wait.total_seconds())
    ok = passwords.verify(u["password_hash"] if u else None, password)
    if not ok or not u["active"]:
        def fail(cur) -> None:
            if u is not None:
                users_sql.update_user(cur, username, failed_logins=u["failed_logins"] + 1, last_failed_at=at)
            audit_sql.append(cur, username or "(blank)", source, "login.failed", "user", username or "(blank)",
                         None, {"reason": "disabled" if u and ok else "bad credentials"})
        db.transaction(fail)
        raise LoginFailed("wrong user name or password, or the account is disabled")
    token = secrets.token_urlsafe(32)

    def succeed(cur) -> None:
        fields = {"failed_logins": 0, "last_failed_at": None}
        if passwords.needs_rehash(u["password_hash"]):
            fields["password_hash"] = passwords.hash_password(password)
        users_sql.update_user(cur, username, **fields)
        users_sql.insert_session(cur, token_hash(token), username, at)
        audit_sql.append(cur, username, source, "login", "user", username, None, None)

    db.transaction(succeed)
    return token


def create_session(db: Database, username: str, at: datetime | None = None) -> str:
    """A session for an identity already proven elsewhere (single sign-on, tests)."""
    token = secrets.token_urlsafe(32)
    db.transaction(lambda cur: users_sql.insert_session(cur, token_hash(token), username, at or now()))
    return token


def _end_reason(s: dict | None, u: dict | None, policy: SessionPolicy, at: datetime) -> str | None:
    """Why a session no longer grants access (None while it does): the one rule for page loads and writes."""
    if s is None:
        return "unknown session"
    if s["ended_at"] is not None:
        return s["end_reason"] or "ended"
    if u is None or not u["active"]:
        return "user disabled"
    if at - s["created_at"] > policy.absolute:
        return "absolute lifetime reached"
    if at - s["last_seen_at"] > policy.idle:
        return "idle timeout"
    return None


def resolve(db: Database, token: str | None, policy: SessionPolicy | None = None,
            at: datetime | None = None, source: str = "page") -> Actor | None:
    """The acting user of a session token, or None when the session has ended, expired or the user is disabled."""
    if not token:
        return None
    policy, at = policy or SessionPolicy(), at or now()
    th = token_hash(token)
    with db.read() as cur:
        s = users_sql.session(cur, th)
        u = users_sql.user(cur, s["username"]) if s else None
        units = users_sql.user_units(cur, s["username"]) if s else []
    if s is None or s["ended_at"] is not None:
        return None
    reason = _end_reason(s, u, policy, at)
    if reason:
        db.transaction(lambda cur: users_sql.end_session(cur, th, at, reason))
        return None
    if at - s["last_seen_at"] > timedelta(seconds=30):  # avoid a write on every rerun
        db.transaction(lambda cur: users_sql.touch_session(cur, th, at))
    return Actor(u["username"], u["role"], frozenset(units), bool(u["can_import"]), source, session=th)


def require_current(cur, actor: Actor, policy: SessionPolicy | None = None, at: datetime | None = None) -> None:
    """Inside a write's transaction: refuse (SessionEnded) unless the actor's session is still valid and the
    user's rights are exactly those the actor was resolved with.

    A page's callbacks run before the page re-runs, with the Actor of the previous run; this check makes a
    disabled user, a removed unit, a demotion or a timed-out session stop every write at the next click,
    whatever page or callback issues it. Actors without a session (CLI, system jobs) are not session-bound.
    """
    if actor.session is None:
        return
    policy, at = policy or SessionPolicy.from_settings(), at or now()
    s = users_sql.session(cur, actor.session)
    u = users_sql.user(cur, actor.username) if s else None
    reason = _end_reason(s, u, policy, at)
    if reason is None and s["username"] != actor.username:
        reason = "the session belongs to another user"
    if reason is None and (u["role"], frozenset(users_sql.user_units(cur, actor.username)), bool(u["can_import"])) \
            != (actor.role, actor.units, actor.can_import):
        reason = "your role or units changed"
    if reason:
        raise SessionEnded(f"Nothing was saved: your session ended ({reason}) after this page was shown. "
                           "Sign in again to continue.")


def session_end_reason(db: Database, token: str) -> str | None:
    with db.read() as cur:
        s = users_sql.session(cur, token_hash(token))
    return s["end_reason"] if s else None


def logout(db: Database, token: str) -> None:
    th = token_hash(token)

    def work(cur) -> None:
        s = users_sql.session(cur, th)
        if s and s["ended_at"] is None:
            users_sql.end_session(cur, th, now(), "logout")
            audit_sql.append(cur, s["username"], "page", "logout", "user", s["username"], None, None)

    db.transaction(work)
