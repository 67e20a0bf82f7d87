"""User accounts: create, roles and unit assignments, enable/disable, password changes, demo accounts."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import polars as pl

from . import access, audit, passwords, throttle
from .clock import now
from .demo import username_for
from .errors import InvalidState, NotFound, PermissionDenied, ValidationError
from .model import Actor
from .storage import Database
from .storage import catalog as catalog_sql
from .storage import users as users_sql

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
# Deliberately loose (one @, a dot in the domain, no spaces): the mail server is the judge of deliverability.
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
EMAIL_MAX = 254


def email_problems(email: str | None) -> list[str]:
    """What is wrong with an email address ('' and None mean none is set)."""
    if not email:
        return []
    if len(email) > EMAIL_MAX or not EMAIL_RE.match(email):
        return [f"email: expected an address such as name@example.org, got {email[:80]!r}"]
    return []


def _check(username: str, role: str, password: str | None, unit_ids: list[str]) -> list[str]:
    problems = []
    if not USERNAME_RE.match(username):
        problems.append(f"username: use 2-64 lower-case letters, digits, '.', '_', '@' or '-', got {username!r}")
    if role not in access.ROLES:
        problems.append(f"role: expected one of {', '.join(access.ROLES)}, got {role!r}")
    if password is not None:
        problems += [f"password: {p}" for p in passwords.problems(password, username)]
    if role == access.HEAD and not unit_ids:
        problems.append("units: a department head needs at least one business unit")
    return problems


def _public(u: dict, units: list[str]) -> dict:
    return {"role": u["role"], "active": u["active"], "can_import": u["can_import"], "units": units,
            "display_name": u["display_name"], "email": u.get("email")}


def create(db: Database, actor: Actor, username: str, display_name: str, role: str, password: str | None,
           unit_ids: list[str] | None = None, can_import: bool = False, email: str | None = None) -> None:
    access.require(actor, "manage_users")
    _create(db, actor, username.strip().lower(), display_name, role, password, unit_ids or [], can_import,
            (email or "").strip() or None)


def _create(db: Database, actor: Actor, username: str, display_name: str, role: str, password: str | None,
            unit_ids: list[str], can_import: bool, email: str | None = None) -> None:
    problems = _check(username, role, password, unit_ids) + email_problems(email)
    if problems:
        raise ValidationError(problems, f"user {username}")
    pw_hash = passwords.hash_password(password) if password else None

    def work(cur) -> None:
        if users_sql.user(cur, username):
            raise InvalidState(f"user {username!r} already exists")
        unknown = [u for u in unit_ids if catalog_sql.unit(cur, u) is None]
        if unknown:
            raise ValidationError([f"units: unknown business unit {u!r}" for u in unknown], f"user {username}")
        at = now()
        users_sql.insert_user(cur, username, display_name or username, role, pw_hash, can_import, at, email)
        users_sql.set_user_units(cur, username, unit_ids)
        audit.record(cur, actor, "user.create", "user", username,
                     after={"role": role, "units": sorted(unit_ids), "can_import": can_import,
                            "display_name": display_name, "email": email})

    db.transaction(work)


def none_exist(db: Database) -> bool:
    """True on a new installation without any account (the sign-in page then says how to make the first)."""
    with db.read() as cur:
        return users_sql.count_users(cur) == 0


def create_first_admin(db: Database, username: str, password: str, display_name: str = "") -> None:
    """Bootstrap: only allowed while there are no users at all."""
    with db.read() as cur:
        if users_sql.count_users(cur):
            raise InvalidState("users already exist: an administrator must create further accounts")
    _create(db, access.SYSTEM, username.strip().lower(), display_name or username, access.ADMIN, password, [],
            False)


def change(db: Database, actor: Actor, username: str, *, role: str | None = None,
           unit_ids: list[str] | None = None, active: bool | None = None, can_import: bool | None = None,
           password: str | None = None, email: str | None = None, display_name: str | None = None) -> None:
    """Change any of a user's role, units, status, import grant, email, display name and password in one
    transaction (email '' removes the address).

    Every problem (with the role, the units, the password, or an administrator demoting or disabling
    themself) is reported at once and nothing is written unless all of it can be. Disabling ends the
    user's sessions at once.
    """
    access.require(actor, "manage_users")
    problems = []
    if username == actor.username and (active is False or (role is not None and role != access.ADMIN)):
        problems.append("you cannot disable or demote your own account")
    if password is not None:
        problems += [f"password: {p}" for p in passwords.problems(password, username)]
    if email is not None:
        email = email.strip()
        problems += email_problems(email)
    if display_name is not None and not display_name.strip():
        problems.append("display_name: a user needs a display name")
    # argon2 is slow on purpose: hash once, before the transaction (which may be retried).
    pw_hash = passwords.hash_password(password) if password is not None and not problems else None

    def work(cur) -> None:
        u = users_sql.user(cur, username)
        if u is None:
            raise NotFound(f"unknown user {username!r}")
        before = _public(u, users_sql.user_units(cur, username))
        new_units = unit_ids if unit_ids is not None else before["units"]
        found = problems + _check(username, role or u["role"], None, new_units)
        found += [f"units: unknown business unit {x!r}" for x in new_units if catalog_sql.unit(cur, x) is None]
        if found:
            raise ValidationError(found, f"user {username}")
        fields: dict = {k: v for k, v in (("role", role), ("active", active), ("can_import", can_import),
                                          ("display_name", display_name and display_name.strip()))
                        if v is not None}
        if email is not None:
            fields["email"] = email or None
        at = now()
        if fields or unit_ids is not None:
            if fields:
                users_sql.update_user(cur, username, **fields)
            if unit_ids is not None:
                users_sql.set_user_units(cur, username, unit_ids)
            if active is False:
                users_sql.end_user_sessions(cur, username, at, "user disabled")
            after = _public(users_sql.user(cur, username) or u, users_sql.user_units(cur, username))
            audit.record(cur, actor, "user.update", "user", username, before=before, after=after)
        if pw_hash is not None:
            users_sql.update_user(cur, username, password_hash=pw_hash, password_changed_at=at)
            throttle.reset(cur, username)
            audit.record(cur, actor, "user.password", "user", username, after={"changed": True})

    db.transaction(work)


def update(db: Database, actor: Actor, username: str, role: str | None = None, unit_ids: list[str] | None = None,
           active: bool | None = None, can_import: bool | None = None) -> None:
    """Change a user's role, units, import grant or status (users.change without a password)."""
    change(db, actor, username, role=role, unit_ids=unit_ids, active=active, can_import=can_import)


def change_password(db: Database, actor: Actor, current: str, new: str) -> None:
    """A user changes their own password by giving the current one."""
    with db.read() as cur:
        u = users_sql.user(cur, actor.username)
    if u is None or not passwords.verify(u["password_hash"], current):
        raise PermissionDenied("the current password is not correct")
    _set_password(db, actor, actor.username, new)


def reset_password(db: Database, actor: Actor, username: str, new: str) -> None:
    change(db, actor, username, password=new)


def _set_password(db: Database, actor: Actor, username: str, new: str) -> None:
    problems = passwords.problems(new, username)
    if problems:
        raise ValidationError([f"password: {p}" for p in problems])
    pw_hash = passwords.hash_password(new)

    def work(cur) -> None:
        if users_sql.user(cur, username) is None:
            raise NotFound(f"unknown user {username!r}")
        users_sql.update_user(cur, username, password_hash=pw_hash, password_changed_at=now())
        throttle.reset(cur, username)
        audit.record(cur, actor, "user.password", "user", username, after={"changed": True})

    db.transaction(work)


def list_users(db: Database, actor: Actor) -> pl.DataFrame:
    access.require(actor, "manage_users")
    with db.read() as cur:
        return users_sql.users(cur)


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def create_demo_users(db: Database, data_dir: Path) -> list[tuple[str, str, str]]:
    """One account per role (and per unit head) with random passwords, written once to an owner-only file."""
    with db.read() as cur:
        if users_sql.count_users(cur):
            return []
        heads = catalog_sql.units(cur).select("unit_id", "head").to_dicts()
    accounts: list[tuple[str, str, str, list[str], bool]] = [
        ("admin", "Demo administrator", access.ADMIN, [], False),
        ("continuity.manager", "Demo continuity manager", access.MANAGER, [], False),
        ("leadership", "Demo leadership", access.LEADERSHIP, [], False),
        ("auditor", "Demo auditor", access.AUDITOR, [], True),
    ]
    for h in heads:
        accounts.append((username_for(h["head"]), h["head"],
                         access.HEAD, [h["unit_id"]], False))
    created = []
    for username, name, role, units, can_import in accounts:
        pw = generate_password()
        _create(db, access.SYSTEM, username, name, role, pw, units, can_import)
        created.append((username, role, pw))
    path = data_dir / "demo-credentials.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Demo accounts, generated once. Keep this file private; delete it when you no longer need it.\n")
        for username, role, pw in created:
            f.write(f"{username}\t{role}\t{pw}\n")
    os.chmod(path, 0o600)
    return created
