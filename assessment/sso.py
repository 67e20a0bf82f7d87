"""Single sign-on: map an identity provider's groups to a role and units, and keep the user record in step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from . import access
from .clock import now
from .errors import PermissionDenied, ValidationError
from .storage import Database
from .storage import audit as audit_sql
from .storage import catalog as catalog_sql
from .storage import users as users_sql

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
    groups = claims.get(mapping.groups_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    matched = [mapping.rules[g] for g in groups if g in mapping.rules]
    if not matched:
        raise PermissionDenied(f"{username} is in no group that grants access to this application")
    role = min((r.role for r in matched), key=PRECEDENCE.index)
    units = tuple(sorted({u for r in matched if r.role == access.HEAD for u in r.units})) if role == access.HEAD else ()
    can_import = any(r.can_import for r in matched if r.role == role)
    return Identity(username, str(claims.get("name") or username), role, units, can_import)


def sync_user(db: Database, ident: Identity) -> None:
    """Create or update the local record of an SSO user (no password), auditing any change of rights."""

    def work(cur) -> None:
        u = users_sql.user(cur, ident.username)
        known_units = [x for x in ident.units if catalog_sql.unit(cur, x) is not None]
        after = {"role": ident.role, "units": known_units, "can_import": ident.can_import, "active": True}
        if u is None:
            users_sql.insert_user(cur, ident.username, ident.display_name, ident.role, None, ident.can_import, now())
            users_sql.set_user_units(cur, ident.username, known_units)
            audit_sql.append(cur, "sso", "sso", "user.create", "user", ident.username, None, after)
            return
        if not u["active"]:
            raise PermissionDenied(f"{ident.username} is disabled in this application")
        before = {"role": u["role"], "units": users_sql.user_units(cur, ident.username),
                  "can_import": u["can_import"], "active": u["active"]}
        if before != after:
            users_sql.update_user(cur, ident.username, role=ident.role, can_import=ident.can_import)
            users_sql.set_user_units(cur, ident.username, known_units)
            audit_sql.append(cur, "sso", "sso", "user.update", "user", ident.username, before, after)

    db.transaction(work)
