"""Login (throttled by throttle.py), remembered devices, and server-side sessions with idle and absolute timeouts."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import passwords, settings, throttle
from .clock import now
from .errors import EngineError, PermissionDenied
from .model import Actor
from .storage import Database
from .storage import audit as audit_sql
from .storage import throttle as throttle_sql
from .storage import users as users_sql

MAX_USERNAME = 128  # user names are at most 64 characters (users.USERNAME_RE); this leaves room, no more
MAX_PASSWORD = passwords.MAX_LENGTH
EXCERPT = 64  # characters of a failed attempt's user name kept in the audit trail
WRONG = "wrong user name or password, or the account is disabled"


class LoginFailed(EngineError):
    """Wrong user name or password, or a throttled attempt; never says which account exists."""

    def __init__(self, message: str, retry_after: float | None = 0.0):
        super().__init__(message)
        self.retry_after = retry_after  # seconds; None when waiting does not help (the ceiling)


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


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """A bounded, printable form of untrusted text for the audit trail: control characters escaped."""
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text[:limit])
    return shown + (f"...(+{len(text) - limit} characters)" if len(text) > limit else "")


def _refused(decision: throttle.Decision) -> LoginFailed:
    if decision.retry_after is None:
        return LoginFailed("too many failed attempts with this user name: sign in from a device you have signed "
                           "in from before, or ask an administrator to reset the password", None)
    seconds = decision.retry_after.total_seconds()
    return LoginFailed(f"too many failed attempts: try again in {int(seconds) + 1} s", seconds)


def login(db: Database, username: str, password: str, *, client: str | None = None, device: str | None = None,
          source: str = "page", at: datetime | None = None) -> str:
    """Check credentials; return a new session token.

    client: the caller's address (st.context.ip_address), for the per-client limit; device: the token
    remember_device gave this browser after an earlier sign-in. Oversized fields are refused before any
    work. The attempt is counted before its password is checked (throttle.claim) and every answer is the
    same for an unknown name as for a real account in the same state.
    """
    if len(username) > MAX_USERNAME:
        raise LoginFailed(f"the user name is too long: at most {MAX_USERNAME} characters")
    if len(password) > MAX_PASSWORD:
        raise LoginFailed(f"the password is too long: at most {MAX_PASSWORD} characters")
    if client is not None and len(client) > MAX_USERNAME:
        client = client[:MAX_USERNAME]
    at = at or now()
    username = username.strip().lower()
    device_hash = token_hash(device) if device and len(device) <= MAX_USERNAME else None
    try:
        decision = db.transaction(lambda cur: throttle.claim(cur, username=username, client=client,
                                                             device_hash=device_hash, at=at))
    except throttle.Contended:
        decision = throttle.Decision(False, retry_after=timedelta(seconds=1))
    if not decision.allowed:
        raise _refused(decision)
    with db.read() as cur:
        u = users_sql.user(cur, username)
    ok = passwords.verify(u["password_hash"] if u else None, password)
    if not ok or u is None or not u["active"]:
        who = excerpt(username) or "(blank)"
        after = {"reason": "disabled" if u and ok else "bad credentials", "device": decision.via_device}
        if client:
            after["client"] = excerpt(client)
        db.transaction(lambda cur: audit_sql.append(cur, who, source, "login.failed", "user", who, after=after))
        raise LoginFailed(WRONG)
    token = secrets.token_urlsafe(32)
    stored_hash = u["password_hash"]

    def succeed(cur) -> None:
        throttle.succeeded(cur, username=username, device_hash=device_hash, via_device=decision.via_device, at=at)
        if passwords.needs_rehash(stored_hash):
            users_sql.update_user(cur, username, password_hash=passwords.hash_password(password))
        users_sql.insert_session(cur, token_hash(token), username, at)
        audit_sql.append(cur, username, source, "login", "user", username,
                         after={"device": decision.via_device} if decision.via_device else None)

    db.transaction(succeed)
    return token


def remember_device(db: Database, token: str, device: str | None = None, at: datetime | None = None) -> str:
    """A device token for this browser, to store after a sign-in (a long-lived cookie) and pass back as
    login(device=...): it lets its owner past the throttling an attacker elsewhere causes. An existing
    token of the same user is kept; otherwise a new one is issued."""
    at = at or now()
    new = secrets.token_urlsafe(32)

    def work(cur) -> str:
        s = users_sql.session(cur, token_hash(token))
        if s is None or s["ended_at"] is not None:
            raise SessionEnded("sign in first: a device is remembered only for a signed-in session")
        if device:
            known = throttle_sql.device(cur, token_hash(device))
            if known is not None and known.username == s["username"] and known.failures < throttle.DEVICE_FAILURES:
                return device
        throttle_sql.insert_device(cur, token_hash(new), s["username"], at)
        return new

    return db.transaction(work)


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
        s, u, units = users_sql.session_holder(cur, th)
    if s is None or s["ended_at"] is not None:
        return None
    reason = _end_reason(s, u, policy, at)
    if reason or u is None:
        db.transaction(lambda cur: users_sql.end_session(cur, th, at, reason or "user deleted"))
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
    s, u, units = users_sql.session_holder(cur, actor.session)
    reason = _end_reason(s, u, policy, at)
    if reason is None and (s is None or u is None or s["username"] != actor.username):
        reason = "the session belongs to another user"
    rights = (u["role"], frozenset(units), bool(u["can_import"])) if u else None
    if reason is None and rights != (actor.role, actor.units, actor.can_import):
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
            audit_sql.append(cur, s["username"], "page", "logout", "user", s["username"])

    db.transaction(work)
