"""Local accounts: argon2id hashes, password rules, throttling, session timeouts, disabling, audit of logins."""

from __future__ import annotations

import stat
from datetime import datetime, timedelta

import polars as pl
import pytest

from assessment import access, audit, auth, passwords, throttle, users
from assessment.errors import InvalidState, PermissionDenied, ValidationError
from assessment.model import Actor
from assessment.storage import users as user_store

from .conftest import ADMIN, add_org

PW = "correct horse battery staple"
T0 = datetime(2026, 6, 1, 9, 0, 0)


@pytest.fixture
def accounts(db):
    add_org(db, [("U1", "D1", 1), ("U2", "D1", 2)])
    users.create(db, ADMIN, "alice", "Alice", access.HEAD, PW, ["U1"])
    users.create(db, ADMIN, "bob", "Bob", access.LEADERSHIP, PW)
    return db


def test_hash_is_argon2id_and_never_the_password(accounts):
    with accounts.read() as cur:
        h = user_store.user(cur, "alice")["password_hash"]
    assert h.startswith("$argon2id$") and PW not in h


@pytest.mark.parametrize("pw, reason", [
    ("short", "at least 8"), ("password123", "commonly used"), ("aaaaaaaaaaaa", "single character"),
    ("alice-secret-42", "user name"),
])
def test_password_rules(pw, reason):
    assert any(reason in p for p in passwords.problems(pw, "alice"))


def test_long_passphrases_are_accepted_and_not_truncated(accounts):
    long_pw = "a very long passphrase " * 20  # 460 characters
    assert passwords.problems(long_pw, "carol") == []
    users.create(accounts, ADMIN, "carol", "Carol", access.AUDITOR, long_pw)
    assert auth.login(accounts, "carol", long_pw)
    with pytest.raises(auth.LoginFailed):
        auth.login(accounts, "carol", long_pw[:-1])  # differs only at the very end


def test_no_composition_rules():
    assert passwords.problems("all lower case words here", "x") == []


def test_login_resolves_actor_with_units(accounts):
    token = auth.login(accounts, "Alice", PW, at=T0)
    actor = auth.resolve(accounts, token, at=T0 + timedelta(minutes=1))
    assert actor == Actor("alice", access.HEAD, frozenset({"U1"}), False, "page")


def test_wrong_password_and_unknown_user_give_the_same_message(accounts):
    with pytest.raises(auth.LoginFailed) as a:
        auth.login(accounts, "alice", "wrong password!!", at=T0)
    with pytest.raises(auth.LoginFailed) as b:
        auth.login(accounts, "nobody", "wrong password!!", at=T0)
    assert str(a.value) == str(b.value)


def test_failed_logins_slow_down_but_never_lock_out_for_good(accounts):
    at = T0
    for _ in range(throttle.FREE_ATTEMPTS):
        with pytest.raises(auth.LoginFailed, match="wrong"):
            auth.login(accounts, "alice", "not the password", at=at)
    # Now throttled: even the right password is not checked until the delay has passed.
    with pytest.raises(auth.LoginFailed, match="try again in"):
        auth.login(accounts, "alice", PW, at=at + timedelta(milliseconds=500))
    # Many more failures (an attacker): the delay is capped.
    for i in range(30):
        at = at + throttle.MAX_DELAY + timedelta(seconds=1)
        with pytest.raises(auth.LoginFailed):
            auth.login(accounts, "alice", f"guess {i} wrong", at=at)
    assert throttle.delay(10_000) == throttle.MAX_DELAY
    # The owner gets in after at most MAX_DELAY, and the counter resets.
    token = auth.login(accounts, "alice", PW, at=at + throttle.MAX_DELAY + timedelta(seconds=1))
    assert token
    failed = users.list_users(accounts, ADMIN).filter(pl.col("username") == "alice")["failed_logins"]
    assert failed.to_list() == [0]


def test_idle_timeout_absolute_lifetime_and_logout(accounts):
    policy = auth.SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    token = auth.login(accounts, "bob", PW, at=T0)
    assert auth.resolve(accounts, token, policy, at=T0 + timedelta(minutes=29))
    assert auth.resolve(accounts, token, policy, at=T0 + timedelta(minutes=29 + 31)) is None
    assert auth.session_end_reason(accounts, token) == "idle timeout"

    token = auth.login(accounts, "bob", PW, at=T0)
    at = T0
    while at < T0 + timedelta(hours=11, minutes=50):  # stay active
        at += timedelta(minutes=20)
        assert auth.resolve(accounts, token, policy, at=at)
    assert auth.resolve(accounts, token, policy, at=T0 + timedelta(hours=12, minutes=1)) is None
    assert auth.session_end_reason(accounts, token) == "absolute lifetime reached"

    token = auth.login(accounts, "bob", PW)
    auth.logout(accounts, token)
    assert auth.resolve(accounts, token) is None


def test_disabling_a_user_ends_access_on_next_interaction(accounts):
    token = auth.login(accounts, "alice", PW)
    assert auth.resolve(accounts, token)
    users.update(accounts, ADMIN, "alice", active=False)
    assert auth.resolve(accounts, token) is None
    with pytest.raises(auth.LoginFailed):
        auth.login(accounts, "alice", PW)
    users.update(accounts, ADMIN, "alice", active=True)
    assert auth.login(accounts, "alice", PW)


def test_role_change_applies_on_next_interaction(accounts):
    token = auth.login(accounts, "alice", PW)
    users.update(accounts, ADMIN, "alice", unit_ids=["U2"])
    assert auth.resolve(accounts, token).units == frozenset({"U2"})


def test_change_password_needs_the_current_one(accounts):
    alice = Actor("alice", access.HEAD, frozenset({"U1"}))
    with pytest.raises(PermissionDenied):
        users.change_password(accounts, alice, "wrong current", "a brand new passphrase")
    with pytest.raises(ValidationError, match="commonly used"):
        users.change_password(accounts, alice, PW, "password1")
    users.change_password(accounts, alice, PW, "a brand new passphrase")
    assert auth.login(accounts, "alice", "a brand new passphrase")
    with pytest.raises(auth.LoginFailed):
        auth.login(accounts, "alice", PW)


def test_first_admin_only_when_no_users(db):
    users.create_first_admin(db, "root.admin", PW)
    assert auth.login(db, "root.admin", PW)
    with pytest.raises(InvalidState):
        users.create_first_admin(db, "second", PW)


def test_head_needs_units_and_units_must_exist(accounts):
    with pytest.raises(ValidationError, match="needs at least one business unit"):
        users.create(accounts, ADMIN, "dave", "Dave", access.HEAD, PW, [])
    with pytest.raises(ValidationError, match="unknown business unit 'ZZ'"):
        users.create(accounts, ADMIN, "dave", "Dave", access.HEAD, PW, ["ZZ"])


def test_logins_failures_and_user_changes_are_audited_without_secrets(accounts):
    auth.login(accounts, "alice", PW)
    with pytest.raises(auth.LoginFailed):
        auth.login(accounts, "alice", "a wrong guess here")
    users.update(accounts, ADMIN, "alice", role=access.AUDITOR)
    users.reset_password(accounts, ADMIN, "bob", "another fine passphrase")
    log = audit.entries(accounts, ADMIN)
    actions = set(log["action"])
    assert {"user.create", "login", "login.failed", "user.update", "user.password"} <= actions
    with accounts.read() as cur:
        hashes = [user_store.user(cur, u)["password_hash"] for u in ("alice", "bob")]
    blob = " ".join(str(v) for row in log.rows() for v in row)
    for secret in (PW, "a wrong guess here", "another fine passphrase", *hashes):
        assert secret not in blob
    assert "$argon2" not in blob
    assert audit.verify(accounts, ADMIN).ok


def test_demo_credentials_file_is_owner_only(db, tmp_path):
    add_org(db, [("U1", "D1", 1)])
    created = users.create_demo_users(db, tmp_path)
    path = tmp_path / "demo-credentials.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    roles = {role for _, role, _ in created}
    assert roles == set(access.ROLES)
    assert users.create_demo_users(db, tmp_path) == []  # never twice
    username, _, pw = created[0]
    assert auth.login(db, username, pw)
