"""Single sign-on: map an identity provider's groups to a role and units, and keep the user record in step."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from . import access, auth
from .clock import now
from .errors import PermissionDenied, ValidationError
from .storage import Database
from .storage import audit as audit_sql
from .storage import catalog as catalog_sql
from .storage import users as users_sql
from .users import USERNAME_RE

# When several groups match, the most powerful role wins.
PRECEDENCE = [access.ADMIN, access.MANAGER, access.AUDITOR, access.LEADERSHIP, access.HEAD]


@dataclass(frozen=True)
class GroupRule:
    role: str
    units: tuple[str, ...] = ()
    can_import: bool = False


@dataclass(frozen=True)
class Mapping:
    groups_claim: str
    username_claim: str
    rules: dict[str, GroupRule]


@dataclass(frozen=True)
class Identity:
    username: str
    display_name: str
    role: str
    units: tuple[str, ...]
    can_import: bool


def load_mapping(path: str | Path) -> Mapping:
    """Read the group mapping file (see README, 'Single sign-on'); every problem is reported."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    problems, rules = [], {}
    for name, rule in (raw.get("groups") or {}).items():
        role = (rule or {}).get("role")
        if role not in access.ROLES:
            problems.append(f"groups.{name}.role: expected one of {', '.join(access.ROLES)}, got {role!r}")
            continue
        units = tuple(str(u) for u in (rule.get("units") or []))
        if role == access.HEAD and not units:
            problems.append(f"groups.{name}.units: a department head group needs units")
        rules[str(name)] = GroupRule(role, units, bool(rule.get("can_import", False)))
    if problems:
        raise ValidationError(problems, str(path))
    return Mapping(raw.get("groups_claim", "groups"), raw.get("username_claim", "email"), rules)


def map_identity(claims: dict, mapping: Mapping) -> Identity:
    """Role and units from the token's groups; no matching group means no access."""
    username = str(claims.get(mapping.username_claim) or "").strip().lower()
    if not username:
        raise PermissionDenied(f"the identity provider sent no {mapping.username_claim!r} claim")
    if not USERNAME_RE.match(username):
        raise PermissionDenied(f"the identity provider's {mapping.username_claim!r} claim {username!r} is not a valid "
                               "user name here (2-64 lower-case letters, digits, '.', '_', '@' or '-')")
    matched = [mapping.rules[g] for g in groups_of(claims, mapping) if g in mapping.rules]
    if not matched:
        raise PermissionDenied(f"{username} is in no group that grants access to this application: no role is "
                               "mapped to any of the groups the identity provider sent")
    role = min((r.role for r in matched), key=PRECEDENCE.index)
    units = tuple(sorted({u for r in matched if r.role == access.HEAD for u in r.units})) if role == access.HEAD else ()
    can_import = any(r.can_import for r in matched if r.role == role)
    return Identity(username, str(claims.get("name") or username), role, units, can_import)


def groups_of(claims: dict, mapping: Mapping) -> list[str]:
    groups = claims.get(mapping.groups_claim) or []
    return [groups] if isinstance(groups, str) else [str(g) for g in groups]


def sync_user(db: Database, ident: Identity) -> None:
    """Create or update the local record of an SSO user (no password), auditing any change of rights."""
    db.transaction(lambda cur: _sync(cur, ident, now()))


def _sync(cur, ident: Identity, at: datetime) -> None:
    u = users_sql.user(cur, ident.username)
    known_units = [x for x in ident.units if catalog_sql.unit(cur, x) is not None]
    after = {"role": ident.role, "units": known_units, "can_import": ident.can_import, "active": True}
    if u is None:
        users_sql.insert_user(cur, ident.username, ident.display_name, ident.role, None, ident.can_import, at)
        users_sql.set_user_units(cur, ident.username, known_units)
        audit_sql.append(cur, "sso", "sso", "user.create", "user", ident.username, after=after)
        return
    if not u["active"]:
        raise PermissionDenied(f"{ident.username} is disabled in this application")
    before = {"role": u["role"], "units": users_sql.user_units(cur, ident.username),
              "can_import": u["can_import"], "active": u["active"]}
    if before != after:
        users_sql.update_user(cur, ident.username, role=ident.role, can_import=ident.can_import)
        users_sql.set_user_units(cur, ident.username, known_units)
        audit_sql.append(cur, "sso", "sso", "user.update", "user", ident.username, before=before, after=after)


# The claims that single out one sign-in at the provider: "iat" and "nonce" change with every sign-in.
LOGIN_CLAIMS = ("iss", "aud", "sub", "iat", "auth_time", "nonce")


def login_token(claims: dict, *, secret: str) -> str:
    """The app's session token for one sign-in at the identity provider (keyed, so only the server can make it).

    Streamlit keeps the provider's identity in a signed cookie for 30 days, so every page load arrives signed
    in. Tying the app session to that one sign-in lets a reload resume the session while it lasts, and once
    it has ended (sign-out, idle or absolute timeout) the same cookie cannot open another one.
    """
    if "iat" not in claims:
        raise PermissionDenied("the identity provider sent an ID token without its 'iat' (issued at) claim")
    login = json.dumps({k: claims.get(k) for k in LOGIN_CLAIMS}, sort_keys=True, default=str)
    return hmac.new(secret.encode(), login.encode(), hashlib.sha256).hexdigest()


def sign_in(db: Database, claims: dict, mapping: Mapping, *, secret: str, at: datetime | None = None) -> str:
    """The session token for this sign-in at the provider; the first call maps the groups and opens the session.

    Later calls with the same claims return the same token and change nothing: auth.resolve then applies the
    app's idle and absolute lifetime, and a session that has ended stays ended. A refusal (no mapped group, a
    disabled user, a missing claim) raises PermissionDenied, is audited as login.refused, and creates no user.
    """
    try:
        token = login_token(claims, secret=secret)
        th = auth.token_hash(token)
        with db.read() as cur:
            if users_sql.session(cur, th) is not None:
                return token
        ident = map_identity(claims, mapping)
        db.transaction(lambda cur: _open_session(cur, ident, th, at or now()))
        return token
    except PermissionDenied as exc:
        who = str(claims.get(mapping.username_claim) or "").strip().lower()[:64] or "(unknown)"
        refusal = {"reason": str(exc), "groups": groups_of(claims, mapping)[:50]}
        db.transaction(lambda cur: audit_sql.append(cur, who, "sso", "login.refused", "user", who, after=refusal))
        raise


def _open_session(cur, ident: Identity, token_hash: str, at: datetime) -> None:
    if users_sql.session(cur, token_hash) is not None:  # another tab of the same browser was first
        return
    _sync(cur, ident, at)
    users_sql.insert_session(cur, token_hash, ident.username, at)
    audit_sql.append(cur, ident.username, "sso", "login", "user", ident.username)
