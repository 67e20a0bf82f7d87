"""Changing a user is one operation: every problem is reported together and nothing is half-saved
(issue 13 item 11)."""

from __future__ import annotations

import polars as pl
import pytest

from assessment import access, audit, auth, users
from assessment.errors import ValidationError
from assessment.storage import audit as audit_sql

from .conftest import ADMIN
from .helpers.excel import fingerprint

PASSPHRASE = "a long enough passphrase"


def _state(db, username: str) -> tuple:
    table = users.list_users(db, ADMIN).filter(pl.col("username") == username).row(0, named=True)
    with db.read() as cur:
        head = audit_sql.head(cur)
    return table["role"], table["units"], table["active"], table["can_import"], head


@pytest.fixture
def head(org):
    users.create(org, ADMIN, "head.u1", "Head U1", access.HEAD, PASSPHRASE, ["U1"])
    return org


def test_a_role_change_with_a_too_short_password_saves_nothing(head):
    before = _state(head, "head.u1")
    with pytest.raises(ValidationError) as err:
        users.change(head, ADMIN, "head.u1", role=access.MANAGER, unit_ids=[], password="short")
    assert [p for p in err.value.problems if p.startswith("password:")], err.value.problems
    assert _state(head, "head.u1") == before
    assert auth.login(head, "head.u1", PASSPHRASE)          # the old password still works


def test_every_problem_is_reported_at_once(head):
    before = fingerprint(head)
    with pytest.raises(ValidationError) as err:
        users.change(head, ADMIN, "head.u1", role="superuser", unit_ids=["U1", "NOPE"], password="short")
    text = " | ".join(err.value.problems)
    assert "role: expected one of" in text
    assert "units: unknown business unit 'NOPE'" in text
    assert "password: use at least 8 characters" in text
    assert fingerprint(head) == before


def test_a_valid_change_with_a_password_applies_both_in_one_go(head):
    users.change(head, ADMIN, "head.u1", role=access.MANAGER, unit_ids=[], password="another fine passphrase")
    role, units, active, can_import, _ = _state(head, "head.u1")
    assert (role, units, active) == (access.MANAGER, "", True)
    assert auth.login(head, "head.u1", "another fine passphrase")
    with head.read() as cur:
        actions = audit_sql.query(cur, "system", None, "user", None, 5)["action"].to_list()
    assert actions[:2] == ["user.password", "user.update"]


def test_an_administrator_cannot_demote_or_disable_themself_and_is_told_with_the_other_problems(head):
    me = access.SYSTEM
    users.create(head, ADMIN, me.username, "System", access.ADMIN, PASSPHRASE)
    with pytest.raises(ValidationError) as err:
        users.change(head, me, me.username, role=access.LEADERSHIP, active=False, password="short")
    text = " | ".join(err.value.problems)
    assert "you cannot disable or demote your own account" in text and "password:" in text


def test_disabling_ends_the_users_sessions(head):
    token = auth.login(head, "head.u1", PASSPHRASE)
    users.change(head, ADMIN, "head.u1", active=False)
    assert auth.resolve(head, token) is None


def test_an_email_is_stored_changed_removed_and_audited(head):
    users.create(head, ADMIN, "head.mail", "Head Mail", access.HEAD, PASSPHRASE, ["U1"], email=" h@example.org ")
    table = users.list_users(head, ADMIN).filter(pl.col("username") == "head.mail")
    assert table["email"].to_list() == ["h@example.org"]
    users.change(head, ADMIN, "head.mail", email="new@example.org", display_name="Head M.")
    row = users.list_users(head, ADMIN).filter(pl.col("username") == "head.mail").row(0, named=True)
    assert (row["email"], row["display_name"]) == ("new@example.org", "Head M.")
    entry = audit.entries(head, ADMIN, action="user.update").row(0, named=True)       # newest first
    assert "new@example.org" in entry["after_json"] and "h@example.org" in entry["before_json"]
    users.change(head, ADMIN, "head.mail", email="")
    assert users.list_users(head, ADMIN).filter(pl.col("username") == "head.mail")["email"].to_list() == [None]


@pytest.mark.parametrize("bad", ["no-at-sign", "two@@example.org", "a b@example.org", "x@nodot", "a" * 65 + "@x.org"])
def test_a_bad_email_is_refused_and_saves_nothing(head, bad):
    before = fingerprint(head)
    with pytest.raises(ValidationError, match="email: expected an address"):
        users.change(head, ADMIN, "head.u1", email=bad)
    with pytest.raises(ValidationError, match="email: expected an address"):
        users.create(head, ADMIN, "head.bad", "Bad", access.HEAD, PASSPHRASE, ["U1"], email=bad)
    assert fingerprint(head) == before
