"""Single sign-on group mapping: roles and units from the identity provider's groups."""

from __future__ import annotations

import pytest

from assessment import access, auth, sso
from assessment.errors import PermissionDenied, ValidationError

from .conftest import add_org

MAPPING = """
groups_claim: groups
username_claim: email
groups:
  itscm-admins: {role: administrator}
  itscm-leadership: {role: leadership}
  head-payments: {role: department_head, units: [U1]}
  head-cards: {role: department_head, units: [U2]}
  auditors-import: {role: auditor, can_import: true}
"""


@pytest.fixture
def mapping(tmp_path):
    p = tmp_path / "sso.yaml"
    p.write_text(MAPPING)
    return sso.load_mapping(p)


def test_head_groups_union_their_units(mapping):
    ident = sso.map_identity({"email": "Ann@Bank.example", "groups": ["head-payments", "head-cards"]}, mapping)
    assert (ident.username, ident.role, ident.units) == ("ann@bank.example", access.HEAD, ("U1", "U2"))


def test_most_powerful_role_wins(mapping):
    ident = sso.map_identity({"email": "b@x", "groups": ["head-cards", "itscm-leadership"]}, mapping)
    assert ident.role == access.LEADERSHIP and ident.units == ()


def test_no_matching_group_no_access(mapping):
    with pytest.raises(PermissionDenied, match="no group"):
        sso.map_identity({"email": "c@x", "groups": ["marketing"]}, mapping)
    with pytest.raises(PermissionDenied, match="email"):
        sso.map_identity({"groups": ["itscm-admins"]}, mapping)


def test_bad_mapping_file_lists_problems(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("groups:\n  a: {role: king}\n  b: {role: department_head}\n")
    with pytest.raises(ValidationError) as err:
        sso.load_mapping(p)
    assert "groups.a.role" in str(err.value) and "groups.b.units" in str(err.value)


def test_sync_creates_then_updates_and_session_reflects_it(db, mapping):
    add_org(db, [("U1", "D1", 1), ("U2", "D1", 2)])
    sso.sync_user(db, sso.map_identity({"email": "ann@x", "groups": ["head-payments"]}, mapping))
    token = auth.create_session(db, "ann@x")
    assert auth.resolve(db, token).units == frozenset({"U1"})
    sso.sync_user(db, sso.map_identity({"email": "ann@x", "groups": ["head-cards"]}, mapping))
    assert auth.resolve(db, token).units == frozenset({"U2"})
    with pytest.raises(auth.LoginFailed):
        auth.login(db, "ann@x", "")  # SSO users have no local password
